//! Benchmark of the simulated-call harness (`testing::sim`): how much faster than real
//! time a whole call runs, and what share of the wall time the codecs take.
//!
//! ```text
//! cargo run --example sim_call_bench -- [--seconds 60] [--runs 3] [--streams 1]
//!     [--video 360p|720p] [--charge-codecs yes] [--loss 5%] [--jitter 30ms] [--delay 20ms]
//! ```
//!
//! Prints, per run, the wall time, the speed-up over real time and the share spent in
//! capture chains and playout units (RNNoise, Opus encode and decode, jitter buffer),
//! then the median of the runs.

use std::time::{Duration, Instant};

use sottovoce::testing::sim::{SimConfig, SimulatedCall};
use sottovoce::testing::sim_video::SimVideoConfig;
use sottovoce::transport::impair::ImpairmentConfig;

fn main() {
    let mut seconds = 60u64;
    let mut runs = 3usize;
    let mut streams = 1usize;
    let mut video = None;
    let mut charge = false;
    let mut link = ImpairmentConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--seconds" => seconds = value.parse().expect("--seconds N"),
            "--runs" => runs = value.parse().expect("--runs N"),
            "--streams" => streams = value.parse().expect("--streams N"),
            "--video" => {
                video = Some(match value.as_str() {
                    "360p" => SimVideoConfig::p360(),
                    "720p" => SimVideoConfig {
                        width: 1280,
                        height: 720,
                        bitrate_bps: 1_500_000,
                        ..SimVideoConfig::p360()
                    },
                    other => panic!("--video 360p|720p, not {other}"),
                })
            }
            "--charge-codecs" => charge = value == "yes",
            other => link.apply_flag(other, &value).expect("impairment flag"),
        }
    }
    let simulated = Duration::from_secs(seconds);
    let mut speedups = Vec::new();
    let mut shares = Vec::new();
    for run in 0..runs {
        let config = SimConfig {
            seed: run as u64 + 1,
            audio_streams: streams,
            forward: link.clone(),
            backward: link.clone(),
            video: video.clone(),
            charge_codec_time: charge,
            ..SimConfig::default()
        };
        let mut call = SimulatedCall::new(config).expect("simulated call");
        let started = Instant::now();
        call.run_for(simulated);
        let wall = started.elapsed();
        let stats = call.stats();
        let speedup = simulated.as_secs_f64() / wall.as_secs_f64();
        let share = call.media_time().as_secs_f64() / wall.as_secs_f64();
        let m2e = stats.parties[1].received[0].mouth_to_ear;
        println!(
            "run {run}: {seconds} s simulated in {:.3} s wall: {speedup:.1}x real time; \
             codecs (capture chains, playout units, video encoder and decoder) {:.0} % of \
             the wall time; \
             mouth-to-ear p50 {:?} p95 {:?} ({} markers)",
            wall.as_secs_f64(),
            share * 100.0,
            m2e.p50,
            m2e.p95,
            m2e.count
        );
        if let (Some(v), Some(g2g)) = (&stats.parties[1].video, stats.parties[1].glass_to_glass) {
            println!(
                "    video: {} frames encoded, {} decoded, {} lost, {} freezes, {} NACKed, \
                 {} RTX; encoder at {} kbit/s; glass-to-glass p50 {:?} p95 {:?} ({} frames)",
                stats.parties[0].video.as_ref().map_or(0, |v| v.frames_encoded),
                v.frames_decoded,
                v.frames_lost,
                v.freezes,
                v.nacks_sent,
                stats.parties[0].video.as_ref().map_or(0, |v| v.retransmissions_sent),
                stats.parties[0].video.as_ref().map_or(0, |v| v.encoder_bitrate_bps / 1000),
                g2g.p50,
                g2g.p95,
                g2g.count
            );
        }
        speedups.push(speedup);
        shares.push(share);
    }
    speedups.sort_by(f64::total_cmp);
    shares.sort_by(f64::total_cmp);
    println!(
        "median over {runs} runs: {:.1}x real time, codecs {:.0} % of the wall time \
         ({streams} audio stream(s) each way, video {})",
        speedups[runs / 2],
        shares[runs / 2] * 100.0,
        video.as_ref().map_or("none".to_string(), |v| format!("{}x{}", v.width, v.height))
    );
}
