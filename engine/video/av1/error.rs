//! [`VideoCodecError`]: everything that can go wrong while encoding or decoding AV1.

/// A failure of an AV1 encoder or decoder. Carries no media payload, so it is safe to log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VideoCodecError {
    /// A configuration value is out of range or inconsistent.
    #[error("invalid codec configuration: {0}")]
    InvalidConfig(String),
    /// A frame handed to the encoder does not match its configuration (size, format).
    #[error("frame does not fit the encoder: {0}")]
    FrameMismatch(String),
    /// A libaom call returned an error code.
    #[error("libaom {call} failed: {message} ({detail})")]
    Libaom {
        /// The libaom function that failed.
        call: &'static str,
        /// libaom's description of the error code.
        message: String,
        /// libaom's detail string for the last error, if any.
        detail: String,
    },
    /// rav1e refused a configuration or failed while encoding.
    #[error("rav1e {call} failed: {reason}")]
    Rav1e {
        /// The rav1e operation that failed.
        call: &'static str,
        /// rav1e's description.
        reason: String,
    },
    /// dav1d refused a packet or failed while decoding it.
    #[error("dav1d {call} failed: {reason}")]
    Dav1d {
        /// The dav1d operation that failed.
        call: &'static str,
        /// dav1d's description.
        reason: String,
    },
    /// An encoder behaved outside its contract (a packet with no picture behind it).
    #[error("encoder state error: {0}")]
    EncoderState(&'static str),
    /// The packet is not a well-formed AV1 temporal unit (low-overhead OBU stream).
    #[error("malformed AV1 packet: {0}")]
    Malformed(&'static str),
    /// The decoder lost its reference state (after an error or at start) and drops inter
    /// frames until the next keyframe.
    #[error("decoder is waiting for a keyframe; inter frame dropped")]
    AwaitingKeyframe,
    /// The stream decodes to a format the engine does not carry (not 8-bit 4:2:0).
    #[error("unsupported stream format: {0}")]
    UnsupportedFormat(String),
}
