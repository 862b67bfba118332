//! The camera path: video frames and, in later modules, scaling, colour conversion and
//! AV1 encode/decode.

pub mod av1;
mod frame;

pub use av1::{
    Av1Decoder, DecoderConfig, EncodedFrame, EncoderBackend, EncoderConfig, VideoCodecError,
    VideoEncoder, create_encoder,
};
pub use frame::{MAX_DIMENSION, PixelFormat, VideoFrame};
