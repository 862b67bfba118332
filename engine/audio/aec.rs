//! Acoustic echo cancellation behind the engine's own [`EchoCanceller`] interface, and
//! the lock-free far-end reference path between the playout and capture threads.
//!
//! The implementation is [`Aec3Canceller`], a wrapper around the `aec3` crate (a Rust
//! port of WebRTC's AEC3): a delay estimator (matched filters on a decimated signal)
//! aligns the far end to the microphone, a partitioned-block frequency-domain adaptive
//! filter removes the linear echo, and a residual echo suppressor with a reverberation
//! model removes what the filter cannot. Why AEC3 and how it is configured is in
//! `docs/audio.md`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use aec3::api::config::EchoCanceller3Config;
use aec3::api::control::EchoControl as _;
use aec3::audio_processing::aec3::echo_canceller3::EchoCanceller3;
use aec3::audio_processing::audio_buffer::AudioBuffer;
use aec3::audio_processing::stream_config::StreamConfig;
use crossbeam::queue::ArrayQueue;

use super::AudioError;
use super::band_split::{BAND_LEN, FRAME_LEN, ThreeBandSplitter};
use super::resample::{ENGINE_FRAME, ENGINE_RATE};
use crate::pipeline::LatencyHistogram;

/// Figures an echo canceller reports about itself.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct EchoMetrics {
    /// Echo return loss estimated by the canceller (dB): how much quieter the echo is at
    /// the microphone than the far end.
    pub echo_return_loss_db: f64,
    /// Echo return loss enhancement estimated by the canceller (dB).
    pub erle_db: f64,
    /// Render-to-capture delay the canceller has locked on to (ms).
    pub delay_ms: i32,
    /// Far-end frames analysed.
    pub render_frames: u64,
    /// Near-end frames processed.
    pub capture_frames: u64,
}

/// An echo canceller working on 10 ms frames of 48 kHz mono audio.
pub trait EchoCanceller: Send {
    /// Analyse one far-end (played-out) frame of [`ENGINE_FRAME`] samples.
    fn analyze_render(&mut self, far_end: &[f32]) -> Result<(), AudioError>;
    /// Remove the echo from one near-end (microphone) frame of [`ENGINE_FRAME`] samples,
    /// in place.
    fn process_capture(&mut self, near_end: &mut [f32]) -> Result<(), AudioError>;
    /// The canceller's own figures.
    fn metrics(&self) -> EchoMetrics;
}

/// How aggressively the residual echo suppressor works after the linear filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EchoSuppression {
    /// WebRTC's default tuning.
    Moderate,
    /// Lower masking thresholds: a little more residual echo suppression (the engine's
    /// default; see `docs/audio.md` for the measurements).
    #[default]
    Strong,
}

/// Which echo canceller implementation [`AecConfig::build`] makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CancellerKind {
    /// [`Aec3Canceller`]: the `aec3` crate (pure Rust port of WebRTC AEC3). The default.
    #[default]
    Aec3,
    /// `ApmCanceller`: WebRTC APM's C++ echo canceller (cargo feature `webrtc-apm`). Keeps
    /// the near-end voice better when both sides talk, but its delay-agnostic mode did not
    /// find render-to-capture delays of 120 ms and more in the simulated rooms
    /// (`docs/audio.md`).
    #[cfg(feature = "webrtc-apm")]
    WebRtcApm,
}

