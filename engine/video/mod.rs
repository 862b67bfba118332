//! The camera path: video frames and, in later modules, scaling, colour conversion and
//! AV1 encode/decode.

mod frame;

pub use frame::{MAX_DIMENSION, PixelFormat, VideoFrame};
