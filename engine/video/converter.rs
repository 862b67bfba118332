//! [`VideoConverter`]: colour conversion and scaling of [`VideoFrame`]s on the GPU or the
//! CPU.

use super::convert::{Plan, convert_cpu};
use super::gpu_convert::GpuConverter;
use super::{ColorSpace, ConvertError, MAX_DIMENSION, PixelFormat, VideoFrame};
use crate::gpu::{AdapterSummary, GpuContext, GpuError};
use crate::pipeline::{BufferPool, Timestamped};

/// Outputs smaller than this (in pixels) convert on the CPU under [`PathPreference::Auto`]:
/// a GPU round trip has a fixed cost (submission, fence wait, mapping) that a 320x180
/// frame does not repay. The threshold is an estimate; it has not been measured on a
/// hardware GPU yet (see `docs/benchmarks.md`).
pub const TINY_FRAME_PIXELS: u64 = 320 * 180;

/// Which path the caller wants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PathPreference {
    /// GPU when a hardware adapter exists and frames are not tiny; CPU otherwise.
    #[default]
    Auto,
    /// Always the GPU; an error if no adapter can be opened.
    Gpu,
    /// Always the CPU.
    Cpu,
}

/// Which path converted the frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConversionPath {
    /// wgpu compute shaders.
    Gpu,
    /// rayon-parallel CPU loops.
    Cpu,
}

/// What a [`VideoConverter`] produces and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConverterConfig {
    /// Output format: [`PixelFormat::I420`] (from RGBA, BGRA, NV12 or I420) or
    /// [`PixelFormat::Rgba`]/[`PixelFormat::Bgra`] (from I420 or NV12).
    pub output: PixelFormat,
    /// Output width in pixels.
    pub width: u32,
    /// Output height in pixels.
    pub height: u32,
    /// Y'CbCr matrix and range on the YUV side.
    pub color: ColorSpace,
    /// GPU, CPU or automatic.
    pub path: PathPreference,
    /// GPU frames allowed in flight (1 = synchronous, 2 or 3 = pipelined: a frame is
    /// emitted when a later frame is submitted or at [`VideoConverter::finish`]).
    pub in_flight: usize,
}

impl ConverterConfig {
    /// Convert to `output` at `width` x `height`, BT.709 limited range, automatic path,
    /// synchronous.
    pub fn new(output: PixelFormat, width: u32, height: u32) -> Self {
        Self {
            output,
            width,
            height,
            color: ColorSpace::default(),
            path: PathPreference::Auto,
            in_flight: 1,
        }
    }

    /// Use `color` on the YUV side.
    pub fn color(mut self, color: ColorSpace) -> Self {
        self.color = color;
        self
    }

    /// Choose the path.
    pub fn path(mut self, path: PathPreference) -> Self {
        self.path = path;
        self
    }

    /// Allow `frames` (1..=3) GPU frames in flight.
    pub fn in_flight(mut self, frames: usize) -> Self {
        self.in_flight = frames;
        self
    }
}

/// What a converter did: the path, why, the adapter, and frame counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConverterStats {
    /// The path frames take.
    pub path: ConversionPath,
    /// Why that path was chosen (e.g. "no GPU adapter: ...").
    pub reason: String,
    /// The adapter, when a GPU context was available.
    pub adapter: Option<AdapterSummary>,
    /// Frames converted on the GPU.
    pub gpu_frames: u64,
    /// Frames converted on the CPU.
    pub cpu_frames: u64,
    /// Frames the automatic path sent to the CPU because they did not fit the GPU.
    pub gpu_fallbacks: u64,
}

/// Converts and scales [`VideoFrame`]s to one output format and size.
///
/// ```
/// use std::time::Instant;
/// use sottovoce::video::{ConverterConfig, PathPreference, PixelFormat, VideoConverter, VideoFrame};
///
/// let config = ConverterConfig::new(PixelFormat::I420, 32, 18).path(PathPreference::Cpu);
/// let mut converter = VideoConverter::cpu(config)?;
/// let rgba = VideoFrame::from_packed(PixelFormat::Rgba, 64, 36, &[128; 64 * 36 * 4], Instant::now(), 0)?;
/// let i420 = converter.convert(&rgba)?;
/// assert_eq!((i420.width(), i420.height()), (32, 18));
/// assert_eq!(converter.stats().cpu_frames, 1);
/// # Ok::<(), sottovoce::Error>(())
/// ```
pub struct VideoConverter {
    config: ConverterConfig,
    pool: BufferPool<u8>,
    plan: Option<Plan>,
    generation: u64,
    gpu: Option<GpuConverter>,
    stats: ConverterStats,
}

