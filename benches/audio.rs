//! Audio chain figures per 10 ms frame: each stage alone (resampling 44.1 -> 48 kHz
//! stereo, echo cancellation including the far-end analysis, noise suppression, Opus
//! encoding amortised over 20 ms packets) and the whole capture chain; and the playout
//! side's pitch-synchronous time-scaling per 20 ms.
//!
//! The target is a p99, which criterion does not give: before the criterion
//! groups, the bench runs the whole chain over 3000 frames of a speech-like echo scenario
//! and prints p50/p95/p99/max from the chain's own latency histogram.
//!
//! Run: `cargo bench --bench audio -- --quick` (the machine is shared; numbers are noisy).

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, criterion_group, criterion_main};
use sottovoce::audio::synth::{self, Voice};
use sottovoce::audio::{
    Aec3Canceller, AecConfig, CaptureChain, CaptureConfig, DeviceFormat, ENGINE_FRAME, ENGINE_RATE,
    EchoCanceller, FormatConverter, NoiseSuppressor, NsModel, OpusConfig, OpusEncoder,
    compress_speech, expand_speech, far_end_channel,
};

const DEVICE_RATE: u32 = 44_100;

/// Far end at 48 kHz, and a 44.1 kHz stereo microphone hearing its echo (RT60 0.3 s,
/// 80 ms) plus a near-end talker, all speech-like.
struct Signals {
    far: Vec<f32>,
    mic: Vec<f32>,
}

fn signals(seconds: f32) -> Signals {
    let far =
        synth::speech_like(seconds, ENGINE_RATE, Voice { pitch_hz: 110.0, peak: 0.6, seed: 1 });
    let rir = synth::room_impulse_response(0.3, 3.0, ENGINE_RATE, 2);
    let echo = synth::delayed(&synth::convolve(&far, &rir), 3840);
    let near =
        synth::speech_like(seconds, ENGINE_RATE, Voice { pitch_hz: 200.0, peak: 0.3, seed: 2 });
    let mixed: Vec<f32> = echo.iter().zip(&near).map(|(e, n)| 0.3 * e + n).collect();
    // To 44.1 kHz stereo with the engine's own converter (playout direction).
    let mut conv =
        FormatConverter::new(DeviceFormat::ENGINE, DeviceFormat::new(DEVICE_RATE, 2).unwrap())
            .unwrap();
    let mut mic = Vec::new();
    let mut buf = vec![0.0; 2 * 441];
    for f in mixed.chunks_exact(ENGINE_FRAME) {
        let n = conv.convert(f, &mut buf).unwrap();
        mic.extend_from_slice(&buf[..n]);
    }
    Signals { far, mic }
}

fn capture_config() -> CaptureConfig {
    CaptureConfig { device: DeviceFormat::new(DEVICE_RATE, 2).unwrap(), ..CaptureConfig::default() }
}

/// The AEC3 delay estimator of the previous version (baseline): 13 matched filters (1.3 s
/// of lag searched) on a signal decimated by 4.
fn previous_aec() -> AecConfig {
    AecConfig { max_delay_ms: 1200, delay_decimation: 4, ..AecConfig::default() }
}

/// The previous default capture chain (baseline): that AEC and Opus at complexity 5.
fn previous_capture_config() -> CaptureConfig {
    CaptureConfig {
        aec: Some(previous_aec()),
        opus: OpusConfig { complexity: 5, ..OpusConfig::default() },
        ..capture_config()
    }
}

