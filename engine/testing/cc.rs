//! Congestion-control scenarios on simulated calls, shared by `examples/cc_scenarios.rs`
//! (figures) and `tests/cc_sim.rs` (the targets in CI).
//!
//! [`capacity_steps`]: one audio+video call (360p30, encoder ceiling 2.5 Mbit/s) whose
//! forward link has 50 ms one-way delay and a 300 ms drop-tail queue: 2 Mbit/s for 15 s,
//! 1 Mbit/s for 15 s, then 2 Mbit/s again for 15 s, sampled every 100 ms.

use std::ops::RangeInclusive;
use std::time::Duration;

use super::SimError;
use super::sim::{SessionCounters, SimStats};
use super::sim::{SimConfig, SimulatedCall};
use super::sim_video::SimVideoConfig;
use crate::session::video::VideoStats;
use crate::transport::impair::{ImpairmentConfig, LossModel};

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
    /// The sender's session counters at the end.
    pub sender_session: SessionCounters,
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

/// One phase of a scenario: the forward link for `duration`.
#[derive(Debug, Clone)]
pub struct LinkPhase {
    /// How long the phase lasts.
    pub duration: Duration,
    /// The forward (sender to receiver) link during it.
    pub link: ImpairmentConfig,
}

/// What [`run_phases`] recorded.
#[derive(Debug, Clone)]
pub struct PhasesRun {
    /// Every sample.
    pub samples: Vec<CcSample>,
    /// When each phase started.
    pub starts: Vec<Duration>,
    /// Counters of the whole call at the end.
    pub stats: SimStats,
}

impl PhasesRun {
    /// The samples of phase `index`.
    pub fn phase(&self, index: usize) -> impl Iterator<Item = &CcSample> {
        let start = self.starts[index];
        let end = self.starts.get(index + 1).copied().unwrap_or(Duration::MAX);
        self.samples.iter().filter(move |s| s.at > start && s.at <= end)
    }
}