impl std::fmt::Debug for VideoConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoConverter")
            .field("config", &self.config)
            .field("stats", &self.stats)
            .finish()
    }
}

impl VideoConverter {
    /// A converter on the process-wide [`GpuContext::shared`] when the configuration
    /// allows it (falling back to the CPU under [`PathPreference::Auto`]).
    ///
    /// Under `Auto` the GPU device is opened only if it would be used: frames below
    /// [`TINY_FRAME_PIXELS`] and a software rasterizer as the best adapter (Mesa lavapipe on
    /// a machine without a GPU) mean the CPU path, decided from the adapter alone
    /// ([`GpuContext::shared_adapter`]). Opening lavapipe's device and compiling the kernels
    /// costs about 75 MB of resident memory that the CPU path would never use.
    pub fn auto(config: ConverterConfig) -> Result<Self, ConvertError> {
        let not_requested = || GpuError::NoAdapter { backends: "not requested".into() };
        let pixels = u64::from(config.width) * u64::from(config.height);
        let gpu = match config.path {
            PathPreference::Cpu => Err(not_requested()),
            PathPreference::Gpu => GpuContext::shared(),
            PathPreference::Auto if pixels < TINY_FRAME_PIXELS => Err(GpuError::NotUsed(format!(
                "output of {pixels} pixels is below the GPU threshold of {TINY_FRAME_PIXELS}"
            ))),
            PathPreference::Auto => match GpuContext::shared_adapter() {
                Ok(adapter) if adapter.device_type == wgpu::DeviceType::Cpu => {
                    Err(GpuError::NotUsed(format!(
                        "adapter {} is a software rasterizer; the CPU path is faster",
                        adapter.name
                    )))
                }
                Ok(_) => GpuContext::shared(),
                Err(e) => Err(e),
            },
        };
        Self::new(config, gpu)
    }

    /// A converter that only uses the CPU.
    pub fn cpu(config: ConverterConfig) -> Result<Self, ConvertError> {
        Self::new(
            config.path(PathPreference::Cpu),
            Err(GpuError::NoAdapter { backends: "not requested".into() }),
        )
    }

