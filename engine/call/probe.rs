//! Latency probes: markers embedded in the media themselves, so that mouth-to-ear and
//! glass-to-glass latency are *measured* end to end (capture chain, codec, network, jitter
//! buffer, decoder, playout), not added up from per-stage estimates.
//!
//! * **Audio**: [`AudioMarkerInserter`] replaces a short stretch of the microphone signal
//!   with a distinctive chirp (a linear sweep through the speech band, 60 ms, Tukey
//!   windowed) once per period; [`AudioMarkerDetector`] finds it again in the played-out
//!   audio by normalised cross-correlation (at 8 kHz, so the cost is small at any device
//!   rate) and reports the playout instant of the marker's first sample. The sweep was
//!   chosen because it survives RNNoise, Opus at 32 kbit/s, concealment and the jitter
//!   buffer's time-scaling well (see `tests/call_probe.rs` and `docs/call-demo.md`); a
//!   marker that the network or the buffer damages is simply not detected and counted as
//!   missed by the [`MarkerMatcher`].
//! * **Video**: [`FrameIdStamp`] writes a 16-bit frame id and an 8-bit CRC as 24 large
//!   black/white luma blocks in the top-left corner of an I420 frame and reads it back
//!   from decoded frames (robust to AV1 at a few hundred kbit/s); [`FrameIdClock`]
//!   remembers when each id was captured.
//! * [`LatencyRecorder`] keeps every measurement (percentiles and a time series for
//!   plots).
//!
//! Everything here is sans-IO: instants are inputs, nothing reads the clock.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sottovoce::call::probe::{AudioMarkerDetector, AudioMarkerInserter, MarkerMatcher};
//!
//! let rate = 16_000;
//! let mut inserter = AudioMarkerInserter::new(rate, Duration::from_millis(500))?;
//! let mut detector = AudioMarkerDetector::new(rate, AudioMarkerDetector::DEFAULT_THRESHOLD)?;
//! let mut matcher = MarkerMatcher::new(Duration::from_millis(400));
//! let t0 = Instant::now();
//! let delay = 7; // frames of 10 ms: the "network"
//! let mut line = std::collections::VecDeque::new();
//! let mut latencies = Vec::new();
//! for tick in 0..200u32 {
//!     let now = t0 + Duration::from_millis(10 * u64::from(tick));
//!     let mut mic = [0.0f32; 160];
//!     if let Some(captured) = inserter.process(&mut mic, now) {
//!         matcher.sent(captured);
//!     }
//!     line.push_back(mic);
//!     let speaker = if line.len() > delay { line.pop_front().unwrap() } else { [0.0; 160] };
//!     if let Some(found) = detector.process(&speaker, now) {
//!         latencies.extend(matcher.received(found.played_at));
//!     }
//! }
//! assert!(latencies.len() >= 3);
//! assert!(latencies.iter().all(|d| *d == Duration::from_millis(70)));
//! # Ok::<(), sottovoce::call::probe::ProbeError>(())
//! ```

use std::collections::VecDeque;
use std::f32::consts::PI;
use std::time::{Duration, Instant};

use crate::video::{PixelFormat, VideoFrame};

/// Rate at which audio markers are searched for: the device signal is decimated to it.
pub const DETECTION_RATE: u32 = 8_000;

/// Length of the audio marker.
pub const MARKER_DURATION: Duration = Duration::from_millis(60);

/// Lowest and highest frequency of the marker sweep (inside the narrowband speech band,
/// where every Opus mode spends its bits and RNNoise keeps speech-like energy).
const SWEEP_HZ: (f32, f32) = (500.0, 3_000.0);

/// Peak level of the marker (linear, full scale 1.0): as loud as the speech around it.
const MARKER_PEAK: f32 = 0.5;

/// Fade of the replaced signal just before and after a marker (2.5 ms), so the cut does
/// not click.
const FADE: Duration = Duration::from_micros(2_500);

/// Frames of playout timing kept by the detector to date a detection (2.56 s of 10 ms
/// frames, far more than a marker's length).
const FRAME_HISTORY: usize = 256;

