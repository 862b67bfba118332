//! Sender-side bandwidth estimation and media adaptation, sans-IO.
//!
//! [`BandwidthEstimator`] consumes transport-wide feedback ([`PacketFeedback`]: when each
//! packet was sent and when, if ever, it arrived) and produces a target bitrate, the
//! minimum of two estimates:
//!
//! * delay-based ([`delay_based`]): GCC's trendline filter on the growth of queueing delay,
//!   an overuse detector with an adaptive threshold and an AIMD controller that backs off
//!   to 0.85 x the acknowledged rate on overuse;
//! * loss-based ([`LossBasedEstimator`]): +8 %/s while loss is under 2 %, hold between 2
//!   and 10 %, and `rate * (1 - loss / 2)` above 10 %.
//!
//! [`policy::AdaptationPolicy`] turns the target into encoder settings (resolution,
//! framerate, video and audio bitrates) with hysteresis.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sottovoce::adapt::{BandwidthEstimator, BweConfig, PacketFeedback};
//!
//! let t0 = Instant::now();
//! let mut bwe = BandwidthEstimator::new(BweConfig::default());
//! let feedback: Vec<PacketFeedback> = (0..50u16)
//!     .map(|i| PacketFeedback {
//!         seq: i,
//!         send_time: t0 + Duration::from_millis(10 * u64::from(i)),
//!         arrival_time: Some(t0 + Duration::from_millis(10 * u64::from(i) + 30)),
//!         size: 1200,
//!     })
//!     .collect();
//! let target = bwe.on_feedback(t0 + Duration::from_millis(600), &feedback);
//! assert!(target >= BweConfig::default().start_bps);
//! ```

pub mod delay_based;
#[cfg(any(test, feature = "testing"))]
pub mod policy;
pub(crate) mod probe;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use delay_based::{AimdRateControl, TrendlineDetector};

/// Lowest Opus bitrate the allocator gives audio: wideband speech with in-band FEC stays
/// intelligible down to here.
pub(crate) const MIN_AUDIO_BPS: u32 = 16_000;

/// What audio costs on top of its Opus bitrate, as the estimator counts it: RTP header,
/// extensions and SRTP tag of 50 packets a second (about 14 kbit/s), plus RTCP.
pub(crate) const AUDIO_OVERHEAD_BPS: u64 = 18_000;

/// Audio first: the Opus bitrate an estimate of `estimate_bps` affords. Audio may take
/// half the estimate with its overhead, so it keeps its configured rate (32 kbit/s by
/// default) down to about 100 kbit/s and gives way only on thinner links, where it then
/// still gets more than video, down to [`MIN_AUDIO_BPS`]. The caller caps it at the
/// configured rate.
pub(crate) fn audio_allocation_bps(estimate_bps: u64) -> u32 {
    let affordable = (estimate_bps / 2).saturating_sub(AUDIO_OVERHEAD_BPS);
    affordable.clamp(u64::from(MIN_AUDIO_BPS), u64::from(u32::MAX)) as u32
}

/// Transport-wide feedback about one sent packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketFeedback {
    /// Transport-wide sequence number.
    pub seq: u16,
    /// When the packet left the sender.
    pub send_time: Instant,
    /// When it reached the receiver (receiver clock), or `None` if reported lost.
    pub arrival_time: Option<Instant>,
    /// Bytes on the wire.
    pub size: usize,
}

/// Estimator tuning.
#[derive(Debug, Clone, PartialEq)]
pub struct BweConfig {
    /// Rate before any feedback.
    pub start_bps: u64,
    /// Never below this.
    pub min_bps: u64,
    /// Never above this.
    pub max_bps: u64,
    /// Window of the acknowledged-rate measurement.
    pub acked_window: Duration,
}

impl Default for BweConfig {
    fn default() -> Self {
        Self {
            start_bps: 300_000,
            min_bps: 30_000,
            max_bps: 5_000_000,
            acked_window: Duration::from_millis(500),
        }
    }
}

/// Received throughput over a sliding window of arrival times.
#[derive(Debug)]
struct AckedBitrate {
    window: Duration,
    samples: VecDeque<(Instant, usize)>,
    bytes: usize,
    first: Option<Instant>,
    latest: Option<Instant>,
}

impl AckedBitrate {
    fn new(window: Duration) -> Self {
        Self { window, samples: VecDeque::with_capacity(4096), bytes: 0, first: None, latest: None }
    }

