//! What every media path of the engine shares: bounded lock-free frame queues with a
//! documented full-queue policy, buffer pools that make steady state allocation-free,
//! lock-free latency histograms, and the [`Timestamped`] capture instant every frame
//! carries.
//!
//! * [`frame_channel`] with a [`QueuePolicy`]: audio ([`OnFull::Reject`]) refuses a new
//!   frame when full and hands it back to the producer, which is never blocked, counting
//!   an overflow; video ([`OnFull::DropOldest`]) drops the oldest frame and counts it, so
//!   the newest frame wins. The call uses it for camera frames.
//! * [`BufferPool`]: sample and pixel buffers recycled instead of allocated per frame.
//! * [`LatencyHistogram`]: a handful of relaxed atomic adds per record; the call's
//!   per-stage figures ([`LatencySummary`] in `CallStats::stages`) come from it.
//!
//! (Until 2026-12-07 this module also had a generic `Pipeline` of stage threads. The call
//! never used it: audio runs inline on the app's threads and video on the call's own
//! threads around the sans-IO session, so it was removed with its `Stage` trait.)

mod pool;
mod queue;
mod stats;
mod timestamped;

pub use pool::{BufferPool, PoolStats, PooledBuffer};
pub use queue::{FrameReceiver, FrameSender, OnFull, PushError, QueuePolicy, frame_channel};
pub use stats::{LatencyHistogram, LatencySummary};
pub use timestamped::Timestamped;
