//! The engine's error type. Every bad input ends here, never in a panic.

/// Everything that can go wrong in the engine.
///
/// Errors never carry key material or media payloads, so they are safe to log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A video frame's shape does not match what it claims (size, stride, length).
    #[error(transparent)]
    VideoFrame(#[from] crate::video::VideoFrameError),
    /// Sending or receiving a packet failed.
    #[error(transparent)]
    Transport(#[from] crate::transport::TransportError),
    /// An RTP/RTCP packet or payload is malformed, or cannot be written.
    #[error("RTP: {0}")]
    Rtp(#[from] crate::rtp::RtpError),
    /// The GPU video path failed (no adapter, device error, frame too large).
    #[error(transparent)]
    Gpu(#[from] crate::gpu::GpuError),
    /// A video frame could not be converted or scaled as requested.
    #[error(transparent)]
    Convert(#[from] crate::video::ConvertError),
    /// The audio chain refused an input or a setting.
    #[error("audio: {0}")]
    Audio(#[from] crate::audio::AudioError),
    /// An AV1 encoder or decoder failed.
    #[error("video codec: {0}")]
    VideoCodec(#[from] crate::video::VideoCodecError),
    /// A stage thread could not be started.
    #[error("could not start stage thread: {0}")]
    Thread(#[from] std::io::Error),
    /// A call could not start or its media path failed.
    #[error("call: {0}")]
    Call(#[from] crate::call::CallError),
    /// An SRTP/SRTCP packet could not be protected or unprotected.
    #[error("srtp: {0}")]
    Srtp(#[from] crate::srtp::SrtpError),
    /// End-to-end key agreement, re-keying or SFrame rejected its input.
    #[error("end-to-end encryption: {0}")]
    E2ee(#[from] crate::e2ee::E2eeError),
}

/// Shorthand for results carrying the engine's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
