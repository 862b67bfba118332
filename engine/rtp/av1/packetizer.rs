//! AV1 temporal unit → RTP payloads (AV1 RTP payload format, sections 4 and 5).

use super::obu::{self, OBU_SEQUENCE_HEADER, OBU_TEMPORAL_DELIMITER, OBU_TILE_LIST, Obu};
use crate::rtp::error::RtpError;

/// Aggregation header bits.
pub(crate) const AGG_Z: u8 = 0x80;
pub(crate) const AGG_Y: u8 = 0x40;
pub(crate) const AGG_W_SHIFT: u8 = 4;
pub(crate) const AGG_N: u8 = 0x08;

/// Smallest payload size the packetizer accepts: aggregation header plus one byte.
pub const MIN_PAYLOAD_LEN: usize = 2;

/// One OBU element to send: header bytes plus a payload range in the temporal unit.
#[derive(Debug, Clone, Copy)]
struct Element {
    header: [u8; 2],
    header_len: usize,
    payload_start: usize,
    payload_end: usize,
}

impl Element {
    fn len(&self) -> usize {
        self.header_len + self.payload_end - self.payload_start
    }

    /// Copies bytes `from..to` of the element (header then payload) into `out`.
    fn copy(&self, unit: &[u8], from: usize, to: usize, out: &mut [u8]) {
        let mut written = 0;
        if from < self.header_len {
            let header = &self.header[from..self.header_len.min(to)];
            out[..header.len()].copy_from_slice(header);
            written = header.len();
        }
        let payload_from = self.payload_start + from.saturating_sub(self.header_len);
        let payload_to = self.payload_start + to.saturating_sub(self.header_len);
        if payload_to > payload_from {
            out[written..written + payload_to - payload_from]
                .copy_from_slice(&unit[payload_from..payload_to]);
        }
    }
}

/// A piece of an element placed in the packet being built.
#[derive(Debug, Clone, Copy)]
struct Piece {
    element: usize,
    from: usize,
    to: usize,
}

/// Splits AV1 temporal units into RTP payloads of at most `max_payload_len` bytes.
///
/// Rules (AV1 RTP payload format): temporal delimiter and tile list OBUs are dropped;
/// `obu_has_size_field` is cleared and the size moves into the OBU element length; the
/// last element of a packet with at most three elements carries no length (W = count);
/// an OBU that does not fit is split, with Y set on the packet it starts in and Z on the
/// packet it continues in; N marks the first packet of a key frame that carries a
/// sequence header; the marker bit goes on the last packet of the temporal unit.
/// After the first calls the packetizer allocates nothing.
///
/// ```
/// use sottovoce::rtp::av1::Av1Packetizer;
/// // Temporal delimiter, then one 300-byte frame OBU (type 6) with a size field.
/// let mut unit = vec![0x12, 0x00, 0x32, 0xAC, 0x02];
/// unit.extend(std::iter::repeat_n(0x55, 300));
/// let mut packetizer = Av1Packetizer::new(120)?;
/// let mut payloads = Vec::new();
/// packetizer.packetize(&unit, false, |payload, marker| payloads.push((payload.to_vec(), marker)))?;
/// assert_eq!(payloads.len(), 3);
/// assert!(payloads.iter().all(|(p, _)| p.len() <= 120));
/// assert_eq!(payloads[0].0[0], 0x50); // Y=1, W=1
/// assert_eq!(payloads[1].0[0], 0xD0); // Z=1, Y=1, W=1
/// assert!(payloads[2].1); // marker on the last packet
/// # Ok::<(), sottovoce::rtp::RtpError>(())
/// ```
#[derive(Debug)]
pub struct Av1Packetizer {
    max_payload_len: usize,
    elements: Vec<Element>,
    pieces: Vec<Piece>,
    scratch: Vec<u8>,
}

impl Av1Packetizer {
    /// A packetizer emitting payloads of at most `max_payload_len` bytes (the MTU minus
    /// IP/UDP/RTP/SRTP overhead).
    pub fn new(max_payload_len: usize) -> Result<Self, RtpError> {
        if max_payload_len < MIN_PAYLOAD_LEN {
            return Err(RtpError::OutOfRange("AV1 payload size below 2 bytes"));
        }
        Ok(Self {
            max_payload_len,
            elements: Vec::with_capacity(16),
            pieces: Vec::with_capacity(16),
            scratch: vec![0; max_payload_len],
        })
    }