/// Runs an audio+video call whose forward link goes through `phases` in turn (the
/// backward link: 50 ms, no limit), sampling the sender every [`SAMPLE`]; `trace` sees
/// every sample as it is taken.
pub fn run_phases(
    seed: u64,
    video: SimVideoConfig,
    phases: &[LinkPhase],
    trace: &mut dyn FnMut(&CcSample, &SimulatedCall),
) -> Result<PhasesRun, SimError> {
    let first = phases.first().map(|p| p.link.clone()).unwrap_or_default();
    let config = SimConfig {
        seed,
        forward: first,
        backward: ImpairmentConfig { delay: Duration::from_millis(50), ..Default::default() },
        video: Some(video),
        ..SimConfig::default()
    };
    let mut call = SimulatedCall::new(config)?;
    let mut samples = Vec::new();
    let mut starts = Vec::new();
    let mut last_bytes = 0u64;
    for phase in phases {
        call.set_link(0, phase.link.clone());
        starts.push(call.elapsed());
        for _ in 0..(phase.duration.as_millis() / SAMPLE.as_millis()) {
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
    Ok(PhasesRun { samples, starts, stats: call.stats() })
}

/// Runs the capacity-step scenario; `trace` sees every sample as it is taken.
pub fn capacity_steps(
    seed: u64,
    trace: &mut dyn FnMut(&CcSample, &SimulatedCall),
) -> Result<CapacitySteps, SimError> {
    let video = SimVideoConfig { bitrate_bps: 2_500_000, ..SimVideoConfig::p360() };
    const CAPACITIES: [u64; 3] = [2_000_000, 1_000_000, 2_000_000];
    let phases: Vec<LinkPhase> = CAPACITIES
        .iter()
        .map(|&bps| LinkPhase { duration: Duration::from_secs(15), link: link(bps) })
        .collect();
    let run = run_phases(seed, video, &phases, trace)?;
    let phases: Vec<(Duration, u64)> = run.starts.iter().copied().zip(CAPACITIES).collect();
    let reach = |index: usize, level: f64| {
        run.phase(index).find(|s| s.estimate_bps as f64 >= level).map(|s| s.at - phases[index].0)
    };
    let peak = run.phase(1).max_by_key(|s| s.queue).copied().unwrap_or(CcSample {
        at: phases[1].0,
        estimate_bps: 0,
        send_bps: 0.0,
        queue: Duration::ZERO,
    });
    // Followed past the phase's end: a peak in its last sample drains in the next phase.
    let settled_after_peak = run
        .samples
        .iter()
        .filter(|s| s.at >= peak.at)
        .find(|s| s.queue < Duration::from_millis(50))
        .map(|s| s.at - peak.at);
    let (ramp_up, restored) = (reach(0, 1_600_000.0), reach(2, 1_600_000.0));
    let PhasesRun { samples, stats, .. } = run;
    let received = stats.parties[1].video.clone().unwrap_or_default();
    Ok(CapacitySteps {
        ramp_up,
        halved_peak: (peak.queue, peak.at - phases[1].0),
        settled_after_peak,
        restored,
        frames_decoded: received.frames_decoded,
        freezes: received.freezes,
        frozen: received.frozen,
        queue_drops: stats.links[0].queue_drops,
        sender_video: stats.parties[0].video.clone().unwrap_or_default(),
        receiver_video: received,
        receiver_session: stats.parties[1].session.clone(),
        sender_session: stats.parties[0].session.clone(),
        samples,
        phases,
    })
}

/// One of libwebrtc's goog_cc scenario checks: a reading (the sender's estimate at the
/// end of a phase in bit/s, or the pacer's longest delay in ms) against the range the
/// check allows.
#[derive(Debug, Clone, PartialEq)]
pub struct CcCheck {
    /// What is checked.
    pub name: &'static str,
    /// Call time of the reading.
    pub at: Duration,
    /// The reading.
    pub value: u64,
    /// Its unit (`"bit/s"` or `"ms"`).
    pub unit: &'static str,
    /// What passes.
    pub allowed: RangeInclusive<u64>,
}

impl CcCheck {
    /// Whether the reading is in the allowed range.
    pub fn passed(&self) -> bool {
        self.allowed.contains(&self.value)
    }
}

/// A phase of `bps` with `delay_ms` one-way delay and a 300 ms drop-tail queue.
fn delayed_link(bps: u64, delay_ms: u64) -> ImpairmentConfig {
    ImpairmentConfig { delay: Duration::from_millis(delay_ms), ..link(bps) }
}

/// The estimate at the end of each phase, checked against `allowed[i]`.
fn end_of_phase_checks(
    run: &PhasesRun,
    names: &[&'static str],
    allowed: &[RangeInclusive<u64>],
) -> Vec<CcCheck> {
    (0..run.starts.len())
        .map(|index| {
            let last = run.phase(index).last().copied();
            CcCheck {
                name: names[index],
                at: last.map_or(Duration::ZERO, |s| s.at),
                value: last.map_or(0, |s| s.estimate_bps),
                unit: "bit/s",
                allowed: allowed[index].clone(),
            }
        })
        .collect()
}

/// libwebrtc's pacer check: no packet waited 150 ms or more in the pacer.
fn pacer_check(run: &PhasesRun) -> CcCheck {
    let video = run.stats.parties[0].video.clone().unwrap_or_default();
    CcCheck {
        name: "longest pacer delay",
        at: run.samples.last().map_or(Duration::ZERO, |s| s.at),
        value: video.pacer_delay_max.as_millis() as u64,
        unit: "ms",
        allowed: 0..=149,
    }
}

/// The video of the goog_cc checks: 360p30 with a 1 Mbit/s ceiling and a 30 kbit/s floor
/// (so that the estimate can follow a 100 kbit/s link).
fn goog_cc_video() -> SimVideoConfig {
    SimVideoConfig {
        bitrate_bps: 1_000_000,
        min_bitrate_bps: Some(30_000),
        ..SimVideoConfig::p360()
    }
}

/// libwebrtc's `UpdatesTargetRateBasedOnLinkCapacity`: 500 kbit/s with 100 ms delay for
/// 25 s (estimate 450 ± 100 kbit/s), 800 kbit/s for 20 s (750 ± 150), then 100 kbit/s
/// with 200 ms delay for 50 s (90 ± 25); and the pacer never holds a packet 150 ms.
pub fn goog_cc_link_changes(
    seed: u64,
    trace: &mut dyn FnMut(&CcSample, &SimulatedCall),
) -> Result<Vec<CcCheck>, SimError> {
    let phases = [
        LinkPhase { duration: Duration::from_secs(25), link: delayed_link(500_000, 100) },
        LinkPhase { duration: Duration::from_secs(20), link: delayed_link(800_000, 100) },
        LinkPhase { duration: Duration::from_secs(50), link: delayed_link(100_000, 200) },
    ];
    let run = run_phases(seed, goog_cc_video(), &phases, trace)?;
    let mut checks = end_of_phase_checks(
        &run,
        &[
            "500 kbit/s, 100 ms, after 25 s",
            "800 kbit/s, after 20 s",
            "100 kbit/s, 200 ms, after 50 s",
        ],
        &[350_000..=550_000, 600_000..=900_000, 65_000..=115_000],
    );
    checks.push(pacer_check(&run));
    Ok(checks)
}

/// libwebrtc's loss-based check: 2 Mbit/s with 10 % random loss for 120 s; the estimate
/// stays above 100 kbit/s (inherent loss is not congestion).
pub fn goog_cc_random_loss(
    seed: u64,
    trace: &mut dyn FnMut(&CcSample, &SimulatedCall),
) -> Result<Vec<CcCheck>, SimError> {
    let lossy = ImpairmentConfig { loss: LossModel::Random(0.1), ..link(2_000_000) };
    let phases = [LinkPhase { duration: Duration::from_secs(120), link: lossy }];
    let run = run_phases(seed, goog_cc_video(), &phases, trace)?;
    Ok(end_of_phase_checks(
        &run,
        &["2 Mbit/s, 10 % random loss, after 120 s"],
        &[100_000..=u64::MAX],
    ))
}
