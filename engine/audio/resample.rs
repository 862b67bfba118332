//! Sample-rate and channel conversion between a device format and the engine's 48 kHz
//! mono, on 10 ms frames, allocation-free after construction.
//!
//! Channels are converted at the device side of the resampler (downmix before it on
//! capture, upmix after it on playout), so only one channel is ever resampled. Rates are
//! converted by rubato's synchronous FFT resampler, which needs fixed input and output
//! chunks (e.g. 147 -> 320 samples for 22.05 -> 48 kHz); two small FIFOs turn those
//! chunks back into 10 ms frames. The output FIFO starts with just enough silence that a
//! 10 ms frame is always ready, so the converter emits exactly one frame per frame in,
//! at a constant, reported delay ([`FormatConverter::delay`]).

use std::time::{Duration, Instant};

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _};

use super::AudioError;
use crate::pipeline::LatencyHistogram;

/// The engine's internal sample rate.
pub const ENGINE_RATE: u32 = 48_000;
/// Samples in one 10 ms engine frame (mono, 48 kHz).
pub const ENGINE_FRAME: usize = 480;
/// Device sample rates the converters accept.
pub const SUPPORTED_RATES: [u32; 6] = [8_000, 16_000, 22_050, 32_000, 44_100, 48_000];

/// A device-side audio format: rate and interleaved channel count (1 or 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceFormat {
    /// Samples per second (one of [`SUPPORTED_RATES`]).
    pub sample_rate: u32,
    /// Interleaved channels: 1 (mono) or 2 (stereo).
    pub channels: u16,
}

impl DeviceFormat {
    /// The engine's own format: 48 kHz mono.
    pub const ENGINE: DeviceFormat = DeviceFormat { sample_rate: ENGINE_RATE, channels: 1 };

    /// A format, checked against what the converters support.
    pub fn new(sample_rate: u32, channels: u16) -> Result<Self, AudioError> {
        if !SUPPORTED_RATES.contains(&sample_rate) {
            return Err(AudioError::UnsupportedRate(sample_rate));
        }
        if !(1..=2).contains(&channels) {
            return Err(AudioError::UnsupportedChannels(channels));
        }
        Ok(Self { sample_rate, channels })
    }

    /// Samples per channel in the `index`-th 10 ms frame of a stream: at 22.05 kHz frames
    /// alternate 220 and 221 samples so the stream keeps the exact rate; every other
    /// supported rate always gives `rate / 100`.
    pub fn frame_len(&self, index: u64) -> usize {
        let r = self.sample_rate as u64;
        ((index + 1) * r / 100 - index * r / 100) as usize
    }

    /// Most samples per channel a 10 ms frame of this format can hold.
    pub fn max_frame_len(&self) -> usize {
        self.sample_rate.div_ceil(100) as usize
    }
}

/// A preallocated first-in first-out sample buffer (mono).
#[derive(Debug)]
struct Fifo {
    data: Vec<f32>,
    len: usize,
    /// Pops that found fewer samples than asked (filled with silence); the priming
    /// computed at construction keeps this at zero.
    underflows: u64,
}

impl Fifo {
    fn with_capacity(capacity: usize) -> Self {
        Self { data: vec![0.0; capacity], len: 0, underflows: 0 }
    }

    fn push(&mut self, samples: &[f32]) {
        // Capacity is sized at construction for the worst case; never grows.
        let n = samples.len().min(self.data.len() - self.len);
        self.data[self.len..self.len + n].copy_from_slice(&samples[..n]);
        self.len += n;
    }

    fn push_silence(&mut self, n: usize) {
        let n = n.min(self.data.len() - self.len);
        self.data[self.len..self.len + n].fill(0.0);
        self.len += n;
    }

    fn pop_into(&mut self, out: &mut [f32]) {
        let n = out.len().min(self.len);
        if n < out.len() {
            self.underflows += 1;
        }
        out[..n].copy_from_slice(&self.data[..n]);
        out[n..].fill(0.0);
        self.data.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

/// Converts 10 ms frames from one [`DeviceFormat`] to another, one frame out per frame
/// in, with a constant delay. One of the two sides is normally [`DeviceFormat::ENGINE`].
pub struct FormatConverter {
    from: DeviceFormat,
    to: DeviceFormat,
    resampler: Option<Fft<f32>>,
    chunk_in: usize,
    chunk_out: usize,
    in_fifo: Fifo,
    out_fifo: Fifo,
    mono_in: Vec<f32>,
    mono_out: Vec<f32>,
    resampled: Vec<f32>,
    frames_in: u64,
    frames_out: u64,
    delay_samples: usize,
    sanitised: u64,
    processing: LatencyHistogram,
}

impl std::fmt::Debug for FormatConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FormatConverter")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("chunk_in", &self.chunk_in)
            .field("chunk_out", &self.chunk_out)
            .field("delay", &self.delay())
            .finish()
    }
}

