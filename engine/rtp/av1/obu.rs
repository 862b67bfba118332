//! The engine's one parser of AV1 OBU syntax (AV1 specification sections 4.10.5, 5.3 and
//! 6.2): LEB128 integers, OBU headers, the structural check of a temporal unit the
//! decoder runs before dav1d ([`inspect_temporal_unit`]), and the first bytes of an AV1
//! RTP payload the receive side reads to place a packet in a frame ([`inspect_payload`]).

use crate::rtp::error::RtpError;

/// OBU type of a sequence header.
pub const OBU_SEQUENCE_HEADER: u8 = 1;
/// OBU type of a temporal delimiter (dropped in RTP, restored on depacketization).
pub const OBU_TEMPORAL_DELIMITER: u8 = 2;
/// OBU type of a frame header.
pub const OBU_FRAME_HEADER: u8 = 3;
/// OBU type of a frame (header and tile group).
pub const OBU_FRAME: u8 = 6;
/// OBU type of a tile list (not supported by the RTP format; dropped).
pub const OBU_TILE_LIST: u8 = 8;

const FORBIDDEN_BIT: u8 = 0x80;
const EXTENSION_FLAG: u8 = 0x04;
/// `obu_has_size_field` in the OBU header.
pub(crate) const HAS_SIZE_FIELD: u8 = 0x02;
/// A temporal delimiter OBU with a zero size field, as it starts every temporal unit.
pub(crate) const TEMPORAL_DELIMITER: [u8; 2] = [(OBU_TEMPORAL_DELIMITER << 3) | HAS_SIZE_FIELD, 0];

/// Longest LEB128 encoding AV1 allows.
pub const MAX_LEB128_LEN: usize = 8;

/// Reads an AV1 `leb128()` value; returns it and the bytes it took.
///
/// AV1 limits values to 2^32 - 1 and encodings to 8 bytes; anything longer or larger is
/// [`RtpError::Leb128Overflow`].
pub fn read_leb128(bytes: &[u8]) -> Result<(u32, usize), RtpError> {
    let mut value = 0u64;
    for i in 0..MAX_LEB128_LEN {
        let Some(&byte) = bytes.get(i) else {
            return Err(RtpError::Truncated { what: "LEB128", needed: i + 1, available: i });
        };
        value |= u64::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            let value = u32::try_from(value).map_err(|_| RtpError::Leb128Overflow)?;
            return Ok((value, i + 1));
        }
    }
    Err(RtpError::Leb128Overflow)
}

/// Bytes the shortest LEB128 encoding of `value` takes.
pub fn leb128_len(value: usize) -> usize {
    let bits = (usize::BITS - value.leading_zeros()).max(1) as usize;
    bits.div_ceil(7)
}

/// Appends the shortest LEB128 encoding of `value`.
pub(crate) fn write_leb128(mut value: usize, out: &mut impl Extend<u8>) {
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out.extend([byte]);
            return;
        }
        out.extend([byte | 0x80]);
    }
}

/// Writes the shortest LEB128 encoding of `value` at the start of `out`; returns its length.
/// `out` must hold `leb128_len(value)` bytes (checked by the caller's size computation).
pub(crate) fn put_leb128(mut value: usize, out: &mut [u8]) -> usize {
    let mut i = 0;
    loop {
        let byte = (value & 0x7F) as u8;
        value >>= 7;
        if value == 0 {
            out[i] = byte;
            return i + 1;
        }
        out[i] = byte | 0x80;
        i += 1;
    }
}

/// One OBU split into the parts the RTP format rewrites: its header bytes (with
/// `obu_has_size_field` cleared) and its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Obu<'a> {
    /// OBU header and optional extension header, size flag cleared.
    pub header: [u8; 2],
    /// 1 or 2.
    pub header_len: usize,
    /// The OBU payload (after any size field).
    pub payload: &'a [u8],
}

impl<'a> Obu<'a> {
    pub(crate) fn obu_type(&self) -> u8 {
        (self.header[0] >> 3) & 0x0F
    }

