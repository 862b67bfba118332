//! [`GpuContext`]: one wgpu device and the compiled conversion kernels, shared by every
//! video stream of the process.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use super::GpuError;

pub use wgpu::{Backend, Backends, DeviceType};

/// Which adapter a [`GpuContext`] runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Adapter name as the driver reports it (e.g. "llvmpipe (LLVM 15.0.6, 256 bits)").
    pub name: String,
    /// Graphics API in use.
    pub backend: Backend,
    /// Discrete, integrated, virtual or CPU (software) device.
    pub device_type: DeviceType,
    /// Driver name and version.
    pub driver: String,
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?}, {:?}, {})", self.name, self.backend, self.device_type, self.driver)
    }
}

/// The three compute pipelines and their shared bind-group layout.
pub(crate) struct Kernels {
    pub layout: wgpu::BindGroupLayout,
    pub rgb_to_i420: wgpu::ComputePipeline,
    pub planar_to_i420: wgpu::ComputePipeline,
    pub yuv_to_rgb: wgpu::ComputePipeline,
}

/// Errors reported by wgpu outside any call (validation, out of memory, device lost).
/// Checked after every frame; set rarely, so the flag keeps the steady state lock-free.
#[derive(Default)]
pub(crate) struct DeviceErrors {
    raised: AtomicBool,
    message: Mutex<Option<String>>,
}

impl DeviceErrors {
    fn record(&self, message: String) {
        tracing::error!(error = %message, "GPU device error");
        if let Ok(mut slot) = self.message.lock() {
            slot.get_or_insert(message);
        }
        self.raised.store(true, Ordering::Release);
    }

    /// The first recorded error, if any.
    pub fn check(&self) -> Result<(), GpuError> {
        if !self.raised.load(Ordering::Acquire) {
            return Ok(());
        }
        let message = self
            .message
            .lock()
            .map(|m| m.clone().unwrap_or_default())
            .unwrap_or_else(|_| "device error (message lost)".into());
        Err(GpuError::Device(message))
    }
}

pub(crate) struct ContextInner {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub kernels: Kernels,
    pub errors: Arc<DeviceErrors>,
    pub max_binding: u64,
    pub info: AdapterSummary,
}

/// A wgpu device with the conversion kernels compiled, cheap to clone and meant to be
/// shared: every converter of the process can run on the same context.
///
/// ```no_run
/// use sottovoce::gpu::GpuContext;
/// let gpu = GpuContext::shared()?;
/// println!("converting on {}", gpu.adapter());
/// # Ok::<(), sottovoce::gpu::GpuError>(())
/// ```
#[derive(Clone)]
pub struct GpuContext {
    pub(crate) inner: Arc<ContextInner>,
}

impl fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GpuContext").field("adapter", &self.inner.info).finish()
    }
}

/// Preference order of device types: a real GPU first, software rasterizers last.
fn rank(device_type: DeviceType) -> u8 {
    match device_type {
        DeviceType::DiscreteGpu => 4,
        DeviceType::IntegratedGpu => 3,
        DeviceType::VirtualGpu => 2,
        DeviceType::Cpu => 1,
        DeviceType::Other => 0,
    }
}

/// The best adapter with compute shaders among `backends`, and the instance it lives in.
fn best_adapter(backends: Backends) -> Result<(wgpu::Instance, wgpu::Adapter), GpuError> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = backends;
    let instance = wgpu::Instance::new(desc);
    let adapters = pollster::block_on(instance.enumerate_adapters(backends));
    let adapter = adapters
        .into_iter()
        .filter(|a| {
            a.get_downlevel_capabilities().flags.contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
        })
        .max_by_key(|a| rank(a.get_info().device_type))
        .ok_or_else(|| GpuError::NoAdapter { backends: format!("{backends:?}") })?;
    Ok((instance, adapter))
}

fn summary(adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    AdapterSummary {
        name: info.name,
        backend: info.backend,
        device_type: info.device_type,
        driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
    }
}