/// Why a probe could not be built or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    /// Audio probes need a device rate that is a multiple of 8 kHz.
    #[error("sample rate {0} Hz is not a positive multiple of 8000 Hz")]
    UnsupportedRate(u32),
    /// The marker period must leave room for the marker and its detection.
    #[error("marker period {period:?} is shorter than twice the marker ({marker:?})")]
    PeriodTooShort {
        /// Period asked for.
        period: Duration,
        /// Marker length.
        marker: Duration,
    },
    /// The detection threshold is not a correlation in (0, 1).
    #[error("detection threshold {0} is not in (0, 1)")]
    BadThreshold(String),
    /// Frame-id stamps are written into and read from I420 frames only.
    #[error("frame-id stamps need I420 frames, got {0:?}")]
    NotI420(PixelFormat),
    /// The frame cannot hold the stamp.
    #[error(
        "a {width}x{height} frame is too small for the frame-id stamp (needs {needed_width}x{needed_height})"
    )]
    FrameTooSmall {
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// Smallest width that fits.
        needed_width: u32,
        /// Smallest height that fits.
        needed_height: u32,
    },
}

fn decimation_factor(rate: u32) -> Result<usize, ProbeError> {
    if rate == 0 || rate % DETECTION_RATE != 0 {
        return Err(ProbeError::UnsupportedRate(rate));
    }
    Ok((rate / DETECTION_RATE) as usize)
}

fn samples_to_duration(samples: u64, rate: u32) -> Duration {
    Duration::from_nanos(samples.saturating_mul(1_000_000_000) / u64::from(rate))
}

/// The marker waveform at `rate`: a linear sweep from 500 Hz to 3 kHz over
/// [`MARKER_DURATION`], Tukey windowed (10 ms raised-cosine edges) so it starts and ends
/// at zero.
pub fn marker_waveform(rate: u32) -> Vec<f32> {
    let fs = rate as f32;
    let total = MARKER_DURATION.as_secs_f32();
    let n = (total * fs).round() as usize;
    let taper = 0.010 * fs;
    let (f0, f1) = SWEEP_HZ;
    (0..n)
        .map(|i| {
            let t = i as f32 / fs;
            let phase = 2.0 * PI * (f0 * t + (f1 - f0) * t * t / (2.0 * total));
            let edge = (i as f32).min((n - 1 - i) as f32);
            let window = if edge >= taper { 1.0 } else { 0.5 - 0.5 * (PI * edge / taper).cos() };
            MARKER_PEAK * window * phase.sin()
        })
        .collect()
}

/// Puts a marker into the microphone signal once per period, replacing what was there
/// (faded out and back in over 2.5 ms on each side). Mono frames at the device rate.
///
/// The first marker starts half a period after the first sample, then one every period.
#[derive(Debug, Clone)]
pub struct AudioMarkerInserter {
    rate: u32,
    marker: Vec<f32>,
    period: u64,
    fade: u64,
    /// Samples processed so far.
    position: u64,
    inserted: u64,
}

impl AudioMarkerInserter {
    /// An inserter for mono audio at `rate` (a multiple of 8 kHz) with one marker every
    /// `period` (at least twice [`MARKER_DURATION`]).
    pub fn new(rate: u32, period: Duration) -> Result<Self, ProbeError> {
        decimation_factor(rate)?;
        if period < 2 * MARKER_DURATION {
            return Err(ProbeError::PeriodTooShort { period, marker: MARKER_DURATION });
        }
        let period = (period.as_secs_f64() * f64::from(rate)).round() as u64;
        let fade = (FADE.as_secs_f64() * f64::from(rate)).round() as u64;
        Ok(Self { rate, marker: marker_waveform(rate), period, fade, position: 0, inserted: 0 })
    }

    /// Markers inserted so far.
    pub fn inserted(&self) -> u64 {
        self.inserted
    }

    /// Writes the marker into `frame` where it is due. `captured_at` is the capture
    /// instant of `frame[0]`. Returns the capture instant of a marker's first sample when
    /// one starts in this frame (at most one does: frames are shorter than a period).
    pub fn process(&mut self, frame: &mut [f32], captured_at: Instant) -> Option<Instant> {
        let len = self.marker.len() as u64;
        let offset = self.period / 2;
        let mut started = None;
        for (i, sample) in frame.iter_mut().enumerate() {
            let p = self.position + i as u64;
            // Position relative to the next marker start, in [-period/2, period/2).
            let k = (p + self.period - offset) % self.period;
            if k < len {
                *sample = self.marker[k as usize];
                if k == 0 {
                    started = Some(captured_at + samples_to_duration(i as u64, self.rate));
                    self.inserted += 1;
                }
            } else {
                // Fade the original signal down before the marker and up after it.
                let before = self.period - k; // samples until the next marker start
                let after = k - len + 1; // samples since the marker ended
                let distance = before.min(after);
                if distance <= self.fade {
                    *sample *= distance as f32 / (self.fade + 1) as f32;
                }
            }
        }
        self.position += frame.len() as u64;
        started
    }
}

