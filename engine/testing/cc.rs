//! Congestion-control scenarios on simulated calls, shared by `examples/cc_scenarios.rs`
//! (figures) and `tests/cc_sim.rs` (the targets in CI).
//!
//! [`capacity_steps`]: one audio+video call (360p30, encoder ceiling 2.5 Mbit/s) whose
//! forward link has 50 ms one-way delay and a 300 ms drop-tail queue: 2 Mbit/s for 15 s,
//! 1 Mbit/s for 15 s, then 2 Mbit/s again for 15 s, sampled every 100 ms.

use std::time::Duration;

use super::SimError;
use super::sim::SessionCounters;
use super::sim::{SimConfig, SimulatedCall};
use super::sim_video::SimVideoConfig;
use crate::session::video::VideoStats;
use crate::transport::impair::ImpairmentConfig;

/// Sampling interval.
pub const SAMPLE: Duration = Duration::from_millis(100);

/// One sample of the sender (party 0) and its bottleneck.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CcSample {
    /// Call time.
    pub at: Duration,
    /// The sender's bandwidth estimate.
    pub estimate_bps: u64,
    /// What it sent over the last sample (media, retransmissions, probes, audio).
    pub send_bps: f64,
    /// Queueing delay at the bottleneck.
    pub queue: Duration,
}

/// What [`capacity_steps`] measured.
#[derive(Debug, Clone, PartialEq)]
pub struct CapacitySteps {
    /// Every sample.
    pub samples: Vec<CcSample>,
    /// (start, capacity) of each phase.
    pub phases: Vec<(Duration, u64)>,
    /// Time from the start until the estimate first reached 80 % of 2 Mbit/s.
    pub ramp_up: Option<Duration>,
    /// Highest queueing delay while capacity was halved, and when (from the halving).
    pub halved_peak: (Duration, Duration),
    /// Time from that peak until the queue was under 50 ms again.
    pub settled_after_peak: Option<Duration>,
    /// Time from the restoration until the estimate reached 80 % of 2 Mbit/s.
    pub restored: Option<Duration>,
    /// Frames the receiver decoded.
    pub frames_decoded: u64,
    /// Freezes at the receiver.
    pub freezes: u64,
    /// Time frozen at the receiver.
    pub frozen: Duration,
    /// Packets the bottleneck dropped from its full queue.
    pub queue_drops: u64,
    /// The sender's video counters at the end.
    pub sender_video: VideoStats,
    /// The receiver's video counters at the end.
    pub receiver_video: VideoStats,
    /// The receiver's session counters at the end.
    pub receiver_session: SessionCounters,
}

fn link(bps: u64) -> ImpairmentConfig {
    ImpairmentConfig {
        delay: Duration::from_millis(50),
        bandwidth_bps: Some(bps),
        // 300 ms of queue at this capacity.
        queue_limit_bytes: (bps as f64 * 0.3 / 8.0) as usize,
        ..ImpairmentConfig::default()
    }
}

/// Runs the capacity-step scenario; `trace` sees every sample as it is taken.
pub fn capacity_steps(
    seed: u64,
    trace: &mut dyn FnMut(&CcSample, &SimulatedCall),
) -> Result<CapacitySteps, SimError> {
    let video = SimVideoConfig { bitrate_bps: 2_500_000, ..SimVideoConfig::p360() };
    let config = SimConfig {
        seed,
        forward: link(2_000_000),
        backward: ImpairmentConfig { delay: Duration::from_millis(50), ..Default::default() },
        video: Some(video),
        ..SimConfig::default()
    };
    let mut call = SimulatedCall::new(config)?;
    let mut samples = Vec::new();
    let mut phases = Vec::new();
    let mut last_bytes = 0u64;
    for (bps, seconds) in [(2_000_000u64, 15u64), (1_000_000, 15), (2_000_000, 15)] {
        call.set_link(0, link(bps));
        phases.push((call.elapsed(), bps));
        for _ in 0..(seconds * 1000 / SAMPLE.as_millis() as u64) {
            call.run_for(SAMPLE);
            let stats = call.stats();
            let video = stats.parties[0].video.clone().unwrap_or_default();
            let bytes = video.bytes_sent + stats.parties[0].session.bytes_sent;
            let send_bps = (bytes - last_bytes) as f64 * 8.0 / SAMPLE.as_secs_f64();
            last_bytes = bytes;
            let sample = CcSample {
                at: call.elapsed(),
                estimate_bps: video.estimated_bandwidth_bps,
                send_bps,
                queue: call.queue_delay(0),
            };
            trace(&sample, &call);
            samples.push(sample);
        }
    }
    let in_phase = |index: usize| {
        let (start, _) = phases[index];
        samples.iter().filter(move |s| s.at > start && s.at <= start + Duration::from_secs(15))
    };
    let reach = |index: usize, level: f64| {
        in_phase(index).find(|s| s.estimate_bps as f64 >= level).map(|s| s.at - phases[index].0)
    };
    let peak = in_phase(1).max_by_key(|s| s.queue).copied().unwrap_or(CcSample {
        at: phases[1].0,
        estimate_bps: 0,
        send_bps: 0.0,
        queue: Duration::ZERO,
    });
    // Followed past the phase's end: a peak in its last sample drains in the next phase.
    let settled_after_peak = samples
        .iter()
        .filter(|s| s.at >= peak.at)
        .find(|s| s.queue < Duration::from_millis(50))
        .map(|s| s.at - peak.at);
    let stats = call.stats();
    let received = stats.parties[1].video.clone().unwrap_or_default();
    Ok(CapacitySteps {
        ramp_up: reach(0, 1_600_000.0),
        halved_peak: (peak.queue, peak.at - phases[1].0),
        settled_after_peak,
        restored: reach(2, 1_600_000.0),
        frames_decoded: received.frames_decoded,
        freezes: received.freezes,
        frozen: received.frozen,
        queue_drops: stats.links[0].queue_drops,
        sender_video: stats.parties[0].video.clone().unwrap_or_default(),
        receiver_video: received,
        receiver_session: stats.parties[1].session.clone(),
        samples,
        phases,
    })
}
