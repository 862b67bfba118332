//! AV1 encode and decode for real-time calls.
//!
//! * [`VideoEncoder`] is the encoder interface; [`create_encoder`] builds the backend
//!   named in [`EncoderConfig`]: [`EncoderBackend::Libaom`] (default: libaom real-time,
//!   zero lag) or [`EncoderBackend::Rav1e`] (rav1e speed 10, low latency, four frames
//!   of internal delay). Output is [`EncodedFrame`]: one temporal unit of OBUs with size
//!   fields, in a pooled buffer, with its capture instant and RTP timestamp.
//! * [`Av1Decoder`] decodes with dav1d into pooled I420 [`VideoFrame`]s, refuses
//!   malformed packets with a typed error and recovers at the next keyframe.
//!
//! Settings, the measured rav1e delay and the backend choice are explained in
//! `docs/av1.md`.
//!
//! [`VideoFrame`]: crate::video::VideoFrame

mod aom_backend;
mod aom_ffi;
mod decoder;
mod encoder;
mod error;
mod rav1e_backend;
#[cfg(any(test, feature = "testing"))]
pub mod synthetic;

pub use crate::rtp::av1::{TemporalUnitInfo, inspect_temporal_unit};
pub use aom_backend::AomEncoder;
pub use decoder::{Av1Decoder, DecoderConfig, DecoderStats, MAX_DECODE_PIXELS};
pub use encoder::{EncodedFrame, EncoderBackend, EncoderConfig, RTP_VIDEO_CLOCK_HZ, VideoEncoder};
pub use error::VideoCodecError;
pub use rav1e_backend::Rav1eEncoder;

// The factory lives at the module root: the backends implement `encoder`'s trait, and
// `encoder` does not name the backends (no import circle).
/// Build the encoder `config.backend` names.
pub fn create_encoder(config: EncoderConfig) -> Result<Box<dyn VideoEncoder>, VideoCodecError> {
    Ok(match config.backend {
        EncoderBackend::Libaom => Box::new(aom_backend::AomEncoder::new(config)?),
        EncoderBackend::Rav1e => Box::new(rav1e_backend::Rav1eEncoder::new(config)?),
    })
}