/// One marker found in the played-out audio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AudioDetection {
    /// Playout instant of the marker's first sample.
    pub played_at: Instant,
    /// Normalised cross-correlation at the peak (0..1; 1 is a perfect copy).
    pub score: f32,
}

/// Finds markers in played-out mono audio by normalised cross-correlation with the
/// marker, at 8 kHz. Preallocated: [`process`](Self::process) never allocates.
#[derive(Debug, Clone)]
pub struct AudioMarkerDetector {
    rate: u32,
    factor: usize,
    threshold: f32,
    template: Vec<f32>,
    template_norm: f32,
    /// Decimated history, written twice (at `i` and `i + len`) so that the latest window
    /// is always one contiguous slice.
    history: Vec<f32>,
    /// Decimated samples seen.
    count: u64,
    /// Boxcar decimator state.
    acc: f32,
    acc_n: usize,
    /// Full-rate samples seen.
    full_count: u64,
    /// (first full-rate sample index, playout instant) of recent frames.
    frames: VecDeque<(u64, Instant)>,
    /// Best window start (decimated index) above the threshold, and its score.
    candidate: Option<(u64, f32)>,
    /// No new detection may start before this decimated index (one per marker).
    quiet_until: u64,
    detections: u64,
    best_below_threshold: f32,
}

impl AudioMarkerDetector {
    /// A threshold that, in our measurements, markers through RNNoise + Opus 32 kbit/s
    /// exceeded (lowest peak 0.79 lossless, 0.53 with 14 % of packets concealed) and
    /// speech never reached: generated speech stayed below 0.35, and calls over 5 % loss
    /// and 30 ms jitter with three recorded voices gave no detection that matched no
    /// marker.
    pub const DEFAULT_THRESHOLD: f32 = 0.45;

    /// A detector for mono audio at `rate` (a multiple of 8 kHz) reporting peaks of the
    /// normalised cross-correlation above `threshold` (in (0, 1)).
    pub fn new(rate: u32, threshold: f32) -> Result<Self, ProbeError> {
        let factor = decimation_factor(rate)?;
        if !(threshold > 0.0 && threshold < 1.0) {
            return Err(ProbeError::BadThreshold(threshold.to_string()));
        }
        let full = marker_waveform(rate);
        // The template goes through the same boxcar decimator as the signal.
        let template: Vec<f32> =
            full.chunks_exact(factor).map(|c| c.iter().sum::<f32>() / factor as f32).collect();
        let template_norm = template.iter().map(|x| x * x).sum::<f32>().sqrt();
        let len = template.len();
        Ok(Self {
            rate,
            factor,
            threshold,
            template,
            template_norm,
            history: vec![0.0; 2 * len],
            count: 0,
            acc: 0.0,
            acc_n: 0,
            full_count: 0,
            frames: VecDeque::with_capacity(FRAME_HISTORY),
            candidate: None,
            quiet_until: 0,
            detections: 0,
            best_below_threshold: 0.0,
        })
    }

    /// Markers detected so far.
    pub fn detections(&self) -> u64 {
        self.detections
    }

    /// Highest correlation seen that stayed below the threshold (a diagnostic: how close
    /// a missed marker, or the speech itself, came).
    pub fn best_below_threshold(&self) -> f32 {
        self.best_below_threshold
    }