/// p99 of the whole capture chain over 3000 frames (30 s), from its own histogram.
fn print_capture_chain_percentiles(label: &str, config: &CaptureConfig) {
    let s = signals(30.0);
    let (tx, rx) = far_end_channel(64);
    let mut chain = CaptureChain::new(config, Some(rx)).unwrap();
    let t0 = Instant::now();
    for (k, mic) in s.mic.chunks_exact(2 * 441).enumerate().take(3000) {
        tx.send(&s.far[k * ENGINE_FRAME..(k + 1) * ENGINE_FRAME]).unwrap();
        black_box(chain.process(mic, t0).unwrap());
    }
    println!(
        "{label}: capture chain, 3000 frames of 10 ms (44.1 kHz stereo in, 32 kbps Opus \
         complexity {}, {} ms packets):",
        config.opus.complexity,
        config.opus.frames_per_packet as u32 * 10
    );
    for (name, sum) in chain.timings().summaries() {
        println!(
            "  {name:<9} n {:>5}  p50 {:>7.1} µs  p95 {:>7.1} µs  p99 {:>7.1} µs  max {:>8.1} µs",
            sum.count,
            sum.p50.as_secs_f64() * 1e6,
            sum.p95.as_secs_f64() * 1e6,
            sum.p99.as_secs_f64() * 1e6,
            sum.max.as_secs_f64() * 1e6
        );
    }
    if let Some(m) = chain.processor().echo_metrics() {
        println!("  AEC delay estimate {} ms (true 80 ms)", m.delay_ms);
    }
}

fn stages(c: &mut Criterion) {
    // Interleaved, twice each, so that a change of load hits both configurations.
    for _ in 0..2 {
        print_capture_chain_percentiles("previous default (baseline)", &previous_capture_config());
        print_capture_chain_percentiles("default", &capture_config());
    }
    let s = signals(10.0);
    let frames = s.far.len() / ENGINE_FRAME;
    let mut g = c.benchmark_group("audio_10ms_frame");

    let mut conv =
        FormatConverter::new(DeviceFormat::new(DEVICE_RATE, 2).unwrap(), DeviceFormat::ENGINE)
            .unwrap();
    let mut out = [0.0f32; ENGINE_FRAME];
    let mut k = 0;
    g.bench_function("resample_44k1_stereo_to_48k", |b| {
        b.iter(|| {
            let f = &s.mic[(k % frames) * 882..(k % frames + 1) * 882];
            k += 1;
            conv.convert(black_box(f), &mut out).unwrap()
        })
    });

    let mut aec = Aec3Canceller::new(&AecConfig::default()).unwrap();
    let mut frame = [0.0f32; ENGINE_FRAME];
    let mut k = 0;
    g.bench_function("aec3_render_and_capture", |b| {
        b.iter(|| {
            let r = (k % frames) * ENGINE_FRAME..(k % frames + 1) * ENGINE_FRAME;
            k += 1;
            aec.analyze_render(&s.far[r.clone()]).unwrap();
            frame.copy_from_slice(&s.far[r]);
            aec.process_capture(black_box(&mut frame)).unwrap();
        })
    });

    // Baselines in the same run: the previous delay estimator (13 filters, decimation 4)
    // and WebRTC's default 52 ms filter (what the 200 ms filter of the long-room tuning
    // costs).
    let baselines = [
        ("aec3_previous_delay_estimator", previous_aec()),
        ("aec3_52ms_filter", AecConfig { filter_length_ms: 52, ..AecConfig::default() }),
    ];
    for (name, config) in baselines {
        let mut aec = Aec3Canceller::new(&config).unwrap();
        let mut k = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = (k % frames) * ENGINE_FRAME..(k % frames + 1) * ENGINE_FRAME;
                k += 1;
                aec.analyze_render(&s.far[r.clone()]).unwrap();
                frame.copy_from_slice(&s.far[r]);
                aec.process_capture(black_box(&mut frame)).unwrap();
            })
        });
    }

    #[cfg(feature = "webrtc-apm")]
    {
        use sottovoce::audio::{ApmCanceller, ApmSuppression};
        let mut apm = ApmCanceller::new(ApmSuppression::Low).unwrap();
        let mut k = 0;
        g.bench_function("webrtc_apm_render_and_capture", |b| {
            b.iter(|| {
                let r = (k % frames) * ENGINE_FRAME..(k % frames + 1) * ENGINE_FRAME;
                k += 1;
                apm.analyze_render(&s.far[r.clone()]).unwrap();
                frame.copy_from_slice(&s.far[r]);
                apm.process_capture(black_box(&mut frame)).unwrap();
            })
        });
    }

    let mut ns = NoiseSuppressor::new(NsModel::BuiltIn);
    let mut k = 0;
    g.bench_function("noise_suppression", |b| {
        b.iter(|| {
            let r = (k % frames) * ENGINE_FRAME..(k % frames + 1) * ENGINE_FRAME;
            k += 1;
            frame.copy_from_slice(&s.far[r]);
            ns.process(black_box(&mut frame)).unwrap()
        })
    });

    // Opus at 32 kbps per 10 ms of audio: the default, and the levers measured against
    // it (complexity; 10 ms packets, which encode on every frame instead of every other).
    let t0 = Instant::now();
    for (complexity, frames_per_packet) in [(5, 2), (3, 2), (1, 2), (0, 2), (1, 1)] {
        let config = OpusConfig { complexity, frames_per_packet, ..OpusConfig::default() };
        let mut enc = OpusEncoder::new(config).unwrap();
        let mut k = 0;
        let name = format!(
            "opus_encode_32kbps_per_10ms_complexity{complexity}_{}ms_packets",
            frames_per_packet as u32 * 10
        );
        g.bench_function(name, |b| {
            b.iter(|| {
                let r = (k % frames) * ENGINE_FRAME..(k % frames + 1) * ENGINE_FRAME;
                k += 1;
                enc.push_frame(black_box(&s.far[r]), t0).unwrap()
            })
        });
    }

    for (name, config) in [
        ("capture_chain_total_previous_default", previous_capture_config()),
        ("capture_chain_total", capture_config()),
    ] {
        let (tx, rx) = far_end_channel(64);
        let mut chain = CaptureChain::new(&config, Some(rx)).unwrap();
        let mut k = 0;
        g.bench_function(name, |b| {
            b.iter(|| {
                let i = k % frames;
                k += 1;
                tx.send(&s.far[i * ENGINE_FRAME..(i + 1) * ENGINE_FRAME]).unwrap();
                chain.process(black_box(&s.mic[i * 882..(i + 1) * 882]), t0).unwrap()
            })
        });
    }
    g.finish();
}

