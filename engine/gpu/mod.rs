//! The GPU itself: [`GpuContext`] opens the best adapter once per process (a real GPU
//! first, Mesa's software Vulkan "lavapipe" otherwise) and compiles the WGSL kernels in
//! `shaders/`. What runs on it lives with its concern: the video converter's GPU path is
//! `video::gpu_convert`, which shares this context and keeps its own ring of staging
//! buffers. This module knows nothing of video (no import circle). Design notes:
//! `docs/gpu.md`.

pub(crate) mod context;

pub use context::{AdapterSummary, Backend, Backends, DeviceType, GpuContext};

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