    /// Feeds one played-out frame; `played_at` is when `frame[0]` is played. Returns a
    /// detection once its correlation peak is confirmed (a few ms after the marker ends,
    /// so the report comes in a later frame than the marker's start).
    pub fn process(&mut self, frame: &[f32], played_at: Instant) -> Option<AudioDetection> {
        if self.frames.len() == FRAME_HISTORY {
            self.frames.pop_front();
        }
        self.frames.push_back((self.full_count, played_at));
        self.full_count += frame.len() as u64;
        let mut found = None;
        for &x in frame {
            self.acc += x;
            self.acc_n += 1;
            if self.acc_n == self.factor {
                let y = self.acc / self.factor as f32;
                self.acc = 0.0;
                self.acc_n = 0;
                if let Some(d) = self.push_decimated(y) {
                    found = found.or(Some(d));
                }
            }
        }
        found
    }

    fn push_decimated(&mut self, y: f32) -> Option<AudioDetection> {
        let len = self.template.len();
        let slot = (self.count % len as u64) as usize;
        self.history[slot] = y;
        self.history[slot + len] = y;
        self.count += 1;
        if self.count < len as u64 {
            return None;
        }
        // The latest window starts right after the newest sample's slot.
        let start = (slot + 1) % len;
        let window = &self.history[start..start + len];
        let (mut dot, mut energy) = (0.0f32, 0.0f32);
        for (w, t) in window.iter().zip(&self.template) {
            dot += w * t;
            energy += w * w;
        }
        let score = if energy > 1e-9 { dot / (energy.sqrt() * self.template_norm) } else { 0.0 };
        let window_start = self.count - len as u64;
        if window_start >= self.quiet_until && score >= self.threshold {
            match self.candidate {
                Some((_, best)) if best >= score => {}
                _ => self.candidate = Some((window_start, score)),
            }
        } else if score < self.threshold {
            self.best_below_threshold = self.best_below_threshold.max(score);
        }
        // Confirm a peak once a quarter marker has passed without a better one.
        let (at, best) = self.candidate?;
        if window_start < at + len as u64 / 4 {
            return None;
        }
        self.candidate = None;
        self.quiet_until = at + len as u64;
        self.detections += 1;
        let full_index = at * self.factor as u64;
        let played_at = self.instant_of(full_index)?;
        Some(AudioDetection { played_at, score: best })
    }

    /// Playout instant of the full-rate sample `index`.
    fn instant_of(&self, index: u64) -> Option<Instant> {
        let &(start, at) = self.frames.iter().rev().find(|(start, _)| *start <= index)?;
        Some(at + samples_to_duration(index - start, self.rate))
    }
}

/// Pairs sent and detected markers (all markers are identical, so they are matched by
/// time): a detection belongs to the most recent marker sent before it, if that one was
/// sent at most `max_latency` earlier and is not matched yet. Markers never matched
/// within `max_latency` count as missed. `max_latency` must be below the marker period.
#[derive(Debug, Clone)]
pub struct MarkerMatcher {
    max_latency: Duration,
    pending: VecDeque<Instant>,
    missed: u64,
    unmatched: u64,
}

impl MarkerMatcher {
    /// A matcher accepting latencies up to `max_latency`.
    pub fn new(max_latency: Duration) -> Self {
        Self { max_latency, pending: VecDeque::with_capacity(16), missed: 0, unmatched: 0 }
    }

    /// A marker was captured at `at`.
    pub fn sent(&mut self, at: Instant) {
        self.pending.push_back(at);
    }

    /// A marker was detected, played at `at`: returns its mouth-to-ear latency, or `None`
    /// when no sent marker fits (counted as unmatched: a false detection or one too late).
    pub fn received(&mut self, at: Instant) -> Option<Duration> {
        // Earlier pending markers than the one matched were missed.
        let index = self.pending.iter().rposition(|&sent| sent <= at);
        let Some(index) = index else {
            self.unmatched += 1;
            return None;
        };
        let sent = self.pending[index];
        let latency = at - sent;
        if latency > self.max_latency {
            self.unmatched += 1;
            return None;
        }
        for _ in 0..index {
            self.pending.pop_front();
            self.missed += 1;
        }
        self.pending.pop_front();
        Some(latency)
    }

    /// Counts markers sent more than `max_latency` before `now` and never detected as
    /// missed; returns how many are missed in total.
    pub fn expire(&mut self, now: Instant) -> u64 {
        while let Some(&sent) = self.pending.front() {
            if now.saturating_duration_since(sent) <= self.max_latency {
                break;
            }
            self.pending.pop_front();
            self.missed += 1;
        }
        self.missed
    }