/// Configuration of the echo canceller. `canceller` picks the implementation; the other
/// fields apply to the implementation their documentation names.
#[derive(Debug, Clone, PartialEq)]
pub struct AecConfig {
    /// The implementation.
    pub canceller: CancellerKind,
    /// Residual echo suppression of the APM canceller.
    #[cfg(feature = "webrtc-apm")]
    pub apm_suppression: super::ApmSuppression,
    /// AEC3: length of the linear adaptive filter in milliseconds (rounded up to 4 ms blocks).
    /// Longer filters model more of a reverberant room's tail but cost CPU. The default,
    /// 200 ms, is the shortest that held 35 dB ERLE in a 0.7 s room (52 ms, WebRTC's
    /// default, gave 22 dB there).
    pub filter_length_ms: u32,
    /// AEC3: longest render-to-capture delay the delay estimator searches (ms).
    pub max_delay_ms: u32,
    /// AEC3: reverberation time (RT60, seconds) the residual echo suppressor assumes for the
    /// echo tail beyond the linear filter. Too short leaves audible reverberant echo in
    /// live rooms; too long suppresses more of the near end after the far end stops.
    pub reverb_rt60_s: f32,
    /// AEC3: estimate the tail's decay from the signals instead of assuming `reverb_rt60_s`
    /// (which then only seeds the estimate).
    pub adaptive_reverb: bool,
    /// AEC3: residual echo suppression level.
    pub suppression: EchoSuppression,
    /// AEC3: decimation of the signals the delay estimator correlates, 4 or 8 (default 8:
    /// half the cost of 4 and the same delays found, see `docs/audio.md`).
    pub delay_decimation: u32,
    /// AEC3: double-talk fast gain recovery (`None` turns it off). A band's suppression
    /// gain returns to transparent at once, instead of rising 3 dB per 4 ms block, when
    /// the masks ask for no suppression, the linear filter's output exceeds the whole
    /// expected echo there by 6 dB, and the filter's measured ERLE in the band exceeds
    /// this many dB. Default 12 dB: 10 dB helped recorded double talk a little more but
    /// let the 0.7 s simulated room fall from 37 to 26 dB ERLE while converging; see
    /// `docs/audio.md`, "Double talk".
    pub double_talk_recovery_min_erle_db: Option<f32>,
    /// AEC3: residual echo estimate of a usable linear filter from its measured ERLE,
    /// per band, down to this quantile of the per-24 ms measurements, tracked slowly
    /// (never below the ERLE capped at 6 dB, 1.8 dB above 2 kHz, that upstream uses
    /// throughout; `None` restores that). Default 0.5: on recorded double talk 30 -> 26 %
    /// and 18 -> 16 % of near-end frames cut at no single-talk ERLE cost; 0.7 cut more
    /// but cost up to 5 dB single-talk ERLE in the simulated rooms, 0.1 changed nothing.
    /// See `docs/audio.md`, "Double talk".
    pub residual_erle_quantile: Option<f32>,
}

impl Default for AecConfig {
    fn default() -> Self {
        Self {
            filter_length_ms: 200,
            max_delay_ms: 300,
            reverb_rt60_s: 0.8,
            adaptive_reverb: false,
            suppression: EchoSuppression::Strong,
            delay_decimation: 8,
            double_talk_recovery_min_erle_db: Some(12.0),
            residual_erle_quantile: Some(0.5),
            canceller: CancellerKind::default(),
            #[cfg(feature = "webrtc-apm")]
            apm_suppression: super::ApmSuppression::default(),
        }
    }
}

/// Block length of AEC3's lower band (64 samples at 16 kHz = 4 ms).
const BLOCK_MS: u32 = 4;

impl AecConfig {
    /// The canceller this configuration describes.
    pub fn build(&self) -> Result<Box<dyn EchoCanceller>, AudioError> {
        Ok(match self.canceller {
            CancellerKind::Aec3 => Box::new(Aec3Canceller::new(self)?),
            #[cfg(feature = "webrtc-apm")]
            CancellerKind::WebRtcApm => Box::new(super::ApmCanceller::new(self.apm_suppression)?),
        })
    }

