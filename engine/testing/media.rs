//! Media files for the test tools: WAV audio and Y4M (YUV4MPEG2, 4:2:0) video, read
//! and written. The one WAV and Y4M code of the project: the simulated harness, the
//! examples and the benches use it.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use crate::audio::{AudioError, DeviceFormat, FormatConverter};
use crate::video::{PixelFormat, VideoFrame};

/// Why a media file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// The file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// Not a WAV file the reader takes, or a WAV write failed.
    #[error("WAV {path}: {reason}")]
    Wav {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Not a 4:2:0 Y4M stream, or a frame of another size than the stream's.
    #[error("Y4M {path}: {reason}")]
    Y4m {
        /// The file (or `<stream>`).
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Converting the audio to the engine's format failed.
    #[error("audio conversion: {0}")]
    Audio(#[from] AudioError),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> MediaError + '_ {
    move |source| MediaError::Io { path: path.display().to_string(), source }
}

fn wav_error(path: &Path, reason: impl ToString) -> MediaError {
    MediaError::Wav { path: path.display().to_string(), reason: reason.to_string() }
}

/// A whole WAV file in memory, as floats in [-1, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct WavClip {
    /// Sample rate.
    pub rate: u32,
    /// Channels (interleaved in `samples`).
    pub channels: u16,
    /// Interleaved samples.
    pub samples: Vec<f32>,
}

impl WavClip {
    /// Reads a PCM (8 to 32-bit integer) or 32-bit float WAV file.
    pub fn read(path: &Path) -> Result<Self, MediaError> {
        let mut reader = hound::WavReader::open(path).map_err(|e| wav_error(path, e))?;
        let spec = reader.spec();
        if spec.channels == 0 {
            return Err(wav_error(path, "no channels"));
        }
        let samples: Vec<f32> = match spec.sample_format {
            hound::SampleFormat::Float => {
                reader.samples::<f32>().collect::<Result<_, _>>().map_err(|e| wav_error(path, e))?
            }
            hound::SampleFormat::Int => {
                let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
                reader
                    .samples::<i32>()
                    .map(|s| s.map(|v| v as f32 * scale))
                    .collect::<Result<_, _>>()
                    .map_err(|e| wav_error(path, e))?
            }
        };
        Ok(Self { rate: spec.sample_rate, channels: spec.channels, samples })
    }

    /// The clip mixed down to mono at its own rate.
    pub fn mono(&self) -> Vec<f32> {
        let channels = usize::from(self.channels.max(1));
        self.samples.chunks(channels).map(|c| c.iter().sum::<f32>() / channels as f32).collect()
    }

    /// Seconds of audio.
    pub fn seconds(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.channels.max(1)) / f64::from(self.rate.max(1))
    }

    /// The clip as the engine's 48 kHz mono, through the engine's own device-format
    /// converter (what a call does to a microphone at this rate). The converter's delay
    /// is removed, so sample `n` of the result is instant `n / 48000` of the clip.
    pub fn to_engine_mono(&self) -> Result<Vec<f32>, MediaError> {
        let from = DeviceFormat::new(self.rate, self.channels)?;
        let mut converter = FormatConverter::new(from, DeviceFormat::ENGINE)?;
        let delay = converter.delay_samples();
        let channels = usize::from(self.channels);
        let wanted = (self.samples.len() / channels) as u64 * u64::from(crate::audio::ENGINE_RATE)
            / u64::from(self.rate);
        let wanted = wanted as usize;
        let mut out = Vec::with_capacity(wanted + delay + 2 * crate::audio::ENGINE_FRAME);
        let mut frame_in = Vec::with_capacity(from.max_frame_len() * channels);
        let mut frame_out = vec![0.0f32; DeviceFormat::ENGINE.max_frame_len()];
        let (mut position, mut index) = (0, 0u64);
        // Feed the clip, then silence until the delayed tail is out.
        while out.len() < delay + wanted {
            let len = from.frame_len(index) * channels;
            let start = position.min(self.samples.len());
            let available = (self.samples.len() - start).min(len);
            frame_in.clear();
            frame_in.extend_from_slice(&self.samples[start..start + available]);
            frame_in.resize(len, 0.0);
            position += len;
            index += 1;
            let written = converter.convert(&frame_in, &mut frame_out)?;
            out.extend_from_slice(&frame_out[..written]);
        }
        out.drain(..delay);
        out.truncate(wanted);
        Ok(out)
    }
}

