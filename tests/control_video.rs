//! Video loss recovery: NACK timing, keyframe request throttling, the retransmission
//! history, frame assembly, and all of them together over an impaired link.

use std::time::{Duration, Instant};

use sottovoce::session::frame_assembler::{
    AssemblerConfig, AssemblerInsert, FrameAssembler, VideoPacket,
};
use sottovoce::session::nack::{
    KeyframeRequest, KeyframeRequestConfig, KeyframeRequester, NackConfig, NackGenerator,
    RetransmissionHistory,
};
use sottovoce::transport::impair::{Impairment, ImpairmentConfig, LossModel, WirePacket};

fn ms(t0: Instant, m: u64) -> Instant {
    t0 + Duration::from_millis(m)
}

#[test]
fn nack_after_reorder_wait_then_every_rtt_then_give_up() {
    let t0 = Instant::now();
    let mut nack = NackGenerator::new(NackConfig::default());
    nack.set_rtt(Duration::from_millis(100));
    for seq in [10, 11, 13, 14] {
        nack.on_packet(t0, seq, false);
    }
    let mut out = Vec::new();
    nack.poll(ms(t0, 5), &mut out);
    assert!(out.is_empty(), "reordering window");
    assert_eq!(nack.next_wakeup(), Some(ms(t0, 10)));
    nack.poll(ms(t0, 10), &mut out);
    assert_eq!(out, [12]);
    out.clear();
    nack.poll(ms(t0, 60), &mut out);
    assert!(out.is_empty(), "not again within one RTT");
    nack.poll(ms(t0, 110), &mut out);
    assert_eq!(out, [12], "again after one RTT");
    out.clear();
    nack.poll(ms(t0, 210), &mut out);
    assert_eq!(out, [12]);
    out.clear();
    assert!(!nack.keyframe_wanted());
    // Deadline: 3 x RTT = 300 ms after detection.
    nack.poll(ms(t0, 300), &mut out);
    assert!(out.is_empty());
    assert_eq!(nack.missing().count(), 0);
    assert!(nack.take_keyframe_wanted());
    let st = nack.stats();
    assert_eq!((st.missing, st.nacks_sent, st.given_up, st.recovered), (1, 3, 1, 0));
}

#[test]
fn reordered_packet_is_never_nacked_and_recovery_is_counted() {
    let t0 = Instant::now();
    let mut nack = NackGenerator::new(NackConfig::default());
    let mut out = Vec::new();
    nack.on_packet(t0, 1, false);
    nack.on_packet(t0, 3, false);
    nack.on_packet(ms(t0, 4), 2, false);
    nack.poll(ms(t0, 50), &mut out);
    assert!(out.is_empty());
    // Lost, NACKed, retransmission arrives.
    nack.on_packet(ms(t0, 50), 6, false);
    nack.poll(ms(t0, 70), &mut out);
    assert_eq!(out, [4, 5]);
    nack.on_packet(ms(t0, 120), 4, false);
    nack.on_packet(ms(t0, 121), 5, false);
    assert_eq!(nack.missing().count(), 0);
    assert_eq!(nack.stats().recovered, 3);
    assert!(!nack.keyframe_wanted());
}

#[test]
fn nack_handles_wrap_keyframes_retries_and_overflow() {
    let t0 = Instant::now();
    let mut nack = NackGenerator::new(NackConfig { max_retries: 2, ..NackConfig::default() });
    nack.set_rtt(Duration::from_millis(20));
    let mut out = Vec::new();
    nack.on_packet(t0, 65_534, false);
    nack.on_packet(t0, 1, false);
    nack.poll(ms(t0, 10), &mut out);
    assert_eq!(out, [65_535, 0]);
    out.clear();
    nack.poll(ms(t0, 30), &mut out);
    assert_eq!(out, [65_535, 0]);
    out.clear();
    // Retries exhausted: given up one RTT after the last try, well before the deadline.
    nack.poll(ms(t0, 50), &mut out);
    assert!(out.is_empty());
    assert_eq!(nack.stats().given_up, 2);
    assert!(nack.take_keyframe_wanted());

    // A keyframe makes older gaps irrelevant.
    nack.on_packet(ms(t0, 60), 5, false);
    assert_eq!(nack.missing().collect::<Vec<_>>(), [2, 3, 4]);
    nack.on_packet(ms(t0, 61), 6, true);
    assert_eq!(nack.missing().count(), 0);

    // A gap larger than the list: straight to a keyframe.
    nack.on_packet(ms(t0, 70), 2000, false);
    assert_eq!(nack.missing().count(), 0);
    assert!(nack.keyframe_wanted());
}

