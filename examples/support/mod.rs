//! Code shared by `loopback_call` and `call_peer` (included with `#[path]`, so each
//! example compiles it on its own and uses only part of it).
#![allow(dead_code)]

pub mod args;
pub mod media;
pub mod relay;
pub mod report;
pub mod signal;
pub mod video;
