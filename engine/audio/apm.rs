//! [`ApmCanceller`]: the echo canceller of WebRTC's audio processing module (APM 0.3,
//! C++, through `webrtc-audio-processing-sys`), behind the engine's [`EchoCanceller`]
//! interface.
//!
//! Only APM's echo canceller is switched on (no gain control, noise suppression or
//! high-pass filter: the engine has its own noise suppressor). It runs in WebRTC's
//! "extended filter" mode (a 128 ms partitioned adaptive filter per band, built for long
//! and changing echo paths) with delay-agnostic alignment (APM estimates the render-to-
//! capture delay from the signals, as the engine reports none). How it compares with
//! AEC3, and why it is not the default: `docs/audio.md`.

use std::ptr::NonNull;
use std::time::Instant;

use webrtc_audio_processing_sys as ffi;

use super::AudioError;
use super::aec::{EchoCanceller, EchoMetrics, check_frame, sanitise};
use super::resample::{ENGINE_FRAME, ENGINE_RATE};
use crate::pipeline::LatencyHistogram;

/// How strongly APM's non-linear processor suppresses the echo the linear filter left.
/// Stronger levels remove more residual echo and cut more of the near-end voice when both
/// sides talk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApmSuppression {
    /// No extra suppression beyond the linear filter's.
    Lowest,
    /// Light suppression.
    Lower,
    /// The engine's default (see `docs/audio.md` for the measurements behind it).
    #[default]
    Low,
    /// WebRTC's default.
    Moderate,
    /// Strongest.
    High,
}

impl ApmSuppression {
    fn to_ffi(self) -> ffi::EchoCancellation_SuppressionLevel {
        use ffi::EchoCancellation_SuppressionLevel as L;
        match self {
            ApmSuppression::Lowest => L::LOWEST,
            ApmSuppression::Lower => L::LOWER,
            ApmSuppression::Low => L::LOW,
            ApmSuppression::Moderate => L::MODERATE,
            ApmSuppression::High => L::HIGH,
        }
    }
}

/// [`EchoCanceller`] backed by WebRTC APM's echo canceller at 48 kHz mono.
pub struct ApmCanceller {
    apm: NonNull<ffi::AudioProcessing>,
    render: [f32; ENGINE_FRAME],
    render_frames: u64,
    capture_frames: u64,
    sanitised: u64,
    processing: LatencyHistogram,
}

// SAFETY: `apm` is owned exclusively by this value (created in `new`, deleted in `drop`,
// never shared or aliased), and APM's C++ object has no thread affinity: it may be used
// from any thread as long as calls are not concurrent, which `&mut self` guarantees.
unsafe impl Send for ApmCanceller {}

impl std::fmt::Debug for ApmCanceller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApmCanceller")
            .field("render_frames", &self.render_frames)
            .field("capture_frames", &self.capture_frames)
            .finish()
    }
}

fn disabled_gain_control() -> ffi::GainControl {
    ffi::GainControl {
        enable: false,
        mode: ffi::GainControl_Mode::FIXED_DIGITAL,
        target_level_dbfs: 3,
        compression_gain_db: 0,
        enable_limiter: false,
    }
}

impl ApmCanceller {
    /// A canceller with the given residual echo suppression.
    pub fn new(suppression: ApmSuppression) -> Result<Self, AudioError> {
        // The wrapper's frame size and rate are compile-time constants of the C++ side.
        if ffi::SAMPLE_RATE_HZ as u32 != ENGINE_RATE
            || ffi::NUM_SAMPLES_PER_FRAME as usize != ENGINE_FRAME
        {
            return Err(AudioError::InvalidConfig(format!(
                "APM built for {} Hz / {} samples per frame",
                ffi::SAMPLE_RATE_HZ,
                ffi::NUM_SAMPLES_PER_FRAME
            )));
        }
        let init = ffi::InitializationConfig {
            num_capture_channels: 1,
            num_render_channels: 1,
            enable_experimental_agc: false,
            enable_intelligibility_enhancer: false,
        };
        let mut code = 0;
        // SAFETY: `init` and `code` are valid for the call; the returned pointer is either
        // null (checked) or an object we own until `audio_processing_delete` in `drop`.
        let raw = unsafe { ffi::audio_processing_create(&init, &mut code) };
        let apm =
            NonNull::new(raw).ok_or(AudioError::EchoCanceller { operation: "create", code })?;
        let config = ffi::Config {
            echo_cancellation: ffi::EchoCancellation {
                enable: true,
                suppression_level: suppression.to_ffi(),
                enable_extended_filter: true,
                enable_delay_agnostic: true,
                stream_delay_ms: ffi::OptionalInt { has_value: false, value: 0 },
            },
            gain_control: disabled_gain_control(),
            noise_suppression: ffi::NoiseSuppression {
                enable: false,
                suppression_level: ffi::NoiseSuppression_SuppressionLevel::LOW,
            },
            voice_detection: ffi::VoiceDetection {
                enable: false,
                detection_likelihood: ffi::VoiceDetection_DetectionLikelihood::LOW,
            },
            enable_transient_suppressor: false,
            enable_high_pass_filter: false,
        };
        // SAFETY: `apm` is a live object we own; `config` is valid for the call (copied).
        unsafe { ffi::set_config(apm.as_ptr(), &config) };
        Ok(Self {
            apm,
            render: [0.0; ENGINE_FRAME],
            render_frames: 0,
            capture_frames: 0,
            sanitised: 0,
            processing: LatencyHistogram::new(),
        })
    }

