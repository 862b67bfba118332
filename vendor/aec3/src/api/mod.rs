pub mod config;
pub mod control;

pub use config::EchoCanceller3Config;
pub use control::{EchoControl, EchoControlFactory, Metrics};
