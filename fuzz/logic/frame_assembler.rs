//! The video `FrameAssembler` fed adversarial packets: sequence numbers that step, jump,
//! wrap and go backwards, timestamps that change mid-frame, start/end/keyframe flags in
//! any combination, and `pop_frame` calls at instants that move forward, stall or repeat.
//!
//! Asserted: nothing panics; every frame handed out is made of packets that were stored,
//! each handed out at most once, with consecutive sequence numbers from `first_seq` to
//! `last_seq` (`packets` of them), one timestamp (the frame's), a start flag on the first
//! packet only, the end flag on the last, and the first packet's keyframe flag; a delta
//! frame only comes out while the chain is intact; counters never decrease.
//!
//! Input: byte 0 picks the capacity and frame deadline; then operations, one byte each
//! plus their operands (see `run`).

#[path = "input.rs"]
mod input;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use input::Input;
use sottovoce::session::frame_assembler::{
    AssemblerConfig, AssemblerInsert, AssemblerStats, FrameAssembler, VideoPacket,
};

struct Packet {
    seq: u16,
    timestamp: u32,
    start: bool,
    end: bool,
    keyframe: bool,
}

fn counters(s: &AssemblerStats) -> [u64; 7] {
    [
        s.frames,
        s.keyframes,
        s.frames_dropped,
        s.undecodable,
        s.late_packets,
        s.duplicate_packets,
        s.freezes,
    ]
}

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let Some(c) = input.u8() else { return };
    let config = AssemblerConfig {
        capacity: 4 + usize::from(c & 31) * 2,
        frame_deadline: Duration::from_millis(u64::from(c >> 5) * 100),
    };
    let mut assembler: FrameAssembler<u32> = FrameAssembler::new(config);
    let base = Instant::now();
    let mut clock_ms = 0u64;
    let (mut seq, mut timestamp) = (0u16, 0u32);
    let mut stored: HashMap<u32, Packet> = HashMap::new();
    let mut next_id = 0u32;
    let mut stats = assembler.stats();
    let mut out = Vec::new();

    while let Some(op) = input.u8() {
        if op & 1 == 0 {
            // Insert: sequence step (or raw), timestamp step (or raw), flags from op.
            let (Some(seq_step), Some(ts_step)) = (input.u8(), input.u8()) else { break };
            if op & 2 != 0 {
                let (Some(s), Some(t)) = (input.u16(), input.u32()) else { break };
                (seq, timestamp) = (s, t);
            } else {
                seq = seq.wrapping_add(i16::from(seq_step as i8) as u16);
                timestamp = timestamp.wrapping_add(u32::from(ts_step) * 3000);
            }
            let id = next_id;
            next_id += 1;
            let packet = Packet {
                seq,
                timestamp,
                start: op & 4 != 0,
                end: op & 8 != 0,
                keyframe: op & 16 != 0,
            };
            let outcome = assembler.insert(
                base + Duration::from_millis(clock_ms),
                VideoPacket {
                    seq,
                    timestamp,
                    start_of_frame: packet.start,
                    end_of_frame: packet.end,
                    keyframe: packet.keyframe,
                    payload: id,
                },
            );
            if matches!(outcome, AssemblerInsert::Stored | AssemblerInsert::Reset) {
                stored.insert(id, packet);
            }
        } else {
            // Pop frames: the clock moves forward (op bits 1-7 × 10 ms), or back 1 s
            // (op bit 1 with every other bit clear is a plain repeat).
            if op == 0xff {
                clock_ms = clock_ms.saturating_sub(1000);
            } else {
                clock_ms += u64::from(op >> 1) * 10;
            }
            let now = base + Duration::from_millis(clock_ms);
            out.clear();
            loop {
                // Skips inside `pop_frame` can only break the chain further, so a delta frame
                // must not come out of a call that started with the chain broken.
                let needed_keyframe = assembler.needs_keyframe();
                let Some(info) = assembler.pop_frame(now, &mut out) else { break };
                assert!(info.keyframe || !needed_keyframe, "delta frame on a broken chain");
                assert_eq!(out.len(), info.packets, "payload count of {info:?}");
                assert_eq!(
                    usize::from(info.last_seq.wrapping_sub(info.first_seq)) + 1,
                    info.packets,
                    "sequence span of {info:?}"
                );
                for (i, id) in out.drain(..).enumerate() {
                    let packet = stored.remove(&id).expect("a stored packet, handed out once");
                    assert_eq!(packet.seq, info.first_seq.wrapping_add(i as u16), "{info:?}");
                    assert_eq!(packet.timestamp, info.timestamp, "{info:?}");
                    assert_eq!(packet.start, i == 0, "start flag at {i} in {info:?}");
                    assert_eq!(packet.end, i + 1 == info.packets, "end flag at {i} in {info:?}");
                    if i == 0 {
                        assert_eq!(packet.keyframe, info.keyframe, "{info:?}");
                    }
                }
            }
            let _ = assembler.next_wakeup();
            let _ = assembler.since_last_frame(now);
        }
        let now = assembler.stats();
        let (a, b) = (counters(&stats), counters(&now));
        assert!(
            a.iter().zip(b.iter()).all(|(a, b)| b >= a),
            "counters went down: {stats:?} -> {now:?}"
        );
        assert!(now.frozen >= stats.frozen, "frozen time went down");
        stats = now;
    }
}