impl FormatConverter {
    /// A converter from `from` to `to` (both must be valid [`DeviceFormat`]s).
    pub fn new(from: DeviceFormat, to: DeviceFormat) -> Result<Self, AudioError> {
        let from = DeviceFormat::new(from.sample_rate, from.channels)?;
        let to = DeviceFormat::new(to.sample_rate, to.channels)?;
        let (resampler, chunk_in, chunk_out) = if from.sample_rate == to.sample_rate {
            (None, 1, 1)
        } else {
            let r = Fft::<f32>::new(
                from.sample_rate as usize,
                to.sample_rate as usize,
                from.max_frame_len(),
                1,
                FixedSync::Both,
            )
            .map_err(|e| AudioError::InvalidConfig(format!("resampler: {e}")))?;
            let (ci, co) = (r.input_frames_next(), r.output_frames_next());
            (Some(r), ci, co)
        };
        let output_delay = resampler.as_ref().map_or(0, |r| r.output_delay());
        let prefill = Self::prefill_needed(from, to, chunk_in, chunk_out);
        let in_cap = chunk_in + 2 * from.max_frame_len();
        let out_cap =
            prefill + chunk_out * (from.max_frame_len() / chunk_in + 2) + to.max_frame_len();
        let mut out_fifo = Fifo::with_capacity(out_cap);
        out_fifo.push_silence(prefill);
        Ok(Self {
            from,
            to,
            resampler,
            chunk_in,
            chunk_out,
            in_fifo: Fifo::with_capacity(in_cap),
            out_fifo,
            mono_in: vec![0.0; from.max_frame_len()],
            mono_out: vec![0.0; to.max_frame_len()],
            resampled: vec![0.0; chunk_out],
            frames_in: 0,
            frames_out: 0,
            delay_samples: prefill + output_delay,
            sanitised: 0,
            processing: LatencyHistogram::new(),
        })
    }

    /// Silence the output FIFO must start with so that every pop finds a full frame:
    /// found by running the chunk arithmetic over one full period of the frame pattern.
    fn prefill_needed(
        from: DeviceFormat,
        to: DeviceFormat,
        chunk_in: usize,
        chunk_out: usize,
    ) -> usize {
        let (mut level_in, mut level_out, mut worst) = (0i64, 0i64, 0i64);
        // 22.05 kHz repeats every 2 frames, chunk patterns within a few hundred.
        for k in 0..2000u64 {
            level_in += from.frame_len(k) as i64;
            while level_in >= chunk_in as i64 {
                level_in -= chunk_in as i64;
                level_out += chunk_out as i64;
            }
            level_out -= to.frame_len(k) as i64;
            worst = worst.min(level_out);
        }
        (-worst) as usize
    }

    /// Input format.
    pub fn from(&self) -> DeviceFormat {
        self.from
    }

    /// Output format.
    pub fn to(&self) -> DeviceFormat {
        self.to
    }

    /// The constant delay the conversion adds (FIFO priming plus the resampler's filter).
    pub fn delay(&self) -> Duration {
        Duration::from_secs_f64(self.delay_samples as f64 / self.to.sample_rate as f64)
    }

    /// The added delay in output samples.
    pub fn delay_samples(&self) -> usize {
        self.delay_samples
    }

    /// Samples per channel of the next output frame.
    pub fn next_output_len(&self) -> usize {
        self.to.frame_len(self.frames_out)
    }

    /// Non-finite input samples replaced by silence so far.
    pub fn sanitised_samples(&self) -> u64 {
        self.sanitised
    }

    /// Time spent per [`convert`](Self::convert) call.
    pub fn processing(&self) -> &LatencyHistogram {
        &self.processing
    }

