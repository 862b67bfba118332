//! The voice path, at 48 kHz mono internally in 10 ms frames:
//!
//! ```text
//! capture:  device frames ─▶ FormatConverter ─▶ EchoCanceller ─▶ NoiseSuppressor ─▶ OpusEncoder ─▶ packets
//!                                                   ▲ far-end reference (lock-free)
//! playout:  packets / loss ─▶ OpusDecoder (PLC, FEC) ─┴─▶ FormatConverter ─▶ device frames
//! ```

mod aec;
mod chain;
mod codec;
mod error;
mod frame;
mod ns;
mod resample;
pub mod synth;

pub use aec::{
    Aec3Canceller, AecConfig, EchoCanceller, EchoMetrics, EchoSuppression, FarEndReceiver,
    FarEndSender, far_end_channel,
};
pub use chain::{
    CaptureChain, CaptureConfig, CaptureProcessor, ChainTimings, PlayoutChain, PlayoutInput,
};
pub use codec::{
    DecoderStats, EncodedPacket, MAX_PACKET_BYTES, OpusConfig, OpusDecoder, OpusEncoder,
};
pub use error::AudioError;
pub use frame::{AudioFrame, MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};
pub use ns::{NoiseSuppressor, NsModel};
pub use resample::{DeviceFormat, ENGINE_FRAME, ENGINE_RATE, FormatConverter, SUPPORTED_RATES};
