//! An `SframeReceiver` fed sequences of SFrame frames: genuinely protected by up to three
//! `SframeSender`s (sender ids from the input), delivered late, out of order and twice;
//! mutated (one bit flipped); under the wrong metadata; and raw bytes. Senders ratchet,
//! prepare and activate fresh keys, and keys are installed mid-stream, at input-chosen
//! points.
//!
//! Asserted: nothing panics; an accepted frame is a genuine frame, delivered with its own
//! metadata, accepted for the first time, and decrypts to exactly the payload sent;
//! mutated frames, wrong metadata and raw bytes are never accepted; a genuine frame not yet
//! accepted, under a sender's current key, installed by the last `install` for that
//! sender, is accepted (frames in flight are at most 32 apart, well inside the 128-frame
//! replay window); the receiver's counters agree.
//!
//! Input: byte 0 sets `keep_previous` (0-3), bytes 1-6 the first sender id (48 bits);
//! then operations, one byte each plus their operands (see `run`).

#[path = "input.rs"]
mod input;

use input::Input;
use sottovoce::e2ee::{MAX_SENDER_ID, SframeReceiver, SframeSender, SframeSuite};

const SENDERS: usize = 3;
const MAX_IN_FLIGHT: usize = 32;
/// Fresh keys a sender may make per input (generation numbers then stay unique).
const MAX_FRESH_KEYS: u32 = 64;

struct Sent {
    sender: usize,
    payload: Vec<u8>,
    metadata: Vec<u8>,
    frame: Vec<u8>,
    key_id: u64,
    incarnation: u32,
    accepted: bool,
}

struct SenderState {
    sender: SframeSender,
    /// Key id of the last key installed at the receiver for this sender, if any.
    last_installed: Option<u64>,
    /// Bumped when the sender leaves and rejoins with a new `SframeSender` (same id).
    incarnation: u32,
    fresh_keys: u32,
}

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let (Some(keep), Some(id)) = (input.u8(), input.array::<6>()) else { return };
    let base_id = u64::from_be_bytes([0, 0, id[0], id[1], id[2], id[3], id[4], id[5]]);
    let mut receiver = SframeReceiver::new(usize::from(keep & 3));
    let mut senders: Vec<SenderState> = (0..SENDERS)
        .map(|i| {
            let suite =
                if i == 1 { SframeSuite::AesGcm128Sha256 } else { SframeSuite::AesGcm256Sha512 };
            let sender_id = (base_id + i as u64) & MAX_SENDER_ID;
            SenderState {
                sender: SframeSender::new(sender_id, suite).expect("sender"),
                last_installed: None,
                incarnation: 0,
                fresh_keys: 0,
            }
        })
        .collect();
    // Sender ids wrap at 48 bits; two senders must not share one.
    if senders.iter().any(|s| s.sender.key_material().sender_id() == MAX_SENDER_ID) {
        return;
    }
    let mut in_flight: Vec<Sent> = Vec::new();
    let mut accepted = 0u64;
    let mut out = Vec::new();

    while let Some(op) = input.u8() {
        let who = usize::from(op >> 4) % SENDERS;
        match op & 0x0f {
            // Protect a payload with metadata (lengths from the input).
            0..=2 => {
                let (Some(payload), Some(metadata)) = (input.len8_bytes(), input.len8_bytes())
                else {
                    break;
                };
                let state = &mut senders[who];
                let key_id = state.sender.key_material().key_id();
                let mut frame = Vec::new();
                state.sender.protect(payload, metadata, &mut frame).expect("protect");
                if in_flight.len() == MAX_IN_FLIGHT {
                    in_flight.remove(0);
                }
                in_flight.push(Sent {
                    sender: who,
                    payload: payload.to_vec(),
                    metadata: metadata.to_vec(),
                    frame,
                    key_id,
                    incarnation: state.incarnation,
                    accepted: false,
                });
            }
            // Deliver a genuine frame (again, if it was delivered before).
            3..=5 => {
                let Some(pick) = input.u8() else { break };
                if in_flight.is_empty() {
                    continue;
                }
                let index = usize::from(pick) % in_flight.len();
                let sent = &mut in_flight[index];
                let state = &mut senders[sent.sender];
                let current = state.sender.key_material().key_id();
                let must_accept = !sent.accepted
                    && sent.key_id == current
                    && sent.incarnation == state.incarnation
                    && state.last_installed == Some(current);
                let result = receiver.unprotect(&sent.frame, &sent.metadata, &mut out);
                match result {
                    Ok(plain) => {
                        assert!(!sent.accepted, "a replayed frame was accepted");
                        assert_eq!(plain, &sent.payload[..], "decrypted to something else");
                        sent.accepted = true;
                        accepted += 1;
                    }
                    Err(error) => assert!(!must_accept, "genuine frame refused: {error}"),
                }
            }
            // A genuine frame with one bit flipped, or under other metadata.
            6 | 7 => {
                let (Some(pick), Some(bit)) = (input.u8(), input.u16()) else { break };
                if in_flight.is_empty() {
                    continue;
                }
                let sent = &in_flight[usize::from(pick) % in_flight.len()];
                let (mut frame, mut metadata) = (sent.frame.clone(), sent.metadata.clone());
                if op & 0x0f == 6 {
                    let bit = usize::from(bit) % (frame.len() * 8);
                    frame[bit / 8] ^= 1 << (bit % 8);
                } else if metadata.is_empty() {
                    metadata.push(bit as u8);
                } else {
                    let bit = usize::from(bit) % (metadata.len() * 8);
                    metadata[bit / 8] ^= 1 << (bit % 8);
                }
                let result = receiver.unprotect(&frame, &metadata, &mut out);
                assert!(result.is_err(), "a tampered frame was accepted");
            }
            // Raw bytes.
            8 => {
                let (Some(frame), Some(metadata)) = (input.len8_bytes(), input.len8_bytes()) else {
                    break;
                };
                let result = receiver.unprotect(frame, metadata, &mut out);
                assert!(result.is_err(), "raw bytes were accepted");
            }
            // Someone joined: the sender ratchets (the receiver may catch up on its own).
            9 => {
                let _ = senders[who].sender.ratchet();
            }
            // Someone left: a fresh key is prepared, then activated (possibly later).
            10 => {
                let state = &mut senders[who];
                if state.fresh_keys < MAX_FRESH_KEYS {
                    state.fresh_keys += 1;
                    let _ = state.sender.prepare_fresh_key().expect("fresh key");
                }
            }
            11 => {
                let _ = senders[who].sender.activate_prepared_key().expect("activate");
            }
            // The key-distribution channel delivers the sender's current key.
            12 | 13 => {
                let state = &mut senders[who];
                let material = state.sender.key_material();
                let key_id = material.key_id();
                if receiver.install(material).is_ok() {
                    state.last_installed = Some(key_id);
                }
            }
            // The sender left the call, and rejoins with a new sender (fresh key, same id).
            14 => {
                let state = &mut senders[who];
                let material = state.sender.key_material();
                receiver.remove_sender(material.sender_id());
                state.sender =
                    SframeSender::new(material.sender_id(), material.suite()).expect("sender");
                state.last_installed = None;
                state.incarnation += 1;
                state.fresh_keys = 0;
            }
            _ => {}
        }
    }
    assert_eq!(receiver.stats().accepted, accepted, "accepted frames counted");
}
