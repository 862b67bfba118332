//! The AV1 depacketizer fed an arbitrary packet sequence: must never panic, and every
//! frame it emits must be a well-formed OBU stream (temporal delimiter first, every OBU
//! sized) that the packetizer accepts again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sottovoce::rtp::av1::{Av1Depacketizer, Av1DepacketizerConfig, Av1Event, Av1Packetizer};

fn check_frame(frame: &[u8], packetizer: &mut Av1Packetizer) {
    assert!(frame.starts_with(&[0x12, 0x00]), "frame must start with a temporal delimiter");
    let mut packets = 0;
    packetizer
        .packetize(frame, false, |_, _| packets += 1)
        .expect("an emitted frame is a valid OBU stream");
}

fuzz_target!(|data: &[u8]| {
    // Small buffer so that eviction and the reorder window are reached quickly.
    let config =
        Av1DepacketizerConfig { reorder_window: 6, capacity: 16, expected_payload_len: 64 };
    let mut depacketizer = Av1Depacketizer::new(config).expect("valid config");
    let mut packetizer = Av1Packetizer::new(64).expect("valid payload size");
    let mut seq = 0u16;
    let mut timestamp = 0u32;
    let mut rest = data;
    // Each record: sequence step (signed), timestamp step, flags (bit 0 = marker),
    // payload length, payload.
    while let [step, ts_step, flags, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (payload, tail) = tail.split_at(len);
        rest = tail;
        seq = seq.wrapping_add(i16::from(*step as i8) as u16);
        timestamp = timestamp.wrapping_add(u32::from(*ts_step) * 1500);
        let _ = depacketizer.push(seq, timestamp, flags & 1 != 0, payload);
        while let Some(event) = depacketizer.poll() {
            if let Av1Event::Frame(frame) = event {
                check_frame(frame.data, &mut packetizer);
            }
        }
    }
    depacketizer.flush();
    while let Some(event) = depacketizer.poll() {
        if let Av1Event::Frame(frame) = event {
            check_frame(frame.data, &mut packetizer);
        }
    }
});