/// The playout side's time-scaling (jitter buffer accelerate/stretch) on 20 ms of
/// speech-like audio, against copying the same 20 ms (what a plain decode hands on).
fn time_scaling(c: &mut Criterion) {
    let s = signals(6.0);
    let chunk = 2 * ENGINE_FRAME;
    let chunks = s.far.len() / chunk;
    let mut out = vec![0.0f32; 3 * ENGINE_FRAME];
    let mut g = c.benchmark_group("playout_per_20ms");
    let mut k = 0;
    g.bench_function("copy_baseline", |b| {
        b.iter(|| {
            let r = (k % chunks) * chunk..(k % chunks + 1) * chunk;
            k += 1;
            out[..chunk].copy_from_slice(black_box(&s.far[r]));
        })
    });
    let mut k = 0;
    g.bench_function("compress_speech_20_to_15ms", |b| {
        b.iter(|| {
            let r = (k % chunks) * chunk..(k % chunks + 1) * chunk;
            k += 1;
            compress_speech(black_box(&s.far[r]), chunk / 4, &mut out)
        })
    });
    let mut k = 0;
    g.bench_function("expand_speech_20_to_30ms", |b| {
        b.iter(|| {
            let r = (k % chunks) * chunk..(k % chunks + 1) * chunk;
            k += 1;
            expand_speech(black_box(&s.far[r]), chunk / 2, &mut out)
        })
    });
    g.finish();
}

criterion_group!(benches, stages, time_scaling);
criterion_main!(benches);
