//! Runs conversion [`Plan`]s on the GPU with a ring of reusable buffer sets.
//!
//! Each ring slot owns an upload staging buffer (mapped for writing), the storage input,
//! the storage output, a readback staging buffer (mapped for reading), the parameter
//! uniform and the bind group tying them together. Slots are created at the first frame
//! and rebuilt only when a frame no longer fits or the plan changes, so the steady state
//! allocates nothing in this code.
//!
//! One frame is: write parameters and planes into the mapped upload buffer, then one
//! submission copying upload -> input, dispatching the kernel, and copying output ->
//! readback; then both staging buffers are queued for mapping. With `depth` slots, up to
//! `depth - 1` frames stay in flight after `submit` returns, so frame N's compute and
//! readback overlap the CPU writing frame N+1.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use super::convert::{Kind, OutputLayout, Plan, align4};
use super::{ConvertError, PixelFormat, VideoFrame};
use crate::gpu::{GpuContext, GpuError};
use crate::pipeline::BufferPool;

/// Bytes reserved at the start of the upload buffer for the parameter block.
const PARAMS_BYTES: u64 = 256;
/// How long to wait for one frame before declaring the device stuck.
const FRAME_TIMEOUT: Duration = Duration::from_secs(20);

const MAP_PENDING: u8 = 0;
const MAP_READY: u8 = 1;
const MAP_FAILED: u8 = 2;

fn map_flag(initial: u8) -> Arc<AtomicU8> {
    Arc::new(AtomicU8::new(initial))
}

fn request_map(buffer: &wgpu::Buffer, mode: wgpu::MapMode, flag: &Arc<AtomicU8>) {
    flag.store(MAP_PENDING, Ordering::Release);
    let flag = Arc::clone(flag);
    buffer.map_async(mode, .., move |result| {
        flag.store(if result.is_ok() { MAP_READY } else { MAP_FAILED }, Ordering::Release);
    });
}

/// What a finished slot turns into.
#[derive(Debug, Clone, Copy)]
struct Pending {
    output: PixelFormat,
    size: (u32, u32),
    layout: OutputLayout,
    capture_time: Instant,
    sequence: u64,
}

struct Slot {
    upload: wgpu::Buffer,
    input: wgpu::Buffer,
    output: wgpu::Buffer,
    readback: wgpu::Buffer,
    params: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    input_cap: u64,
    output_cap: u64,
    generation: u64,
    upload_mapped: Arc<AtomicU8>,
    readback_mapped: Arc<AtomicU8>,
    submission: Option<wgpu::SubmissionIndex>,
    pending: Option<Pending>,
}

/// The GPU executor of one converter.
pub(crate) struct GpuConverter {
    ctx: GpuContext,
    depth: usize,
    slots: Vec<Option<Slot>>,
    /// Slots with a frame in flight, oldest first.
    in_flight: VecDeque<usize>,
    /// Filter tables of the current plan, and the plan generation they belong to.
    filters: Option<(u64, wgpu::Buffer)>,
    /// Scratch for packing filter tables (reused across plan changes).
    table_words: Vec<u32>,
}

/// Planes of the input frame as the shader sees them.
fn input_planes(plan: &Plan, frame: &VideoFrame) -> ([[u32; 4]; 3], [usize; 3], u64) {
    let (w, h) = plan.src_size;
    let dims = plan.input.plane_dims(w, h);
    let mut desc = [[0u32; 4]; 3];
    let mut offsets = [0usize; 3];
    let mut total = 0usize;
    for (i, (row_bytes, rows)) in dims.iter().enumerate().take(plan.input.plane_count()) {
        offsets[i] = total;
        let samples = match plan.input {
            PixelFormat::Rgba | PixelFormat::Bgra => row_bytes / 4,
            PixelFormat::Nv12 if i == 1 => row_bytes / 2,
            _ => *row_bytes,
        };
        desc[i] = [total as u32, frame.stride(i) as u32, samples as u32, *rows as u32];
        total += align4(frame.plane(i).len());
    }
    if plan.input == PixelFormat::Nv12 {
        // Cr is the second byte of each interleaved pair.
        desc[2] = desc[1];
        desc[2][0] += 1;
    }
    // One spare word: unaligned loads may read one word past the last byte.
    (desc, offsets, total as u64 + 4)
}

impl GpuConverter {
    pub fn new(ctx: GpuContext, depth: usize) -> Self {
        let depth = depth.clamp(1, 3);
        let mut slots = Vec::with_capacity(depth);
        slots.resize_with(depth, || None);
        Self {
            ctx,
            depth,
            slots,
            in_flight: VecDeque::with_capacity(depth),
            filters: None,
            table_words: Vec::new(),
        }
    }

