//! The capture chain: device audio -> resample -> AEC -> NS -> Opus packets, run inline on
//! the capture thread (the playout side is `playout::AudioPlayout`).

use std::time::{Duration, Instant};

use super::AudioError;
use super::aec::{AecConfig, EchoCanceller, EchoMetrics, FarEndReceiver};
use super::codec::{EncodedPacket, OpusConfig, OpusEncoder};
use super::ns::{NoiseSuppressor, NsModel};
use super::resample::{DeviceFormat, ENGINE_FRAME, FormatConverter};
use crate::pipeline::{LatencyHistogram, LatencySummary};
use crate::session::shared::Shared;

/// Processing-time histograms of a chain, one per step plus the whole call.
#[derive(Debug, Default)]
pub struct ChainTimings {
    steps: Vec<(&'static str, LatencyHistogram)>,
}

impl ChainTimings {
    fn new(names: &[&'static str]) -> Self {
        Self { steps: names.iter().map(|&n| (n, LatencyHistogram::new())).collect() }
    }

    fn record(&self, index: usize, since: Instant) -> Instant {
        let now = Instant::now();
        if let Some((_, h)) = self.steps.get(index) {
            h.record(now - since);
        }
        now
    }

    /// Per-step summaries, in chain order; steps that are switched off report no samples.
    pub fn summaries(&self) -> Vec<(&'static str, LatencySummary)> {
        self.steps.iter().map(|(n, h)| (*n, h.summary())).collect()
    }

    /// The histogram of one step by name.
    pub fn step(&self, name: &str) -> Option<&LatencyHistogram> {
        self.steps.iter().find(|(n, _)| *n == name).map(|(_, h)| h)
    }
}

/// Configuration of the capture side. Each processing step can be switched off.
#[derive(Debug, Clone)]
pub struct CaptureConfig {
    /// Format of the microphone frames (resampling is skipped at 48 kHz mono).
    pub device: DeviceFormat,
    /// Echo cancellation (`None`: off).
    pub aec: Option<AecConfig>,
    /// Noise suppression model (`None`: off).
    pub noise_suppression: Option<NsModel>,
    /// Encoder settings of [`CaptureChain`].
    pub opus: OpusConfig,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        Self {
            device: DeviceFormat::ENGINE,
            aec: Some(AecConfig::default()),
            noise_suppression: Some(NsModel::BuiltIn),
            opus: OpusConfig::default(),
        }
    }
}

const CAPTURE_STEPS: [&str; 5] = ["resample", "aec", "ns", "opus", "total"];

/// Device frames to clean 48 kHz mono frames: resample, cancel echo, suppress noise.
pub struct CaptureProcessor {
    device: DeviceFormat,
    converter: Option<FormatConverter>,
    aec: Option<Box<dyn EchoCanceller>>,
    far_end: Option<FarEndReceiver>,
    ns: Option<NoiseSuppressor>,
    vad_probability: f32,
    timings: ChainTimings,
}

impl std::fmt::Debug for CaptureProcessor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureProcessor")
            .field("device", &self.device)
            .field("aec", &self.aec.is_some())
            .field("ns", &self.ns.is_some())
            .finish()
    }
}

impl CaptureProcessor {
    /// A processor for `config` (its `opus` part is not used here). `far_end` receives the
    /// playout side's reference frames; without it the AEC sees no far end.
    pub fn new(
        config: &CaptureConfig,
        far_end: Option<FarEndReceiver>,
    ) -> Result<Self, AudioError> {
        let device = DeviceFormat::new(config.device.sample_rate, config.device.channels)?;
        let converter = if device == DeviceFormat::ENGINE {
            None
        } else {
            Some(FormatConverter::new(device, DeviceFormat::ENGINE)?)
        };
        let aec = match &config.aec {
            Some(c) => Some(c.build()?),
            None => None,
        };
        Ok(Self {
            device,
            converter,
            aec,
            far_end,
            ns: config.noise_suppression.clone().map(NoiseSuppressor::new),
            vad_probability: 0.0,
            timings: ChainTimings::new(&CAPTURE_STEPS),
        })
    }

    /// Use another echo canceller implementation (e.g. a different library).
    pub fn set_echo_canceller(&mut self, aec: Option<Box<dyn EchoCanceller>>) {
        self.aec = aec;
    }

    /// The delay resampling adds to the capture path.
    pub fn resampler_delay(&self) -> Duration {
        self.converter.as_ref().map_or(Duration::ZERO, FormatConverter::delay)
    }

    /// The delay the processing adds, as each stage reports it: resampling and noise
    /// suppression (echo cancellation works on aligned frames and adds none).
    pub fn algorithmic_delay(&self) -> Duration {
        self.resampler_delay()
            + self.ns.as_ref().map_or(Duration::ZERO, |ns| ns.algorithmic_delay())
    }

    /// Echo canceller figures, when echo cancellation is on.
    pub fn echo_metrics(&self) -> Option<EchoMetrics> {
        self.aec.as_ref().map(|a| a.metrics())
    }