    /// Time spent per [`process_capture`](EchoCanceller::process_capture) call.
    pub fn processing(&self) -> &LatencyHistogram {
        &self.processing
    }

    /// Non-finite samples replaced by silence so far (far end and near end).
    pub fn sanitised_samples(&self) -> u64 {
        self.sanitised
    }
}

impl Drop for ApmCanceller {
    fn drop(&mut self) {
        // SAFETY: created by `audio_processing_create`, deleted exactly once, here.
        unsafe { ffi::audio_processing_delete(self.apm.as_ptr()) };
    }
}

/// Call `f` with an array of one channel pointer to `samples` (APM takes `float**`).
fn with_channel<R>(samples: &mut [f32], f: impl FnOnce(*mut *mut f32) -> R) -> R {
    let mut channels = [samples.as_mut_ptr()];
    f(channels.as_mut_ptr())
}

impl EchoCanceller for ApmCanceller {
    fn analyze_render(&mut self, far_end: &[f32]) -> Result<(), AudioError> {
        check_frame(far_end)?;
        // APM may write the (unchanged) render frame back: give it our own copy.
        self.render.copy_from_slice(far_end);
        self.sanitised += sanitise(&mut self.render);
        let apm = self.apm.as_ptr();
        // SAFETY: `apm` is live; the channel array holds one pointer to ENGINE_FRAME
        // (= NUM_SAMPLES_PER_FRAME, checked in `new`) writable samples for the call.
        let code =
            with_channel(&mut self.render, |ch| unsafe { ffi::process_render_frame(apm, ch) });
        // SAFETY: plain function of an integer.
        if !unsafe { ffi::is_success(code) } {
            return Err(AudioError::EchoCanceller { operation: "render", code });
        }
        self.render_frames += 1;
        Ok(())
    }

    fn process_capture(&mut self, near_end: &mut [f32]) -> Result<(), AudioError> {
        check_frame(near_end)?;
        let started = Instant::now();
        self.sanitised += sanitise(near_end);
        let apm = self.apm.as_ptr();
        // SAFETY: as in `analyze_render`; `near_end` has ENGINE_FRAME samples (checked).
        let code = with_channel(near_end, |ch| unsafe { ffi::process_capture_frame(apm, ch) });
        // SAFETY: plain function of an integer.
        if !unsafe { ffi::is_success(code) } {
            return Err(AudioError::EchoCanceller { operation: "capture", code });
        }
        self.capture_frames += 1;
        self.processing.record(started.elapsed());
        Ok(())
    }

    fn metrics(&self) -> EchoMetrics {
        // SAFETY: `apm` is live; `get_stats` only reads the processor's state.
        let stats = unsafe { ffi::get_stats(self.apm.as_ptr()) };
        let f = |o: ffi::OptionalDouble| if o.has_value { o.value } else { 0.0 };
        EchoMetrics {
            echo_return_loss_db: f(stats.echo_return_loss),
            erle_db: f(stats.echo_return_loss_enhancement),
            delay_ms: if stats.delay_median_ms.has_value { stats.delay_median_ms.value } else { 0 },
            render_frames: self.render_frames,
            capture_frames: self.capture_frames,
        }
    }
}