    fn to_aec3(&self) -> Result<EchoCanceller3Config, AudioError> {
        if !(8..=1000).contains(&self.filter_length_ms) {
            return Err(AudioError::InvalidConfig(format!(
                "AEC filter length {} ms outside 8..=1000",
                self.filter_length_ms
            )));
        }
        if !(20..=2000).contains(&self.max_delay_ms) {
            return Err(AudioError::InvalidConfig(format!(
                "AEC max delay {} ms outside 20..=2000",
                self.max_delay_ms
            )));
        }
        let mut c = EchoCanceller3Config::default();
        let blocks = self.filter_length_ms.div_ceil(BLOCK_MS) as usize;
        c.filter.main.length_blocks = blocks;
        c.filter.shadow.length_blocks = blocks;
        c.filter.main_initial.length_blocks = blocks.min(c.filter.main_initial.length_blocks);
        c.filter.shadow_initial.length_blocks = blocks.min(c.filter.shadow_initial.length_blocks);
        // The delay estimator correlates the far end with the microphone in matched
        // filters on a decimated signal. Each filter spans 32 blocks of 4 ms (128 ms of lag)
        // and they are staggered by 24 blocks (96 ms), so N filters cover 96 (N - 1) + 128 ms.
        // Use just enough for `max_delay_ms` (3 for 300 ms): the filters were half of AEC3's
        // CPU time with the 13 an earlier version used. Decimating by 8 instead of 4 (a
        // 2 kHz signal for the correlation) makes them cheaper still; measured in
        // tests/audio_aec.rs it finds the same delays, with the same or better ERLE.
        c.delay.num_filters = (self.max_delay_ms.saturating_sub(128) as usize).div_ceil(96) + 1;
        if self.delay_decimation != 4 && self.delay_decimation != 8 {
            return Err(AudioError::InvalidConfig(format!(
                "AEC delay decimation {} (4 or 8)",
                self.delay_decimation
            )));
        }
        c.delay.down_sampling_factor = self.delay_decimation as usize;
        if !(0.05..=3.0).contains(&self.reverb_rt60_s) {
            return Err(AudioError::InvalidConfig(format!(
                "reverberation time {} s outside 0.05..=3",
                self.reverb_rt60_s
            )));
        }
        // AEC3's reverb model decays the tail's power by a fixed factor per 4 ms block; a
        // 60 dB fall over RT60 seconds is 60 * 0.004 / RT60 dB per block. A negative value
        // asks AEC3 to estimate the decay.
        let decay = 10f32.powf(-6.0 * (BLOCK_MS as f32 / 1000.0) / self.reverb_rt60_s);
        c.ep_strength.default_len = if self.adaptive_reverb { -decay } else { decay };
        c.ep_strength.nearend_len = decay;
        if self.suppression == EchoSuppression::Strong {
            // Lower echo-to-nearend ratios at which the suppressor starts to act and at
            // which it fully suppresses (WebRTC defaults: 0.3/0.4 low band, 0.07/0.1 high).
            // Measured: +1.4 dB ERLE in the 0.7 s room, no change in double talk.
            let t = &mut c.suppressor.normal_tuning;
            t.mask_lf.enr_transparent = 0.2;
            t.mask_lf.enr_suppress = 0.25;
            t.mask_hf.enr_transparent = 0.05;
            t.mask_hf.enr_suppress = 0.07;
        }
        // Double talk (docs/audio.md, "Double talk"): let a band whose linear-filter
        // output exceeds the whole expected echo by 6 dB, where the filter is measured
        // to remove more than the given ERLE, return to transparent at once instead of
        // climbing back 3 dB per 4 ms block from a cut made between two syllables.
        c.suppressor.nearend_fast_recovery_margin = 4.0;
        if let Some(db) = self.double_talk_recovery_min_erle_db {
            if !(0.0..=60.0).contains(&db) {
                return Err(AudioError::InvalidConfig(format!(
                    "double-talk recovery ERLE {db} dB outside 0..=60"
                )));
            }
            c.suppressor.nearend_fast_recovery_min_erle = 10f32.powf(db / 10.0);
        }
        // Double talk (docs/audio.md, "Double talk"): the residual echo estimate
        // R2 = S2 / ERLE of a usable linear filter uses its measured ERLE down to the
        // tracked quantile of its measurements instead of the ERLE capped at 6 dB
        // (1.8 dB above 2 kHz), which overestimated the residual by ~6 dB where near end
        // and echo were about equally loud and gated the near end.
        if let Some(q) = self.residual_erle_quantile {
            if !(q > 0.0 && q < 1.0) {
                return Err(AudioError::InvalidConfig(format!(
                    "residual ERLE quantile {q} outside 0..1"
                )));
            }
            c.erle.measured_low_quantile = q;
            // A slow tracker (it rises 0.15 dB and falls 0.15 dB per 24 ms update at
            // the median): trust in the measured ERLE is rebuilt over seconds after
            // each reset (start, delay change). Measured on recorded speech, 1 dB steps
            // changed nothing at the 10th percentile and helped less at the 30th and
            // 50th; 0.15 dB never rose above the cap within the recording.
            c.erle.measured_quantile_step_db = 0.3;
        }
        Ok(c)
    }
}