    /// Markers sent but never detected (so far, as of the last [`expire`](Self::expire)).
    pub fn missed(&self) -> u64 {
        self.missed
    }

    /// Detections that matched no sent marker.
    pub fn unmatched(&self) -> u64 {
        self.unmatched
    }
}

/// Bits of the frame id carried by a [`FrameIdStamp`].
pub const FRAME_ID_BITS: u32 = 16;

const STAMP_COLUMNS: usize = 12;
const STAMP_ROWS: usize = 2;
const STAMP_BITS: usize = STAMP_COLUMNS * STAMP_ROWS;
/// Video-range black and white (BT.601/709 limited range).
const LUMA_BLACK: u8 = 16;
const LUMA_WHITE: u8 = 235;

/// CRC-8 (polynomial 0x07) of the two id bytes, XORed with a constant so that a uniformly
/// dark or bright corner (all blocks 0 or all 1) is not a valid stamp: detects misread
/// blocks and unstamped frames.
fn crc8(bytes: [u8; 2]) -> u8 {
    let mut crc = 0u8;
    for byte in bytes {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 { (crc << 1) ^ 0x07 } else { crc << 1 };
        }
    }
    crc ^ 0x5a
}

/// Writes a 16-bit frame id plus an 8-bit CRC as 24 black/white luma blocks (12 x 2) in
/// the top-left corner of I420 frames, and reads it back from decoded frames. Blocks are
/// 32, 16 or 8 pixels (the largest whose stamp fits in half the width and a quarter of
/// the height), aligned with codec blocks; chroma under the stamp is neutral. Each block
/// is read from the mean of its inner quarter against mid-grey, so codec ringing at the
/// edges does not matter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameIdStamp {
    block: usize,
}

impl FrameIdStamp {
    /// The stamp layout for frames of `width` x `height`.
    pub fn for_size(width: u32, height: u32) -> Result<Self, ProbeError> {
        let (w, h) = (width as usize, height as usize);
        for block in [32usize, 16, 8] {
            if STAMP_COLUMNS * block <= w / 2 && STAMP_ROWS * block <= h / 4 {
                return Ok(Self { block });
            }
        }
        Err(ProbeError::FrameTooSmall {
            width,
            height,
            needed_width: (2 * STAMP_COLUMNS * 8) as u32,
            needed_height: (4 * STAMP_ROWS * 8) as u32,
        })
    }

    /// Block size in pixels.
    pub fn block_size(&self) -> usize {
        self.block
    }

    fn check(&self, frame: &VideoFrame) -> Result<(), ProbeError> {
        if frame.format() != PixelFormat::I420 {
            return Err(ProbeError::NotI420(frame.format()));
        }
        let (w, h) = (frame.width() as usize, frame.height() as usize);
        if STAMP_COLUMNS * self.block > w || STAMP_ROWS * self.block > h {
            return Err(ProbeError::FrameTooSmall {
                width: frame.width(),
                height: frame.height(),
                needed_width: (STAMP_COLUMNS * self.block) as u32,
                needed_height: (STAMP_ROWS * self.block) as u32,
            });
        }
        Ok(())
    }

    /// Writes `id` into `frame`.
    pub fn write(&self, frame: &mut VideoFrame, id: u16) -> Result<(), ProbeError> {
        self.check(frame)?;
        let bytes = id.to_be_bytes();
        let word = (u32::from(id) << 8) | u32::from(crc8(bytes));
        let b = self.block;
        let stride = frame.stride(0);
        let luma = frame.plane_mut(0);
        for bit in 0..STAMP_BITS {
            let (col, row) = (bit % STAMP_COLUMNS, bit / STAMP_COLUMNS);
            let one = (word >> (STAMP_BITS - 1 - bit)) & 1 == 1;
            let value = if one { LUMA_WHITE } else { LUMA_BLACK };
            for y in row * b..(row + 1) * b {
                luma[y * stride + col * b..y * stride + (col + 1) * b].fill(value);
            }
        }
        for plane in 1..3 {
            let stride = frame.stride(plane);
            let chroma = frame.plane_mut(plane);
            for y in 0..STAMP_ROWS * b / 2 {
                chroma[y * stride..y * stride + STAMP_COLUMNS * b / 2].fill(128);
            }
        }
        Ok(())
    }