    /// A converter given the outcome of opening a GPU context. Under
    /// [`PathPreference::Auto`] a failed context means the CPU path (logged, and visible
    /// in [`VideoConverter::stats`]); under [`PathPreference::Gpu`] it is an error.
    pub fn new(
        config: ConverterConfig,
        gpu: std::result::Result<GpuContext, GpuError>,
    ) -> Result<Self, ConvertError> {
        check_config(&config)?;
        let pixels = u64::from(config.width) * u64::from(config.height);
        let adapter = gpu.as_ref().ok().map(|g| g.adapter().clone());
        let (path, reason, context) = match (config.path, gpu) {
            (PathPreference::Cpu, _) => {
                (ConversionPath::Cpu, "CPU selected explicitly".to_string(), None)
            }
            (PathPreference::Gpu, Ok(ctx)) => {
                (ConversionPath::Gpu, "GPU selected explicitly".to_string(), Some(ctx))
            }
            (PathPreference::Gpu, Err(e)) => return Err(e.into()),
            (PathPreference::Auto, Err(GpuError::NotUsed(reason))) => {
                (ConversionPath::Cpu, reason, None)
            }
            (PathPreference::Auto, Err(e)) => {
                tracing::warn!(error = %e, "no GPU for video conversion, using the CPU path");
                (ConversionPath::Cpu, format!("no GPU adapter: {e}"), None)
            }
            (PathPreference::Auto, Ok(ctx)) if ctx.is_software() => (
                ConversionPath::Cpu,
                format!(
                    "adapter {} is a software rasterizer; the CPU path is faster",
                    ctx.adapter().name
                ),
                None,
            ),
            (PathPreference::Auto, Ok(_)) if pixels < TINY_FRAME_PIXELS => (
                ConversionPath::Cpu,
                format!(
                    "output of {pixels} pixels is below the GPU threshold of {TINY_FRAME_PIXELS}"
                ),
                None,
            ),
            (PathPreference::Auto, Ok(ctx)) => {
                (ConversionPath::Gpu, "hardware GPU available".to_string(), Some(ctx))
            }
        };
        tracing::info!(?path, %reason, "video converter path");
        let gpu = context.map(|ctx| GpuConverter::new(ctx, config.in_flight));
        Ok(Self {
            config,
            pool: BufferPool::new(config.in_flight.clamp(1, 3) + 4, 0, 0),
            plan: None,
            generation: 0,
            gpu,
            stats: ConverterStats {
                path,
                reason,
                adapter,
                gpu_frames: 0,
                cpu_frames: 0,
                gpu_fallbacks: 0,
            },
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ConverterConfig {
        &self.config
    }

    /// Path, reason, adapter and counters.
    pub fn stats(&self) -> &ConverterStats {
        &self.stats
    }

    /// The pool output frames come from (they return to it when dropped).
    pub fn pool(&self) -> &BufferPool<u8> {
        &self.pool
    }

    /// Convert one frame and wait for it. Refused while frames from
    /// [`VideoConverter::submit`] are still in flight (collect them with `finish`).
    pub fn convert(&mut self, frame: &VideoFrame) -> Result<VideoFrame, ConvertError> {
        if self.in_flight() > 0 {
            return Err(ConvertError::FramesInFlight);
        }
        let mut out = None;
        let mut keep_last = |f: VideoFrame| out = Some(f);
        self.submit(frame, &mut keep_last)?;
        self.finish(&mut keep_last)?;
        // One submitted frame and a finish always emit exactly one frame (or an error).
        Ok(out.expect("submit + finish emitted the frame"))
    }

    /// Start converting `frame`; finished frames (in order) go to `emit`. On the GPU path
    /// with `in_flight > 1` the result of this frame may come out on a later call.
    pub fn submit(
        &mut self,
        frame: &VideoFrame,
        emit: &mut dyn FnMut(VideoFrame),
    ) -> Result<(), ConvertError> {
        self.prepare(frame)?;
        let plan = self.plan.as_ref().expect("prepare sets the plan");
        if let Some(gpu) = self.gpu.as_mut() {
            match gpu.fits(plan, frame) {
                Ok(()) => {
                    gpu.submit(plan, self.generation, frame, &self.pool, emit)?;
                    self.stats.gpu_frames += 1;
                    return Ok(());
                }
                Err(e) if self.config.path == PathPreference::Gpu => return Err(e.into()),
                Err(e) => {
                    tracing::debug!(error = %e, "frame too large for the GPU, converting on the CPU");
                    self.stats.gpu_fallbacks += 1;
                    // Keep output order: frames already on the GPU come out first.
                    gpu.finish(&self.pool, emit)?;
                }
            }
        }
        let mut data = self.pool.acquire(plan.layout.len);
        convert_cpu(plan, frame, &mut data);
        let out = VideoFrame::new(
            plan.output,
            plan.dst_size.0,
            plan.dst_size.1,
            plan.output_strides(),
            data,
            frame.capture_time(),
            frame.sequence(),
        )?;
        self.stats.cpu_frames += 1;
        emit(out);
        Ok(())
    }

    /// Frames submitted to the GPU and not yet emitted.
    pub fn in_flight(&self) -> usize {
        self.gpu.as_ref().map_or(0, GpuConverter::in_flight)
    }

    /// Emit every frame still in flight.
    pub fn finish(&mut self, emit: &mut dyn FnMut(VideoFrame)) -> Result<(), ConvertError> {
        match self.gpu.as_mut() {
            Some(gpu) => gpu.finish(&self.pool, emit),
            None => Ok(()),
        }
    }

    /// Make sure the plan matches this frame's format and size (re-planned on change).
    fn prepare(&mut self, frame: &VideoFrame) -> Result<(), ConvertError> {
        let size = (frame.width(), frame.height());
        let current =
            self.plan.as_ref().is_some_and(|p| p.input == frame.format() && p.src_size == size);
        if !current {
            let c = &self.config;
            let plan = Plan::new(frame.format(), size, c.output, (c.width, c.height), c.color)?;
            self.plan = Some(plan);
            self.generation += 1;
        }
        Ok(())
    }
}

fn check_config(c: &ConverterConfig) -> Result<(), ConvertError> {
    if c.width == 0 || c.height == 0 || c.width > MAX_DIMENSION || c.height > MAX_DIMENSION {
        return Err(ConvertError::BadOutputSize {
            width: c.width,
            height: c.height,
            max: MAX_DIMENSION,
        });
    }
    if c.output == PixelFormat::Nv12 {
        return Err(ConvertError::UnsupportedOutput(c.output));
    }
    Ok(())
}