/// [`EchoCanceller`] backed by the `aec3` crate at 48 kHz mono.
pub struct Aec3Canceller {
    inner: EchoCanceller3,
    render: AudioBuffer,
    capture: AudioBuffer,
    stream: StreamConfig,
    /// The band split `AudioBuffer::split_into_frequency_bands` would do, faster.
    render_split: ThreeBandSplitter,
    capture_split: ThreeBandSplitter,
    /// Scratch for moving a frame in and out of the `AudioBuffer`s.
    full_band: [f32; FRAME_LEN],
    bands: [[f32; BAND_LEN]; 3],
    render_frames: u64,
    capture_frames: u64,
    sanitised: u64,
    processing: LatencyHistogram,
}

// SAFETY: `EchoCanceller3` is not `Send` only because it stores its block processor as a
// `Box<dyn BlockProcessorBackend>` without a `Send` bound. Outside the aec3 crate's own
// `#[cfg(test)]` code, that box always holds `BlockProcessor`, which is `Send` (checked
// at compile time below); every other field is owned plain data (no `Rc`, no
// thread-locals, no raw pointers). The canceller is used from one thread at a time
// (`&mut self`), so moving it to a stage thread is sound.
unsafe impl Send for Aec3Canceller {}

const _: () = {
    const fn assert_send<T: Send>() {}
    assert_send::<aec3::audio_processing::aec3::block_processor::BlockProcessor>();
};

impl std::fmt::Debug for Aec3Canceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Aec3Canceller")
            .field("render_frames", &self.render_frames)
            .field("capture_frames", &self.capture_frames)
            .finish()
    }
}

impl Aec3Canceller {
    /// A canceller with `config`.
    pub fn new(config: &AecConfig) -> Result<Self, AudioError> {
        let rate = ENGINE_RATE as usize;
        let inner = EchoCanceller3::new(config.to_aec3()?, rate as i32, 1, 1);
        Ok(Self {
            inner,
            render: AudioBuffer::from_sample_rates(rate, 1, rate, 1, rate),
            capture: AudioBuffer::from_sample_rates(rate, 1, rate, 1, rate),
            stream: StreamConfig::new(rate, 1, false),
            render_split: ThreeBandSplitter::new(),
            capture_split: ThreeBandSplitter::new(),
            full_band: [0.0; FRAME_LEN],
            bands: [[0.0; BAND_LEN]; 3],
            render_frames: 0,
            capture_frames: 0,
            sanitised: 0,
            processing: LatencyHistogram::new(),
        })
    }

    /// Time spent per [`process_capture`](EchoCanceller::process_capture) call
    /// (including the render frames analysed since the previous one).
    pub fn processing(&self) -> &LatencyHistogram {
        &self.processing
    }

    /// Non-finite samples replaced by silence so far (far end and near end).
    pub fn sanitised_samples(&self) -> u64 {
        self.sanitised
    }
}

pub(crate) fn check_frame(samples: &[f32]) -> Result<(), AudioError> {
    if samples.len() != ENGINE_FRAME {
        return Err(AudioError::WrongLength { expected: ENGINE_FRAME, got: samples.len() });
    }
    Ok(())
}

/// Replace NaN and infinities by silence, returning how many there were.
pub(crate) fn sanitise(samples: &mut [f32]) -> u64 {
    let mut bad = 0;
    for s in samples.iter_mut() {
        if !s.is_finite() {
            *s = 0.0;
            bad += 1;
        }
    }
    bad
}

/// `buffer.split_into_frequency_bands()`, with our splitter (same result, bit for bit).
fn split(
    buffer: &mut AudioBuffer,
    splitter: &mut ThreeBandSplitter,
    full_band: &mut [f32; FRAME_LEN],
    bands: &mut [[f32; BAND_LEN]; 3],
) {
    full_band.copy_from_slice(buffer.channel(0));
    splitter.analysis(full_band, bands);
    for (b, band) in bands.iter().enumerate() {
        buffer.split_band_mut(0, b).copy_from_slice(band);
    }
}

/// `buffer.merge_frequency_bands()`, with our splitter.
fn merge(
    buffer: &mut AudioBuffer,
    splitter: &mut ThreeBandSplitter,
    full_band: &mut [f32; FRAME_LEN],
    bands: &mut [[f32; BAND_LEN]; 3],
) {
    for (b, band) in bands.iter_mut().enumerate() {
        band.copy_from_slice(buffer.split_band(0, b));
    }
    splitter.synthesis(bands, full_band);
    buffer.channel_mut(0).copy_from_slice(full_band);
}

