//! The camera path: video frames and, in later modules, scaling, colour conversion and
//! AV1 encode/decode.

pub mod av1;
mod color;
pub(crate) mod convert;
mod converter;
mod frame;
mod gpu_convert;
mod scale;

pub use av1::{
    Av1Decoder, DecoderConfig, EncodedFrame, EncoderBackend, EncoderConfig, VideoCodecError,
    VideoEncoder, create_encoder,
};
pub use color::{ColorMatrix, ColorRange, ColorSpace};
pub use convert::ConvertError;
pub use converter::{
    ConversionPath, ConverterConfig, ConverterStats, PathPreference, TINY_FRAME_PIXELS,
    VideoConverter,
};
pub use frame::{MAX_DIMENSION, PixelFormat, VideoFrame, VideoFrameError};
pub use scale::MAX_SHRINK;
