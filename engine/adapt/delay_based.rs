//! Delay-based congestion detection and rate control (GCC, draft-ietf-rmcat-gcc-02, in
//! the form libwebrtc uses today): packet groups, a trendline filter over the queueing
//! delay, an overuse detector with an adaptive threshold, and an AIMD rate controller.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Packets sent within this span of a group's first packet form one group (a burst the
/// pacer released together; their individual spacing says nothing about the path).
const BURST: Duration = Duration::from_millis(5);
/// Trendline regression window, in groups.
const TRENDLINE_WINDOW: usize = 20;
/// Smoothing of the accumulated delay before regression.
const SMOOTHING: f64 = 0.9;
/// Gain applied to the slope (libwebrtc's `kDefaultTrendlineThresholdGain`).
const THRESHOLD_GAIN: f64 = 4.0;
/// Overuse must last this long before it is acted on.
const OVERUSE_TIME: f64 = 10.0;

/// What the detector concludes about the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BandwidthUsage {
    /// Queueing delay is stable.
    Normal,
    /// Queueing delay grows: the sender is above capacity.
    Overusing,
    /// Queueing delay shrinks: a queue is draining.
    Underusing,
}

#[derive(Debug, Clone, Copy)]
struct Group {
    first_send: Instant,
    last_send: Instant,
    last_arrival: Instant,
}

/// Trendline estimator plus overuse detector.
#[derive(Debug)]
pub struct TrendlineDetector {
    current: Option<Group>,
    previous: Option<Group>,
    first_arrival: Option<Instant>,
    accumulated_ms: f64,
    smoothed_ms: f64,
    window: VecDeque<(f64, f64)>,
    num_deltas: usize,
    prev_trend: f64,
    modified_trend: f64,
    threshold: f64,
    last_threshold_update: Option<Instant>,
    time_over_using: f64,
    overuse_counter: u32,
    state: BandwidthUsage,
}

impl Default for TrendlineDetector {
    fn default() -> Self {
        Self::new()
    }
}

impl TrendlineDetector {
    /// A detector with libwebrtc's defaults (threshold starting at 12.5).
    pub fn new() -> Self {
        Self {
            current: None,
            previous: None,
            first_arrival: None,
            accumulated_ms: 0.0,
            smoothed_ms: 0.0,
            window: VecDeque::with_capacity(TRENDLINE_WINDOW + 1),
            num_deltas: 0,
            prev_trend: 0.0,
            modified_trend: 0.0,
            threshold: 12.5,
            last_threshold_update: None,
            time_over_using: -1.0,
            overuse_counter: 0,
            state: BandwidthUsage::Normal,
        }
    }

    /// The current hypothesis.
    pub fn state(&self) -> BandwidthUsage {
        self.state
    }

    /// The last modified trend and the adaptive threshold it is compared with.
    #[cfg(any(test, feature = "testing"))]
    pub fn trend_and_threshold(&self) -> (f64, f64) {
        (self.modified_trend, self.threshold)
    }

    /// One received packet, in send order.
    pub fn on_packet(&mut self, send: Instant, arrival: Instant) {
        let Some(current) = self.current.as_mut() else {
            self.current = Some(Group { first_send: send, last_send: send, last_arrival: arrival });
            return;
        };
        if send < current.first_send {
            // Reordered in send time: belongs to an older group; ignore.
            return;
        }
        if send.saturating_duration_since(current.first_send) <= BURST {
            current.last_send = current.last_send.max(send);
            current.last_arrival = current.last_arrival.max(arrival);
            return;
        }
        let finished = *current;
        if let Some(previous) = self.previous {
            let send_delta = finished.last_send.saturating_duration_since(previous.last_send);
            let arrival_delta = signed_ms(finished.last_arrival, previous.last_arrival);
            self.update_trend(send_delta.as_secs_f64() * 1e3, arrival_delta, finished.last_arrival);
        }
        self.previous = Some(finished);
        self.current = Some(Group { first_send: send, last_send: send, last_arrival: arrival });
    }

    fn update_trend(&mut self, send_delta_ms: f64, arrival_delta_ms: f64, arrival: Instant) {
        let delay_ms = arrival_delta_ms - send_delta_ms;
        self.num_deltas += 1;
        self.accumulated_ms += delay_ms;
        self.smoothed_ms = SMOOTHING * self.smoothed_ms + (1.0 - SMOOTHING) * self.accumulated_ms;
        let first = *self.first_arrival.get_or_insert(arrival);
        let x = signed_ms(arrival, first);
        self.window.push_back((x, self.smoothed_ms));
        if self.window.len() > TRENDLINE_WINDOW {
            self.window.pop_front();
        }
        let mut trend = self.prev_trend;
        if self.window.len() == TRENDLINE_WINDOW {
            if let Some(slope) = linear_fit_slope(&self.window) {
                trend = slope;
            }
        }
        self.detect(trend, send_delta_ms, arrival);
        self.prev_trend = trend;
    }

