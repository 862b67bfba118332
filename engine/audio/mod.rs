//! The voice path, at 48 kHz mono internally in 10 ms frames:
//!
//! ```text
//! capture:  device frames ─▶ FormatConverter ─▶ EchoCanceller ─▶ NoiseSuppressor ─▶ OpusEncoder ─▶ packets
//!                                                   ▲ far-end reference (lock-free)
//! playout:  payloads ─▶ AudioPlayout (jitter buffer, OpusDecoder, FEC/PLC, time-scaling)
//!                         ─┴─▶ FormatConverter ─▶ device frames
//! ```
//!
//! [`AudioPlayout`] is the engine's one playout path (the call's playout side wraps it).
//! Choices, tuning and measured figures: `docs/audio.md`.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sottovoce::audio::{AudioPlayout, CaptureChain, CaptureConfig, DeviceFormat, far_end_channel};
//!
//! // The playout side hands every 10 ms frame it plays to the capture side's AEC.
//! let (far_tx, far_rx) = far_end_channel(32);
//! let config = CaptureConfig { device: DeviceFormat::ENGINE, ..CaptureConfig::default() };
//! let mut capture = CaptureChain::new(&config, Some(far_rx))?;
//! let mut playout = AudioPlayout::new(Default::default())?;
//!
//! let t0 = Instant::now();
//! let (mut seq, mut speaker) = (0u16, [0.0f32; 480]);
//! for tick in 0..20u64 {
//!     let now = t0 + Duration::from_millis(10 * tick);
//!     if let Some(packet) = capture.process(&[0.0f32; 480], now)? {
//!         // Send `packet.data()` over RTP; here it loops back to our own playout.
//!         playout.insert_payload(now, seq, u32::from(seq) * 960, packet.data())?;
//!         seq += 1;
//!     }
//!     playout.pull(now, &mut speaker);
//!     far_tx.send(&speaker)?;
//! }
//! assert_eq!(playout.stats().jitter.received, 10); // ten 20 ms packets
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
pub use chain::{CaptureChain, CaptureConfig, CaptureProcessor, ChainTimings};
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