    /// Reads the id back; `Ok(None)` when the CRC does not match (a damaged or missing
    /// stamp).
    pub fn read(&self, frame: &VideoFrame) -> Result<Option<u16>, ProbeError> {
        self.check(frame)?;
        let b = self.block;
        let stride = frame.stride(0);
        let luma = frame.plane(0);
        let mut word = 0u32;
        for bit in 0..STAMP_BITS {
            let (col, row) = (bit % STAMP_COLUMNS, bit / STAMP_COLUMNS);
            let (x0, y0) = (col * b + b / 4, row * b + b / 4);
            let mut sum = 0u32;
            for y in y0..y0 + b / 2 {
                sum += luma[y * stride + x0..y * stride + x0 + b / 2]
                    .iter()
                    .map(|&v| u32::from(v))
                    .sum::<u32>();
            }
            let mean = sum / (b as u32 / 2).pow(2);
            word = (word << 1) | u32::from(mean >= 128);
        }
        let id = (word >> 8) as u16;
        Ok((crc8(id.to_be_bytes()) == (word & 0xff) as u8).then_some(id))
    }
}

/// Remembers when each frame id was captured (the last 4096 ids, over two minutes at
/// 30 fps), to turn a frame id read at the receiver into a glass-to-glass latency.
#[derive(Debug, Clone)]
pub struct FrameIdClock {
    captured: VecDeque<(u16, Instant)>,
}

const ID_HISTORY: usize = 4096;

impl Default for FrameIdClock {
    fn default() -> Self {
        Self::new()
    }
}

impl FrameIdClock {
    /// An empty clock (preallocated).
    pub fn new() -> Self {
        Self { captured: VecDeque::with_capacity(ID_HISTORY) }
    }

    /// Frame `id` was captured at `at`.
    pub fn captured(&mut self, id: u16, at: Instant) {
        if self.captured.len() == ID_HISTORY {
            self.captured.pop_front();
        }
        self.captured.push_back((id, at));
    }

    /// Capture instant of the most recent frame with `id`.
    pub fn capture_time(&self, id: u16) -> Option<Instant> {
        self.captured.iter().rev().find(|(i, _)| *i == id).map(|&(_, at)| at)
    }

    /// Glass-to-glass latency of frame `id` displayed at `shown_at`.
    pub fn latency(&self, id: u16, shown_at: Instant) -> Option<Duration> {
        self.capture_time(id).map(|at| shown_at.saturating_duration_since(at))
    }
}

/// Percentiles of a [`LatencyRecorder`] (exact, nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProbeSummary {
    /// Measurements.
    pub count: usize,
    /// Probes sent but never measured (missed markers, unreadable frames).
    pub missed: u64,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Smallest.
    pub min: Duration,
    /// Largest.
    pub max: Duration,
}

/// Every latency measured, with when it was measured: percentiles for tables, the time
/// series for plots. Grows with the call (one entry per marker or frame); it is a
/// measurement harness, not part of the real-time path.
#[derive(Debug, Clone)]
pub struct LatencyRecorder {
    origin: Instant,
    samples: Vec<(Duration, Duration)>,
    missed: u64,
}

impl LatencyRecorder {
    /// An empty recorder; the time series counts from `origin`.
    pub fn new(origin: Instant) -> Self {
        Self { origin, samples: Vec::with_capacity(4096), missed: 0 }
    }

    /// Records `latency` measured at `at`.
    pub fn record(&mut self, at: Instant, latency: Duration) {
        self.samples.push((at.saturating_duration_since(self.origin), latency));
    }

    /// Sets the number of probes that were never measured.
    pub fn set_missed(&mut self, missed: u64) {
        self.missed = missed;
    }

    /// Adds one probe never measured.
    pub fn add_missed(&mut self) {
        self.missed += 1;
    }

    /// (time since origin, latency) of every measurement, in recording order.
    pub fn series(&self) -> &[(Duration, Duration)] {
        &self.samples
    }