    fn detect(&mut self, trend: f64, ts_delta_ms: f64, now: Instant) {
        if self.num_deltas < 2 {
            return;
        }
        let modified = (self.num_deltas.min(60) as f64) * trend * THRESHOLD_GAIN;
        self.modified_trend = modified;
        if modified > self.threshold {
            if self.time_over_using < 0.0 {
                self.time_over_using = ts_delta_ms / 2.0;
            } else {
                self.time_over_using += ts_delta_ms;
            }
            self.overuse_counter += 1;
            if self.time_over_using > OVERUSE_TIME
                && self.overuse_counter > 1
                && trend >= self.prev_trend
            {
                self.time_over_using = 0.0;
                self.overuse_counter = 0;
                self.state = BandwidthUsage::Overusing;
            }
        } else if modified < -self.threshold {
            self.time_over_using = -1.0;
            self.overuse_counter = 0;
            self.state = BandwidthUsage::Underusing;
        } else {
            self.time_over_using = -1.0;
            self.overuse_counter = 0;
            self.state = BandwidthUsage::Normal;
        }
        self.update_threshold(modified, now);
    }

    /// The threshold follows |trend| (fast down, slowly up) so that the detector stays
    /// sensitive yet does not starve against loss-based flows with deep queues.
    fn update_threshold(&mut self, modified: f64, now: Instant) {
        let last = *self.last_threshold_update.get_or_insert(now);
        if modified.abs() > self.threshold + 15.0 {
            // A sudden spike (e.g. a route change) must not drag the threshold along.
            self.last_threshold_update = Some(now);
            return;
        }
        let k = if modified.abs() < self.threshold { 0.039 } else { 0.0087 };
        let dt_ms = signed_ms(now, last).clamp(0.0, 100.0);
        self.threshold += k * (modified.abs() - self.threshold) * dt_ms;
        self.threshold = self.threshold.clamp(6.0, 600.0);
        self.last_threshold_update = Some(now);
    }
}

fn signed_ms(a: Instant, b: Instant) -> f64 {
    match a.checked_duration_since(b) {
        Some(d) => d.as_secs_f64() * 1e3,
        None => -(b.duration_since(a).as_secs_f64() * 1e3),
    }
}

fn linear_fit_slope(points: &VecDeque<(f64, f64)>) -> Option<f64> {
    let n = points.len() as f64;
    let (sx, sy) = points.iter().fold((0.0, 0.0), |(sx, sy), &(x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / n, sy / n);
    let (mut num, mut den) = (0.0, 0.0);
    for &(x, y) in points {
        num += (x - mx) * (y - my);
        den += (x - mx) * (x - mx);
    }
    (den > 0.0).then(|| num / den)
}

/// The AIMD controller's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateControlState {
    /// Keep the rate.
    Hold,
    /// Probe upwards.
    Increase,
    /// Back off.
    Decrease,
}

/// Running estimate of the link capacity from the acknowledged rates at past overuses,
/// used to switch from multiplicative to cautious additive increase near the limit.
#[derive(Debug, Clone, Copy, Default)]
struct LinkCapacity {
    estimate_kbps: Option<f64>,
    variance: f64,
}

impl LinkCapacity {
    fn update(&mut self, sample_kbps: f64) {
        const ALPHA: f64 = 0.05;
        let estimate = match self.estimate_kbps {
            None => sample_kbps,
            Some(e) => (1.0 - ALPHA) * e + ALPHA * sample_kbps,
        };
        let norm = estimate.max(1.0);
        self.variance = ((1.0 - ALPHA) * self.variance
            + ALPHA * (estimate - sample_kbps).powi(2) / norm)
            .clamp(0.4, 2.5);
        self.estimate_kbps = Some(estimate);
    }

    fn deviation(&self) -> f64 {
        self.estimate_kbps.map_or(0.0, |e| (self.variance * e).sqrt())
    }

    fn upper(&self) -> Option<f64> {
        self.estimate_kbps.map(|e| e + 3.0 * self.deviation())
    }

    fn lower(&self) -> Option<f64> {
        self.estimate_kbps.map(|e| e - 3.0 * self.deviation())
    }
}

