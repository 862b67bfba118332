//! The voice path, at 48 kHz mono internally in 10 ms frames:
//!
//! ```text
//! capture:  device frames ─▶ FormatConverter ─▶ EchoCanceller ─▶ NoiseSuppressor ─▶ OpusEncoder ─▶ packets
//!                                                   ▲ far-end reference (lock-free)
//! playout:  packets / loss ─▶ OpusDecoder (PLC, FEC) ─┴─▶ FormatConverter ─▶ device frames
//! ```
//!
//! Choices, tuning and measured figures: `docs/audio.md`.
//!
//! ```
//! use std::time::Instant;
//! use sottovoce::audio::{
//!     CaptureChain, CaptureConfig, DeviceFormat, PlayoutChain, PlayoutInput, far_end_channel,
//! };
//!
//! // The playout thread hands every decoded 10 ms frame to the capture thread's AEC.
//! let (far_tx, far_rx) = far_end_channel(32);
//! let device = DeviceFormat::new(16_000, 1)?;
//! let config = CaptureConfig { device, ..CaptureConfig::default() };
//! let mut capture = CaptureChain::new(&config, Some(far_rx))?;
//! let mut playout = PlayoutChain::new(device, Some(far_tx))?;
//!
//! let mic = [0.0f32; 160]; // 10 ms at 16 kHz
//! let mut speaker = Vec::new();
//! for _ in 0..2 {
//!     if let Some(packet) = capture.process(&mic, Instant::now())? {
//!         // Send `packet.data()` over RTP; here it loops back to our own playout.
//!         playout.push(PlayoutInput::Packet(packet), &mut |frame| speaker.push(frame))?;
//!     }
//! }
//! assert_eq!(speaker.len(), 2); // one 20 ms packet -> two 10 ms device frames
//! assert_eq!(speaker[0].samples().len(), 160);
//! # Ok::<(), sottovoce::Error>(())
//! ```

mod aec;
#[cfg(feature = "webrtc-apm")]
mod apm;
mod band_split;
mod chain;
mod codec;
mod error;
mod frame;
mod ns;
mod playout;
mod resample;
#[cfg(any(test, feature = "testing"))]
pub mod synth;
mod time_scale;

pub use aec::{
    Aec3Canceller, AecConfig, CancellerKind, EchoCanceller, EchoMetrics, EchoSuppression,
    FarEndReceiver, FarEndSender, far_end_channel,
};
#[cfg(feature = "webrtc-apm")]
pub use apm::{ApmCanceller, ApmSuppression};
pub use chain::{
    CaptureChain, CaptureConfig, CaptureProcessor, ChainTimings, PlayoutChain, PlayoutInput,
};
pub use codec::{
    DecoderStats, EncodedPacket, MAX_PACKET_BYTES, OpusBitrateMode, OpusConfig, OpusDecoder,
    OpusEncoder,
};
pub use error::AudioError;
pub use frame::{AudioFrame, MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};
pub use ns::{NoiseSuppressor, NsModel};
pub use playout::{AudioPlayout, PlayoutStats};
pub use resample::{DeviceFormat, ENGINE_FRAME, ENGINE_RATE, FormatConverter, SUPPORTED_RATES};
pub use time_scale::{
    MAX_PITCH_LAG, MIN_CORRELATION, MIN_PITCH_LAG, TimeScaleKind, TimeScaled, compress_speech,
    expand_speech,
};
