//! Just enough RTP/RTCP header reading for SRTP: where the header ends, the SSRC and
//! the sequence number. Full parsing lives in the RTP module; this stays private so the
//! crypto layer depends on nothing but bytes.

use super::SrtpError;

/// Fixed RTP header length (RFC 3550 5.1).
pub(crate) const RTP_FIXED_HEADER: usize = 12;
/// RTCP bytes SRTCP leaves in the clear: the first header word and the sender SSRC.
pub(crate) const RTCP_CLEAR_PREFIX: usize = 8;

/// What SRTP needs from an RTP header.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RtpHeader {
    /// Header length including CSRCs and the extension; the payload starts here.
    pub len: usize,
    pub seq: u16,
    pub ssrc: u32,
}

/// Reads the RTP header at the start of `packet` (which must not include an SRTP tag).
pub(crate) fn parse_rtp(packet: &[u8]) -> Result<RtpHeader, SrtpError> {
    let fixed: &[u8; RTP_FIXED_HEADER] = packet
        .get(..RTP_FIXED_HEADER)
        .and_then(|h| h.try_into().ok())
        .ok_or(SrtpError::TooShort { len: packet.len(), min: RTP_FIXED_HEADER })?;
    check_version(fixed[0])?;
    let csrc_count = usize::from(fixed[0] & 0x0f);
    let has_extension = fixed[0] & 0x10 != 0;
    let mut len = RTP_FIXED_HEADER + 4 * csrc_count;
    if has_extension {
        // The 4-byte extension header (profile id, length in 32-bit words) must itself fit.
        let words = packet
            .get(len + 2..len + 4)
            .map(|w| usize::from(u16::from_be_bytes([w[0], w[1]])))
            .ok_or(SrtpError::HeaderOverrun { header: len + 4, available: packet.len() })?;
        len += 4 + 4 * words;
    }
    if len > packet.len() {
        return Err(SrtpError::HeaderOverrun { header: len, available: packet.len() });
    }
    Ok(RtpHeader {
        len,
        seq: u16::from_be_bytes([fixed[2], fixed[3]]),
        ssrc: u32::from_be_bytes([fixed[8], fixed[9], fixed[10], fixed[11]]),
    })
}

/// Reads the sender SSRC of the first RTCP packet in a compound packet.
pub(crate) fn parse_rtcp_ssrc(packet: &[u8]) -> Result<u32, SrtpError> {
    let prefix: &[u8; RTCP_CLEAR_PREFIX] = packet
        .get(..RTCP_CLEAR_PREFIX)
        .and_then(|h| h.try_into().ok())
        .ok_or(SrtpError::TooShort { len: packet.len(), min: RTCP_CLEAR_PREFIX })?;
    check_version(prefix[0])?;
    Ok(u32::from_be_bytes([prefix[4], prefix[5], prefix[6], prefix[7]]))
}

fn check_version(first: u8) -> Result<(), SrtpError> {
    match first >> 6 {
        2 => Ok(()),
        v => Err(SrtpError::BadVersion(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_length_counts_csrcs_and_extension() {
        let mut p = vec![0x80, 0x60, 0x12, 0x34, 0, 0, 0, 1, 0xca, 0xfe, 0xba, 0xbe];
        assert_eq!(parse_rtp(&p).unwrap().len, 12);
        // Two CSRCs and a one-word extension.
        p[0] = 0x80 | 0x10 | 2;
        p.extend_from_slice(&[0; 8]);
        p.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 1, 2, 3, 4]);
        let h = parse_rtp(&p).unwrap();
        assert_eq!((h.len, h.seq, h.ssrc), (12 + 8 + 8, 0x1234, 0xcafe_babe));
    }

    #[test]
    fn hostile_headers_are_typed_errors() {
        assert!(matches!(parse_rtp(&[0x80; 11]), Err(SrtpError::TooShort { .. })));
        let mut p = [0u8; 12];
        p[0] = 0x40;
        assert_eq!(parse_rtp(&p).unwrap_err(), SrtpError::BadVersion(1));
        p[0] = 0x8f; // 15 CSRCs in a 12-byte packet
        assert!(matches!(parse_rtp(&p), Err(SrtpError::HeaderOverrun { header: 72, .. })));
        let mut p = vec![0x90, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xbe, 0xde, 0xff, 0xff];
        assert!(matches!(parse_rtp(&p), Err(SrtpError::HeaderOverrun { .. })));
        p.truncate(14); // extension header itself cut off
        assert!(matches!(parse_rtp(&p), Err(SrtpError::HeaderOverrun { header: 16, .. })));
        assert!(matches!(parse_rtcp_ssrc(&[0x80, 200, 0, 1]), Err(SrtpError::TooShort { .. })));
    }
}