    /// The payload size limit.
    #[cfg(any(test, feature = "testing"))]
    pub fn max_payload_len(&self) -> usize {
        self.max_payload_len
    }

    /// Packetizes one temporal unit (OBUs in low-overhead bitstream format, as encoders
    /// emit them), calling `emit(payload, marker)` for each RTP payload in order.
    /// `keyframe` says whether the unit is a key frame (N is set only when it also holds a
    /// sequence header). Returns the number of payloads; a unit with nothing to send (only
    /// temporal delimiters) gives none. A malformed unit emits nothing and returns an error.
    pub fn packetize(
        &mut self,
        unit: &[u8],
        keyframe: bool,
        mut emit: impl FnMut(&[u8], bool),
    ) -> Result<usize, RtpError> {
        self.elements.clear();
        let mut has_sequence_header = false;
        let mut at = 0;
        while at < unit.len() {
            let (obu, len) = Obu::parse(&unit[at..])?;
            let payload_start = at + len - obu.payload.len();
            at += len;
            match obu.obu_type() {
                OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST => continue,
                OBU_SEQUENCE_HEADER => has_sequence_header = true,
                _ => {}
            }
            self.elements.push(Element {
                header: obu.header,
                header_len: obu.header_len,
                payload_start,
                payload_end: at,
            });
        }
        let new_sequence = keyframe && has_sequence_header;
        // Room for OBU elements after the aggregation header.
        let budget = self.max_payload_len - 1;
        let mut element = 0;
        let mut offset = 0;
        let mut packets = 0;
        while element < self.elements.len() {
            let starts_inside = offset > 0;
            self.pieces.clear();
            // Cost of the pieces so far if another element follows: every one of them
            // then carries a length field.
            let mut cost_with_lengths = 0;
            let mut ends_inside = false;
            while element < self.elements.len() {
                let total = self.elements[element].len();
                let remaining = total - offset;
                let count = self.pieces.len() + 1;
                let length_cost = |size: usize| if count > 3 { obu::leb128_len(size) } else { 0 };
                if cost_with_lengths + remaining + length_cost(remaining) <= budget {
                    self.pieces.push(Piece { element, from: offset, to: total });
                    cost_with_lengths += obu::leb128_len(remaining) + remaining;
                    element += 1;
                    offset = 0;
                    continue;
                }
                let Some(room) = budget.checked_sub(cost_with_lengths).filter(|&r| r > 0) else {
                    break;
                };
                let fragment = if count > 3 { largest_with_length(room) } else { room };
                if fragment > 0 {
                    self.pieces.push(Piece { element, from: offset, to: offset + fragment });
                    offset += fragment;
                    ends_inside = true;
                }
                break;
            }
            let last_packet = element == self.elements.len();
            let w = if self.pieces.len() <= 3 { self.pieces.len() as u8 } else { 0 };
            let mut header = w << AGG_W_SHIFT;
            if starts_inside {
                header |= AGG_Z;
            }
            if ends_inside {
                header |= AGG_Y;
            }
            if new_sequence && packets == 0 {
                header |= AGG_N;
            }
            self.scratch[0] = header;
            let mut len = 1;
            for (i, piece) in self.pieces.iter().enumerate() {
                let size = piece.to - piece.from;
                if w == 0 || i + 1 < self.pieces.len() {
                    len += obu::put_leb128(size, &mut self.scratch[len..]);
                }
                self.elements[piece.element].copy(
                    unit,
                    piece.from,
                    piece.to,
                    &mut self.scratch[len..len + size],
                );
                len += size;
            }
            emit(&self.scratch[..len], last_packet);
            packets += 1;
        }
        Ok(packets)
    }
}

/// The largest fragment `f` with `f + leb128_len(f) <= room`.
fn largest_with_length(room: usize) -> usize {
    (1..=5)
        .map(|len_bytes| room.saturating_sub(len_bytes))
        .find(|&f| obu::leb128_len(f) + f <= room)
        .unwrap_or(0)
}
