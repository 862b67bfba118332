//! Whole calls on the simulated harness (`testing::sim`): real capture chains, Opus, SRTP,
//! sessions and playout units over the impairment model in simulated time.

use std::time::Duration;

use sottovoce::testing::sim::{SimConfig, SimStats, SimulatedCall};
use sottovoce::testing::sim_video::SimVideoConfig;
use sottovoce::transport::impair::{ImpairmentConfig, LossModel};

fn impaired(loss: f64, jitter_ms: u64) -> ImpairmentConfig {
    ImpairmentConfig {
        loss: LossModel::Random(loss),
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(jitter_ms),
        ..ImpairmentConfig::default()
    }
}

fn lossy_call(seed: u64, seconds: u64) -> SimStats {
    let config = SimConfig {
        seed,
        forward: impaired(0.05, 30),
        backward: impaired(0.05, 30),
        video: Some(SimVideoConfig::p360()),
        ..SimConfig::default()
    };
    let mut call = SimulatedCall::new(config).expect("simulated call");
    call.run_for(Duration::from_secs(seconds));
    call.stats()
}

#[test]
fn a_lossy_audio_video_call_repeats_bit_for_bit_for_a_seed_and_differs_for_another() {
    // Three 60 s calls at 360p30 with 5 % loss and 30 ms jitter each way, side by side.
    let (first, second, other) = std::thread::scope(|scope| {
        let a = scope.spawn(|| lossy_call(7, 60));
        let b = scope.spawn(|| lossy_call(7, 60));
        let c = scope.spawn(|| lossy_call(8, 60));
        (a.join().unwrap(), b.join().unwrap(), c.join().unwrap())
    });
    assert_eq!(first, second, "same seed, different calls");
    assert_ne!(first, other, "another seed gave the same call");

    assert_eq!(first.elapsed, Duration::from_secs(60));
    for (index, party) in first.parties.iter().enumerate() {
        // 60 s of 20 ms packets, 5 % lost on the way.
        let received = party.session.packets_received;
        assert!((2700..=2950).contains(&received), "party {index} received {received}");
        assert_eq!(party.session.auth_failures, 0);
        // What the peer received (SRTP bytes) was sent, and counted as sent.
        let peer = &first.parties[1 - index].session;
        assert!(peer.bytes_received > 0 && party.session.bytes_sent >= peer.bytes_received);
        assert!(
            party.session.rtt_us > 40_000,
            "rtt {} µs over a 2x20 ms path",
            party.session.rtt_us
        );
        let stream = &party.received[0];
        let jitter = &stream.playout.jitter;
        assert!(stream.playout.jitter.fec_recovered > 0, "FEC never used: {jitter:?}");
        // Chirp markers every 2 s, measured end to end in simulated time.
        let m2e = stream.mouth_to_ear;
        assert!(m2e.count >= 20, "only {} markers heard: {m2e:?}", m2e.count);
        assert!(m2e.p50 > Duration::from_millis(40), "{m2e:?}");
        assert!(m2e.p95 < Duration::from_millis(300), "{m2e:?}");
        // The peer's loss reports reached us.
        assert!(party.session.remote_audio_lost > 0);
        // Video: NACK and RTX repair the loss; nearly every frame is shown.
        let video = party.video.as_ref().expect("video stats");
        assert!(video.frames_encoded >= 1750, "{video:?}");
        assert!(
            video.frames_decoded >= 1700,
            "only {} frames decoded: {video:?}",
            video.frames_decoded
        );
        assert!(video.nacks_sent > 0 && video.retransmissions_sent > 0, "{video:?}");
        let g2g = party.glass_to_glass.expect("glass-to-glass");
        assert!(g2g.count >= 1700, "{g2g:?}");
        assert!(
            g2g.p50 > Duration::from_millis(20) && g2g.p50 < Duration::from_millis(150),
            "{g2g:?}"
        );
    }
    assert!(first.links[0].lost > 0 && first.links[1].lost > 0);
}