impl EchoCanceller for Aec3Canceller {
    fn analyze_render(&mut self, far_end: &[f32]) -> Result<(), AudioError> {
        check_frame(far_end)?;
        let mut clean = [0.0f32; ENGINE_FRAME];
        clean.copy_from_slice(far_end);
        self.sanitised += sanitise(&mut clean);
        self.render.copy_from(&[&clean[..]], &self.stream);
        split(&mut self.render, &mut self.render_split, &mut self.full_band, &mut self.bands);
        self.inner.analyze_render(&mut self.render);
        self.render_frames += 1;
        Ok(())
    }

    fn process_capture(&mut self, near_end: &mut [f32]) -> Result<(), AudioError> {
        check_frame(near_end)?;
        let started = Instant::now();
        self.sanitised += sanitise(near_end);
        self.capture.copy_from(&[&near_end[..]], &self.stream);
        self.inner.analyze_capture(&mut self.capture);
        split(&mut self.capture, &mut self.capture_split, &mut self.full_band, &mut self.bands);
        self.inner.process_capture(&mut self.capture, false);
        merge(&mut self.capture, &mut self.capture_split, &mut self.full_band, &mut self.bands);
        self.capture.copy_to_stream(&self.stream, &mut [&mut near_end[..]]);
        self.capture_frames += 1;
        self.processing.record(started.elapsed());
        Ok(())
    }

    fn metrics(&self) -> EchoMetrics {
        let m = self.inner.metrics();
        EchoMetrics {
            echo_return_loss_db: m.echo_return_loss,
            erle_db: m.echo_return_loss_enhancement,
            delay_ms: m.delay_ms,
            render_frames: self.render_frames,
            capture_frames: self.capture_frames,
        }
    }
}

/// One 10 ms far-end frame travelling from the playout thread to the capture thread.
type FarEndFrame = [f32; ENGINE_FRAME];

struct FarEndShared {
    queue: ArrayQueue<FarEndFrame>,
    overflow: AtomicU64,
}

/// Playout side of the far-end reference path: never blocks, never allocates.
#[derive(Clone)]
pub struct FarEndSender {
    shared: Arc<FarEndShared>,
}

/// Capture side of the far-end reference path.
pub struct FarEndReceiver {
    shared: Arc<FarEndShared>,
}

impl std::fmt::Debug for FarEndSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FarEndSender").field("queued", &self.shared.queue.len()).finish()
    }
}

impl std::fmt::Debug for FarEndReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FarEndReceiver").field("queued", &self.shared.queue.len()).finish()
    }
}

/// A bounded lock-free channel of far-end frames holding up to `capacity` frames (10 ms
/// each). When full, the oldest frame is dropped (and counted): the canceller needs the
/// most recent reference, and the playout thread must never wait.
pub fn far_end_channel(capacity: usize) -> (FarEndSender, FarEndReceiver) {
    let shared = Arc::new(FarEndShared {
        queue: ArrayQueue::new(capacity.max(1)),
        overflow: AtomicU64::new(0),
    });
    (FarEndSender { shared: Arc::clone(&shared) }, FarEndReceiver { shared })
}

impl FarEndSender {
    /// Queue one 10 ms frame of 48 kHz mono far-end audio.
    pub fn send(&self, frame: &[f32]) -> Result<(), AudioError> {
        check_frame(frame)?;
        let mut copy = [0.0f32; ENGINE_FRAME];
        copy.copy_from_slice(frame);
        if self.shared.queue.force_push(copy).is_some() {
            self.shared.overflow.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Frames dropped because the capture side did not keep up.
    pub fn overflow(&self) -> u64 {
        self.shared.overflow.load(Ordering::Relaxed)
    }
}

impl FarEndReceiver {
    /// Feed every queued far-end frame to `canceller`; returns how many there were.
    pub fn drain_into(&self, canceller: &mut dyn EchoCanceller) -> Result<usize, AudioError> {
        let mut n = 0;
        while let Some(frame) = self.shared.queue.pop() {
            canceller.analyze_render(&frame)?;
            n += 1;
        }
        Ok(n)
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.shared.queue.len()
    }

    /// Whether no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.shared.queue.is_empty()
    }
}
