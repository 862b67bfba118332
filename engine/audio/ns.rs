//! Noise suppression with nnnoiseless (a Rust port of RNNoise) at 48 kHz on 480-sample
//! frames, exposing RNNoise's voice-activity probability.

use std::path::Path;
use std::time::Instant;

use nnnoiseless::{DenoiseState, RnnModel};

use super::AudioError;
use super::aec::sanitise;
use super::resample::ENGINE_FRAME;
use crate::pipeline::LatencyHistogram;

/// RNNoise works on samples in 16-bit range held in f32.
const I16_SCALE: f32 = 32_768.0;

/// Weights of the RNNoise network.
#[derive(Clone)]
pub enum NsModel {
    /// The model compiled into nnnoiseless (the default).
    BuiltIn,
    /// Weights loaded from a file in RNNoise/nnnoiseless binary format.
    Loaded(Box<RnnModel>),
}

impl std::fmt::Debug for NsModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NsModel::BuiltIn => f.write_str("NsModel::BuiltIn"),
            NsModel::Loaded(_) => f.write_str("NsModel::Loaded"),
        }
    }
}

impl NsModel {
    /// Parse weights in nnnoiseless' binary RNNoise format (see `models/README.md`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AudioError> {
        RnnModel::from_bytes(bytes)
            .map(|m| NsModel::Loaded(Box::new(m)))
            .ok_or_else(|| AudioError::Model("not a valid RNNoise weights file".into()))
    }

    /// Load weights from `path` (e.g. `models/rnnoise_default.rnn`).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, AudioError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path)
            .map_err(|e| AudioError::Model(format!("cannot read {}: {e}", path.display())))?;
        Self::from_bytes(&bytes)
    }
}

/// RNNoise noise suppressor for 10 ms frames of 48 kHz mono audio in -1..1.
pub struct NoiseSuppressor {
    state: Box<DenoiseState<'static>>,
    input: [f32; ENGINE_FRAME],
    output: [f32; ENGINE_FRAME],
    vad_probability: f32,
    frames: u64,
    sanitised: u64,
    processing: LatencyHistogram,
}

impl std::fmt::Debug for NoiseSuppressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NoiseSuppressor")
            .field("frames", &self.frames)
            .field("vad_probability", &self.vad_probability)
            .finish()
    }
}

impl NoiseSuppressor {
    /// A suppressor running `model`.
    pub fn new(model: NsModel) -> Self {
        let state = match model {
            NsModel::BuiltIn => DenoiseState::new(),
            NsModel::Loaded(m) => DenoiseState::from_model(*m),
        };
        Self {
            state,
            input: [0.0; ENGINE_FRAME],
            output: [0.0; ENGINE_FRAME],
            vad_probability: 0.0,
            frames: 0,
            sanitised: 0,
            processing: LatencyHistogram::new(),
        }
    }

    /// Denoise one frame of [`ENGINE_FRAME`] samples in place; returns the probability
    /// (0..1) that the frame holds voice. NaN/inf samples are replaced by silence and
    /// counted; the output is clipped to -1..1.
    pub fn process(&mut self, frame: &mut [f32]) -> Result<f32, AudioError> {
        if frame.len() != ENGINE_FRAME {
            return Err(AudioError::WrongLength { expected: ENGINE_FRAME, got: frame.len() });
        }
        let started = Instant::now();
        self.sanitised += sanitise(frame);
        for (dst, &s) in self.input.iter_mut().zip(frame.iter()) {
            *dst = (s * I16_SCALE).clamp(-I16_SCALE, I16_SCALE - 1.0);
        }
        self.vad_probability = self.state.process_frame(&mut self.output, &self.input);
        for (dst, &s) in frame.iter_mut().zip(self.output.iter()) {
            *dst = (s / I16_SCALE).clamp(-1.0, 1.0);
        }
        self.frames += 1;
        self.processing.record(started.elapsed());
        Ok(self.vad_probability)
    }

    /// Voice-activity probability of the last frame.
    pub fn vad_probability(&self) -> f32 {
        self.vad_probability
    }

    /// Non-finite samples replaced by silence so far.
    pub fn sanitised_samples(&self) -> u64 {
        self.sanitised
    }

    /// Time spent per [`process`](Self::process) call.
    pub fn processing(&self) -> &LatencyHistogram {
        &self.processing
    }
}