#[test]
fn every_received_stream_plays_on_its_own() {
    // Three receive streams at each party: two remote audio streams and one video.
    let config = SimConfig {
        audio_streams: 2,
        forward: impaired(0.0, 10),
        video: Some(SimVideoConfig::p360()),
        ..SimConfig::default()
    };
    let mut call = SimulatedCall::new(config).expect("simulated call");
    call.run_for(Duration::from_secs(10));
    let before = call.stats();
    let heard = &before.parties[1].received;
    assert_eq!(heard.len(), 2);
    for stream in heard {
        assert!(stream.energy > 1.0, "stream {:x} silent", stream.ssrc);
        assert!(stream.mouth_to_ear.count >= 3, "{:?}", stream.mouth_to_ear);
    }
    let video_before = before.parties[1].video.clone().expect("video");
    assert!(video_before.frames_decoded >= 250, "{video_before:?}");
    // Party 0's second stream stops (what is in flight still lands); the first one must
    // play on undisturbed.
    call.pause_stream(0, 1, true);
    call.run_for(Duration::from_millis(200));
    let paused = call.stats();
    call.run_for(Duration::from_secs(10));
    let after = call.stats();
    let (kept_before, kept_after) = (&heard[0], &after.parties[1].received[0]);
    let (stopped_before, stopped_after) =
        (&paused.parties[1].received[1], &after.parties[1].received[1]);
    let received = |s: &sottovoce::testing::sim::ReceivedStreamStats| s.playout.jitter.received;
    assert!(received(kept_after) - received(kept_before) >= 450, "kept stream starved");
    assert_eq!(received(stopped_after), received(stopped_before), "stopped stream grew");
    assert!(
        kept_after.mouth_to_ear.count >= kept_before.mouth_to_ear.count + 4,
        "kept stream's markers stopped: {:?}",
        kept_after.mouth_to_ear
    );
    assert_eq!(stopped_after.mouth_to_ear.count, stopped_before.mouth_to_ear.count);
    assert_eq!(kept_after.playout.underruns, kept_before.playout.underruns);
    assert!(kept_after.energy - kept_before.energy > 1.0);
    // The video stream played on too: 10 s more of 30 fps, nothing lost.
    let video_after = after.parties[1].video.clone().expect("video");
    let shown = video_after.frames_decoded - video_before.frames_decoded;
    assert!(shown >= 295, "{shown} frames in 10 s");
    assert_eq!(video_after.frames_lost, 0);
}

#[test]
fn garbage_replays_and_forgeries_are_counted_while_the_genuine_stream_plays() {
    let mut call = SimulatedCall::new(SimConfig::default()).expect("simulated call");
    // Keep a copy of what party 0 sends (RTP and RTCP) for 3 s.
    let sent = call.capture_sent(0, Duration::from_secs(3));
    assert!(sent.len() > 140, "{} datagrams captured", sent.len());
    let clean = call.stats().parties[1].clone();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut replayed, mut forged, mut garbage) = (0u64, 0u64, 0u64);
    // Ten seconds of the genuine call with hostile datagrams mixed in, in random order.
    for _ in 0..500 {
        call.run_for(Duration::from_millis(20));
        match next() % 3 {
            0 => {
                let old = &sent[(next() as usize) % sent.len()];
                assert!(!call.inject(1, old), "a replay authenticated");
                replayed += 1;
            }
            1 => {
                let mut copy = sent[(next() as usize) % sent.len()].clone();
                let at = 12 + (next() as usize) % (copy.len() - 12);
                copy[at] ^= 1 << (next() % 8);
                assert!(!call.inject(1, &copy), "a forged packet authenticated");
                forged += 1;
            }
            _ => {
                let len = (next() as usize) % 200;
                let junk: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                assert!(!call.inject(1, &junk), "garbage authenticated");
                garbage += 1;
            }
        }
    }
    let after = &call.stats().parties[1];
    let s = &after.session;
    let refused = s.replays + s.auth_failures + s.malformed;
    let c = &clean.session;
    assert_eq!(refused - (c.replays + c.auth_failures + c.malformed), replayed + forged + garbage);
    // A replay is refused by the replay window; a forged copy of an old packet either
    // by the window (checked first) or by its tag; garbage by either or by the parser.
    assert!(s.replays - c.replays >= replayed, "replays {s:?}");
    assert!(
        (s.replays - c.replays) + (s.auth_failures - c.auth_failures) >= replayed + forged,
        "forgeries {s:?}"
    );
    assert!(s.auth_failures > c.auth_failures, "no forgery reached the tag check {s:?}");
    // The genuine stream kept playing: 10 s of packets, markers heard, no new underruns.
    assert!(s.packets_received - c.packets_received >= 490);
    let stream = &after.received[0];
    assert!(stream.mouth_to_ear.count >= clean.received[0].mouth_to_ear.count + 4);
    assert_eq!(stream.playout.underruns, clean.received[0].playout.underruns);
    assert_eq!(stream.playout.decode_errors, 0);
    assert_eq!(after.ended, None);
}
