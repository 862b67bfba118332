//! Media sources and sinks of the examples: generated speech or a WAV file for the
//! microphone, the synthetic scene or a Y4M file for the camera, WAV and Y4M writers for
//! what was received.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::time::Instant;

use sottovoce::audio::synth::{Voice, speech_like};
use sottovoce::pipeline::BufferPool;
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
        let mut reader = hound::WavReader::open(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let spec = reader.spec();
        let channels = usize::from(spec.channels.max(1));
        let interleaved: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
                reader
                    .samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect::<Result<_, _>>()?
            }
        };
        let samples =
            interleaved.chunks(channels).map(|c| c.iter().sum::<f32>() / channels as f32).collect();
        Ok(Self { samples, position: 0, rate: spec.sample_rate })
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
pub struct WavSink {
    writer: hound::WavWriter<BufWriter<File>>,
}

impl WavSink {
    /// A new file at `path`.
    pub fn create(path: &Path, rate: u32) -> Result<Self, BoxError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Self { writer })
    }

    /// Appends samples.
    pub fn write(&mut self, samples: &[f32]) -> Result<(), BoxError> {
        for &s in samples {
            self.writer.write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)?;
        }
        Ok(())
    }

    /// Completes the header.
    pub fn finish(self) -> Result<(), BoxError> {
        Ok(self.writer.finalize()?)
    }
}

/// The camera: the synthetic moving scene or a Y4M file (I420, looped).
pub enum VideoSource {
    /// The built-in scene.
    Synthetic(SyntheticScene),
    /// Frames of a Y4M file, held in memory (played in a loop).
    File { width: u32, height: u32, frames: Vec<Vec<u8>> },
}

impl VideoSource {
    /// Frame size.
    pub fn size(&self, default: (u32, u32)) -> (u32, u32) {
        match self {
            VideoSource::Synthetic(_) => default,
            VideoSource::File { width, height, .. } => (*width, *height),
        }
    }

    /// Reads a whole 4:2:0 Y4M file.
    pub fn y4m(path: &Path) -> Result<Self, BoxError> {
        let mut reader = BufReader::new(
            File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?,
        );
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let mut fields = header.split_whitespace();
        if fields.next() != Some("YUV4MPEG2") {
            return Err(format!("{} is not a Y4M file", path.display()).into());
        }
        let (mut width, mut height) = (0u32, 0u32);
        for field in fields {
            match field.split_at(1) {
                ("W", v) => width = v.parse()?,
                ("H", v) => height = v.parse()?,
                ("C", v) if !v.starts_with("420") => {
                    return Err(
                        format!("{}: only 4:2:0 Y4M is supported (C{v})", path.display()).into()
                    );
                }
                _ => {}
            }
        }
        if width == 0 || height == 0 {
            return Err(format!("{}: Y4M header without size", path.display()).into());
        }
        let frame_len = PixelFormat::I420.packed_len(width, height);
        let mut frames = Vec::new();
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line)? == 0 {
                break;
            }
            if !line.starts_with("FRAME") {
                return Err(format!("{}: bad frame header", path.display()).into());
            }
            let mut data = vec![0u8; frame_len];
            reader.read_exact(&mut data)?;
            frames.push(data);
        }
        if frames.is_empty() {
            return Err(format!("{}: no frames", path.display()).into());
        }
        Ok(VideoSource::File { width, height, frames })
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
            VideoSource::File { width, height, frames } => VideoFrame::from_packed(
                PixelFormat::I420,
                *width,
                *height,
                &frames[(index % frames.len() as u64) as usize],
                capture_time,
                index,
            ),
        }
    }
}

/// Writes I420 frames to a Y4M file.
pub struct Y4mSink {
    out: BufWriter<File>,
    size: Option<(u32, u32)>,
    fps: u32,
}

impl Y4mSink {
    /// A new file at `path`; the header is written with the first frame.
    pub fn create(path: &Path, fps: u32) -> Result<Self, BoxError> {
        let file =
            File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Self { out: BufWriter::new(file), size: None, fps })
    }

    /// Appends one frame (frames of another size than the first are skipped: Y4M has one
    /// size per file).
    pub fn write(&mut self, frame: &VideoFrame) -> Result<(), BoxError> {
        let size = (frame.width(), frame.height());
        match self.size {
            None => {
                writeln!(
                    self.out,
                    "YUV4MPEG2 W{} H{} F{}:1 Ip A1:1 C420jpeg",
                    size.0, size.1, self.fps
                )?;
                self.size = Some(size);
            }
            Some(s) if s != size => return Ok(()),
            Some(_) => {}
        }
        self.out.write_all(b"FRAME\n")?;
        let dims = PixelFormat::I420.plane_dims(size.0, size.1);
        for (plane, (row, rows)) in dims.iter().enumerate() {
            let stride = frame.stride(plane);
            let data = frame.plane(plane);
            for y in 0..*rows {
                self.out.write_all(&data[y * stride..y * stride + row])?;
            }
        }
        Ok(())
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<(), BoxError> {
        Ok(self.out.flush()?)
    }
}
