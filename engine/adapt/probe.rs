//! Bandwidth probing, sans-IO: when to send a probe cluster and at what rate
//! ([`ProbeController`]), and what the link delivered of it ([`ProbeEstimator`]).
//!
//! A probe cluster is a short burst of packets paced at a rate above the current
//! estimate. If the bottleneck has that much room, the packets arrive as fast as they
//! left and the estimate may jump there at once, instead of the delay-based controller's
//! +8 %/s climb (13 s from 300 kbit/s to 1 Mbit/s). If it has not, they arrive at the
//! bottleneck's rate, which is the estimate. The model is libwebrtc's
//! `ProbeController`/`ProbeBitrateEstimator`:
//!
//! * at the start, two clusters at 3x and 6x the start rate;
//! * while results keep coming back near the probed rate, a further cluster at twice
//!   the new estimate (up to the ceiling);
//! * after a large drop of the estimate, one cluster at 85 % of the rate before the drop,
//!   a few seconds later (capacity that dips and returns is regained in one probe);
//! * periodically (every 2.5 s), below the ceiling and without overuse, one cluster at
//!   twice the estimate, whether or not the media fills the estimate. libwebrtc probes
//!   periodically only while application-limited; here a link that comes back after a
//!   drop, while the encoder fills the lowered estimate, is otherwise regained only by the
//!   additive increase near the old capacity (8.4 s to 80 % of a restored 2 Mbit/s,
//!   against 0.2-2.7 s with these probes). It is affordable because a cluster is
//!   padding sized to 15 ms at its rate: on a full link it adds at most 15 ms of queue
//!   (full-size RTX copies made a probe on a 300 kbit/s link several times that and
//!   overflowed a 6 kB queue).
//!
//! A cluster's result is valid only when most of it came back (at least 80 % of its
//! packets and its minimum count), and the rate the receiver saw is not implausibly below
//! the sent one (a ratio over 2 means cross traffic or a burst, not the link).

use std::time::{Duration, Instant};

/// Shortest duration of a cluster at its rate.
const CLUSTER_DURATION: Duration = Duration::from_millis(15);
/// Fewest packets in a cluster.
const MIN_CLUSTER_PACKETS: u32 = 5;
/// Initial probes, as multiples of the start rate.
const INITIAL_MULTIPLIERS: [f64; 2] = [3.0, 6.0];
/// A result at least this fraction of the probed rate probes further.
const FURTHER_PROBE_THRESHOLD: f64 = 0.85;
/// A drop of the estimate below this fraction of its recent peak is "large".
const LARGE_DROP: f64 = 0.66;
/// After a large drop, probe at this fraction of the rate before it...
const AFTER_DROP_FRACTION: f64 = 0.85;
/// ...this long after the drop.
const AFTER_DROP_DELAY: Duration = Duration::from_secs(3);
/// Interval of the periodic probes.
const PERIODIC_INTERVAL: Duration = Duration::from_millis(2500);
/// A cluster's result is waited for at most this long.
const RESULT_TIMEOUT: Duration = Duration::from_secs(1);
/// A cluster the link spread out measured the link's capacity, our own media included;
/// the estimate takes this share of it, the same back-off the delay-based controller makes
/// from a measured rate on overuse. libwebrtc takes 95 %: on the goog_cc 500/800 kbit/s
/// link changes that put every periodic probe's estimate at 95 % of the link, where the
/// encoder's next burst read as overuse and the back-off fell to about 65 % (estimate
/// 320 / 423 kbit/s after 25 / 20 s; with 85 %: 357 / 532).
const LIMITED_SHARE: f64 = 0.85;
/// Clusters tracked at once (more pending probes are dropped).
const MAX_CLUSTERS: usize = 4;

/// One burst to send: `bytes` (at least `packets` packets) paced at `rate_bps`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeCluster {
    /// Identifies the cluster's packets in feedback.
    pub id: u32,
    /// Pacing rate of the burst.
    pub rate_bps: u64,
    /// Fewest packets to send.
    pub packets: u32,
    /// Fewest bytes to send.
    pub bytes: usize,
}