    /// Parses the OBU at the start of `bytes`. Without a size field the OBU extends to the
    /// end of `bytes`. Returns the OBU and the bytes it took.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<(Self, usize), RtpError> {
        let Some(&first) = bytes.first() else {
            return Err(RtpError::BadAv1("empty OBU"));
        };
        if first & FORBIDDEN_BIT != 0 {
            return Err(RtpError::BadAv1("OBU forbidden bit set"));
        }
        let mut header = [first & !HAS_SIZE_FIELD, 0];
        let mut at = 1;
        if first & EXTENSION_FLAG != 0 {
            header[1] = *bytes.get(1).ok_or(RtpError::BadAv1("OBU extension header missing"))?;
            at = 2;
        }
        let header_len = at;
        let payload_len = if first & HAS_SIZE_FIELD != 0 {
            let (size, n) = read_leb128(&bytes[at..])?;
            at += n;
            size as usize
        } else {
            bytes.len() - at
        };
        let end = at
            .checked_add(payload_len)
            .filter(|&end| end <= bytes.len())
            .ok_or(RtpError::BadAv1("OBU size runs past the data"))?;
        Ok((Self { header, header_len, payload: &bytes[at..end] }, end))
    }

    /// Appends the OBU in low-overhead bitstream form (with a size field).
    pub(crate) fn write_sized(&self, out: &mut Vec<u8>) {
        out.push(self.header[0] | HAS_SIZE_FIELD);
        out.extend_from_slice(&self.header[1..self.header_len]);
        write_leb128(self.payload.len(), out);
        out.extend_from_slice(self.payload);
    }
}

/// What [`inspect_temporal_unit`] found in a temporal unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TemporalUnitInfo {
    /// Number of OBUs.
    pub obu_count: usize,
    /// A sequence header OBU is present.
    pub has_sequence_header: bool,
    /// The first frame header is a (shown or not) key frame.
    pub first_frame_is_key: bool,
    /// At least one frame or frame header OBU is present.
    pub has_frame: bool,
}

impl TemporalUnitInfo {
    /// Whether a decoder with no reference state can start decoding here: a sequence
    /// header is present and the first frame is a key frame.
    pub fn is_random_access_point(&self) -> bool {
        self.has_sequence_header && self.first_frame_is_key
    }
}

/// Walks the OBUs of one temporal unit in the low-overhead format (every OBU carries a
/// size field, AV1 5.2), checking that every header is valid and every size fits, and
/// tells whether it starts a coded video sequence. The decoder runs it before dav1d, so
/// truncated or garbage units are refused without touching the decoder's state.
pub fn inspect_temporal_unit(data: &[u8]) -> Result<TemporalUnitInfo, RtpError> {
    if data.is_empty() {
        return Err(RtpError::BadAv1("empty temporal unit"));
    }
    let mut info = TemporalUnitInfo::default();
    let mut reduced_still_picture_header = false;
    let mut rest = data;
    while let Some(&first) = rest.first() {
        if first & HAS_SIZE_FIELD == 0 {
            return Err(RtpError::BadAv1("OBU without size field"));
        }
        let (obu, taken) = Obu::parse(rest)?;
        match obu.obu_type() {
            OBU_SEQUENCE_HEADER => {
                let first =
                    *obu.payload.first().ok_or(RtpError::BadAv1("empty sequence header"))?;
                if first >> 5 > 2 {
                    return Err(RtpError::BadAv1("sequence header profile above 2"));
                }
                // seq_profile (3 bits), still_picture (1), reduced_still_picture_header (1).
                reduced_still_picture_header = first & 0x08 != 0;
                info.has_sequence_header = true;
            }
            OBU_FRAME_HEADER | OBU_FRAME => {
                let first = *obu.payload.first().ok_or(RtpError::BadAv1("empty frame header"))?;
                if !info.has_frame {
                    // With a reduced still-picture header every frame is a key frame;
                    // otherwise show_existing_frame (1 bit) then frame_type (2 bits,
                    // KEY_FRAME = 0).
                    info.first_frame_is_key = reduced_still_picture_header
                        || (first & 0x80 == 0 && (first >> 5) & 0x03 == 0);
                }
                info.has_frame = true;
            }
            // Temporal delimiters, padding, tile groups, metadata, tile lists and reserved
            // types: decoders skip or handle them; only their framing matters here.
            _ => {}
        }
        info.obu_count += 1;
        rest = &rest[taken..];
    }
    Ok(info)
}

