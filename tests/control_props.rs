//! Property tests: arbitrary (including hostile) packet sequences never panic the control
//! logic and never break its invariants.

use std::time::{Duration, Instant};

use proptest::prelude::*;
use sottovoce::session::frame_assembler::{AssemblerConfig, FrameAssembler, VideoPacket};
use sottovoce::session::jitter::{AudioPacket, JitterBuffer, JitterConfig, PlayoutAction};
use sottovoce::session::nack::{NackConfig, NackGenerator};

#[derive(Debug, Clone)]
enum AudioOp {
    Insert { seq_step: i16, ts_step: i32, frames: u8, dtx: bool },
    Pull,
    Wait(u8),
}

fn audio_op() -> impl Strategy<Value = AudioOp> {
    prop_oneof![
        4 => (-5i16..8, -2000i32..4000, 1u8..=6, any::<bool>())
            .prop_map(|(seq_step, ts_step, frames, dtx)| AudioOp::Insert { seq_step, ts_step, frames, dtx }),
        1 => any::<i16>().prop_map(|s| AudioOp::Insert { seq_step: s, ts_step: 960, frames: 2, dtx: false }),
        4 => Just(AudioOp::Pull),
        1 => any::<u8>().prop_map(AudioOp::Wait),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever arrives, every tick is covered: the audio device never starves.
    #[test]
    fn jitter_buffer_always_covers_the_tick(ops in prop::collection::vec(audio_op(), 1..400)) {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        let (mut now, mut seq, mut ts) = (t0, 1000u16, 5000u32);
        let mut carry: i64 = 0;
        for op in ops {
            match op {
                AudioOp::Insert { seq_step, ts_step, frames, dtx } => {
                    seq = seq.wrapping_add(seq_step as u16);
                    ts = ts.wrapping_add(ts_step as u32);
                    let duration = u32::from(frames) * 480;
                    let p = AudioPacket { seq, timestamp: ts, duration, dtx, payload: duration };
                    prop_assert!(jb.insert(now, p).is_ok());
                }
                AudioOp::Wait(ms) => now += Duration::from_millis(u64::from(ms)),
                AudioOp::Pull => {
                    let action = jb.pull(now);
                    let produced = i64::from(action.output_samples(|d| *d));
                    if let PlayoutAction::Continue = action {
                        prop_assert!(carry >= 480, "Continue with only {carry} samples left");
                    } else {
                        prop_assert!(carry + produced >= 480, "short tick: {carry} + {produced}");
                    }
                    carry += produced - 480;
                    now += Duration::from_millis(10);
                }
            }
        }
        let st = jb.stats();
        prop_assert!(st.target_delay <= Duration::from_secs(1));
    }

    /// Frames come out in order, complete, and only with an intact reference chain.
    #[test]
    fn assembler_emits_only_decodable_frames(
        packets in prop::collection::vec((0u16..300, 0u32..40, any::<bool>(), any::<bool>(), prop::bool::weighted(0.1)), 1..500)
    ) {
        let t0 = Instant::now();
        let mut asm = FrameAssembler::new(AssemblerConfig::default());
        let mut out = Vec::new();
        let mut last_end: Option<u16> = None;
        for (i, (seq, frame, start, end, key)) in packets.into_iter().enumerate() {
            let now = t0 + Duration::from_millis(i as u64 * 5);
            asm.insert(now, VideoPacket { seq, timestamp: frame * 3000, start_of_frame: start, end_of_frame: end, keyframe: key, payload: seq });
            out.clear();
            while let Some(f) = asm.pop_frame(now, &mut out) {
                prop_assert_eq!(out.len(), f.packets);
                prop_assert_eq!(f.last_seq.wrapping_sub(f.first_seq) as usize + 1, f.packets);
                let chained = last_end.is_some_and(|e| e.wrapping_add(1) == f.first_seq);
                prop_assert!(f.keyframe || chained, "delta frame {f:?} after {last_end:?}");
                last_end = Some(f.last_seq);
                out.clear();
            }
        }
    }

    /// The NACK list stays bounded and never lists a packet that arrived.
    #[test]
    fn nack_list_is_bounded(seqs in prop::collection::vec(any::<u16>(), 1..300), steps in prop::collection::vec(0u64..50, 1..300)) {
        let t0 = Instant::now();
        let config = NackConfig { max_list: 100, ..NackConfig::default() };
        let mut nack = NackGenerator::new(config);
        let mut now = t0;
        let mut out = Vec::new();
        for (seq, step) in seqs.iter().zip(steps.iter().cycle()) {
            now += Duration::from_millis(*step);
            nack.on_packet(now, *seq, false);
            prop_assert!(!nack.missing().any(|m| m == *seq));
            out.clear();
            nack.poll(now, &mut out);
            prop_assert!(nack.missing().count() <= 100);
        }
    }
}
