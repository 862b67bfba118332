//! The audio `JitterBuffer` fed adversarial packets and playout ticks: sequence numbers and
//! timestamps that step, jump, wrap and go backwards; durations valid and invalid; DTX;
//! arrival instants (a base `Instant` plus input offsets, monotone or not) interleaved with
//! `pull` calls, each `PlayoutAction` handled as a decoder would (including
//! `report_time_scaled` with input-chosen lengths).
//!
//! Asserted: nothing panics; an invalid duration is refused with a typed error; every
//! packet handed back to be decoded is one the buffer accepted, handed back at most once
//! (FEC reads of a buffered packet aside); the buffer never holds more than its capacity;
//! counters never decrease (`accelerated` and `stretched` may move to
//! `time_scale_declined`, so their sum is checked), and `received` counts accepted packets.
//!
//! Input: bytes 0-1 pick the configuration (capacity, delays, FEC, clock rate); then
//! operations, one byte each plus their operands (see `run`).

#[path = "input.rs"]
mod input;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use input::Input;
use sottovoce::session::jitter::{
    AudioPacket, InsertOutcome, JitterBuffer, JitterConfig, JitterError, JitterStats, PlayoutAction,
};

/// Durations a sender may use (in 10 ms units), and then raw values from the input.
const DURATIONS_10MS: [u32; 6] = [1, 2, 4, 6, 12, 3];

