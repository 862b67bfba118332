//! The GPU video path: colour conversion and scaling in WGSL compute shaders on wgpu.
//!
//! [`GpuContext`] opens the best adapter once per process (a real GPU first, Mesa's
//! software Vulkan "lavapipe" otherwise) and compiles the kernels in `shaders/`. Video
//! converters ([`crate::video::VideoConverter`]) share it and keep their own ring of
//! staging buffers, so one frame's transfers overlap the next frame's compute. When no
//! adapter exists the converters fall back to the CPU path and say so in their stats.
//! Design notes: `docs/gpu.md`.

mod context;
mod convert;

pub use context::{AdapterSummary, Backend, Backends, DeviceType, GpuContext};
pub(crate) use convert::GpuConverter;

/// What can go wrong on the GPU path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GpuError {
    /// No adapter with compute shaders was found among the requested backends.
    #[error("no GPU adapter with compute shaders among backends {backends}")]
    NoAdapter {
        /// The backends that were searched.
        backends: String,
    },
    /// A usable adapter exists but the caller decided against opening it (the reason
    /// says why: a software rasterizer, frames too small to be worth the transfers).
    #[error("GPU not used: {0}")]
    NotUsed(String),
    /// The adapter refused to open a device.
    #[error("could not open GPU device: {0}")]
    RequestDevice(String),
    /// A frame needs a buffer larger than the device allows.
    #[error("frame needs {bytes} bytes of GPU buffer, device allows {limit}")]
    FrameTooLarge {
        /// Bytes needed.
        bytes: u64,
        /// Device limit.
        limit: u64,
    },
    /// Validation failure, out-of-memory or lost device reported by wgpu.
    #[error("GPU device error: {0}")]
    Device(String),
    /// A staging buffer could not be mapped.
    #[error("GPU buffer mapping failed: {0}")]
    Map(String),
    /// The GPU did not finish a frame in time.
    #[error("GPU did not finish a frame within {0:?}")]
    Timeout(std::time::Duration),
}
