//! Congestion-control scenarios on simulated calls (`testing::sim`): the capacity steps of
//! issue 14, run against whatever adaptation the engine has today, with the issue's
//! targets. This is the baseline the congestion-control work is measured against.
//!
//! ```text
//! cargo run --example cc_scenarios -- [--seed N]
//! ```
//!
//! One audio+video call (360p30, encoder ceiling 2.5 Mbit/s) whose forward link has 50 ms
//! one-way delay and a 300 ms drop-tail queue: 2 Mbit/s for 15 s, 1 Mbit/s for 15 s, then
//! 2 Mbit/s again for 15 s. Sampled every 100 ms: the sender's bandwidth estimate, its
//! send rate (media and retransmissions, from the stream counters) and the bottleneck
//! queueing delay. Prints one line per metric with PASS/FAIL against the issue's target.

use std::time::Duration;

use sottovoce::testing::sim::{SimConfig, SimulatedCall};
use sottovoce::testing::sim_video::SimVideoConfig;
use sottovoce::transport::impair::ImpairmentConfig;

const SAMPLE: Duration = Duration::from_millis(100);

fn link(bps: u64) -> ImpairmentConfig {
    ImpairmentConfig {
        delay: Duration::from_millis(50),
        bandwidth_bps: Some(bps),
        // 300 ms of queue at this capacity.
        queue_limit_bytes: (bps as f64 * 0.3 / 8.0) as usize,
        ..ImpairmentConfig::default()
    }
}

struct Sample {
    at: Duration,
    estimate_bps: u64,
    send_bps: f64,
    queue: Duration,
}

fn main() {
    let mut seed = 1u64;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).expect("--seed N"),
            other => panic!("unknown option {other}"),
        }
    }
    let video = SimVideoConfig { bitrate_bps: 2_500_000, ..SimVideoConfig::p360() };
    let config = SimConfig {
        seed,
        forward: link(2_000_000),
        backward: ImpairmentConfig { delay: Duration::from_millis(50), ..Default::default() },
        video: Some(video),
        ..SimConfig::default()
    };
    let mut call = SimulatedCall::new(config).expect("simulated call");
    let phases = [(2_000_000u64, 15u64), (1_000_000, 15), (2_000_000, 15)];
    let mut samples = Vec::new();
    let mut last_bytes = 0u64;
    let mut phase_starts = Vec::new();
    for (bps, seconds) in phases {
        call.set_link(0, link(bps));
        phase_starts.push((call.elapsed(), bps));
        for _ in 0..(seconds * 1000 / SAMPLE.as_millis() as u64) {
            call.run_for(SAMPLE);
            let stats = call.stats();
            let video = stats.parties[0].video.clone().expect("video");
            let bytes = video.bytes_sent + stats.parties[0].session.bytes_sent;
            let send_bps = (bytes - last_bytes) as f64 * 8.0 / SAMPLE.as_secs_f64();
            last_bytes = bytes;
            samples.push(Sample {
                at: call.elapsed(),
                estimate_bps: video.estimated_bandwidth_bps,
                send_bps,
                queue: call.queue_delay(0),
            });
        }
    }
    let in_phase = |start: Duration, len: u64| {
        samples.iter().filter(move |s| s.at > start && s.at <= start + Duration::from_secs(len))
    };
    let reach = |start: Duration, len: u64, level: f64| {
        in_phase(start, len)
            .find(|s| s.estimate_bps as f64 >= level)
            .map(|s| (s.at - start).as_secs_f64())
    };
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let secs = |t: Option<f64>| t.map_or("never".to_string(), |t| format!("{t:.1} s"));

    // Ramp-up: 80 % of 2 Mbit/s within 2 s.
    let ramp = reach(phase_starts[0].0, 15, 1_600_000.0);
    println!(
        "ramp-up to 80 % of 2 Mbit/s: {} (target <= 2 s) {}",
        secs(ramp),
        verdict(ramp.is_some_and(|t| t <= 2.0))
    );
    // Halved: queueing delay peak <= 100 ms, back under 50 ms within 1 s of the peak.
    let halved = phase_starts[1].0;
    let peak = in_phase(halved, 15).max_by_key(|s| s.queue).expect("samples");
    let settled = in_phase(halved, 15)
        .filter(|s| s.at >= peak.at)
        .find(|s| s.queue < Duration::from_millis(50))
        .map(|s| (s.at - peak.at).as_secs_f64());
    println!(
        "capacity halved: queueing delay peak {:.0} ms at +{:.1} s (target <= 100 ms) {}; back under 50 ms {} after the peak (target <= 1 s) {}",
        peak.queue.as_secs_f64() * 1e3,
        (peak.at - halved).as_secs_f64(),
        verdict(peak.queue <= Duration::from_millis(100)),
        secs(settled),
        verdict(settled.is_some_and(|t| t <= 1.0))
    );
    // Restored: 80 % of the new capacity within 3 s.
    let restored = reach(phase_starts[2].0, 15, 1_600_000.0);
    println!(
        "capacity restored to 2 Mbit/s: 80 % after {} (target <= 3 s) {}",
        secs(restored),
        verdict(restored.is_some_and(|t| t <= 3.0))
    );
    let mean = |start: Duration, len: u64| {
        let v: Vec<f64> = in_phase(start, len).map(|s| s.send_bps).collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    for (start, bps) in &phase_starts {
        println!(
            "  phase at {:.0} s, capacity {} kbit/s: mean send rate {:.0} kbit/s, estimate at end {} kbit/s",
            start.as_secs_f64(),
            bps / 1000,
            mean(*start, 15) / 1000.0,
            in_phase(*start, 15).next_back().map_or(0, |s| s.estimate_bps / 1000)
        );
    }
    let stats = call.stats();
    let v = stats.parties[1].video.clone().expect("video");
    println!(
        "  receiver: {} frames decoded, {} lost, {} freezes ({:.1} s frozen); link drops {}",
        v.frames_decoded,
        v.frames_lost,
        v.freezes,
        v.frozen.as_secs_f64(),
        stats.links[0].queue_drops
    );
}