/// Decides when to probe; see the module documentation.
#[derive(Debug)]
pub struct ProbeController {
    max_bps: u64,
    next_id: u32,
    pending: [Option<ProbeCluster>; MAX_CLUSTERS],
    /// The rate of the last cluster started, while its result is awaited.
    awaiting: Option<(u64, Instant)>,
    started: bool,
    peak_bps: u64,
    /// (rate before the drop, probe due at) after a large drop.
    after_drop: Option<(u64, Instant)>,
    last_probe: Option<Instant>,
    estimate_bps: u64,
}

impl ProbeController {
    /// A controller that never probes above `max_bps`.
    pub fn new(max_bps: u64) -> Self {
        Self {
            max_bps,
            next_id: 1,
            pending: [None; MAX_CLUSTERS],
            awaiting: None,
            started: false,
            peak_bps: 0,
            after_drop: None,
            last_probe: None,
            estimate_bps: 0,
        }
    }

    /// Media starts flowing at `start_bps`: schedules the initial clusters.
    pub fn on_start(&mut self, now: Instant, start_bps: u64) {
        if self.started {
            return;
        }
        self.started = true;
        self.estimate_bps = start_bps;
        self.peak_bps = start_bps;
        for multiplier in INITIAL_MULTIPLIERS {
            self.schedule(now, (start_bps as f64 * multiplier) as u64);
        }
    }

    /// The combined estimate changed to `estimate_bps` (after feedback or a probe
    /// result); `overusing` is the delay-based detector's verdict.
    pub fn on_estimate(&mut self, now: Instant, estimate_bps: u64, overusing: bool) {
        self.estimate_bps = estimate_bps;
        if let Some((probed, at)) = self.awaiting {
            if estimate_bps as f64 >= probed as f64 * FURTHER_PROBE_THRESHOLD {
                // The link took (most of) the probe: look further, if further is higher
                // than what was just probed (not at the ceiling again).
                self.awaiting = None;
                let next = estimate_bps.saturating_mul(2).min(self.max_bps);
                if next > probed {
                    self.schedule(now, next);
                }
            } else if now.saturating_duration_since(at) > RESULT_TIMEOUT {
                self.awaiting = None;
            }
        }
        if (estimate_bps as f64) < self.peak_bps as f64 * LARGE_DROP {
            self.after_drop = Some((self.peak_bps, now + AFTER_DROP_DELAY));
            self.peak_bps = estimate_bps;
        } else {
            self.peak_bps = self.peak_bps.max(estimate_bps);
        }
        if let Some((before, due)) = self.after_drop
            && now >= due
        {
            self.after_drop = None;
            if !overusing {
                self.schedule(now, (before as f64 * AFTER_DROP_FRACTION) as u64);
            }
        }
        let periodic_due = self.last_probe.is_some_and(|t| now >= t + PERIODIC_INTERVAL);
        if periodic_due && !overusing && self.awaiting.is_none() {
            self.schedule(now, estimate_bps.saturating_mul(2));
        }
    }

    /// The next cluster to send, if one is due.
    pub fn poll_cluster(&mut self, now: Instant) -> Option<ProbeCluster> {
        let cluster = self.pending.iter_mut().find_map(Option::take)?;
        self.awaiting = Some((cluster.rate_bps, now));
        self.last_probe = Some(now);
        Some(cluster)
    }

    fn schedule(&mut self, now: Instant, rate_bps: u64) {
        let rate_bps = rate_bps.min(self.max_bps);
        // Nothing to learn at or below what is already known.
        if rate_bps <= self.estimate_bps {
            self.last_probe = Some(now);
            return;
        }
        let Some(slot) = self.pending.iter_mut().find(|c| c.is_none()) else { return };
        let bytes = (rate_bps as f64 * CLUSTER_DURATION.as_secs_f64() / 8.0) as usize;
        *slot =
            Some(ProbeCluster { id: self.next_id, rate_bps, packets: MIN_CLUSTER_PACKETS, bytes });
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.last_probe = Some(now);
    }
}

/// What came back of one cluster so far.
#[derive(Debug, Clone, Copy)]
struct ClusterFeedback {
    id: u32,
    sent_packets: u32,
    min_packets: u32,
    received: u32,
    first_send: Option<Instant>,
    last_send: Option<Instant>,
    first_arrival: Option<Instant>,
    last_arrival: Option<Instant>,
    /// Bytes received, and the sizes of the first-arrived and last-sent packets (the
    /// rate counts the bytes between them).
    bytes: usize,
    first_arrival_size: usize,
    last_send_size: usize,
    done: bool,
}