    fn on_packet(&mut self, arrival: Instant, size: usize) {
        self.first.get_or_insert(arrival);
        let latest = self.latest.map_or(arrival, |l| l.max(arrival));
        self.latest = Some(latest);
        self.samples.push_back((arrival, size));
        self.bytes += size;
        while let Some(&(t, s)) = self.samples.front() {
            if latest.saturating_duration_since(t) <= self.window {
                break;
            }
            self.samples.pop_front();
            self.bytes -= s;
        }
    }

    fn bitrate(&self) -> Option<f64> {
        let (first, latest) = (self.first?, self.latest?);
        if latest.saturating_duration_since(first) < self.window {
            return None;
        }
        Some(self.bytes as f64 * 8.0 / self.window.as_secs_f64())
    }
}

/// Loss-based estimate (the classic GCC sender-side controller).
#[derive(Debug)]
pub struct LossBasedEstimator {
    rate_bps: f64,
    min_bps: f64,
    max_bps: f64,
    lost: u32,
    total: u32,
    window_start: Option<Instant>,
    last_update: Option<Instant>,
    last_decrease: Option<Instant>,
    last_loss: f64,
    rtt: Duration,
}

impl LossBasedEstimator {
    /// Below this loss the rate grows.
    pub const LOW_LOSS: f64 = 0.02;
    /// Above this loss the rate shrinks.
    pub const HIGH_LOSS: f64 = 0.10;
    /// Loss is measured over at least this long...
    const MIN_WINDOW: Duration = Duration::from_millis(500);
    /// ...and at least this many packets, so one lost packet is not "10 % loss".
    const MIN_PACKETS: u32 = 20;

    /// An estimator starting at `start_bps`.
    pub fn new(start_bps: u64, min_bps: u64, max_bps: u64) -> Self {
        Self {
            rate_bps: start_bps as f64,
            min_bps: min_bps as f64,
            max_bps: max_bps as f64,
            lost: 0,
            total: 0,
            window_start: None,
            last_update: None,
            last_decrease: None,
            last_loss: 0.0,
            rtt: Duration::from_millis(200),
        }
    }

    /// The current estimate.
    pub fn rate_bps(&self) -> u64 {
        self.rate_bps as u64
    }

    /// Loss fraction of the last complete measurement window.
    pub fn last_loss(&self) -> f64 {
        self.last_loss
    }

    /// Updates the round-trip time (spaces decreases).
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// Keeps the estimate from running far above the delay-based one while loss is low,
    /// so that a later loss episode starts decreasing from a meaningful rate.
    pub fn cap(&mut self, bps: f64) {
        self.rate_bps = self.rate_bps.min(bps);
    }

    /// Raises the estimate to `bps` if lower (a probe showed the link carries it).
    pub fn raise_to(&mut self, bps: f64) {
        self.rate_bps = self.rate_bps.max(bps).min(self.max_bps);
    }

    /// Counts one feedback batch; updates the rate when a window is complete.
    pub fn on_feedback(&mut self, now: Instant, feedback: &[PacketFeedback]) {
        let start = *self.window_start.get_or_insert(now);
        for f in feedback {
            self.total += 1;
            self.lost += u32::from(f.arrival_time.is_none());
        }
        if self.total < Self::MIN_PACKETS || now.saturating_duration_since(start) < Self::MIN_WINDOW
        {
            return;
        }
        let loss = f64::from(self.lost) / f64::from(self.total);
        self.last_loss = loss;
        self.lost = 0;
        self.total = 0;
        self.window_start = Some(now);
        let dt = self
            .last_update
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64().min(1.0));
        self.last_update = Some(now);
        if loss < Self::LOW_LOSS {
            self.rate_bps = self.rate_bps * 1.08f64.powf(dt) + 1000.0 * dt;
        } else if loss > Self::HIGH_LOSS {
            let spaced = self.last_decrease.is_none_or(|t| {
                now.saturating_duration_since(t) >= Duration::from_millis(300) + self.rtt
            });
            if spaced {
                self.rate_bps *= 1.0 - 0.5 * loss;
                self.last_decrease = Some(now);
            }
        }
        self.rate_bps = self.rate_bps.clamp(self.min_bps, self.max_bps);
    }
}

/// What the estimator is currently limited by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg(any(test, feature = "testing"))]
pub enum Limiter {
    /// The delay-based estimate is lower.
    Delay,
    /// The loss-based estimate is lower.
    Loss,
}

/// A snapshot of the estimator for statistics and plots.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg(any(test, feature = "testing"))]
pub struct BweState {
    /// The combined target.
    pub target_bps: u64,
    /// Delay-based estimate.
    pub delay_based_bps: u64,
    /// Loss-based estimate.
    pub loss_based_bps: u64,
    /// Measured received rate, once known.
    pub acked_bps: Option<u64>,
    /// Detector hypothesis.
    pub usage: delay_based::BandwidthUsage,
    /// Loss of the last loss window.
    pub loss: f64,
    /// Which estimate sets the target.
    pub limiter: Limiter,
}

