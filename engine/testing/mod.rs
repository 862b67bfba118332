//! Test tools, behind the `testing` cargo feature (the project's own tests, examples and
//! benches enable it; apps do not get it).
//!
//! * [`sim`]: simulated calls: real codecs and sessions over the impairment model in
//!   simulated time, repeatable for a seed;
//! * [`sim_video`]: the video track of a simulated call;
//! * [`cc`]: congestion-control scenarios on simulated calls;
//! * [`media`]: WAV and Y4M files, the sources and sinks of simulated calls and of the
//!   examples.

pub mod cc;
pub mod media;
pub mod sim;
pub mod sim_video;

/// Why a simulated call could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// A setting is unusable.
    #[error("invalid simulation: {0}")]
    InvalidConfig(&'static str),
    /// A component failed to start.
    #[error("{0}")]
    Setup(String),
}

/// Turns a component's error into [`SimError::Setup`] naming the component.
pub(crate) fn setup<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> SimError {
    move |e| SimError::Setup(format!("{what}: {e}"))
}
