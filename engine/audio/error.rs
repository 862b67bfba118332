//! [`AudioError`]: what can go wrong in the voice path.

/// A typed error of the audio chain. Converted into [`crate::Error::Audio`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// A sample rate the chain does not convert (device side) or does not run at.
    #[error("unsupported sample rate {0} Hz (supported: 8000, 16000, 22050, 32000, 44100, 48000)")]
    UnsupportedRate(u32),
    /// A channel count the chain does not handle (device side: 1 or 2).
    #[error("unsupported channel count {0} (supported: 1 or 2)")]
    UnsupportedChannels(u16),
    /// A frame whose format differs from the one the component was configured for.
    #[error(
        "frame format {got_rate} Hz x {got_channels} does not match the configured {want_rate} Hz x {want_channels}"
    )]
    FormatMismatch {
        /// Rate of the frame.
        got_rate: u32,
        /// Channels of the frame.
        got_channels: u16,
        /// Configured rate.
        want_rate: u32,
        /// Configured channels.
        want_channels: u16,
    },
    /// A buffer of the wrong length for 10 ms (or for the codec's frame).
    #[error("expected {expected} samples, got {got}")]
    WrongLength {
        /// Required length.
        expected: usize,
        /// Length given.
        got: usize,
    },
    /// A frame whose length, rate or channel count is not 10 ms of audio the engine takes.
    #[error("invalid audio frame: {0}")]
    InvalidFrame(String),
    /// A configuration value out of range.
    #[error("invalid audio configuration: {0}")]
    InvalidConfig(String),
    /// A noise-suppression model file that is missing or not in RNNoise format.
    #[error("noise-suppression model: {0}")]
    Model(String),
    /// The Opus library refused a call (bad packet, bad setting).
    #[error("opus {operation}: {reason}")]
    Codec {
        /// What was being done (`encode`, `decode`, `set_bitrate`...).
        operation: &'static str,
        /// libopus' description.
        reason: String,
    },
    /// An Opus packet that cannot be decoded (corrupt, too long, wrong duration).
    #[error("corrupt opus packet: {0}")]
    CorruptPacket(String),
    /// The echo-cancellation library refused a call.
    #[error("echo canceller {operation}: error code {code}")]
    EchoCanceller {
        /// What was being done (`create`, `render`, `capture`).
        operation: &'static str,
        /// The library's error code.
        code: i32,
    },
}

impl AudioError {
    pub(crate) fn codec(operation: &'static str, e: opus::Error) -> Self {
        AudioError::Codec { operation, reason: e.description().to_string() }
    }
}