#[test]
fn keyframe_requests_are_throttled_and_escalate_to_fir() {
    let t0 = Instant::now();
    let mut kf = KeyframeRequester::new(KeyframeRequestConfig::default());
    assert_eq!(kf.poll(t0), None, "nothing wanted");
    kf.request();
    assert_eq!(kf.poll(t0), Some(KeyframeRequest::Pli));
    kf.request();
    assert_eq!(kf.poll(ms(t0, 100)), None, "throttled to 500 ms");
    assert_eq!(kf.next_wakeup(ms(t0, 100)), Some(ms(t0, 500)));
    assert_eq!(kf.poll(ms(t0, 500)), Some(KeyframeRequest::Pli), "repeated while unanswered");
    assert_eq!(kf.poll(ms(t0, 1000)), Some(KeyframeRequest::Pli));
    assert_eq!(kf.poll(ms(t0, 1500)), Some(KeyframeRequest::Fir { seq: 1 }));
    assert_eq!(kf.poll(ms(t0, 2000)), Some(KeyframeRequest::Fir { seq: 2 }));
    kf.on_keyframe();
    assert_eq!(kf.poll(ms(t0, 5000)), None);
    // A long RTT stretches the interval (the keyframe needs a round trip).
    kf.set_rtt(Duration::from_secs(1));
    kf.request();
    assert_eq!(kf.poll(ms(t0, 5000)), Some(KeyframeRequest::Pli));
    assert_eq!(kf.poll(ms(t0, 6000)), None);
    assert_eq!(kf.poll(ms(t0, 6500)), Some(KeyframeRequest::Pli));
    assert_eq!(kf.sent(), 7);
}

#[test]
fn retransmission_history_is_bounded_and_rate_limited() {
    let t0 = Instant::now();
    let mut history = RetransmissionHistory::new(256, Duration::from_secs(1));
    history.set_rtt(Duration::from_millis(50));
    for i in 0..1000u32 {
        let seq = (65_000u32 + i) as u16; // wraps at 536
        history.store(ms(t0, u64::from(i)), seq, i);
    }
    assert_eq!(history.len(), 256);
    let now = ms(t0, 1000);
    let newest = (65_000u32 + 999) as u16;
    assert_eq!(history.on_nack(now, newest), Some(&999));
    assert_eq!(history.on_nack(ms(t0, 1020), newest), None, "once per RTT");
    assert_eq!(history.on_nack(ms(t0, 1050), newest), Some(&999));
    let evicted = (65_000u32 + 100) as u16;
    assert_eq!(history.on_nack(now, evicted), None, "overwritten by newer packets");
    let oldest_kept = (65_000u32 + 744) as u16;
    assert_eq!(history.on_nack(now, oldest_kept), Some(&744));
    assert_eq!(history.on_nack(ms(t0, 1746), (65_000u32 + 745) as u16), None, "older than max age");
    let st = history.stats();
    assert_eq!((st.retransmitted, st.throttled, st.missing), (3, 1, 2));
}

fn vp(seq: u16, ts: u32, start: bool, end: bool, key: bool) -> VideoPacket<u16> {
    VideoPacket {
        seq,
        timestamp: ts,
        start_of_frame: start,
        end_of_frame: end,
        keyframe: key,
        payload: seq,
    }
}

