//! Media sources and sinks of the examples: generated speech or a WAV file for the
//! microphone, the synthetic scene or a Y4M file for the camera, WAV and Y4M writers for
//! what was received.

use std::path::Path;
use std::time::Instant;

use sottovoce::audio::synth::{Voice, speech_like};
use sottovoce::pipeline::BufferPool;
use sottovoce::testing::media::{WavClip, WavWriter, Y4mClip, Y4mWriter};
use sottovoce::video::av1::synthetic::SyntheticScene;
use sottovoce::video::{PixelFormat, VideoFrame};

type BoxError = Box<dyn std::error::Error>;

/// The microphone: a signal played once, then silence.
pub struct AudioSource {
    samples: Vec<f32>,
    position: usize,
    /// Sample rate of the signal (the call's device rate).
    pub rate: u32,
}

impl AudioSource {
    /// `seconds` of the built-in speech-like voice at `rate`.
    pub fn generated(seconds: f32, rate: u32, voice: Voice) -> Self {
        Self { samples: speech_like(seconds, rate, voice), position: 0, rate }
    }

    /// A WAV file (mixed down to mono).
    pub fn wav(path: &Path) -> Result<Self, BoxError> {
        let clip = WavClip::read(path)?;
        Ok(Self { samples: clip.mono(), position: 0, rate: clip.rate })
    }

    /// Length of the signal in seconds.
    pub fn seconds(&self) -> f32 {
        self.samples.len() as f32 / self.rate as f32
    }

    /// The next frame (silence after the end).
    pub fn next_frame(&mut self, out: &mut [f32]) {
        let start = self.position.min(self.samples.len());
        let available = (self.samples.len() - start).min(out.len());
        out[..available].copy_from_slice(&self.samples[start..start + available]);
        out[available..].fill(0.0);
        self.position += out.len();
    }
}

/// Writes mono float audio to a 16-bit WAV file.
pub type WavSink = WavWriter;

/// The camera: the synthetic moving scene or a Y4M file (I420, looped).
pub enum VideoSource {
    /// The built-in scene.
    Synthetic(SyntheticScene),
    /// Frames of a Y4M file, held in memory (played in a loop).
    File(Y4mClip),
}

impl VideoSource {
    /// Frame size.
    pub fn size(&self, default: (u32, u32)) -> (u32, u32) {
        match self {
            VideoSource::Synthetic(_) => default,
            VideoSource::File(clip) => (clip.width, clip.height),
        }
    }

    /// Reads a whole 4:2:0 Y4M file.
    pub fn y4m(path: &Path) -> Result<Self, BoxError> {
        Ok(VideoSource::File(Y4mClip::read(path, None)?))
    }

    /// Frame number `index` (I420).
    pub fn frame(
        &self,
        pool: &BufferPool<u8>,
        index: u64,
        capture_time: Instant,
    ) -> Result<VideoFrame, sottovoce::video::VideoFrameError> {
        match self {
            VideoSource::Synthetic(scene) => scene.frame(pool, index, capture_time),
            VideoSource::File(clip) => VideoFrame::from_packed(
                PixelFormat::I420,
                clip.width,
                clip.height,
                clip.frame(index),
                capture_time,
                index,
            ),
        }
    }
}

/// Writes I420 frames to a Y4M file.
pub type Y4mSink = Y4mWriter;