impl GpuContext {
    /// Open the best adapter among the compiled-in backends (Vulkan, Metal, DX12), or
    /// those named by the `WGPU_BACKEND` environment variable when it is set.
    pub fn new() -> Result<Self, GpuError> {
        Self::with_backends(Backends::from_env().unwrap_or(Backends::PRIMARY))
    }

    /// The process-wide context, opened on first use with [`GpuContext::new`]. Later
    /// calls return the same device (or the same error: adapters do not appear at run
    /// time).
    pub fn shared() -> Result<Self, GpuError> {
        static SHARED: OnceLock<Result<GpuContext, GpuError>> = OnceLock::new();
        SHARED.get_or_init(Self::new).clone()
    }

    /// The adapter [`GpuContext::shared`] would open, without opening a device (no device
    /// memory, no compiled kernels): enough to decide that a software rasterizer is not
    /// worth its memory. Remembered for the process, like the context.
    pub fn shared_adapter() -> Result<AdapterSummary, GpuError> {
        static SHARED: OnceLock<Result<AdapterSummary, GpuError>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                let backends = Backends::from_env().unwrap_or(Backends::PRIMARY);
                let (_, adapter) = best_adapter(backends)?;
                Ok(summary(&adapter))
            })
            .clone()
    }

    /// Open the best adapter among `backends`: discrete GPU, then integrated, virtual,
    /// and a CPU (software, e.g. Mesa lavapipe) adapter last.
    pub fn with_backends(backends: Backends) -> Result<Self, GpuError> {
        let (_instance, adapter) = best_adapter(backends)?;
        let info = summary(&adapter);
        // Take every limit the adapter offers so large frames fit in one binding.
        let limits = adapter.limits();
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("sottovoce video"),
            required_limits: limits.clone(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::RequestDevice(e.to_string()))?;
        let errors = Arc::new(DeviceErrors::default());
        let sink = Arc::clone(&errors);
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| sink.record(e.to_string())));
        let lost = Arc::clone(&errors);
        device.set_device_lost_callback(move |reason, message| {
            lost.record(format!("device lost ({reason:?}): {message}"));
        });
        let kernels = compile_kernels(&device);
        errors.check()?;
        let max_binding = limits.max_storage_buffer_binding_size.min(limits.max_buffer_size);
        tracing::info!(adapter = %info, "GPU context ready");
        Ok(Self {
            inner: Arc::new(ContextInner { device, queue, kernels, errors, max_binding, info }),
        })
    }

    /// The adapter this context runs on.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.inner.info
    }

    /// Whether the adapter is a software rasterizer running on the CPU (lavapipe,
    /// SwiftShader, WARP), where the direct CPU path is usually faster.
    pub fn is_software(&self) -> bool {
        self.inner.info.device_type == DeviceType::Cpu
    }

    /// Largest buffer one frame (input or output) may occupy on this device.
    pub fn max_frame_bytes(&self) -> u64 {
        self.inner.max_binding
    }
}

fn compile_kernels(device: &wgpu::Device) -> Kernels {
    let storage = |binding, read_only| wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    };
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("convert"),
        entries: &[
            wgpu::BindGroupLayoutEntry {
                binding: 0,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Uniform,
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            },
            storage(1, true),
            storage(2, true),
            storage(3, false),
        ],
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some("convert"),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    let make = |label: &str, source: &str| {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        })
    };
    Kernels {
        rgb_to_i420: make(
            "rgb_to_i420",
            concat!(
                include_str!("../../shaders/common.wgsl"),
                include_str!("../../shaders/rgb_to_i420.wgsl")
            ),
        ),
        planar_to_i420: make(
            "planar_to_i420",
            concat!(
                include_str!("../../shaders/common.wgsl"),
                include_str!("../../shaders/planar_to_i420.wgsl")
            ),
        ),
        yuv_to_rgb: make(
            "yuv_to_rgb",
            concat!(
                include_str!("../../shaders/common.wgsl"),
                include_str!("../../shaders/yuv_to_rgb.wgsl")
            ),
        ),
        layout,
    }
}
