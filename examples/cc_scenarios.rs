//! Congestion-control scenarios on simulated calls (`testing::cc`), PASS/FAIL per metric
//! against issue 14's targets.
//!
//! ```text
//! cargo run --example cc_scenarios -- [--case NAME] [--seed N] [--trace]
//! ```
//!
//! Cases (all by default):
//! * `capacity-steps`: one audio+video call (360p30, encoder ceiling 2.5 Mbit/s) whose
//!   forward link has 50 ms one-way delay and a 300 ms drop-tail queue: 2 Mbit/s for
//!   15 s, 1 Mbit/s for 15 s, then 2 Mbit/s again for 15 s;
//! * `goog-cc-link-changes`: libwebrtc's 500 kbit/s -> 800 kbit/s -> 100 kbit/s check;
//! * `goog-cc-random-loss`: libwebrtc's 10 % random loss at 2 Mbit/s check.
//!
//! `--trace` prints every 100 ms sample (estimate, send rate, bottleneck queue, encoder
//! bitrate, frames encoded and keyframes, probe packets and results).

use std::time::Duration;

use sottovoce::testing::cc::{
    CcCheck, CcSample, capacity_steps, goog_cc_link_changes, goog_cc_random_loss,
};
use sottovoce::testing::sim::SimulatedCall;

const CASES: [&str; 3] = ["capacity-steps", "goog-cc-link-changes", "goog-cc-random-loss"];

fn main() {
    let mut seed = 1u64;
    let mut trace = false;
    let mut case = None;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--seed" => seed = args.next().and_then(|v| v.parse().ok()).expect("--seed N"),
            "--case" => case = Some(args.next().expect("--case NAME")),
            "--trace" => trace = true,
            other => panic!("unknown option {other}"),
        }
    }
    if let Some(name) = &case {
        assert!(CASES.contains(&name.as_str()), "--case is one of {CASES:?}, not {name}");
    }
    let mut tracer = |sample: &CcSample, call: &SimulatedCall| {
        if trace {
            let video = call.stats().parties[0].video.clone().unwrap_or_default();
            println!(
                "{:6.1} s  estimate {:5} kbit/s  send {:5.0} kbit/s  queue {:4} ms  encoder {:5} kbit/s  frames {} (key {})  probe packets {} results {}",
                sample.at.as_secs_f64(),
                sample.estimate_bps / 1000,
                sample.send_bps / 1000.0,
                sample.queue.as_millis(),
                video.encoder_bitrate_bps / 1000,
                video.frames_encoded,
                video.keyframes_encoded,
                video.probe_packets_sent,
                video.probe_results
            );
        }
    };
    let wanted = |name: &str| case.as_deref().is_none_or(|c| c == name);
    if wanted(CASES[0]) {
        capacity_steps_case(seed, &mut tracer);
    }
    if wanted(CASES[1]) {
        let checks = goog_cc_link_changes(seed, &mut tracer).expect("simulated call");
        print_checks(CASES[1], &checks);
    }
    if wanted(CASES[2]) {
        let checks = goog_cc_random_loss(seed, &mut tracer).expect("simulated call");
        print_checks(CASES[2], &checks);
    }
}

fn print_checks(case: &str, checks: &[CcCheck]) {
    for check in checks {
        // Rates in kbit/s, delays in ms.
        let (scale, unit) = if check.unit == "ms" { (1, "ms") } else { (1000, "kbit/s") };
        let (low, high) = (*check.allowed.start(), *check.allowed.end());
        let range = if high == u64::MAX {
            format!(">= {} {unit}", low / scale)
        } else {
            format!("{}-{} {unit}", low / scale, high / scale)
        };
        println!(
            "{case}: {}: {} {unit} at {:.1} s (target {range}) {}",
            check.name,
            check.value / scale,
            check.at.as_secs_f64(),
            if check.passed() { "PASS" } else { "FAIL" }
        );
    }
}

fn capacity_steps_case(seed: u64, tracer: &mut dyn FnMut(&CcSample, &SimulatedCall)) {
    let report = capacity_steps(seed, tracer).expect("simulated call");
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    let secs = |t: Option<Duration>| {
        t.map_or("never".to_string(), |t| format!("{:.1} s", t.as_secs_f64()))
    };
    println!(
        "capacity-steps: ramp-up to 80 % of 2 Mbit/s: {} (target <= 2 s) {}",
        secs(report.ramp_up),
        verdict(report.ramp_up.is_some_and(|t| t <= Duration::from_secs(2)))
    );
    let (peak, at) = report.halved_peak;
    println!(
        "capacity-steps: capacity halved: queueing delay peak {:.0} ms at +{:.1} s (target <= 100 ms) {}; back under 50 ms {} after the peak (target <= 1 s) {}",
        peak.as_secs_f64() * 1e3,
        at.as_secs_f64(),
        verdict(peak <= Duration::from_millis(100)),
        secs(report.settled_after_peak),
        verdict(report.settled_after_peak.is_some_and(|t| t <= Duration::from_secs(1)))
    );
    println!(
        "capacity-steps: capacity restored to 2 Mbit/s: 80 % after {} (target <= 3 s) {}",
        secs(report.restored),
        verdict(report.restored.is_some_and(|t| t <= Duration::from_secs(3)))
    );
    for &(start, bps) in &report.phases {
        let phase: Vec<_> = report
            .samples
            .iter()
            .filter(|s| s.at > start && s.at <= start + Duration::from_secs(15))
            .collect();
        let mean = phase.iter().map(|s| s.send_bps).sum::<f64>() / phase.len().max(1) as f64;
        println!(
            "  phase at {:.0} s, capacity {} kbit/s: mean send rate {:.0} kbit/s, estimate at end {} kbit/s",
            start.as_secs_f64(),
            bps / 1000,
            mean / 1000.0,
            phase.last().map_or(0, |s| s.estimate_bps / 1000)
        );
    }
    println!(
        "  receiver: {} frames decoded, {} freezes ({:.1} s frozen); link drops {}",
        report.frames_decoded,
        report.freezes,
        report.frozen.as_secs_f64(),
        report.queue_drops
    );
    println!(
        "  sender: longest pacer delay {} ms",
        report.sender_video.pacer_delay_max.as_millis()
    );
}