/// Writes mono audio to a 16-bit PCM WAV file.
pub struct WavWriter {
    writer: hound::WavWriter<BufWriter<File>>,
    path: String,
}

impl WavWriter {
    /// A new file at `path`.
    pub fn create(path: &Path, rate: u32) -> Result<Self, MediaError> {
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec).map_err(|e| wav_error(path, e))?;
        Ok(Self { writer, path: path.display().to_string() })
    }

    /// Appends samples (clipped to [-1, 1]).
    pub fn write(&mut self, samples: &[f32]) -> Result<(), MediaError> {
        for &s in samples {
            self.writer
                .write_sample((s.clamp(-1.0, 1.0) * 32767.0).round() as i16)
                .map_err(|e| MediaError::Wav { path: self.path.clone(), reason: e.to_string() })?;
        }
        Ok(())
    }

    /// Completes the header.
    pub fn finish(self) -> Result<(), MediaError> {
        let path = self.path;
        self.writer.finalize().map_err(|e| MediaError::Wav { path, reason: e.to_string() })
    }
}

/// A 4:2:0 Y4M clip in memory: tightly packed I420 frames.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Y4mClip {
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Frame rate as numerator and denominator (`F30:1`; 30/1 when the header has none).
    pub frame_rate: (u32, u32),
    /// The frames, each `PixelFormat::I420.packed_len(width, height)` bytes.
    pub frames: Vec<Vec<u8>>,
}

impl Y4mClip {
    /// Reads up to `max_frames` frames (all with `None`) of a Y4M file.
    pub fn read(path: &Path, max_frames: Option<usize>) -> Result<Self, MediaError> {
        let file = File::open(path).map_err(io_error(path))?;
        Self::parse(BufReader::new(file), max_frames).map_err(|e| match e {
            MediaError::Y4m { reason, .. } => {
                MediaError::Y4m { path: path.display().to_string(), reason }
            }
            other => other,
        })
    }

    /// Parses a Y4M stream (only 4:2:0 chroma, as cameras and test sequences give).
    pub fn parse(mut reader: impl BufRead, max_frames: Option<usize>) -> Result<Self, MediaError> {
        let bad = |reason: &str| MediaError::Y4m { path: "<stream>".into(), reason: reason.into() };
        let stream = Path::new("<stream>");
        let mut header = String::new();
        reader.read_line(&mut header).map_err(io_error(stream))?;
        let mut fields = header.split_whitespace();
        if fields.next() != Some("YUV4MPEG2") {
            return Err(bad("not a YUV4MPEG2 stream"));
        }
        let (mut width, mut height, mut frame_rate) = (0u32, 0u32, (30, 1));
        for field in fields {
            let (tag, value) = field.split_at(1);
            match tag {
                "W" => width = value.parse().map_err(|_| bad("bad width"))?,
                "H" => height = value.parse().map_err(|_| bad("bad height"))?,
                "F" => {
                    let (n, d) = value.split_once(':').ok_or_else(|| bad("bad frame rate"))?;
                    let n: u32 = n.parse().map_err(|_| bad("bad frame rate"))?;
                    let d: u32 = d.parse().map_err(|_| bad("bad frame rate"))?;
                    if n == 0 || d == 0 {
                        return Err(bad("zero frame rate"));
                    }
                    frame_rate = (n, d);
                }
                "C" if !value.starts_with("420") => {
                    return Err(bad("only 4:2:0 chroma is supported"));
                }
                _ => {}
            }
        }
        if width == 0
            || height == 0
            || width > crate::video::MAX_DIMENSION
            || height > crate::video::MAX_DIMENSION
        {
            return Err(bad("frame size missing or out of range"));
        }
        let frame_len = PixelFormat::I420.packed_len(width, height);
        let mut frames = Vec::new();
        let mut line = String::new();
        while max_frames.is_none_or(|max| frames.len() < max) {
            line.clear();
            if reader.read_line(&mut line).map_err(io_error(stream))? == 0 {
                break;
            }
            if !line.starts_with("FRAME") {
                return Err(bad("bad frame header"));
            }
            let mut data = vec![0u8; frame_len];
            reader.read_exact(&mut data).map_err(|_| bad("truncated frame"))?;
            frames.push(data);
        }
        if frames.is_empty() {
            return Err(bad("no frames"));
        }
        Ok(Self { width, height, frame_rate, frames })
    }

