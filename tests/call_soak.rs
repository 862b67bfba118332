//! A two-minute soak call (the CI version of `examples/soak_call.rs`, which runs an hour):
//! audio and video over an impaired link, re-keying every 20 s, mutes and keyframe
//! requests. Resident memory and open descriptors must stay flat after the first minute,
//! and no genuine packet may fail to authenticate across the re-keys.

use std::time::Duration;

use sottovoce::transport::impair::ImpairmentConfig;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
#[path = "support/handshake.rs"]
mod handshake;
#[path = "support/soak.rs"]
mod soak;

#[test]
fn a_two_minute_call_with_rekeying_holds_memory_and_descriptors_flat() {
    let mut network = ImpairmentConfig::default();
    for (flag, value) in [("delay", "30ms"), ("jitter", "10ms"), ("loss", "2%")] {
        network.apply_flag(flag, value).unwrap();
    }
    let config = soak::SoakConfig {
        duration: Duration::from_secs(120),
        sample_every: Duration::from_secs(10),
        warm_up: Duration::from_secs(60),
        rekey_every: Duration::from_secs(20),
        width: 320,
        height: 180,
        fps: 15,
        network,
        rust_heap_bytes: Some(counting_alloc::live_bytes),
    };
    let report = soak::run_soak(&config, |sample, _| {
        eprintln!(
            "{:>4} s: RSS {:.2} MB, Rust heap {:.2} MB, {} fds",
            sample.at.as_secs(),
            sample.rss_bytes as f64 / 1e6,
            sample.rust_heap_bytes.unwrap_or(0) as f64 / 1e6,
            sample.open_fds
        );
    })
    .expect("soak call");
    let rss_growth = report.rss_growth_after(config.warm_up).unwrap();
    let fd_growth = report.fd_growth_after(config.warm_up).unwrap();
    let heap_growth = report.rust_heap_growth_after(config.warm_up).unwrap();
    eprintln!(
        "after the first minute: RSS {:+.2} MB, Rust heap {:+.2} MB, fds {fd_growth:+}; frames shown {:?}; {} mutes, {} keyframe requests",
        rss_growth as f64 / 1e6,
        heap_growth as f64 / 1e6,
        report.video_frames_shown,
        report.mutes,
        report.keyframe_requests
    );
    for (i, stats) in report.stats.iter().enumerate() {
        let peer = &report.stats[1 - i];
        eprintln!(
            "side {i}: sent epoch {} ({} re-keys, {} stalls), auth failures {}, replays {}",
            stats.send_epoch,
            stats.rekeys_sent,
            stats.rekey_stalls,
            stats.auth_failures,
            stats.replays
        );
        assert!(stats.rekeys_sent >= 5, "side {i}: {} re-keys", stats.rekeys_sent);
        assert_eq!(stats.rekey_stalls, 0, "side {i}");
        // The peer follows every epoch a packet reached it under: all but possibly the
        // last, if the re-key fell in the call's last moments.
        assert!(
            stats.rekeys_sent - peer.rekeys_received <= 1,
            "side {i}: the peer followed {} of {}",
            peer.rekeys_received,
            stats.rekeys_sent
        );
        assert_eq!(stats.auth_failures, 0, "side {i}: genuine packets failed");
        assert!(
            report.video_frames_shown[i] > 15 * 60,
            "side {i}: {:?}",
            report.video_frames_shown
        );
    }
    assert!(rss_growth < 1_000_000, "RSS grew {rss_growth} bytes after the warm-up");
    assert!(heap_growth < 250_000, "the Rust heap grew {heap_growth} bytes after the warm-up");
    assert!(fd_growth <= 0, "{fd_growth} more file descriptors after the warm-up");
}