    /// Whether `plan` with this input fits the device's buffer limits.
    pub fn fits(&self, plan: &Plan, frame: &VideoFrame) -> Result<(), GpuError> {
        let (_, _, input_len) = input_planes(plan, frame);
        let need = input_len.max(plan.layout.len as u64);
        let limit = self.ctx.max_frame_bytes();
        if need > limit {
            return Err(GpuError::FrameTooLarge { bytes: need, limit });
        }
        Ok(())
    }

    fn ensure_filters(&mut self, plan: &Plan, generation: u64) {
        if matches!(self.filters, Some((g, _)) if g == generation) {
            return;
        }
        self.table_words.clear();
        for table in [&plan.x_luma, &plan.y_luma, &plan.x_chroma, &plan.y_chroma] {
            table.append_packed(&mut self.table_words);
        }
        let bytes: Vec<u8> = self.table_words.iter().flat_map(|w| w.to_le_bytes()).collect();
        let device = &self.ctx.inner.device;
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("filter tables"),
            size: bytes.len() as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.ctx.inner.queue.write_buffer(&buffer, 0, &bytes);
        self.filters = Some((generation, buffer));
    }

    /// Make slot `index` big enough and bound to the current filter tables.
    fn ensure_slot(&mut self, index: usize, input_len: u64, output_len: u64, generation: u64) {
        let (_, filters) = self.filters.as_ref().expect("filters are set before slots");
        let device = &self.ctx.inner.device;
        let fits = self.slots[index]
            .as_ref()
            .is_some_and(|s| s.input_cap >= input_len && s.output_cap >= output_len);
        if !fits {
            // Grow with headroom so a slightly larger frame does not rebuild again.
            let input_cap = align4(input_len as usize) as u64;
            let output_cap = align4(output_len as usize) as u64;
            let buffer = |label, size, usage, mapped| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some(label),
                    size,
                    usage,
                    mapped_at_creation: mapped,
                })
            };
            use wgpu::BufferUsages as U;
            let upload =
                buffer("upload", PARAMS_BYTES + input_cap, U::MAP_WRITE | U::COPY_SRC, true);
            let input = buffer("input", input_cap, U::STORAGE | U::COPY_DST, false);
            let output = buffer("output", output_cap, U::STORAGE | U::COPY_SRC, false);
            let readback = buffer("readback", output_cap, U::MAP_READ | U::COPY_DST, false);
            let params = buffer("params", PARAMS_BYTES, U::UNIFORM | U::COPY_DST, false);
            let bind_group = bind(device, &self.ctx, &params, &input, filters, &output);
            self.slots[index] = Some(Slot {
                upload,
                input,
                output,
                readback,
                params,
                bind_group,
                input_cap,
                output_cap,
                generation,
                upload_mapped: map_flag(MAP_READY),
                readback_mapped: map_flag(MAP_PENDING),
                submission: None,
                pending: None,
            });
        }
        let slot = self.slots[index].as_mut().expect("slot was just ensured");
        if slot.generation != generation {
            slot.bind_group =
                bind(device, &self.ctx, &slot.params, &slot.input, filters, &slot.output);
            slot.generation = generation;
        }
    }

    /// Convert `frame` with `plan`; finished frames (this one or earlier ones, in order)
    /// go to `emit`. At most `depth - 1` frames remain in flight on return.
    pub fn submit(
        &mut self,
        plan: &Plan,
        generation: u64,
        frame: &VideoFrame,
        pool: &BufferPool<u8>,
        emit: &mut dyn FnMut(VideoFrame),
    ) -> Result<(), ConvertError> {
        self.fits(plan, frame)?;
        self.harvest_ready(pool, emit)?;
        while self.in_flight.len() >= self.depth {
            self.finish_oldest(pool, emit)?;
        }
        let index = (0..self.depth)
            .find(|i| self.slots[*i].as_ref().is_none_or(|s| s.pending.is_none()))
            .expect("fewer frames in flight than slots");
        let (planes, offsets, input_len) = input_planes(plan, frame);
        self.ensure_filters(plan, generation);
        self.ensure_slot(index, input_len, plan.layout.len as u64, generation);
        let inner = Arc::clone(&self.ctx.inner);
        let slot = self.slots[index].as_mut().expect("slot was just ensured");
        wait_for(&inner, slot.submission.clone(), &slot.upload_mapped)?;

        // Parameters and planes go into the mapped upload buffer in one pass.
        let params = param_block(plan, &planes);
        {
            let mut view = slot
                .upload
                .get_mapped_range_mut(..PARAMS_BYTES + input_len)
                .map_err(|e| GpuError::Map(e.to_string()))?;
            view.slice(..params.len()).copy_from_slice(&params);
            for (i, &offset) in offsets.iter().enumerate().take(plan.input.plane_count()) {
                let data = frame.plane(i);
                let start = PARAMS_BYTES as usize + offset;
                view.slice(start..start + data.len()).copy_from_slice(data);
            }
        }
        slot.upload.unmap();

        let kernels = &inner.kernels;
        let (pipeline, groups) = dispatch_shape(plan, kernels);
        let mut encoder = inner
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("convert") });
        encoder.copy_buffer_to_buffer(&slot.upload, 0, &slot.params, 0, PARAMS_BYTES);
        encoder.copy_buffer_to_buffer(&slot.upload, PARAMS_BYTES, &slot.input, 0, input_len);
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("convert"),
                timestamp_writes: None,
            });
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, &slot.bind_group, &[]);
            pass.dispatch_workgroups(groups.0, groups.1, groups.2);
        }
        let out_len = plan.layout.len as u64;
        encoder.copy_buffer_to_buffer(&slot.output, 0, &slot.readback, 0, out_len);
        let submission = inner.queue.submit(Some(encoder.finish()));
        request_map(&slot.upload, wgpu::MapMode::Write, &slot.upload_mapped);
        request_map(&slot.readback, wgpu::MapMode::Read, &slot.readback_mapped);
        slot.submission = Some(submission);
        slot.pending = Some(Pending {
            output: plan.output,
            size: plan.dst_size,
            layout: plan.layout,
            capture_time: frame_capture_time(frame),
            sequence: frame.sequence(),
        });
        self.in_flight.push_back(index);
        inner.errors.check()?;
        while self.in_flight.len() >= self.depth {
            self.finish_oldest(pool, emit)?;
        }
        Ok(())
    }

    /// Wait for every frame in flight and emit them in order.
    pub fn finish(
        &mut self,
        pool: &BufferPool<u8>,
        emit: &mut dyn FnMut(VideoFrame),
    ) -> Result<(), ConvertError> {
        while !self.in_flight.is_empty() {
            self.finish_oldest(pool, emit)?;
        }
        Ok(())
    }

    /// Emit frames that are already done, without blocking.
    fn harvest_ready(
        &mut self,
        pool: &BufferPool<u8>,
        emit: &mut dyn FnMut(VideoFrame),
    ) -> Result<(), ConvertError> {
        if self.in_flight.is_empty() {
            return Ok(());
        }
        let _ = self.ctx.inner.device.poll(wgpu::PollType::Poll);
        while let Some(&index) = self.in_flight.front() {
            let ready = self.slots[index]
                .as_ref()
                .is_some_and(|s| s.readback_mapped.load(Ordering::Acquire) != MAP_PENDING);
            if !ready {
                break;
            }
            self.finish_oldest(pool, emit)?;
        }
        Ok(())
    }

    fn finish_oldest(
        &mut self,
        pool: &BufferPool<u8>,
        emit: &mut dyn FnMut(VideoFrame),
    ) -> Result<(), ConvertError> {
        let Some(index) = self.in_flight.pop_front() else { return Ok(()) };
        let inner = Arc::clone(&self.ctx.inner);
        let Some(slot) = self.slots[index].as_mut() else { return Ok(()) };
        let Some(pending) = slot.pending.take() else { return Ok(()) };
        wait_for(&inner, slot.submission.clone(), &slot.readback_mapped)?;
        let data = {
            let view = slot
                .readback
                .get_mapped_range(..pending.layout.len as u64)
                .map_err(|e| GpuError::Map(e.to_string()))?;
            pool.acquire_copy(&view)
        };
        slot.readback.unmap();
        inner.errors.check()?;
        let strides = &pending.layout.strides[..pending.output.plane_count()];
        let frame = VideoFrame::new(
            pending.output,
            pending.size.0,
            pending.size.1,
            strides,
            data,
            pending.capture_time,
            pending.sequence,
        )?;
        emit(frame);
        Ok(())
    }

    /// Frames submitted but not yet emitted.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

