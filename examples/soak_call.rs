//! An hour-long soak call for leak hunting: two calls in one process with audio and video
//! over an impaired in-memory link, re-keying every minute, muting every 45 s and asking for
//! keyframes every 30 s; resident memory and open descriptors sampled every minute.
//! Exits 1 if memory grows by 1 MB or more after the first five minutes, if descriptors
//! grow, or if any genuine packet failed to authenticate.
//!
//! `cargo run --release --example soak_call -- [--minutes 60] [--sample-secs 60]
//!  [--rekey-secs 60] [--loss 2%] [--jitter 10ms] [--delay 30ms]`

use std::time::Duration;

use sottovoce::transport::impair::ImpairmentConfig;

#[path = "../tests/support/counting_alloc.rs"]
mod counting_alloc;
#[path = "../tests/support/handshake.rs"]
mod handshake;
#[path = "../tests/support/soak.rs"]
mod soak;

fn value(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn main() {
    if let Err(e) = run() {
        eprintln!("soak_call: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let number = |name: &str, default: u64| -> Result<u64, Box<dyn std::error::Error>> {
        Ok(value(&args, name).map(|v| v.parse()).transpose()?.unwrap_or(default))
    };
    let minutes = number("--minutes", 60)?;
    let mut network = ImpairmentConfig::default();
    for (flag, default) in [("delay", "30ms"), ("jitter", "10ms"), ("loss", "2%")] {
        let v = value(&args, &format!("--{flag}")).unwrap_or_else(|| default.into());
        network.apply_flag(flag, &v)?;
    }
    let config = soak::SoakConfig {
        duration: Duration::from_secs(60 * minutes),
        sample_every: Duration::from_secs(number("--sample-secs", 60)?),
        warm_up: Duration::from_secs(60 * minutes.min(5)),
        rekey_every: Duration::from_secs(number("--rekey-secs", 60)?),
        width: 320,
        height: 180,
        fps: 15,
        network,
        rust_heap_bytes: Some(counting_alloc::live_bytes),
    };
    println!("soak: {minutes} min, network {:?}", config.network);
    println!(
        "  time   RSS (MB)  Rust heap (MB)  fds  epochs a/b  auth failures a/b  frames decoded a/b"
    );
    let report = soak::run_soak(&config, |sample, stats| {
        let frames = |i: usize| stats[i].video.as_ref().map_or(0, |v| v.frames_decoded);
        println!(
            "{:>5} s  {:>8.2}  {:>14.3}  {:>3}  {:>4}/{:<4}  {:>8}/{:<8}  {:>7}/{}",
            sample.at.as_secs(),
            sample.rss_bytes as f64 / 1e6,
            sample.rust_heap_bytes.unwrap_or(0) as f64 / 1e6,
            sample.open_fds,
            stats[0].send_epoch,
            stats[1].send_epoch,
            stats[0].auth_failures,
            stats[1].auth_failures,
            frames(0),
            frames(1)
        );
    })?;
    let rss = report.rss_growth_after(config.warm_up).ok_or("no samples after the warm-up")?;
    let fds = report.fd_growth_after(config.warm_up).ok_or("no samples after the warm-up")?;
    let heap = report.rust_heap_growth_after(config.warm_up).ok_or("no samples")?;
    let auth: u64 = report.stats.iter().map(|s| s.auth_failures).sum();
    let rekeys: Vec<u64> = report.stats.iter().map(|s| s.rekeys_sent).collect();
    let stalls: u64 = report.stats.iter().map(|s| s.rekey_stalls).sum();
    println!(
        "after {} min of warm-up: RSS {:+.2} MB, Rust heap {:+.3} MB, fds {fds:+}; re-keys \
         {rekeys:?} ({stalls} stalls); auth failures {auth}; {} mutes, {} keyframe requests; \
         frames shown {:?}",
        config.warm_up.as_secs() / 60,
        rss as f64 / 1e6,
        heap as f64 / 1e6,
        report.mutes,
        report.keyframe_requests,
        report.video_frames_shown
    );
    if rss >= 1_000_000 || fds > 0 || auth > 0 || stalls > 0 {
        println!("FAIL");
        std::process::exit(1);
    }
    println!("PASS");
    Ok(())
}