/// What the receive side reads from the first bytes of an AV1 RTP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1PayloadInfo {
    /// The packet starts a temporal unit (frame).
    pub starts_frame: bool,
    /// The N bit: the packet starts a coded video sequence (a keyframe).
    pub keyframe: bool,
}

/// OBU types that open a temporal unit once the temporal delimiter is dropped (the
/// packetiser drops it, AV1 RTP specification 5): sequence header, frame header, frame.
const FRAME_OPENING_OBUS: [u8; 3] = [OBU_SEQUENCE_HEADER, OBU_FRAME_HEADER, OBU_FRAME];

/// Reads the aggregation header and the first OBU header of an AV1 RTP payload. A packet
/// starts a frame when its first element is not a continuation (Z = 0) and is an OBU that
/// opens a temporal unit; libaom in real-time mode puts one frame in each temporal unit,
/// so this is exact for our sender. `None` for a payload too short to tell.
pub fn inspect_payload(payload: &[u8]) -> Option<Av1PayloadInfo> {
    let (&aggregation, rest) = payload.split_first()?;
    let continuation = aggregation & 0x80 != 0;
    let keyframe = aggregation & 0x08 != 0;
    let element_count = (aggregation >> 4) & 0x03;
    // With W = 0 every element is preceded by its LEB128 length; with W != 0 the last one
    // is not (and with W = 1 the only element has none).
    let first = if element_count == 1 {
        rest
    } else {
        let (_, n) = read_leb128(rest).ok()?;
        rest.get(n..)?
    };
    let obu_type = (first.first()? >> 3) & 0x0F;
    Some(Av1PayloadInfo {
        starts_frame: !continuation && FRAME_OPENING_OBUS.contains(&obu_type),
        keyframe,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::av1::Av1Packetizer;

    #[test]
    fn leb128_known_values() {
        assert_eq!(read_leb128(&[0x00]), Ok((0, 1)));
        assert_eq!(read_leb128(&[0x7F]), Ok((127, 1)));
        assert_eq!(read_leb128(&[0x80, 0x01]), Ok((128, 2)));
        assert_eq!(read_leb128(&[0xE5, 0x8E, 0x26]), Ok((624_485, 3)));
        // Non-minimal encodings are legal in AV1.
        assert_eq!(read_leb128(&[0x81, 0x80, 0x00]), Ok((1, 3)));
        assert_eq!(read_leb128(&[0xFF, 0xFF, 0xFF, 0xFF, 0x0F]), Ok((u32::MAX, 5)));
        for value in [0usize, 1, 127, 128, 16_383, 16_384, 1 << 21, u32::MAX as usize] {
            let mut out = Vec::new();
            write_leb128(value, &mut out);
            assert_eq!(out.len(), leb128_len(value));
            assert_eq!(read_leb128(&out), Ok((value as u32, out.len())));
        }
    }

    #[test]
    fn leb128_rejects_overflow_and_truncation() {
        assert_eq!(read_leb128(&[0xFF, 0xFF, 0xFF, 0xFF, 0x10]), Err(RtpError::Leb128Overflow));
        assert_eq!(read_leb128(&[0x80; 9]), Err(RtpError::Leb128Overflow));
        assert!(matches!(read_leb128(&[0x80, 0x80]), Err(RtpError::Truncated { .. })));
        assert!(matches!(read_leb128(&[]), Err(RtpError::Truncated { .. })));
    }

    #[test]
    fn obu_parse_with_and_without_size() {
        // Sequence header with size 3, then a frame OBU with extension and no size field.
        let bytes = [0x0A, 0x03, 1, 2, 3, 0x34, 0x28, 9, 9];
        let (seq, n) = Obu::parse(&bytes).unwrap();
        assert_eq!((seq.obu_type(), seq.header_len, seq.payload, n), (1, 1, &[1u8, 2, 3][..], 5));
        assert_eq!(seq.header[0], 0x08);
        let (frame, m) = Obu::parse(&bytes[n..]).unwrap();
        assert_eq!(
            (frame.obu_type(), frame.header, frame.payload, m),
            (6, [0x34, 0x28], &[9u8, 9][..], 4)
        );
        assert!(Obu::parse(&[0x0A, 0x05, 1]).is_err());
        assert!(Obu::parse(&[0x8A, 0x00]).is_err());
        assert!(Obu::parse(&[0x0C]).is_err());
    }

    #[test]
    fn packetised_frames_are_recognised_by_their_first_packet() {
        // A real temporal unit: temporal delimiter, sequence header, frame (sizes set).
        let mut unit = vec![0x12, 0x00]; // TD, size 0
        unit.extend_from_slice(&[0x0A, 0x03, 0x00, 0x00, 0x00]); // sequence header, 3 bytes
        unit.push(0x32); // OBU_FRAME with size field
        unit.extend_from_slice(&[0x90, 0x14]); // LEB128 2576
        unit.extend((0..2576).map(|i| i as u8));
        let mut packetizer = Av1Packetizer::new(1158).unwrap();
        let mut infos = Vec::new();
        packetizer
            .packetize(&unit, true, |payload, _last| infos.push(inspect_payload(payload)))
            .unwrap();
        assert!(infos.len() >= 3);
        assert_eq!(infos[0], Some(Av1PayloadInfo { starts_frame: true, keyframe: true }));
        for info in &infos[1..] {
            assert_eq!(info.map(|i| i.starts_frame), Some(false));
        }

        // A delta frame alone: starts a frame, no N bit.
        let mut delta = vec![0x32, 0x04, 1, 2, 3, 4];
        delta.insert(0, 0x00);
        delta.insert(0, 0x12);
        let mut first = None;
        packetizer
            .packetize(&delta, false, |payload, _| {
                first.get_or_insert(inspect_payload(payload));
            })
            .unwrap();
        assert_eq!(first.flatten(), Some(Av1PayloadInfo { starts_frame: true, keyframe: false }));
    }

    #[test]
    fn truncated_payloads_are_not_guessed() {
        assert_eq!(inspect_payload(&[]), None);
        assert_eq!(inspect_payload(&[0x00]), None);
        assert_eq!(inspect_payload(&[0x00, 0x85]), None);
    }

    #[test]
    fn temporal_unit_framing_errors_are_reported() {
        // Temporal delimiter with size 0: fine.
        let td = [0x12, 0x00];
        assert_eq!(inspect_temporal_unit(&td).unwrap().obu_count, 1);
        assert!(inspect_temporal_unit(&[]).is_err());
        assert!(inspect_temporal_unit(&[0x92, 0x00]).is_err(), "forbidden bit");
        assert!(inspect_temporal_unit(&[0x10]).is_err(), "no size field");
        assert!(inspect_temporal_unit(&[0x32, 0x05, 0x00]).is_err(), "payload truncated");
        assert!(inspect_temporal_unit(&[0x32, 0x00]).is_err(), "empty frame header");
        assert!(
            inspect_temporal_unit(&[0x32, 0xff, 0xff, 0xff, 0xff, 0x7f]).is_err(),
            "above 2^32"
        );
    }

    #[test]
    fn keyframes_are_recognised() {
        // TD, sequence header (profile 0, not still), frame OBU with frame_type KEY.
        let key = [0x12, 0x00, 0x0a, 0x01, 0x00, 0x32, 0x01, 0x10];
        let info = inspect_temporal_unit(&key).unwrap();
        assert!(info.is_random_access_point());
        // Same but frame_type INTER (1 << 5).
        let inter = [0x12, 0x00, 0x32, 0x01, 0x30];
        let info = inspect_temporal_unit(&inter).unwrap();
        assert!(info.has_frame && !info.first_frame_is_key && !info.is_random_access_point());
    }
}