fn check_monotone(before: &JitterStats, after: &JitterStats) {
    let counters = |s: &JitterStats| {
        [
            s.received,
            s.duplicates,
            s.late,
            s.lost,
            s.fec_recovered,
            s.underflows,
            s.overflows,
            s.time_scale_declined,
            s.accelerated + s.stretched + s.time_scale_declined,
            s.timestamp_jumps,
            s.resets,
        ]
    };
    let (a, b) = (counters(before), counters(after));
    for (i, (a, b)) in a.iter().zip(b.iter()).enumerate() {
        assert!(b >= a, "counter {i} went down: {before:?} -> {after:?}");
    }
    assert!(after.concealed >= before.concealed, "concealed went down");
    assert!(after.comfort_noise >= before.comfort_noise, "comfort noise went down");
    assert!(after.silence_shortened >= before.silence_shortened, "silence_shortened went down");
}

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let (Some(c0), Some(c1)) = (input.u8(), input.u8()) else { return };
    let clock_rate = [48_000, 16_000, 8_000, 44_100][usize::from(c0 & 3)];
    let config = JitterConfig {
        clock_rate,
        capacity: 8 + usize::from(c0 >> 2 & 15) * 4,
        window: 8 + usize::from(c0 >> 6) * 40,
        min_delay: Duration::from_millis(u64::from(c1 & 7) * 20),
        max_delay: Duration::from_millis(200 + u64::from(c1 >> 3 & 7) * 150),
        fec: c1 & 0x40 != 0,
        isolated_spike_half_life: (c1 & 0x80 != 0).then_some(Duration::from_secs(2)),
        ..JitterConfig::default()
    };
    let capacity = config.capacity;
    let ticks_10ms = clock_rate / 100;
    let mut jb: JitterBuffer<u32> = JitterBuffer::new(config).expect("valid configuration");

    let base = Instant::now();
    let mut clock_ms = 0u64;
    let mut seq = 0u16;
    let mut timestamp = 0u32;
    let mut next_id = 0u32;
    let mut accepted_ids = HashSet::new();
    let mut played_ids = HashSet::new();
    let mut accepted = 0u64;
    let mut stats = jb.stats();

    while let Some(op) = input.u8() {
        match op & 3 {
            // Insert a packet: sequence/timestamp steps, duration, DTX, arrival time.
            0 | 1 => {
                let (Some(seq_step), Some(ts_step), Some(duration), Some(arrival)) =
                    (input.u8(), input.u8(), input.u8(), input.u8())
                else {
                    break;
                };
                // Steps: small signed ones, or (op bit 2) a raw 16/32-bit value.
                if op & 4 != 0 {
                    let (Some(s), Some(t)) = (input.u16(), input.u32()) else { break };
                    seq = s;
                    timestamp = t;
                } else {
                    seq = seq.wrapping_add(i16::from(seq_step as i8) as u16);
                    timestamp = timestamp
                        .wrapping_add((i32::from(ts_step as i8) * ticks_10ms as i32) as u32);
                }
                let duration = if op & 8 == 0 {
                    DURATIONS_10MS[usize::from(duration) % DURATIONS_10MS.len()] * ticks_10ms
                } else {
                    u32::from(duration) * 97
                };
                let valid = (ticks_10ms..=12 * ticks_10ms).contains(&duration);
                // Arrival: the clock moves forward by the byte's value in ms, or (op bit 4)
                // the packet claims an instant up to 2.55 s in the past.
                let arrival_ms = if op & 0x10 == 0 {
                    clock_ms += u64::from(arrival);
                    clock_ms
                } else {
                    clock_ms.saturating_sub(u64::from(arrival) * 10)
                };
                let id = next_id;
                next_id += 1;
                let packet =
                    AudioPacket { seq, timestamp, duration, dtx: op & 0x20 != 0, payload: id };
                let outcome = jb.insert(base + Duration::from_millis(arrival_ms), packet);
                match outcome {
                    Ok(InsertOutcome::Accepted | InsertOutcome::Resynchronised) => {
                        assert!(valid, "duration {duration} accepted");
                        accepted_ids.insert(id);
                        accepted += 1;
                    }
                    Ok(InsertOutcome::Duplicate | InsertOutcome::Late) => {
                        assert!(valid, "duration {duration} accepted");
                    }
                    Err(JitterError::InvalidDuration(d)) => {
                        assert!(!valid && d == duration, "valid duration {duration} refused")
                    }
                    Err(error) => panic!("unexpected error {error}"),
                }
            }
            // A playout tick, 10 ms later (op bits 2-3: or a stall of up to 3 s, or a
            // tick at the same instant).
            2 => {
                let Some(extra) = input.u8() else { break };
                clock_ms += match op >> 2 & 3 {
                    0 | 1 => 10,
                    2 => u64::from(extra) * 12,
                    _ => 0,
                };
                let mut played = Vec::new();
                let mut fec_source = None;
                match jb.pull(base + Duration::from_millis(clock_ms)) {
                    PlayoutAction::Decode { packet } => played.push(packet),
                    PlayoutAction::Accelerate { packet, next, .. } => {
                        played.push(packet);
                        played.extend(next);
                    }
                    PlayoutAction::Stretch { packet, .. } => played.push(packet),
                    PlayoutAction::DecodeFec { next, .. } => fec_source = Some(*next),
                    PlayoutAction::Silence { .. }
                    | PlayoutAction::Continue
                    | PlayoutAction::Conceal { .. }
                    | PlayoutAction::ComfortNoise { .. } => {}
                }
                for id in played {
                    assert!(accepted_ids.contains(&id), "packet {id} played but never accepted");
                    assert!(played_ids.insert(id), "packet {id} played twice");
                }
                if let Some(id) = fec_source {
                    assert!(accepted_ids.contains(&id), "FEC from packet {id}, never accepted");
                    assert!(!played_ids.contains(&id), "FEC from packet {id}, already played");
                }
            }
            // The time-scaler reports what it produced (op bits 2-7 scale the length).
            _ => jb.report_time_scaled(u32::from(op >> 2) * ticks_10ms / 4),
        }
        assert!(jb.buffered_packets() <= capacity, "more packets buffered than capacity");
        let now = jb.stats();
        check_monotone(&stats, &now);
        assert_eq!(now.received, accepted, "received counts accepted packets");
        stats = now;
    }
}