    /// Voice-activity probability of the last frame (0 when noise suppression is off).
    pub fn vad_probability(&self) -> f32 {
        self.vad_probability
    }

    /// Processing-time histograms (`resample`, `aec`, `ns`, `total`).
    pub fn timings(&self) -> &ChainTimings {
        &self.timings
    }

    /// Process one 10 ms device frame (interleaved, device format) into `out`.
    pub fn process(&mut self, input: &[f32], out: &mut [f32]) -> Result<(), AudioError> {
        let start = Instant::now();
        self.process_steps(input, out)?;
        self.timings.record(4, start);
        Ok(())
    }

    /// The steps of [`process`](Self::process), each timed, without the total.
    fn process_steps(&mut self, input: &[f32], out: &mut [f32]) -> Result<(), AudioError> {
        if out.len() != ENGINE_FRAME {
            return Err(AudioError::WrongLength { expected: ENGINE_FRAME, got: out.len() });
        }
        let mut t = Instant::now();
        match self.converter.as_mut() {
            Some(c) => {
                c.convert(input, out)?;
                t = self.timings.record(0, t);
            }
            None => {
                if input.len() != ENGINE_FRAME {
                    return Err(AudioError::WrongLength {
                        expected: ENGINE_FRAME,
                        got: input.len(),
                    });
                }
                out.copy_from_slice(input);
            }
        }
        if let Some(aec) = self.aec.as_mut() {
            if let Some(rx) = &self.far_end {
                rx.drain_into(aec.as_mut())?;
            }
            aec.process_capture(out)?;
            t = self.timings.record(1, t);
        } else {
            super::aec::sanitise(out);
        }
        if let Some(ns) = self.ns.as_mut() {
            self.vad_probability = ns.process(out)?;
            self.timings.record(2, t);
        }
        Ok(())
    }
}

/// The whole capture side: [`CaptureProcessor`] followed by [`OpusEncoder`].
pub struct CaptureChain {
    processor: CaptureProcessor,
    encoder: OpusEncoder,
    /// The Opus bitrate the chain was configured with: the call's bandwidth allocation
    /// lowers the encoder's rate on thin links, never raises it above this.
    configured_opus_bps: u32,
    frame: [f32; ENGINE_FRAME],
}

impl std::fmt::Debug for CaptureChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureChain").field("processor", &self.processor).finish()
    }
}

impl CaptureChain {
    /// A capture chain for `config`, taking the AEC reference from `far_end`.
    pub fn new(
        config: &CaptureConfig,
        far_end: Option<FarEndReceiver>,
    ) -> Result<Self, AudioError> {
        Ok(Self {
            processor: CaptureProcessor::new(config, far_end)?,
            encoder: OpusEncoder::new(config.opus)?,
            configured_opus_bps: config.opus.bitrate_bps,
            frame: [0.0; ENGINE_FRAME],
        })
    }

    /// The DSP part (for its metrics and timings).
    pub fn processor(&self) -> &CaptureProcessor {
        &self.processor
    }

    /// How much older than its capture instant the audio at a packet's RTP timestamp
    /// is: the processing's delay plus the encoder's look-ahead, each as the stage
    /// reports it.
    pub fn algorithmic_delay(&self) -> Duration {
        self.processor.algorithmic_delay() + self.encoder.algorithmic_delay()
    }

    /// The encoder (e.g. to change the bitrate).
    pub fn encoder_mut(&mut self) -> &mut OpusEncoder {
        &mut self.encoder
    }

    /// Follows the call's bandwidth allocation before the next frame: switches Opus to
    /// the bitrate `shared` says the estimate affords, within the configured one, and
    /// reports the rate in force (`Shared::audio_bitrate_change`). A rate the encoder
    /// refuses keeps the current one; the next frame asks again.
    pub(crate) fn follow_bitrate_allocation(&mut self, shared: &Shared) {
        let current = self.encoder.config().bitrate_bps;
        if let Some(rate) = shared.audio_bitrate_change(self.configured_opus_bps, current) {
            let _ = self.encoder.set_bitrate(rate);
        }
    }

    /// The last processed 48 kHz frame (what went into the encoder).
    pub fn last_frame(&self) -> &[f32] {
        &self.frame
    }

    /// Processing-time histograms (`resample`, `aec`, `ns`, `opus`, `total`).
    pub fn timings(&self) -> &ChainTimings {
        &self.processor.timings
    }

    /// Process one 10 ms device frame captured at `capture_time`; returns a packet every
    /// `frames_per_packet` frames.
    pub fn process(
        &mut self,
        input: &[f32],
        capture_time: Instant,
    ) -> Result<Option<EncodedPacket>, AudioError> {
        let start = Instant::now();
        self.processor.process_steps(input, &mut self.frame)?;
        let t = Instant::now();
        let packet = self.encoder.push_frame(&self.frame, capture_time)?;
        self.processor.timings.record(3, t);
        self.processor.timings.record(4, start);
        Ok(packet)
    }
}
