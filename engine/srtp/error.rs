//! The SRTP layer's typed error.

/// Why a packet could not be protected or unprotected, or a session not be built.
///
/// Every variant is cheap to create and carries only public facts (lengths, SSRCs,
/// packet indices), never key material or payload bytes, so errors are safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SrtpError {
    /// The packet is shorter than its fixed header plus the authentication tag.
    #[error("packet too short: {len} bytes, need at least {min}")]
    TooShort {
        /// Bytes available.
        len: usize,
        /// Bytes the smallest valid packet of this kind needs.
        min: usize,
    },
    /// The RTP/RTCP version field is not 2.
    #[error("unsupported RTP/RTCP version {0}")]
    BadVersion(u8),
    /// The CSRC list or header extension claims more bytes than the packet holds.
    #[error("RTP header claims {header} bytes but only {available} are present")]
    HeaderOverrun {
        /// Header length the CSRC count and extension length add up to.
        header: usize,
        /// Bytes available for the header (the packet minus the tag).
        available: usize,
    },
    /// The caller's buffer has no room for the tag (and SRTCP index) that protection appends.
    #[error("buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Bytes the protected packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// The authentication tag did not verify under any installed key: forged,
    /// corrupted, or protected with a key this session does not hold.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// A packet with this index was already accepted from this SSRC.
    #[error("replayed packet: SSRC {ssrc:#010x} index {index}")]
    Replayed {
        /// Sender SSRC.
        ssrc: u32,
        /// Packet index (48-bit SRTP index or 31-bit SRTCP index).
        index: u64,
    },
    /// The packet is older than the replay window, so a replay cannot be ruled out.
    #[error("packet older than the replay window: SSRC {ssrc:#010x} index {index}")]
    TooOld {
        /// Sender SSRC.
        ssrc: u32,
        /// Packet index.
        index: u64,
    },
    /// A packet for a new SSRC arrived while the session already tracks its limit of streams.
    #[error("stream limit of {limit} SSRCs reached")]
    StreamLimit {
        /// The configured `max_streams` of the SRTP configuration.
        limit: usize,
    },
    /// The master key length does not match the profile.
    #[error("master key must be {expected} bytes, got {actual}")]
    InvalidKeyLength {
        /// Length the profile needs.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// The master salt length does not match the profile.
    #[error("master salt must be {expected} bytes, got {actual}")]
    InvalidSaltLength {
        /// Length the profile needs.
        expected: usize,
        /// Length given.
        actual: usize,
    },
    /// The packet index space of this key is used up (2^48 SRTP or 2^31 SRTCP packets
    /// for one SSRC); the session must be re-keyed before it protects more.
    #[error("packet index space exhausted for SSRC {ssrc:#010x}; re-key the session")]
    IndexExhausted {
        /// Sender SSRC.
        ssrc: u32,
    },
    /// The packet is larger than the cipher accepts.
    #[error("packet of {len} bytes is too large to protect")]
    PacketTooLarge {
        /// Packet length.
        len: usize,
    },
    /// A configuration value is out of range.
    #[error("invalid SRTP configuration: {0}")]
    InvalidConfig(&'static str),
}
