//! Stateful SRTP across key epochs, the way a call re-keys: a sender that re-keys
//! (`rekey_outbound`) at input-chosen points, and a receiver that stages the peer's next
//! key (`stage_next_key`) and tries packets claiming the next epoch with
//! `unprotect_rtp_staged` / `unprotect_rtcp_staged`, everything else with the plain calls.
//! Genuine packets are delivered late, out of order and twice, interleaved with mutated
//! and forged datagrams claiming the previous, current or next epoch.
//!
//! Asserted, against a model of the receiver's epochs: every genuine packet delivered for
//! the first time authenticates (and decrypts to what was sent) if it belongs to the next
//! epoch, the current one, or the previous one while the re-key overlap lasts; it is
//! refused otherwise; replays, mutated and forged datagrams never authenticate, and since
//! a refused datagram must change nothing, a forged next-epoch packet cannot make a later
//! genuine packet fail. The session's counters must agree with the model.
//!
//! Input: byte 0 picks the profile, bytes 1-4 the two streams' first sequence numbers;
//! then operations, one byte each plus their operands (see `run`).

#[path = "input.rs"]
mod input;

use input::Input;
use sottovoce::srtp::{SrtpConfig, SrtpProfile, SrtpSession};

/// Packets under the new key after which the previous one is dropped (small, so the end
/// of the overlap is reached).
const OVERLAP: u32 = 8;
/// Datagrams held "in the network" at most; the oldest is dropped when full.
const MAX_IN_FLIGHT: usize = 32;
/// Epochs at most (keys are derived from the epoch number).
const MAX_EPOCH: u32 = 200;
const SSRCS: [u32; 2] = [0x1234_5678, 0x0bad_cafe];

fn master(profile: SrtpProfile, epoch: u32) -> (Vec<u8>, Vec<u8>) {
    let key = (0..profile.master_key_len()).map(|i| (epoch as u8) ^ (i as u8 * 7) ^ 0x5a);
    let salt = (0..profile.master_salt_len()).map(|i| (epoch as u8) ^ (i as u8 * 13) ^ 0xc3);
    (key.collect(), salt.collect())
}

struct Sent {
    epoch: u32,
    rtcp: bool,
    /// Stream (0 or 1) and, for RTP, the packet index (ROC and sequence number).
    stream: usize,
    rtp_index: Option<u64>,
    bytes: Vec<u8>,
    plain: Vec<u8>,
    delivered: bool,
}

/// What the receiver should be doing, tracked independently of the session.
struct Model {
    epoch: u32,
    previous_alive: bool,
    new_key_successes: u32,
    staged: Option<u32>,
    accepted: u64,
    /// Whether an RTP packet of the stream was accepted (the receiver knows its ROC).
    rtp_started: [bool; 2],
}

struct Harness {
    profile: SrtpProfile,
    tx: SrtpSession,
    rx: SrtpSession,
    tx_epoch: u32,
    model: Model,
    in_flight: Vec<Sent>,
}

impl Harness {
    fn session(profile: SrtpProfile) -> SrtpSession {
        let (key, salt) = master(profile, 0);
        let config = SrtpConfig { rekey_overlap_packets: OVERLAP, ..SrtpConfig::default() };
        SrtpSession::new(profile, &key, &salt, config).expect("valid key sizes")
    }

    fn send(&mut self, stream: usize, rtp_index: Option<u64>, plain: Vec<u8>) {
        let rtcp = rtp_index.is_none();
        let overhead =
            if rtcp { self.profile.rtcp_overhead() } else { self.profile.rtp_overhead() };
        let mut buf = plain.clone();
        buf.resize(plain.len() + overhead, 0);
        let len = if rtcp {
            self.tx.protect_rtcp(&mut buf, plain.len())
        } else {
            self.tx.protect_rtp(&mut buf, plain.len())
        }
        .expect("a well-formed packet is protected");
        buf.truncate(len);
        if self.in_flight.len() == MAX_IN_FLIGHT {
            self.in_flight.remove(0);
        }
        self.in_flight.push(Sent {
            epoch: self.tx_epoch,
            rtcp,
            stream,
            rtp_index,
            bytes: buf,
            plain,
            delivered: false,
        });
    }

