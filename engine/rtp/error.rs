//! Typed errors for everything in [`crate::rtp`]: each malformed input maps to one variant.

/// Why an RTP/RTCP packet or payload could not be parsed or written.
///
/// The variants carry only lengths and static descriptions (never packet contents), so
/// they are cheap to build on the hot path and safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RtpError {
    /// The input ended before a field it announces.
    #[error("truncated {what}: need {needed} bytes, have {available}")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Bytes the structure needs.
        needed: usize,
        /// Bytes actually available.
        available: usize,
    },
    /// The version field is not 2.
    #[error("unsupported RTP/RTCP version {0}")]
    BadVersion(u8),
    /// The padding count is zero or larger than the space it claims.
    #[error("invalid padding length {padding} for {available} bytes")]
    BadPadding {
        /// The padding count from the last byte.
        padding: usize,
        /// Bytes available for padding (payload plus padding).
        available: usize,
    },
    /// A header extension element is inconsistent (reserved ID, length past the end...).
    #[error("invalid header extension: {0}")]
    BadExtension(&'static str),
    /// An RTCP packet is structurally inconsistent.
    #[error("invalid RTCP packet: {0}")]
    BadRtcp(&'static str),
    /// A LEB128 value uses more than 8 bytes or exceeds 2^32 - 1 (AV1 limits).
    #[error("LEB128 value overflows")]
    Leb128Overflow,
    /// An AV1 payload (aggregation header, OBU element or OBU) is malformed.
    #[error("invalid AV1 payload: {0}")]
    BadAv1(&'static str),
    /// An Opus payload is malformed (RFC 6716 section 3).
    #[error("invalid Opus payload: {0}")]
    BadOpus(&'static str),
    /// The output buffer cannot hold what is being written.
    #[error("output buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A value to be serialised does not fit its field (too many CSRCs, too long...).
    #[error("value out of range: {0}")]
    OutOfRange(&'static str),
}

/// Returns `Err(Truncated)` unless `buf` holds at least `needed` bytes.
#[inline]
pub(crate) fn need(buf: &[u8], needed: usize, what: &'static str) -> Result<(), RtpError> {
    if buf.len() < needed {
        Err(RtpError::Truncated { what, needed, available: buf.len() })
    } else {
        Ok(())
    }
}

/// Returns `Err(BufferTooSmall)` unless `out` holds at least `needed` bytes.
#[inline]
pub(crate) fn room(out: &[u8], needed: usize) -> Result<(), RtpError> {
    if out.len() < needed {
        Err(RtpError::BufferTooSmall { needed, available: out.len() })
    } else {
        Ok(())
    }
}
