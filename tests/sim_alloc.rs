//! Steady state of a whole simulated call allocates nothing on the Rust heap: capture
//! chain, Opus, SRTP, the session (RTP and RTCP both ways: reports, SDES, and with video
//! NACK, PLI, transport-wide feedback relayed to the bandwidth estimator), packetiser,
//! pacer, frame assembly and the playout units. Counted on the thread that runs the
//! whole simulated call, after a warm-up, over 20 s of call with loss and jitter.

use std::time::Duration;

use sottovoce::testing::sim::{SimConfig, SimStats, SimulatedCall};
use sottovoce::testing::sim_video::SimVideoConfig;
use sottovoce::transport::impair::{ImpairmentConfig, LossModel};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

fn impaired() -> ImpairmentConfig {
    ImpairmentConfig {
        loss: LossModel::Random(0.03),
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(10),
        ..ImpairmentConfig::default()
    }
}

/// (allocations over 20 s after a 15 s warm-up, stats before, stats after).
fn steady_state(video: Option<SimVideoConfig>) -> (u64, SimStats, SimStats) {
    let config = SimConfig {
        seed: 11,
        forward: impaired(),
        backward: impaired(),
        video,
        ..SimConfig::default()
    };
    let mut call = SimulatedCall::new(config).expect("simulated call");
    call.run_for(Duration::from_secs(15));
    let before_stats = call.stats();
    let before = counting_alloc::thread_allocations();
    call.run_for(Duration::from_secs(20));
    let allocations = counting_alloc::thread_allocations() - before;
    (allocations, before_stats, call.stats())
}

#[test]
fn an_audio_call_allocates_nothing_in_steady_state() {
    let (allocations, before, after) = steady_state(None);
    // The window really carried a call: packets and reports both ways.
    for party in 0..2 {
        let (b, a) = (&before.parties[party].session, &after.parties[party].session);
        assert!(a.packets_received - b.packets_received > 900, "{a:?}");
        assert!(a.rtcp_received - b.rtcp_received >= 15, "{a:?}");
    }
    assert_eq!(allocations, 0);
}

#[test]
fn a_video_call_allocates_only_inside_the_dav1d_wrapper() {
    let (allocations, before, after) = steady_state(Some(SimVideoConfig::p360()));
    let mut decoded = 0;
    for party in 0..2 {
        let b = before.parties[party].video.as_ref().expect("video stats");
        let a = after.parties[party].video.as_ref().expect("video stats");
        decoded += a.frames_decoded - b.frames_decoded;
        assert!(a.nacks_sent > b.nacks_sent, "no loss repaired in the window: {a:?}");
        let (bs, s) = (&before.parties[party].session, &after.parties[party].session);
        assert!(s.rtcp_received - bs.rtcp_received > 200, "transport feedback: {s:?}");
    }
    assert!(decoded > 1000, "{decoded} frames decoded in 20 s by both parties");
    // The `dav1d` crate (pinned 0.9.6) boxes each temporal unit handed to `send_data` and
    // each picture `get_picture` returns: two per decoded frame. Nothing else may
    // allocate, so the count is at most that (a per-packet allocation anywhere would be
    // ten times more).
    assert!(allocations <= 2 * decoded, "{allocations} allocations for {decoded} frames");
}