/// Frame `n` (3 packets, seq 3n..3n+2), keyframe if `key`.
fn frame(n: u16, key: bool) -> [VideoPacket<u16>; 3] {
    let ts = u32::from(n) * 3000;
    [
        vp(3 * n, ts, true, false, key),
        vp(3 * n + 1, ts, false, false, key),
        vp(3 * n + 2, ts, false, true, key),
    ]
}

#[test]
fn assembler_emits_complete_frames_in_order_only() {
    let t0 = Instant::now();
    let mut asm = FrameAssembler::new(AssemblerConfig::default());
    let mut out = Vec::new();
    // Frame 0 (key) arrives scrambled.
    let [a, b, c] = frame(0, true);
    asm.insert(t0, c);
    asm.insert(t0, a);
    assert_eq!(asm.pop_frame(t0, &mut out), None, "incomplete");
    asm.insert(t0, b.clone());
    let f = asm.pop_frame(t0, &mut out).expect("complete keyframe");
    assert_eq!((f.first_seq, f.last_seq, f.packets, f.keyframe, f.timestamp), (0, 2, 3, true, 0));
    assert_eq!(out, [0, 1, 2]);
    assert_eq!(asm.insert(t0, b), AssemblerInsert::Late);
    // Frame 1 misses a packet; frame 2 is complete but must wait behind it.
    let [a, b, c] = frame(1, false);
    asm.insert(ms(t0, 33), a);
    asm.insert(ms(t0, 33), c);
    for p in frame(2, false) {
        asm.insert(ms(t0, 66), p);
    }
    out.clear();
    assert_eq!(asm.pop_frame(ms(t0, 66), &mut out), None);
    // The retransmission completes frame 1: frames 1 and 2 come out in order.
    assert_eq!(asm.insert(ms(t0, 120), b.clone()), AssemblerInsert::Stored);
    assert_eq!(asm.insert(ms(t0, 120), b), AssemblerInsert::Duplicate);
    assert_eq!(asm.pop_frame(ms(t0, 120), &mut out).map(|f| f.first_seq), Some(3));
    assert_eq!(asm.pop_frame(ms(t0, 120), &mut out).map(|f| f.first_seq), Some(6));
    assert_eq!(out, [3, 4, 5, 6, 7, 8]);
    assert_eq!(asm.pop_frame(ms(t0, 120), &mut out), None);
    assert!(!asm.needs_keyframe());
}

#[test]
fn assembler_gives_up_after_deadline_and_recovers_on_keyframe() {
    let t0 = Instant::now();
    let config = AssemblerConfig {
        frame_deadline: Duration::from_millis(300),
        ..AssemblerConfig::default()
    };
    let mut asm = FrameAssembler::new(config);
    let mut out = Vec::new();
    let mut emitted = Vec::new();
    // 30 fps; frame 10 loses its middle packet for good; keyframe at frame 25.
    for n in 0..40u16 {
        let now = ms(t0, u64::from(n) * 33);
        for p in frame(n, n == 0 || n == 25) {
            if !(n == 10 && p.seq == 31) {
                asm.insert(now, p);
            }
        }
        while let Some(f) = asm.pop_frame(now, &mut out) {
            emitted.push((f.first_seq / 3, now));
        }
        if (10..25).contains(&n) {
            assert!(
                asm.since_last_frame(now).unwrap() >= Duration::from_millis(33 * u64::from(n - 9))
            );
        }
    }
    let frames: Vec<u16> = emitted.iter().map(|e| e.0).collect();
    let expected: Vec<u16> = (0..10).chain(25..40).collect();
    assert_eq!(frames, expected, "delta frames after the hole are never emitted");
    let st = asm.stats();
    assert_eq!(st.frames, 25);
    assert_eq!(st.keyframes, 2);
    assert_eq!(st.frames_dropped, 1);
    assert_eq!(st.undecodable, 14, "frames 11..=24 complete but unreferenced");
    assert_eq!(st.freezes, 1);
    // Frozen from frame 9 (297 ms) to the keyframe (825 ms).
    assert_eq!(st.frozen, Duration::from_millis(825 - 297));
    assert!(!asm.needs_keyframe());
}