    /// Number of measurements.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether nothing was measured.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Exact percentiles of everything recorded (all zero when empty).
    pub fn summary(&self) -> ProbeSummary {
        let mut sorted: Vec<Duration> = self.samples.iter().map(|&(_, l)| l).collect();
        sorted.sort_unstable();
        let Some((&min, &max)) = sorted.first().zip(sorted.last()) else {
            return ProbeSummary { missed: self.missed, ..ProbeSummary::default() };
        };
        let rank = |p: f64| {
            let r = (p * sorted.len() as f64).ceil() as usize;
            sorted[r.clamp(1, sorted.len()) - 1]
        };
        ProbeSummary {
            count: sorted.len(),
            missed: self.missed,
            p50: rank(0.50),
            p95: rank(0.95),
            p99: rank(0.99),
            min,
            max,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::synth::{Rng, Voice, speech_like};
    use crate::pipeline::BufferPool;
    use crate::video::av1::synthetic::SyntheticScene;

    /// Runs `signal` (with markers inserted) through `channel` frame by frame and returns
    /// the measured latencies, the matcher and the detector.
    fn run_line(
        rate: u32,
        signal: &[f32],
        delay_samples: usize,
        mut channel: impl FnMut(&mut [f32]),
    ) -> (Vec<Duration>, MarkerMatcher, AudioMarkerDetector) {
        let frame = (rate / 100) as usize;
        let mut inserter = AudioMarkerInserter::new(rate, Duration::from_millis(500)).unwrap();
        let mut detector =
            AudioMarkerDetector::new(rate, AudioMarkerDetector::DEFAULT_THRESHOLD).unwrap();
        let mut matcher = MarkerMatcher::new(Duration::from_millis(400));
        let t0 = Instant::now();
        let mut sent = Vec::new();
        let mut latencies = Vec::new();
        for (tick, chunk) in signal.chunks_exact(frame).enumerate() {
            let now = t0 + Duration::from_millis(10 * tick as u64);
            let mut mic = chunk.to_vec();
            if let Some(at) = inserter.process(&mut mic, now) {
                matcher.sent(at);
            }
            sent.extend_from_slice(&mic);
        }
        let mut received = vec![0.0f32; delay_samples];
        received.extend_from_slice(&sent);
        received.truncate(sent.len());
        channel(&mut received);
        for (tick, chunk) in received.chunks_exact(frame).enumerate() {
            let now = t0 + Duration::from_millis(10 * tick as u64);
            if let Some(d) = detector.process(chunk, now) {
                latencies.extend(matcher.received(d.played_at));
            }
        }
        matcher.expire(t0 + Duration::from_secs(3600));
        (latencies, matcher, detector)
    }

    #[test]
    fn markers_in_speech_are_found_at_the_exact_delay() {
        for rate in [16_000u32, 48_000] {
            let speech = speech_like(5.0, rate, Voice::default());
            // 123.4 ms of delay, not a multiple of anything convenient.
            let delay = (0.1234 * rate as f64) as usize;
            let (latencies, matcher, _) = run_line(rate, &speech, delay, |_| {});
            assert_eq!(latencies.len(), 10, "rate {rate}");
            assert_eq!(matcher.missed(), 0);
            let expected = samples_to_duration(delay as u64, rate);
            for l in latencies {
                let error = l.abs_diff(expected);
                // One 8 kHz sample of resolution.
                assert!(error <= Duration::from_micros(125), "{l:?} vs {expected:?}");
            }
        }
    }

    #[test]
    fn markers_survive_gain_noise_and_a_missing_chunk_is_counted() {
        let rate = 16_000;
        let speech = speech_like(5.0, rate, Voice { pitch_hz: 200.0, peak: 0.5, seed: 3 });
        let mut rng = Rng::new(9);
        let (latencies, matcher, _) = run_line(rate, &speech, 800, |x| {
            for s in x.iter_mut() {
                *s = 0.3 * *s + 0.03 * rng.gaussian();
            }
            // Wipe the third marker (inserted at 1.25 s, received 50 ms later).
            x[20_700..22_000].fill(0.0);
        });
        assert_eq!(latencies.len(), 9);
        assert_eq!(matcher.missed(), 1);
        assert!(latencies.iter().all(|l| l.abs_diff(Duration::from_millis(50)).as_micros() <= 125));
    }

    #[test]
    fn speech_alone_never_triggers_the_detector() {
        let rate = 16_000;
        let mut detector =
            AudioMarkerDetector::new(rate, AudioMarkerDetector::DEFAULT_THRESHOLD).unwrap();
        let t0 = Instant::now();
        for seed in 1..4 {
            let speech = speech_like(
                10.0,
                rate,
                Voice { pitch_hz: 100.0 + 50.0 * seed as f32, peak: 0.9, seed },
            );
            for chunk in speech.chunks_exact(160) {
                assert!(detector.process(chunk, t0).is_none());
            }
        }
        assert!(detector.best_below_threshold() < 0.35, "{}", detector.best_below_threshold());
    }

    #[test]
    fn bad_settings_are_refused() {
        assert_eq!(
            AudioMarkerInserter::new(44_100, Duration::from_secs(1)).unwrap_err(),
            ProbeError::UnsupportedRate(44_100)
        );
        assert!(matches!(
            AudioMarkerInserter::new(16_000, Duration::from_millis(100)),
            Err(ProbeError::PeriodTooShort { .. })
        ));
        assert!(matches!(AudioMarkerDetector::new(16_000, 1.5), Err(ProbeError::BadThreshold(_))));
        assert!(matches!(FrameIdStamp::for_size(100, 40), Err(ProbeError::FrameTooSmall { .. })));
    }

    #[test]
    fn a_late_or_foreign_detection_is_unmatched() {
        let t0 = Instant::now();
        let mut matcher = MarkerMatcher::new(Duration::from_millis(300));
        assert_eq!(matcher.received(t0), None);
        matcher.sent(t0 + Duration::from_millis(10));
        assert_eq!(matcher.received(t0 + Duration::from_millis(500)), None);
        assert_eq!(matcher.unmatched(), 2);
        assert_eq!(matcher.expire(t0 + Duration::from_secs(1)), 1);
    }

    #[test]
    fn frame_ids_round_trip_and_corruption_is_caught() {
        let pool = BufferPool::new(4, 0, 640 * 360 * 3 / 2);
        let scene = SyntheticScene::new(640, 360);
        let stamp = FrameIdStamp::for_size(640, 360).unwrap();
        assert_eq!(stamp.block_size(), 16);
        for id in [0u16, 1, 0x5a5a, 0xffff, 12_345] {
            let mut frame = scene.frame(&pool, u64::from(id), Instant::now()).unwrap();
            stamp.write(&mut frame, id).unwrap();
            assert_eq!(stamp.read(&frame).unwrap(), Some(id));
            // Flip one block (bit 5): the CRC must notice.
            let stride = frame.stride(0);
            let luma = frame.plane_mut(0);
            let x = 5 * 16 + 8;
            luma[8 * stride + x - 4..8 * stride + x + 4].iter_mut().for_each(|v| *v = 255 - *v);
            for y in 4..12 {
                for x in 5 * 16 + 4..5 * 16 + 12 {
                    luma[y * stride + x] = 255 - luma[y * stride + x];
                }
            }
            assert_eq!(stamp.read(&frame).unwrap(), None, "id {id}");
        }
        // The untouched scene carries no valid stamp (by CRC) in the vast majority of frames.
        let unstamped = (0..64u64)
            .filter(|&i| {
                stamp.read(&scene.frame(&pool, i, Instant::now()).unwrap()).unwrap().is_some()
            })
            .count();
        assert!(unstamped <= 1, "{unstamped}");
    }

    #[test]
    fn frame_id_clock_and_recorder() {
        let t0 = Instant::now();
        let mut clock = FrameIdClock::new();
        for id in 0..5000u32 {
            clock.captured(id as u16, t0 + Duration::from_millis(u64::from(id)));
        }
        assert_eq!(
            clock.latency(4999, t0 + Duration::from_millis(5099)),
            Some(Duration::from_millis(100))
        );
        // Only the last 4096 ids are kept.
        assert_eq!(clock.capture_time(903), None);
        let mut recorder = LatencyRecorder::new(t0);
        assert_eq!(recorder.summary().count, 0);
        for ms in 1..=100u64 {
            recorder.record(t0 + Duration::from_secs(ms), Duration::from_millis(ms));
        }
        recorder.add_missed();
        let s = recorder.summary();
        assert_eq!((s.count, s.missed), (100, 1));
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p95, Duration::from_millis(95));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!((s.min, s.max), (Duration::from_millis(1), Duration::from_millis(100)));
        assert_eq!(recorder.series()[2], (Duration::from_secs(3), Duration::from_millis(3)));
    }
}
