//! The voice path: audio frames and, in later modules, resampling, echo cancellation,
//! noise suppression and Opus.

mod frame;

pub use frame::{AudioFrame, MAX_CHANNELS, MAX_SAMPLE_RATE, MIN_SAMPLE_RATE};
