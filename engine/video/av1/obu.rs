//! Structural check of an AV1 temporal unit in the low-overhead OBU format (AV1 spec
//! section 5.2: every OBU carries `obu_has_size_field = 1`), and keyframe detection.
//!
//! The decoder runs this before handing bytes to dav1d, so truncated or garbage packets
//! are refused with a typed error without touching the decoder state, and so it can tell
//! whether a packet starts a new coded video sequence (a keyframe) to recover at.

use super::VideoCodecError;

/// OBU types used here (AV1 spec 6.2.2).
const OBU_SEQUENCE_HEADER: u8 = 1;
const OBU_TEMPORAL_DELIMITER: u8 = 2;
const OBU_FRAME_HEADER: u8 = 3;
const OBU_FRAME: u8 = 6;
const OBU_PADDING: u8 = 15;

/// What [`inspect_temporal_unit`] found in a packet.
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
    /// Whether a decoder with no reference state can start decoding at this packet: it
    /// carries a sequence header and its first frame is a key frame.
    pub fn is_random_access_point(&self) -> bool {
        self.has_sequence_header && self.first_frame_is_key
    }
}

/// Read an unsigned LEB128 value (AV1 spec 4.10.5): at most 8 bytes, value below 2^32.
fn read_leb128(data: &[u8]) -> Result<(u64, usize), VideoCodecError> {
    let mut value = 0u64;
    for i in 0..8 {
        let Some(&byte) = data.get(i) else {
            return Err(VideoCodecError::Malformed("OBU size field truncated"));
        };
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            if value > u64::from(u32::MAX) {
                return Err(VideoCodecError::Malformed("OBU size above 2^32 - 1"));
            }
            return Ok((value, i + 1));
        }
    }
    Err(VideoCodecError::Malformed("OBU size field longer than 8 bytes"))
}

/// Walk the OBUs of one temporal unit, checking that every header is valid and every
/// size fits inside `data`.
pub fn inspect_temporal_unit(data: &[u8]) -> Result<TemporalUnitInfo, VideoCodecError> {
    if data.is_empty() {
        return Err(VideoCodecError::Malformed("empty packet"));
    }
    let mut info = TemporalUnitInfo::default();
    let mut reduced_still_picture_header = false;
    let mut rest = data;
    while !rest.is_empty() {
        let header = rest[0];
        if header & 0x80 != 0 {
            return Err(VideoCodecError::Malformed("OBU forbidden bit set"));
        }
        let obu_type = (header >> 3) & 0x0f;
        let has_extension = header & 0x04 != 0;
        let has_size = header & 0x02 != 0;
        if !has_size {
            return Err(VideoCodecError::Malformed("OBU without size field"));
        }
        let mut offset = 1 + usize::from(has_extension);
        if rest.len() < offset {
            return Err(VideoCodecError::Malformed("OBU extension header truncated"));
        }
        let (size, size_len) = read_leb128(&rest[offset..])?;
        offset += size_len;
        let size = usize::try_from(size)
            .map_err(|_| VideoCodecError::Malformed("OBU size does not fit in memory"))?;
        let end = offset
            .checked_add(size)
            .filter(|&end| end <= rest.len())
            .ok_or(VideoCodecError::Malformed("OBU payload truncated"))?;
        let payload = &rest[offset..end];
        match obu_type {
            OBU_SEQUENCE_HEADER => {
                let first =
                    *payload.first().ok_or(VideoCodecError::Malformed("empty sequence header"))?;
                if first >> 5 > 2 {
                    return Err(VideoCodecError::Malformed("sequence header profile above 2"));
                }
                // seq_profile (3 bits), still_picture (1), reduced_still_picture_header (1).
                reduced_still_picture_header = first & 0x08 != 0;
                info.has_sequence_header = true;
            }
            OBU_FRAME_HEADER | OBU_FRAME => {
                let first =
                    *payload.first().ok_or(VideoCodecError::Malformed("empty frame header"))?;
                if !info.has_frame {
                    // With a reduced still-picture header every frame is a key frame;
                    // otherwise show_existing_frame (1 bit) then frame_type (2 bits,
                    // KEY_FRAME = 0).
                    info.first_frame_is_key = reduced_still_picture_header
                        || (first & 0x80 == 0 && (first >> 5) & 0x03 == 0);
                }
                info.has_frame = true;
            }
            OBU_TEMPORAL_DELIMITER | OBU_PADDING => {}
            // Tile groups, metadata, tile lists and reserved types: decoders skip or
            // handle them; only their framing matters here.
            _ => {}
        }
        info.obu_count += 1;
        rest = &rest[end..];
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128_reads_multi_byte_values_and_refuses_overlong_ones() {
        assert_eq!(read_leb128(&[0x05]).unwrap(), (5, 1));
        assert_eq!(read_leb128(&[0x80, 0x01]).unwrap(), (128, 2));
        assert!(read_leb128(&[0x80]).is_err());
        assert!(read_leb128(&[0xff; 9]).is_err());
        assert!(read_leb128(&[0xff, 0xff, 0xff, 0xff, 0x7f]).is_err(), "above 2^32");
    }

    #[test]
    fn framing_errors_are_reported() {
        // Temporal delimiter with size 0: fine.
        let td = [0x12, 0x00];
        assert_eq!(inspect_temporal_unit(&td).unwrap().obu_count, 1);
        assert!(inspect_temporal_unit(&[]).is_err());
        assert!(inspect_temporal_unit(&[0x92, 0x00]).is_err(), "forbidden bit");
        assert!(inspect_temporal_unit(&[0x10]).is_err(), "no size field");
        assert!(inspect_temporal_unit(&[0x32, 0x05, 0x00]).is_err(), "payload truncated");
        assert!(inspect_temporal_unit(&[0x32, 0x00]).is_err(), "empty frame header");
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
