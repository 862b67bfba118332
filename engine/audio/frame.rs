//! [`AudioFrame`]: 10 ms of interleaved f32 samples with its capture instant.

use std::time::{Duration, Instant};

use super::AudioError;
use crate::pipeline::{BufferPool, PooledBuffer, Timestamped};

/// Lowest sample rate a frame may carry.
pub const MIN_SAMPLE_RATE: u32 = 8_000;
/// Highest sample rate a frame may carry.
pub const MAX_SAMPLE_RATE: u32 = 192_000;
/// Most channels a frame may carry.
pub const MAX_CHANNELS: u16 = 8;

/// 10 ms of audio: interleaved f32 samples (nominally in -1.0..=1.0), the sample rate, the
/// channel count, the instant the first sample was captured and a sequence number.
///
/// At rates that are not a multiple of 100 Hz (22.05 and 44.1 kHz divide, 11.025 kHz does
/// not), a frame holds either the floor or the ceiling of `rate / 100` samples per channel,
/// so a stream of frames can track the exact rate.
#[derive(Debug)]
pub struct AudioFrame {
    samples: PooledBuffer<f32>,
    sample_rate: u32,
    channels: u16,
    capture_time: Instant,
    sequence: u64,
}

impl AudioFrame {
    /// Nominal frame duration.
    pub const DURATION: Duration = Duration::from_millis(10);

    /// Samples per channel in a 10 ms frame at `sample_rate` (rounded down).
    pub fn samples_per_channel_at(sample_rate: u32) -> usize {
        (sample_rate / 100) as usize
    }

    /// Wrap a buffer of interleaved samples, checking its shape.
    pub fn new(
        samples: PooledBuffer<f32>,
        sample_rate: u32,
        channels: u16,
        capture_time: Instant,
        sequence: u64,
    ) -> Result<Self, AudioError> {
        validate(samples.len(), sample_rate, channels)?;
        Ok(Self { samples, sample_rate, channels, capture_time, sequence })
    }

    /// Copy interleaved samples into a frame that belongs to no pool.
    pub fn from_samples(
        samples: &[f32],
        sample_rate: u32,
        channels: u16,
        capture_time: Instant,
        sequence: u64,
    ) -> Result<Self, AudioError> {
        Self::new(
            PooledBuffer::detached(samples.to_vec()),
            sample_rate,
            channels,
            capture_time,
            sequence,
        )
    }

    /// A silent frame from `pool`.
    pub fn silence(
        pool: &BufferPool<f32>,
        sample_rate: u32,
        channels: u16,
        capture_time: Instant,
        sequence: u64,
    ) -> Result<Self, AudioError> {
        let len = Self::samples_per_channel_at(sample_rate) * channels as usize;
        Self::new(pool.acquire(len), sample_rate, channels, capture_time, sequence)
    }

    /// Interleaved samples.
    pub fn samples(&self) -> &[f32] {
        &self.samples
    }

    /// Interleaved samples, writable.
    pub fn samples_mut(&mut self) -> &mut [f32] {
        &mut self.samples
    }

    /// Samples per second.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Channel count (samples are interleaved).
    pub fn channels(&self) -> u16 {
        self.channels
    }

    /// Samples per channel.
    pub fn samples_per_channel(&self) -> usize {
        self.samples.len() / self.channels as usize
    }

    /// Sequence number given by the producer.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Replace the capture instant (e.g. after correcting for device latency).
    pub fn set_capture_time(&mut self, t: Instant) {
        self.capture_time = t;
    }
}

impl Timestamped for AudioFrame {
    fn capture_time(&self) -> Instant {
        self.capture_time
    }
}

fn validate(len: usize, sample_rate: u32, channels: u16) -> Result<(), AudioError> {
    if !(MIN_SAMPLE_RATE..=MAX_SAMPLE_RATE).contains(&sample_rate) {
        return Err(AudioError::InvalidFrame(format!(
            "sample rate {sample_rate} Hz outside {MIN_SAMPLE_RATE}..={MAX_SAMPLE_RATE}"
        )));
    }
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(AudioError::InvalidFrame(format!("{channels} channels (1..={MAX_CHANNELS})")));
    }
    let ch = channels as usize;
    let floor = (sample_rate / 100) as usize;
    let ceil = sample_rate.div_ceil(100) as usize;
    if len % ch != 0 || !(floor..=ceil).contains(&(len / ch)) {
        return Err(AudioError::InvalidFrame(format!(
            "{len} samples is not 10 ms of {channels}-channel audio at {sample_rate} Hz \
             (expected {} per channel)",
            floor
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ten_milliseconds_at_common_rates() {
        for (rate, ch) in [(8000, 1), (16000, 1), (44100, 2), (48000, 2), (22050, 1)] {
            let n = AudioFrame::samples_per_channel_at(rate) * ch as usize;
            let f = AudioFrame::from_samples(&vec![0.0; n], rate, ch, Instant::now(), 1).unwrap();
            assert_eq!(f.samples_per_channel() * ch as usize, n);
        }
        // 11.025 kHz: 110 or 111 samples.
        AudioFrame::from_samples(&[0.0; 111], 11025, 1, Instant::now(), 0).unwrap();
    }

    #[test]
    fn rejects_wrong_shapes() {
        let now = Instant::now();
        assert!(AudioFrame::from_samples(&[0.0; 479], 48000, 1, now, 0).is_err());
        assert!(AudioFrame::from_samples(&[0.0; 961], 48000, 2, now, 0).is_err());
        assert!(AudioFrame::from_samples(&[0.0; 480], 48000, 0, now, 0).is_err());
        assert!(AudioFrame::from_samples(&[0.0; 40], 4000, 1, now, 0).is_err());
        let err = AudioFrame::from_samples(&[0.0; 10], 48000, 1, now, 0).unwrap_err();
        assert!(err.to_string().contains("480"), "{err}");
    }
}