/// Combined delay- and loss-based bandwidth estimator. See the [module docs](self).
#[derive(Debug)]
pub struct BandwidthEstimator {
    config: BweConfig,
    detector: TrendlineDetector,
    aimd: AimdRateControl,
    loss: LossBasedEstimator,
    acked: AckedBitrate,
    target_bps: u64,
}

impl BandwidthEstimator {
    /// An estimator with this tuning.
    pub fn new(config: BweConfig) -> Self {
        let (start, min, max) =
            (config.start_bps, config.min_bps, config.max_bps.max(config.min_bps));
        Self {
            detector: TrendlineDetector::new(),
            aimd: AimdRateControl::new(start, min, max),
            loss: LossBasedEstimator::new(start, min, max),
            acked: AckedBitrate::new(config.acked_window),
            target_bps: start.clamp(min, max),
            config,
        }
    }

    /// Updates the round-trip time.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.aimd.set_rtt(rtt);
        self.loss.set_rtt(rtt);
    }

    /// The current target bitrate.
    pub fn target_bps(&self) -> u64 {
        self.target_bps
    }

    /// A snapshot for statistics.
    #[cfg(any(test, feature = "testing"))]
    pub fn state(&self) -> BweState {
        let (delay, loss) = (self.aimd.rate_bps(), self.loss.rate_bps());
        BweState {
            target_bps: self.target_bps,
            delay_based_bps: delay,
            loss_based_bps: loss,
            acked_bps: self.acked.bitrate().map(|b| b as u64),
            usage: self.detector.state(),
            loss: self.loss.last_loss(),
            limiter: if delay <= loss { Limiter::Delay } else { Limiter::Loss },
        }
    }

    /// Whether the delay-based detector sees the queue growing.
    pub fn overusing(&self) -> bool {
        self.detector.state() == delay_based::BandwidthUsage::Overusing
    }

    /// A probe cluster delivered `bps`: both estimates may jump there (the loss-based one
    /// only while loss is low). Returns the new target bitrate.
    pub fn on_probe_result(&mut self, bps: u64) -> u64 {
        let bps = bps.clamp(self.config.min_bps, self.config.max_bps);
        self.aimd.raise_to(bps);
        if self.loss.last_loss() < LossBasedEstimator::LOW_LOSS {
            self.loss.raise_to(bps as f64);
        }
        let delay_based = self.aimd.rate_bps();
        self.target_bps =
            delay_based.min(self.loss.rate_bps()).clamp(self.config.min_bps, self.config.max_bps);
        self.target_bps
    }

    /// One feedback report (packets in transport sequence order), received at `now`.
    /// Returns the new target bitrate.
    pub fn on_feedback(&mut self, now: Instant, feedback: &[PacketFeedback]) -> u64 {
        for f in feedback {
            if let Some(arrival) = f.arrival_time {
                self.detector.on_packet(f.send_time, arrival);
                self.acked.on_packet(arrival, f.size);
            }
        }
        self.loss.on_feedback(now, feedback);
        let acked = self.acked.bitrate();
        let delay_based = self.aimd.update(now, self.detector.state(), acked);
        // While the path is clean, keep the loss-based estimate within reach of the
        // delay-based one (it would otherwise grow without bound and never bind).
        if self.loss.last_loss() < LossBasedEstimator::LOW_LOSS {
            self.loss.cap((delay_based as f64 * 1.5).max(self.config.min_bps as f64));
        }
        let target = delay_based.min(self.loss.rate_bps());
        if target < delay_based {
            // Loss limits us: increase from what is really sent once loss clears.
            self.aimd.cap(((target as f64) * 1.5) as u64);
        }
        self.target_bps = target.clamp(self.config.min_bps, self.config.max_bps);
        self.target_bps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audio_keeps_its_rate_until_the_link_is_thin_then_gives_way_to_a_floor() {
        // Plenty: more than any configured rate (the caller caps it).
        assert!(audio_allocation_bps(2_000_000) >= 500_000);
        // 100 kbit/s: exactly the default 32 kbit/s still fits.
        assert_eq!(audio_allocation_bps(100_000), 32_000);
        // 80 kbit/s: 22 kbit/s; never under the floor, even with no estimate to speak of.
        assert_eq!(audio_allocation_bps(80_000), 22_000);
        assert_eq!(audio_allocation_bps(20_000), MIN_AUDIO_BPS);
        assert_eq!(audio_allocation_bps(0), MIN_AUDIO_BPS);
    }
}
