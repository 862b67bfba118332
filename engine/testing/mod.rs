//! Test tools, behind the `testing` cargo feature (the project's own tests, examples and
//! benches enable it; apps do not get it).
//!
//! * [`sim`]: simulated calls: real codecs and sessions over the impairment model in
//!   simulated time, repeatable for a seed.

pub mod sim;
pub mod sim_video;