#[test]
fn sender_sequence_restart_is_not_mistaken_for_late_packets() {
    let t0 = Instant::now();
    let mut asm = FrameAssembler::new(AssemblerConfig::default());
    let mut nack = NackGenerator::new(NackConfig::default());
    let mut out = Vec::new();
    for p in frame(10_000, true) {
        nack.on_packet(t0, p.seq, true);
        asm.insert(t0, p);
    }
    assert!(asm.pop_frame(t0, &mut out).is_some());
    // The sender restarts at sequence 0 with a keyframe.
    for p in frame(0, true) {
        nack.on_packet(ms(t0, 33), p.seq, true);
        assert_ne!(asm.insert(ms(t0, 33), p), AssemblerInsert::Late);
    }
    assert_eq!(asm.pop_frame(ms(t0, 33), &mut out).map(|f| f.first_seq), Some(0));
    nack.on_packet(ms(t0, 66), 5, false);
    let mut list = Vec::new();
    nack.poll(ms(t0, 100), &mut list);
    assert_eq!(list, [3, 4], "gaps after the restart are NACKed again");
}

#[test]
fn assembler_jumps_to_a_newer_keyframe_at_once() {
    let t0 = Instant::now();
    let mut asm = FrameAssembler::new(AssemblerConfig::default());
    let mut out = Vec::new();
    for p in frame(0, true) {
        asm.insert(t0, p);
    }
    assert!(asm.pop_frame(t0, &mut out).is_some());
    // Frame 1 lost entirely; frame 2 is a keyframe (answer to a PLI).
    for p in frame(2, true) {
        asm.insert(ms(t0, 66), p);
    }
    let f = asm.pop_frame(ms(t0, 66), &mut out).expect("keyframe without waiting");
    assert_eq!((f.first_seq, f.keyframe), (6, true));
}

// ---- Everything together over an impaired link ----

#[derive(Debug, Clone)]
struct Media {
    seq: u16,
    ts: u32,
    start: bool,
    end: bool,
    key: bool,
}

impl WirePacket for Media {
    fn wire_len(&self) -> usize {
        1200
    }
}

#[derive(Debug, Clone)]
enum Feedback {
    Nack(Vec<u16>),
    Keyframe,
}

impl WirePacket for Feedback {
    fn wire_len(&self) -> usize {
        64
    }
}

struct VideoRun {
    frames_sent: u64,
    frames_shown: u64,
    max_gap: Duration,
    keyframe_requests: u64,
    nack: sottovoce::session::nack::NackStats,
    assembler: sottovoce::session::frame_assembler::AssemblerStats,
    retransmitted: u64,
}

