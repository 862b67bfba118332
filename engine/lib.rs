//! # Sottovoce
//!
//! A media engine for end-to-end encrypted voice and video calls. Microphone and camera
//! frames flow through processing stages connected by bounded lock-free queues
//! ([`pipeline`]), are encoded, packetised as RTP and encrypted under keys that only the
//! endpoints hold; the receive side does the reverse.
//!
//! Every frame carries its capture instant, so each stage and the whole chain report
//! latency percentiles through [`pipeline::Stats`].
//!
//! ```
//! use std::time::Instant;
//! use sottovoce::audio::AudioFrame;
//! use sottovoce::pipeline::{Pipeline, QueuePolicy, stage_fn};
//!
//! // A two-stage chain on one thread: halve the gain, then clip.
//! let mut pipeline = Pipeline::builder("doc", QueuePolicy::audio(8))
//!     .stage(stage_fn("gain", |mut frame: AudioFrame| {
//!         frame.samples_mut().iter_mut().for_each(|s| *s *= 0.5);
//!         Ok(Some(frame))
//!     }))
//!     .stage_inline(stage_fn("clip", |mut frame: AudioFrame| {
//!         frame.samples_mut().iter_mut().for_each(|s| *s = s.clamp(-1.0, 1.0));
//!         Ok(Some(frame))
//!     }))
//!     .build()?;
//!
//! let frame = AudioFrame::from_samples(&[0.8; 480], 48_000, 1, Instant::now(), 0)?;
//! pipeline.push(frame).expect("queue has room");
//! let out = pipeline.recv_timeout(std::time::Duration::from_secs(1)).expect("frame");
//! assert_eq!(out.samples()[0], 0.4);
//! let report = pipeline.shutdown();
//! assert!(report.undelivered.is_empty());
//! assert_eq!(report.stats.counters.frames_out, 1);
//! # Ok::<(), sottovoce::Error>(())
//! ```

#![warn(missing_docs)]

pub mod adapt;
pub mod audio;
pub mod call;
pub mod e2ee;
mod error;
pub mod gpu;
pub mod pipeline;
pub mod rtp;
pub mod session;
pub mod srtp;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod transport;
pub mod video;

pub use error::{Error, Result};