fn frame_capture_time(frame: &VideoFrame) -> Instant {
    use crate::pipeline::Timestamped;
    frame.capture_time()
}

/// Block until `flag` leaves the pending state (polling the device for `submission`).
fn wait_for(
    inner: &crate::gpu::context::ContextInner,
    submission: Option<wgpu::SubmissionIndex>,
    flag: &AtomicU8,
) -> Result<(), GpuError> {
    let deadline = Instant::now() + FRAME_TIMEOUT;
    loop {
        match flag.load(Ordering::Acquire) {
            MAP_READY => return Ok(()),
            MAP_FAILED => {
                inner.errors.check()?;
                return Err(GpuError::Map("map_async reported failure".into()));
            }
            _ => {}
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(GpuError::Timeout(FRAME_TIMEOUT));
        }
        let poll = wgpu::PollType::Wait {
            submission_index: submission.clone(),
            timeout: Some(deadline - now),
        };
        match inner.device.poll(poll) {
            Ok(_) => {}
            Err(wgpu::PollError::Timeout) => return Err(GpuError::Timeout(FRAME_TIMEOUT)),
            Err(e) => return Err(GpuError::Device(e.to_string())),
        }
        inner.errors.check()?;
        if flag.load(Ordering::Acquire) == MAP_PENDING && submission.is_none() {
            // Nothing can still complete this mapping.
            return Err(GpuError::Map("mapping never completed".into()));
        }
    }
}