    /// Frame `index`, looping over the clip.
    pub fn frame(&self, index: u64) -> &[u8] {
        &self.frames[(index % self.frames.len() as u64) as usize]
    }
}

/// An I420 frame's planes without their row padding, one after another: the layout of a
/// [`Y4mClip`] frame.
pub fn packed_i420(frame: &VideoFrame) -> Vec<u8> {
    let (w, h) = (frame.width(), frame.height());
    let mut out = Vec::with_capacity(PixelFormat::I420.packed_len(w, h));
    for (plane, (row, rows)) in PixelFormat::I420.plane_dims(w, h).iter().enumerate() {
        let stride = frame.stride(plane);
        let data = frame.plane(plane);
        for y in 0..*rows {
            out.extend_from_slice(&data[y * stride..y * stride + row]);
        }
    }
    out
}

/// Writes I420 frames to a Y4M file. The size is the first frame's; frames of another
/// size are refused (Y4M has one size per file).
pub struct Y4mWriter {
    out: BufWriter<File>,
    path: String,
    size: Option<(u32, u32)>,
    fps: u32,
}

impl Y4mWriter {
    /// A new file at `path`; the header is written with the first frame.
    pub fn create(path: &Path, fps: u32) -> Result<Self, MediaError> {
        let file = File::create(path).map_err(io_error(path))?;
        Ok(Self { out: BufWriter::new(file), path: path.display().to_string(), size: None, fps })
    }

    /// Appends one I420 frame (any strides).
    pub fn write(&mut self, frame: &VideoFrame) -> Result<(), MediaError> {
        let path = Path::new(&self.path);
        let size = (frame.width(), frame.height());
        if frame.format() != PixelFormat::I420 {
            return Err(MediaError::Y4m { path: self.path.clone(), reason: "not I420".into() });
        }
        match self.size {
            None => {
                writeln!(
                    self.out,
                    "YUV4MPEG2 W{} H{} F{}:1 Ip A1:1 C420jpeg",
                    size.0, size.1, self.fps
                )
                .map_err(io_error(path))?;
                self.size = Some(size);
            }
            Some(s) if s != size => {
                return Err(MediaError::Y4m {
                    path: self.path.clone(),
                    reason: format!("frame {}x{} in a {}x{} file", size.0, size.1, s.0, s.1),
                });
            }
            Some(_) => {}
        }
        self.out.write_all(b"FRAME\n").map_err(io_error(path))?;
        let dims = PixelFormat::I420.plane_dims(size.0, size.1);
        for (plane, (row, rows)) in dims.iter().enumerate() {
            let stride = frame.stride(plane);
            let data = frame.plane(plane);
            for y in 0..*rows {
                self.out.write_all(&data[y * stride..y * stride + row]).map_err(io_error(path))?;
            }
        }
        Ok(())
    }

    /// Flushes the file.
    pub fn finish(mut self) -> Result<(), MediaError> {
        let path = self.path.clone();
        self.out.flush().map_err(io_error(Path::new(&path)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn y4m_streams_parse_or_fail_with_a_reason() {
        let frame = vec![7u8; PixelFormat::I420.packed_len(4, 2)];
        let mut stream = b"YUV4MPEG2 W4 H2 F25:1 C420jpeg\nFRAME\n".to_vec();
        stream.extend_from_slice(&frame);
        stream.extend_from_slice(b"FRAME\n");
        stream.extend_from_slice(&frame);
        let clip = Y4mClip::parse(&stream[..], None).unwrap();
        assert_eq!(
            (clip.width, clip.height, clip.frame_rate, clip.frames.len()),
            (4, 2, (25, 1), 2)
        );
        assert_eq!(clip.frame(3), &frame[..]);
        assert_eq!(Y4mClip::parse(&stream[..], Some(1)).unwrap().frames.len(), 1);
        // Truncated last frame, 4:4:4, no size, not Y4M.
        let reason = |s: &[u8]| match Y4mClip::parse(s, None) {
            Err(MediaError::Y4m { reason, .. }) => reason,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(&stream[..stream.len() - 1]), "truncated frame");
        assert_eq!(reason(b"YUV4MPEG2 W4 H2 C444\n"), "only 4:2:0 chroma is supported");
        assert_eq!(reason(b"YUV4MPEG2 F30:1\n"), "frame size missing or out of range");
        assert_eq!(reason(b"RIFF"), "not a YUV4MPEG2 stream");
    }
}