    /// The receiver's side of a call: a packet claiming the next epoch is tried under the
    /// staged key (staged on first sight), anything else under the current/previous keys.
    fn receive(&mut self, claimed_epoch: u32, rtcp: bool, buf: &mut [u8]) -> Option<usize> {
        let model = &mut self.model;
        let result = if claimed_epoch == model.epoch + 1 {
            if model.staged != Some(claimed_epoch) {
                let (key, salt) = master(self.profile, claimed_epoch);
                self.rx.stage_next_key(&key, &salt).expect("valid key sizes");
                model.staged = Some(claimed_epoch);
            }
            let result = if rtcp {
                self.rx.unprotect_rtcp_staged(buf)
            } else {
                self.rx.unprotect_rtp_staged(buf)
            };
            if result.is_ok() {
                model.epoch += 1;
                model.previous_alive = true;
                model.new_key_successes = 1;
                model.staged = None;
            }
            result
        } else if rtcp {
            self.rx.unprotect_rtcp(buf)
        } else {
            self.rx.unprotect_rtp(buf)
        };
        assert_eq!(self.rx.has_staged_key(), model.staged.is_some(), "staged key state");
        result.ok()
    }

    fn deliver_genuine(&mut self, index: usize) {
        let sent = &self.in_flight[index];
        let (epoch, rtcp, delivered) = (sent.epoch, sent.rtcp, sent.delivered);
        let (stream, rtp_index) = (sent.stream, sent.rtp_index);
        let mut buf = sent.bytes.clone();
        let current = self.model.epoch;
        // RFC 3711 3.3.1: a receiver takes the first packet of a stream to be in ROC 0, so
        // a first packet from after the sender's sequence number wrapped cannot verify.
        let roc_known = match rtp_index {
            Some(index) => self.model.rtp_started[stream] || index < 1 << 16,
            None => true,
        };
        let acceptable = !delivered
            && roc_known
            && (epoch == current + 1
                || epoch == current
                || (epoch + 1 == current && self.model.previous_alive));
        let opened = self.receive(epoch, rtcp, &mut buf);
        let sent = &mut self.in_flight[index];
        match opened {
            Some(len) => {
                assert!(
                    acceptable,
                    "accepted a packet of epoch {epoch} at epoch {current} (replay: {delivered})"
                );
                assert_eq!(&buf[..len], &sent.plain[..], "decrypted to something else");
                sent.delivered = true;
                self.model.accepted += 1;
                if !rtcp {
                    self.model.rtp_started[stream] = true;
                }
                if epoch == current && self.model.previous_alive {
                    self.model.new_key_successes += 1;
                    if self.model.new_key_successes >= OVERLAP {
                        self.model.previous_alive = false;
                    }
                }
            }
            None => assert!(
                !acceptable,
                "genuine {} packet (index {rtp_index:?}) of epoch {epoch} refused at epoch \
                 {current} (previous key alive: {})",
                if rtcp { "RTCP" } else { "RTP" },
                self.model.previous_alive
            ),
        }
    }

