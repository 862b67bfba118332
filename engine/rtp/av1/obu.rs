//! The pieces of the AV1 bitstream the RTP payload format touches: LEB128 integers and
//! OBU headers (AV1 specification sections 4.10.5 and 5.3).

use crate::rtp::error::RtpError;

/// OBU type of a sequence header.
pub const OBU_SEQUENCE_HEADER: u8 = 1;
/// OBU type of a temporal delimiter (dropped in RTP, restored on depacketization).
pub const OBU_TEMPORAL_DELIMITER: u8 = 2;
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