/// Turns feedback on probe packets into a delivered rate; see the module documentation.
#[derive(Debug, Default)]
pub struct ProbeEstimator {
    clusters: [Option<ClusterFeedback>; MAX_CLUSTERS],
    next: usize,
}

/// Feedback on one probe packet.
#[derive(Debug, Clone, Copy)]
pub struct ProbePacketFeedback {
    /// Its cluster.
    pub cluster: u32,
    /// When it left.
    pub send_time: Instant,
    /// When it arrived, if it did.
    pub arrival_time: Option<Instant>,
    /// Bytes on the wire.
    pub size: usize,
}

impl ProbeEstimator {
    /// An estimator tracking no cluster.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cluster started: `packets` were sent for it.
    pub fn on_cluster_sent(&mut self, cluster: &ProbeCluster, packets: u32) {
        let index = self.next % MAX_CLUSTERS;
        self.next += 1;
        self.clusters[index] = Some(ClusterFeedback {
            id: cluster.id,
            sent_packets: packets,
            min_packets: cluster.packets,
            received: 0,
            first_send: None,
            last_send: None,
            first_arrival: None,
            last_arrival: None,
            bytes: 0,
            first_arrival_size: 0,
            last_send_size: 0,
            done: false,
        });
    }

    /// Feedback on one probe packet; returns the cluster's delivered rate once enough of
    /// it has come back (once per cluster).
    pub fn on_feedback(&mut self, packet: &ProbePacketFeedback) -> Option<u64> {
        let cluster =
            self.clusters.iter_mut().flatten().find(|c| c.id == packet.cluster && !c.done)?;
        let arrival = packet.arrival_time?;
        cluster.received += 1;
        cluster.bytes += packet.size;
        if cluster.first_send.is_none_or(|t| packet.send_time < t) {
            cluster.first_send = Some(packet.send_time);
        }
        if cluster.last_send.is_none_or(|t| packet.send_time >= t) {
            cluster.last_send = Some(packet.send_time);
            cluster.last_send_size = packet.size;
        }
        if cluster.first_arrival.is_none_or(|t| arrival < t) {
            cluster.first_arrival = Some(arrival);
            cluster.first_arrival_size = packet.size;
        }
        if cluster.last_arrival.is_none_or(|t| arrival > t) {
            cluster.last_arrival = Some(arrival);
        }
        let enough = cluster.received >= cluster.min_packets
            && cluster.received * 5 >= cluster.sent_packets * 4;
        if !enough {
            return None;
        }
        cluster.done = true;
        let send_span = cluster.last_send?.saturating_duration_since(cluster.first_send?);
        let receive_span = cluster.last_arrival?.saturating_duration_since(cluster.first_arrival?);
        if send_span.is_zero() || receive_span.is_zero() {
            return None;
        }
        let send_bps =
            (cluster.bytes - cluster.last_send_size) as f64 * 8.0 / send_span.as_secs_f64();
        let receive_bps =
            (cluster.bytes - cluster.first_arrival_size) as f64 * 8.0 / receive_span.as_secs_f64();
        if send_bps / receive_bps > 2.0 {
            return None;
        }
        // Under what arrived when the link limited it: the receive rate of a short burst
        // overstates what the link sustains, and it is the whole link, our own media
        // included (libwebrtc takes 95 %; 85 % measured better, see LIMITED_SHARE).
        let rate =
            if receive_bps < send_bps * 0.9 { receive_bps * LIMITED_SHARE } else { send_bps };
        Some(rate.min(receive_bps) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feedback(
        estimator: &mut ProbeEstimator,
        cluster: &ProbeCluster,
        t0: Instant,
        send_gap: Duration,
        arrival_gap: Duration,
        lost: &[u32],
    ) -> Option<u64> {
        let n = 10u32;
        estimator.on_cluster_sent(cluster, n);
        let mut result = None;
        for i in 0..n {
            let send_time = t0 + send_gap * i;
            let arrival_time =
                (!lost.contains(&i)).then(|| t0 + Duration::from_millis(40) + arrival_gap * i);
            let packet =
                ProbePacketFeedback { cluster: cluster.id, send_time, arrival_time, size: 1200 };
            if let Some(r) = estimator.on_feedback(&packet) {
                assert!(result.is_none(), "one result per cluster");
                result = Some(r);
            }
        }
        result
    }

    #[test]
    fn a_cluster_reports_what_the_link_delivered() {
        let t0 = Instant::now();
        let cluster = ProbeCluster { id: 7, rate_bps: 2_000_000, packets: 5, bytes: 3750 };
        // 1200 bytes every 4.8 ms = 2 Mbit/s sent; delivered at the same pace.
        let gap = Duration::from_micros(4800);
        let mut estimator = ProbeEstimator::new();
        let rate = feedback(&mut estimator, &cluster, t0, gap, gap, &[]).unwrap();
        assert!((1_900_000..=2_050_000).contains(&rate), "{rate}");
        // A 1 Mbit/s bottleneck spreads the arrivals to 9.6 ms: the result is 85 % of it.
        let limited =
            feedback(&mut estimator, &ProbeCluster { id: 8, ..cluster }, t0, gap, gap * 2, &[])
                .unwrap();
        assert!((800_000..=900_000).contains(&limited), "{limited}");
        // Most of the cluster lost: no result.
        let lossy = ProbeCluster { id: 9, ..cluster };
        assert_eq!(feedback(&mut estimator, &lossy, t0, gap, gap, &[0, 2, 4, 6, 8, 9]), None);
        // Packets of an unknown cluster are ignored.
        let unknown =
            ProbePacketFeedback { cluster: 99, send_time: t0, arrival_time: Some(t0), size: 1 };
        assert_eq!(estimator.on_feedback(&unknown), None);
    }

    #[test]
    fn the_controller_probes_at_start_further_after_drops_and_periodically() {
        let t0 = Instant::now();
        let mut controller = ProbeController::new(5_000_000);
        assert_eq!(controller.poll_cluster(t0), None);
        controller.on_start(t0, 300_000);
        let first = controller.poll_cluster(t0).unwrap();
        let second = controller.poll_cluster(t0).unwrap();
        assert_eq!((first.rate_bps, second.rate_bps), (900_000, 1_800_000));
        assert!(first.bytes >= 1_600 && first.packets >= 5);
        assert_eq!(controller.poll_cluster(t0), None);
        // The 1.8 Mbit/s probe came back whole: probe at twice that.
        let t = t0 + Duration::from_millis(200);
        controller.on_estimate(t, 1_800_000, false);
        assert_eq!(controller.poll_cluster(t).unwrap().rate_bps, 3_600_000);
        // That one came back at 2 Mbit/s (the link): below 85 %, no further probe.
        let t = t + Duration::from_millis(200);
        controller.on_estimate(t, 2_000_000, false);
        assert_eq!(controller.poll_cluster(t), None);
        // Capacity halves: the estimate drops to 0.9 Mbit/s; 3 s later, one probe at 85 %
        // of the 2 Mbit/s before the drop.
        let t = t + Duration::from_secs(1);
        controller.on_estimate(t, 900_000, true);
        assert_eq!(controller.poll_cluster(t), None);
        let later = t + AFTER_DROP_DELAY;
        controller.on_estimate(later, 950_000, false);
        assert_eq!(controller.poll_cluster(later).unwrap().rate_bps, 1_700_000);
        // It came back at 1 Mbit/s (the link is still thin). Nothing until the periodic
        // probe, 5 s after the last one, at twice the estimate; never above the ceiling.
        controller.on_estimate(later + Duration::from_secs(1), 1_000_000, false);
        assert_eq!(controller.poll_cluster(later + Duration::from_secs(1)), None);
        let periodic = later + PERIODIC_INTERVAL;
        controller.on_estimate(periodic, 1_000_000, false);
        assert_eq!(controller.poll_cluster(periodic).unwrap().rate_bps, 2_000_000);
        let much_later = periodic + PERIODIC_INTERVAL * 2;
        controller.on_estimate(much_later, 4_000_000, false);
        assert_eq!(controller.poll_cluster(much_later).unwrap().rate_bps, 5_000_000);
        // No probing while overusing.
        let overuse = much_later + PERIODIC_INTERVAL * 2;
        controller.on_estimate(overuse, 1_000_000, true);
        assert_eq!(controller.poll_cluster(overuse), None);
    }
}