fn bind(
    device: &wgpu::Device,
    ctx: &GpuContext,
    params: &wgpu::Buffer,
    input: &wgpu::Buffer,
    filters: &wgpu::Buffer,
    output: &wgpu::Buffer,
) -> wgpu::BindGroup {
    fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
        wgpu::BindGroupEntry { binding, resource: buffer.as_entire_binding() }
    }
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("convert"),
        layout: &ctx.inner.kernels.layout,
        entries: &[entry(0, params), entry(1, input), entry(2, filters), entry(3, output)],
    })
}

/// Kernel and workgroup counts for `plan` (workgroups are 16 x 4 invocations).
fn dispatch_shape<'k>(
    plan: &Plan,
    kernels: &'k crate::gpu::context::Kernels,
) -> (&'k wgpu::ComputePipeline, (u32, u32, u32)) {
    let (w, h) = plan.dst_size;
    let words = w.div_ceil(4);
    match plan.kind {
        Kind::RgbToI420 { .. } => (&kernels.rgb_to_i420, (words.div_ceil(16), h.div_ceil(4), 2)),
        Kind::PlanarToI420 { .. } => {
            (&kernels.planar_to_i420, (words.div_ceil(16), h.div_ceil(4), 3))
        }
        Kind::YuvToRgb { .. } => (&kernels.yuv_to_rgb, (w.div_ceil(16), h.div_ceil(4), 1)),
    }
}

/// The `Params` uniform of `shaders/common.wgsl`, little-endian.
fn param_block(plan: &Plan, src: &[[u32; 4]; 3]) -> [u8; 224] {
    let mut words = [0u32; 56];
    for (i, plane) in src.iter().enumerate() {
        words[i * 4..i * 4 + 4].copy_from_slice(plane);
    }
    let (dw, dh) = plan.dst_size;
    let dims = plan.output.plane_dims(dw, dh);
    let l = &plan.layout;
    for i in 0..3 {
        let samples = match plan.output {
            PixelFormat::Rgba | PixelFormat::Bgra => dims[i].0 / 4,
            _ => dims[i].0,
        };
        let d = [l.offsets[i] as u32, l.strides[i] as u32, samples as u32, l.rows[i] as u32];
        words[12 + i * 4..16 + i * 4].copy_from_slice(&d);
    }
    let mut offset = 0u32;
    for (i, table) in
        [&plan.x_luma, &plan.y_luma, &plan.x_chroma, &plan.y_chroma].into_iter().enumerate()
    {
        words[24 + i * 4] = offset;
        words[25 + i * 4] = table.taps as u32;
        words[26 + i * 4] = table.len() as u32;
        offset += (table.len() * (table.taps + 2)) as u32;
    }
    let m = plan.matrix_f32();
    for (r, row) in m.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            words[40 + r * 4 + c] = v.to_bits();
        }
    }
    let (swap, step) = match plan.kind {
        Kind::RgbToI420 { bgra } => (bgra, 1),
        Kind::PlanarToI420 { nv12 } => (false, if nv12 { 2 } else { 1 }),
        Kind::YuvToRgb { nv12, bgra } => (bgra, if nv12 { 2 } else { 1 }),
    };
    words[52] = u32::from(swap);
    words[53] = step;
    let mut bytes = [0u8; 224];
    for (chunk, w) in bytes.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    bytes
}