fn video_call(forward: ImpairmentConfig, seconds: u64, seed: u64) -> VideoRun {
    let t0 = Instant::now();
    let rtt = Duration::from_millis(100);
    let mut fwd: Impairment<Media> = Impairment::new(forward, seed);
    let back_config = ImpairmentConfig {
        delay: Duration::from_millis(40),
        loss: LossModel::Random(0.05),
        ..ImpairmentConfig::default()
    };
    let mut back: Impairment<Feedback> = Impairment::new(back_config, seed + 1);

    let mut history = RetransmissionHistory::new(1024, Duration::from_secs(2));
    history.set_rtt(rtt);
    let mut nack = NackGenerator::new(NackConfig::default());
    nack.set_rtt(rtt);
    let mut kf = KeyframeRequester::new(KeyframeRequestConfig::default());
    kf.set_rtt(rtt);
    let mut asm = FrameAssembler::new(AssemblerConfig::default());
    asm.set_frame_deadline(Duration::from_millis(300));

    let (mut seq, mut frames_sent, mut keyframe_next) = (0u16, 0u64, true);
    let mut shown: Vec<Instant> = Vec::new();
    let mut out = Vec::new();
    let mut nacks = Vec::new();
    let end = Duration::from_secs(seconds);
    let mut t = Duration::ZERO;
    while t < end {
        let now = t0 + t;
        // Sender: 30 fps, 4 packets a frame (a keyframe has 12).
        if t.as_millis() % 33 == 0 && t.subsec_micros() % 1000 == 0 {
            let ts = (frames_sent * 3000) as u32;
            let key = std::mem::take(&mut keyframe_next);
            let count = if key { 12 } else { 4 };
            for i in 0..count {
                let m = Media { seq, ts, start: i == 0, end: i == count - 1, key };
                history.store(now, seq, m.clone());
                fwd.send(now, m);
                seq = seq.wrapping_add(1);
            }
            frames_sent += 1;
        }
        while let Some(fb) = back.poll(now) {
            match fb {
                Feedback::Nack(list) => {
                    for s in list {
                        if let Some(m) = history.on_nack(now, s) {
                            let m = m.clone();
                            fwd.send(now, m);
                        }
                    }
                }
                Feedback::Keyframe => keyframe_next = true,
            }
        }
        // Receiver.
        while let Some(m) = fwd.poll(now) {
            nack.on_packet(now, m.seq, m.key && m.start);
            asm.insert(
                now,
                VideoPacket {
                    seq: m.seq,
                    timestamp: m.ts,
                    start_of_frame: m.start,
                    end_of_frame: m.end,
                    keyframe: m.key,
                    payload: (),
                },
            );
        }
        while let Some(f) = asm.pop_frame(now, &mut out) {
            out.clear();
            if f.keyframe {
                kf.on_keyframe();
            }
            shown.push(now);
        }
        nacks.clear();
        nack.poll(now, &mut nacks);
        if !nacks.is_empty() {
            back.send(now, Feedback::Nack(nacks.clone()));
        }
        if nack.take_keyframe_wanted() || asm.needs_keyframe() {
            kf.request();
        }
        if kf.poll(now).is_some() {
            back.send(now, Feedback::Keyframe);
        }
        t += Duration::from_millis(1);
    }
    let max_gap = shown.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(end);
    VideoRun {
        frames_sent,
        frames_shown: shown.len() as u64,
        max_gap,
        keyframe_requests: kf.sent(),
        nack: nack.stats(),
        assembler: asm.stats(),
        retransmitted: history.stats().retransmitted,
    }
}

#[test]
fn video_recovers_from_random_loss_and_jitter_within_a_second() {
    let mut forward = ImpairmentConfig::default();
    forward.apply_flag("loss", "5%").unwrap();
    forward.apply_flag("jitter", "30ms").unwrap();
    forward.apply_flag("delay", "40ms").unwrap();
    let run = video_call(forward, 120, 11);
    eprintln!(
        "5% loss + 30 ms jitter, 120 s: sent {} frames, shown {}, max gap {:?}, keyframe requests {}, {:?}, {:?}, retransmitted {}",
        run.frames_sent,
        run.frames_shown,
        run.max_gap,
        run.keyframe_requests,
        run.nack,
        run.assembler,
        run.retransmitted
    );
    // NACK repairs nearly everything: almost every frame is shown.
    assert!(run.frames_shown as f64 >= 0.97 * run.frames_sent as f64);
    assert!(run.nack.recovered as f64 >= 0.95 * run.nack.missing as f64);
    assert!(run.max_gap < Duration::from_secs(1), "longest freeze {:?}", run.max_gap);
    assert!(run.retransmitted > 0);
}

#[test]
fn video_recovers_from_loss_bursts_through_keyframes_within_a_second() {
    let forward = ImpairmentConfig {
        loss: LossModel::bursty(0.10, 8.0).unwrap(),
        delay: Duration::from_millis(40),
        ..ImpairmentConfig::default()
    };
    let run = video_call(forward, 120, 12);
    eprintln!(
        "10% bursty loss (mean burst 8), 120 s: sent {} frames, shown {}, max gap {:?}, keyframe requests {}, {:?}, {:?}",
        run.frames_sent,
        run.frames_shown,
        run.max_gap,
        run.keyframe_requests,
        run.nack,
        run.assembler
    );
    assert!(run.max_gap < Duration::from_secs(1), "longest freeze {:?}", run.max_gap);
    assert!(run.frames_shown as f64 >= 0.9 * run.frames_sent as f64);
}