    fn deliver_forged(&mut self, claimed_epoch: u32, rtcp: bool, mut buf: Vec<u8>) {
        let opened = self.receive(claimed_epoch, rtcp, &mut buf);
        assert!(opened.is_none(), "a forged datagram claiming epoch {claimed_epoch} authenticated");
    }
}

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let (Some(profile), Some(seq0), Some(seq1)) = (input.u8(), input.u16(), input.u16()) else {
        return;
    };
    let profile = SrtpProfile::ALL[usize::from(profile & 3)];
    let mut h = Harness {
        profile,
        tx: Harness::session(profile),
        rx: Harness::session(profile),
        tx_epoch: 0,
        model: Model {
            epoch: 0,
            previous_alive: false,
            new_key_successes: 0,
            staged: None,
            accepted: 0,
            rtp_started: [false; 2],
        },
        in_flight: Vec::new(),
    };
    // Packet index of the next RTP packet per stream; its low 16 bits are the sequence
    // number (the sender's ROC starts at 0).
    let mut next_index = [u64::from(seq0), u64::from(seq1)];
    let mut timestamp = 0u32;

    while let Some(op) = input.u8() {
        let stream = usize::from(op >> 3 & 1);
        match op & 7 {
            // RTP packet: sequence step 1-4 (op bits 4-5), payload from the input.
            0 => {
                let Some(payload) = input.len8_bytes() else { break };
                let index = next_index[stream];
                next_index[stream] += 1 + u64::from(op >> 4 & 3);
                let seq = index as u16;
                timestamp = timestamp.wrapping_add(960);
                let mut packet = vec![0x80, 96 | (op & 0x80), 0, 0];
                packet[2..4].copy_from_slice(&seq.to_be_bytes());
                packet.extend_from_slice(&timestamp.to_be_bytes());
                packet.extend_from_slice(&SSRCS[stream].to_be_bytes());
                packet.extend_from_slice(payload);
                h.send(stream, Some(index), packet);
            }
            // RTCP receiver report without report blocks.
            1 => {
                let mut packet = vec![0x80, 201, 0, 1];
                packet.extend_from_slice(&SSRCS[stream].to_be_bytes());
                h.send(stream, None, packet);
            }
            // Deliver (or re-deliver: a replay) a datagram from the network.
            2 | 3 => {
                let Some(pick) = input.u8() else { break };
                if !h.in_flight.is_empty() {
                    h.deliver_genuine(usize::from(pick) % h.in_flight.len());
                }
            }
            // A datagram from the network with one bit flipped.
            4 => {
                let (Some(pick), Some(bit)) = (input.u8(), input.u16()) else { break };
                if h.in_flight.is_empty() {
                    continue;
                }
                let sent = &h.in_flight[usize::from(pick) % h.in_flight.len()];
                let (epoch, rtcp, mut bytes) = (sent.epoch, sent.rtcp, sent.bytes.clone());
                let bit = usize::from(bit) % (bytes.len() * 8);
                bytes[bit / 8] ^= 1 << (bit % 8);
                h.deliver_forged(epoch, rtcp, bytes);
            }
            // Forged bytes (or a genuine datagram under the wrong epoch) claiming the
            // previous, current or next epoch (op bits 4-5).
            5 => {
                let Some(bytes) = input.len8_bytes() else { break };
                let claimed = match op >> 4 & 3 {
                    0 => h.model.epoch.saturating_sub(1),
                    1 => h.model.epoch,
                    _ => h.model.epoch + 1,
                };
                let rtcp = op & 0x40 != 0;
                // With op bit 7, a genuine datagram of another epoch claims the next one.
                let genuine_elsewhere = (op & 0x80 != 0 && claimed == h.model.epoch + 1)
                    .then(|| h.in_flight.iter().find(|s| s.epoch != claimed && s.rtcp == rtcp))
                    .flatten();
                let bytes = genuine_elsewhere.map_or_else(|| bytes.to_vec(), |s| s.bytes.clone());
                h.deliver_forged(claimed, rtcp, bytes);
            }
            // The sender re-keys once the receiver has caught up with its current epoch.
            6 => {
                if h.tx_epoch == h.model.epoch && h.tx_epoch < MAX_EPOCH {
                    h.tx_epoch += 1;
                    let (key, salt) = master(profile, h.tx_epoch);
                    h.tx.rekey_outbound(&key, &salt).expect("valid key sizes");
                }
            }
            // The receiver stages the next key ahead of its first packet, or drops it.
            _ => {
                if op & 0x10 != 0 {
                    h.rx.discard_staged_key();
                    h.model.staged = None;
                } else {
                    let next = h.model.epoch + 1;
                    let (key, salt) = master(profile, next);
                    h.rx.stage_next_key(&key, &salt).expect("valid key sizes");
                    h.model.staged = Some(next);
                }
            }
        }
    }
    let stats = h.rx.stats();
    assert_eq!(stats.rtp_unprotected + stats.rtcp_unprotected, h.model.accepted);
    assert_eq!(h.rx.has_previous_key(), h.model.previous_alive && h.model.epoch > 0);
}