/// AIMD rate control driven by [`BandwidthUsage`] signals.
#[derive(Debug)]
pub struct AimdRateControl {
    rate_bps: f64,
    min_bps: f64,
    max_bps: f64,
    state: RateControlState,
    capacity: LinkCapacity,
    last_update: Option<Instant>,
    last_decrease: Option<Instant>,
    rtt: Duration,
    /// Multiplicative decrease factor (libwebrtc: 0.85).
    beta: f64,
}

impl AimdRateControl {
    /// A controller starting at `start_bps`, kept within `[min_bps, max_bps]`.
    pub fn new(start_bps: u64, min_bps: u64, max_bps: u64) -> Self {
        Self {
            rate_bps: start_bps as f64,
            min_bps: min_bps as f64,
            max_bps: max_bps as f64,
            state: RateControlState::Hold,
            capacity: LinkCapacity::default(),
            last_update: None,
            last_decrease: None,
            rtt: Duration::from_millis(200),
            beta: 0.85,
        }
    }

    /// Updates the round-trip time (paces additive increase and decreases).
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// The current rate.
    pub fn rate_bps(&self) -> u64 {
        self.rate_bps as u64
    }

    /// The controller state.
    #[cfg(any(test, feature = "testing"))]
    pub fn state(&self) -> RateControlState {
        self.state
    }

    /// Raises the rate to `bps` if it is lower (a probe showed the link carries it).
    pub fn raise_to(&mut self, bps: u64) {
        self.rate_bps = self.rate_bps.max(bps as f64).min(self.max_bps);
    }

    /// Forces the rate (e.g. to follow a lower combined estimate so that increase starts
    /// from what is actually sent).
    pub fn cap(&mut self, bps: u64) {
        self.rate_bps = self.rate_bps.min(bps as f64).max(self.min_bps);
    }

    /// One step with the detector's hypothesis and the acknowledged (received) rate.
    pub fn update(&mut self, now: Instant, usage: BandwidthUsage, acked_bps: Option<f64>) -> u64 {
        self.state = match (usage, self.state) {
            (BandwidthUsage::Overusing, _) => RateControlState::Decrease,
            (BandwidthUsage::Underusing, _) => RateControlState::Hold,
            (BandwidthUsage::Normal, RateControlState::Hold) => RateControlState::Increase,
            (BandwidthUsage::Normal, state) => state,
        };
        let dt = self
            .last_update
            .map_or(0.0, |t| now.saturating_duration_since(t).as_secs_f64().min(1.0));
        self.last_update = Some(now);
        let acked_kbps = acked_bps.map(|b| b / 1e3);
        match self.state {
            RateControlState::Hold => {}
            RateControlState::Increase => {
                if let (Some(acked), Some(upper)) = (acked_kbps, self.capacity.upper()) {
                    if acked > upper {
                        // Well above the old capacity: the link got faster, forget it.
                        self.capacity = LinkCapacity::default();
                    }
                }
                let increase = if self.capacity.estimate_kbps.is_some() {
                    // Near the known capacity: about one packet per response time.
                    let response_s = (self.rtt + Duration::from_millis(100)).as_secs_f64();
                    let bits_per_frame = self.rate_bps / 30.0;
                    let packets_per_frame = (bits_per_frame / (1200.0 * 8.0)).ceil().max(1.0);
                    let packet_bits = bits_per_frame / packets_per_frame;
                    (packet_bits / response_s).max(4000.0) * dt
                } else {
                    // Far from it: 8 % per second.
                    (self.rate_bps * (1.08f64.powf(dt) - 1.0)).max(1000.0 * dt)
                };
                let mut new_rate = self.rate_bps + increase;
                if let Some(acked) = acked_bps {
                    // Never run far ahead of what the path demonstrably carries.
                    new_rate = new_rate.min((1.5 * acked + 10_000.0).max(self.rate_bps));
                }
                self.rate_bps = new_rate;
            }
            RateControlState::Decrease => {
                // Once per RTT at most: the previous decrease needs a round trip to show.
                let recently =
                    self.last_decrease.is_some_and(|t| now.saturating_duration_since(t) < self.rtt);
                if !recently {
                    if let Some(acked) = acked_bps {
                        let target = self.beta * acked;
                        self.rate_bps = self.rate_bps.min(target);
                        if let Some(lower) = self.capacity.lower() {
                            if acked / 1e3 < lower {
                                self.capacity = LinkCapacity::default();
                            }
                        }
                        self.capacity.update(acked / 1e3);
                    } else {
                        self.rate_bps *= self.beta;
                    }
                    self.last_decrease = Some(now);
                }
                self.state = RateControlState::Hold;
            }
        }
        self.rate_bps = self.rate_bps.clamp(self.min_bps, self.max_bps);
        self.rate_bps as u64
    }
}
