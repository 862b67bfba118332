//! The AV1 depacketizer fed an arbitrary packet sequence: must never panic, and every
//! frame it emits must be a well-formed OBU stream (temporal delimiter first, every OBU
//! sized) that the packetizer accepts again.
//!
//! Input: a stream of records `step (i8) | timestamp step (u8) | flags (bit 0: marker) |
//! payload length (u16, big-endian) | payload`. Lengths are 16-bit so payloads with
//! hundreds of OBU elements (and aggregation headers past the 255th element) are reachable.

#[path = "input.rs"]
mod input;

use input::Input;
use sottovoce::rtp::av1::{Av1Depacketizer, Av1DepacketizerConfig, Av1Event, Av1Packetizer};

fn check_frame(frame: &[u8], packetizer: &mut Av1Packetizer) {
    assert!(frame.starts_with(&[0x12, 0x00]), "frame must start with a temporal delimiter");
    let mut packets = 0;
    packetizer
        .packetize(frame, false, |_, _| packets += 1)
        .expect("an emitted frame is a valid OBU stream");
}

fn drain(depacketizer: &mut Av1Depacketizer, packetizer: &mut Av1Packetizer) {
    while let Some(event) = depacketizer.poll() {
        if let Av1Event::Frame(frame) = event {
            check_frame(frame.data, packetizer);
        }
    }
}

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    // Small buffer so that eviction and the reorder window are reached quickly.
    let config =
        Av1DepacketizerConfig { reorder_window: 6, capacity: 16, expected_payload_len: 64 };
    let mut depacketizer = Av1Depacketizer::new(config).expect("valid config");
    let mut packetizer = Av1Packetizer::new(64).expect("valid payload size");
    let mut seq = 0u16;
    let mut timestamp = 0u32;
    let mut input = Input::new(data);
    while let (Some(step), Some(ts_step), Some(flags), Some(payload)) =
        (input.u8(), input.u8(), input.u8(), input.len16_bytes())
    {
        seq = seq.wrapping_add(i16::from(step as i8) as u16);
        timestamp = timestamp.wrapping_add(u32::from(ts_step) * 1500);
        let _ = depacketizer.push(seq, timestamp, flags & 1 != 0, payload);
        drain(&mut depacketizer, &mut packetizer);
    }
    depacketizer.flush();
    drain(&mut depacketizer, &mut packetizer);
}
