//! [`Timestamped`]: every frame and packet knows when its media was captured.

use std::time::Instant;

/// Anything that travels from capture to playout knows when it was captured, so every
/// stage can measure latency against the original capture instant.
pub trait Timestamped {
    /// When the media in this item was captured (microphone or camera).
    fn capture_time(&self) -> Instant;
}