    /// Convert one 10 ms frame of interleaved `input` into `output`; returns the number of
    /// interleaved samples written (`next_output_len() * to.channels`). `output` must hold
    /// at least that many. NaN and infinite samples are replaced by silence and counted.
    pub fn convert(&mut self, input: &[f32], output: &mut [f32]) -> Result<usize, AudioError> {
        let started = Instant::now();
        let in_ch = self.from.channels as usize;
        let per_channel = input.len() / in_ch;
        let floor = (self.from.sample_rate / 100) as usize;
        if input.len() % in_ch != 0 || !(floor..=self.from.max_frame_len()).contains(&per_channel) {
            return Err(AudioError::WrongLength {
                expected: self.from.frame_len(self.frames_in) * in_ch,
                got: input.len(),
            });
        }
        let out_len = self.next_output_len();
        let out_ch = self.to.channels as usize;
        if output.len() < out_len * out_ch {
            return Err(AudioError::WrongLength { expected: out_len * out_ch, got: output.len() });
        }
        // Downmix (average) and sanitise on the way in.
        let mono_in = &mut self.mono_in[..per_channel];
        for (dst, frame) in mono_in.iter_mut().zip(input.chunks_exact(in_ch)) {
            let mut sum = 0.0;
            for &s in frame {
                if s.is_finite() {
                    sum += s;
                } else {
                    self.sanitised += 1;
                }
            }
            *dst = sum / in_ch as f32;
        }
        let mono_out = &mut self.mono_out[..out_len];
        match self.resampler.as_mut() {
            None => {
                let n = out_len.min(per_channel);
                mono_out[..n].copy_from_slice(&mono_in[..n]);
                mono_out[n..].fill(0.0);
            }
            Some(resampler) => {
                self.in_fifo.push(mono_in);
                while self.in_fifo.len >= self.chunk_in {
                    let chunk = &self.in_fifo.data[..self.chunk_in];
                    let adapter_in = InterleavedSlice::new(chunk, 1, self.chunk_in)
                        .map_err(|e| AudioError::InvalidConfig(format!("resampler input: {e}")))?;
                    let mut adapter_out =
                        InterleavedSlice::new_mut(&mut self.resampled, 1, self.chunk_out).map_err(
                            |e| AudioError::InvalidConfig(format!("resampler output: {e}")),
                        )?;
                    resampler
                        .process_into_buffer(&adapter_in, &mut adapter_out, None)
                        .map_err(|e| AudioError::InvalidConfig(format!("resampler: {e}")))?;
                    self.in_fifo.data.copy_within(self.chunk_in..self.in_fifo.len, 0);
                    self.in_fifo.len -= self.chunk_in;
                    self.out_fifo.push(&self.resampled);
                }
                self.out_fifo.pop_into(mono_out);
            }
        }
        // Upmix (copy to every channel) on the way out.
        for (frame, &s) in output.chunks_exact_mut(out_ch).zip(mono_out.iter()) {
            frame.fill(s);
        }
        self.frames_in += 1;
        self.frames_out += 1;
        self.processing.record(started.elapsed());
        Ok(out_len * out_ch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefill_keeps_every_pop_full_for_all_rate_pairs() {
        for &rate in &SUPPORTED_RATES {
            for (from, to) in [
                (DeviceFormat::new(rate, 2).unwrap(), DeviceFormat::ENGINE),
                (DeviceFormat::ENGINE, DeviceFormat::new(rate, 2).unwrap()),
            ] {
                let mut c = FormatConverter::new(from, to).unwrap();
                let mut out = vec![0.0; to.max_frame_len() * to.channels as usize];
                for k in 0..300u64 {
                    let input = vec![0.25; from.frame_len(k) * from.channels as usize];
                    let n = c.convert(&input, &mut out).unwrap();
                    assert_eq!(n, to.frame_len(k) * to.channels as usize);
                }
                assert_eq!(c.out_fifo.underflows, 0, "{from:?}->{to:?}");
                // After the delay has passed, a constant input comes out constant.
                assert!(out.iter().all(|&s| (s - 0.25).abs() < 0.01), "{from:?}->{to:?}");
            }
        }
    }

    #[test]
    fn rejects_unsupported_formats_and_lengths() {
        assert_eq!(DeviceFormat::new(11_025, 1), Err(AudioError::UnsupportedRate(11_025)));
        assert_eq!(DeviceFormat::new(48_000, 3), Err(AudioError::UnsupportedChannels(3)));
        let mut c =
            FormatConverter::new(DeviceFormat::new(16_000, 1).unwrap(), DeviceFormat::ENGINE)
                .unwrap();
        let mut out = [0.0; 480];
        assert!(matches!(c.convert(&[0.0; 159], &mut out), Err(AudioError::WrongLength { .. })));
        assert!(matches!(
            c.convert(&[0.0; 160], &mut [0.0; 10]),
            Err(AudioError::WrongLength { .. })
        ));
        let mut bad = [0.1f32; 160];
        bad[3] = f32::NAN;
        bad[7] = f32::INFINITY;
        c.convert(&bad, &mut out).unwrap();
        assert_eq!(c.sanitised_samples(), 2);
        assert!(out.iter().all(|s| s.is_finite()));
    }
}
