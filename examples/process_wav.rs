//! Run a WAV file (any supported rate, mono or stereo) through the capture chain, with an
//! optional far-end WAV as the echo reference, and write the processed 48 kHz mono result
//! (decoded from the Opus packets the chain produced, or the pre-encoder signal with
//! `--no-opus`). Prints per-stage timing.
//!
//! ```text
//! cargo run --release --example process_wav -- mic.wav out.wav [--far far.wav]
//!     [--no-aec] [--aec-moderate] [--aec-rt60 0.8] [--aec-filter-ms 200]
//!     [--no-ns] [--no-opus] [--bitrate 32000] [--complexity 3] [--packet-ms 20]
//!     [--model models/x.rnn]
//!     [--apm lowest|lower|low|moderate|high]   (WebRTC APM canceller, feature webrtc-apm)
//! ```
//!
//! The far-end file is taken to be what the loudspeaker played, sample-aligned with the
//! microphone file's start (as a recording of a call would be).

use std::time::Instant;

use sottovoce::audio::{
    AecConfig, AudioError, CaptureChain, CaptureConfig, DeviceFormat, ENGINE_FRAME,
    EchoSuppression, FormatConverter, NsModel, OpusConfig, OpusDecoder, far_end_channel,
};
use sottovoce::testing::media::{WavClip, WavWriter};

struct Args {
    input: String,
    output: String,
    far: Option<String>,
    aec: bool,
    ns: bool,
    opus: bool,
    bitrate: u32,
    complexity: u8,
    packet_ms: u8,
    apm: Option<String>,
    model: Option<String>,
    moderate: bool,
    rt60: f32,
    filter_ms: u32,
    dt_recovery_db: Option<f32>,
    erle_quantile: Option<f32>,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let mut pos = Vec::new();
    let mut a = Args {
        input: String::new(),
        output: String::new(),
        far: None,
        aec: true,
        ns: true,
        opus: true,
        bitrate: 32_000,
        complexity: OpusConfig::default().complexity,
        packet_ms: OpusConfig::default().frames_per_packet * 10,
        apm: None,
        model: None,
        moderate: false,
        rt60: AecConfig::default().reverb_rt60_s,
        filter_ms: AecConfig::default().filter_length_ms,
        dt_recovery_db: AecConfig::default().double_talk_recovery_min_erle_db,
        erle_quantile: AecConfig::default().residual_erle_quantile,
    };
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--far" => a.far = Some(it.next().ok_or("--far needs a file")?),
            "--no-aec" => a.aec = false,
            "--no-ns" => a.ns = false,
            "--no-opus" => a.opus = false,
            "--aec-moderate" => a.moderate = true,
            "--aec-rt60" => {
                a.rt60 = it.next().and_then(|v| v.parse().ok()).ok_or("--aec-rt60 needs seconds")?
            }
            "--aec-filter-ms" => {
                a.filter_ms =
                    it.next().and_then(|v| v.parse().ok()).ok_or("--aec-filter-ms needs ms")?
            }
            "--bitrate" => {
                a.bitrate = it.next().and_then(|v| v.parse().ok()).ok_or("--bitrate needs bps")?
            }
            "--complexity" => {
                a.complexity =
                    it.next().and_then(|v| v.parse().ok()).ok_or("--complexity needs 0..=10")?
            }
            "--packet-ms" => {
                a.packet_ms = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--packet-ms needs 10, 20, 40 or 60")?
            }
            "--aec-dt-recovery" => {
                a.dt_recovery_db = Some(
                    it.next().and_then(|v| v.parse().ok()).ok_or("--aec-dt-recovery needs dB")?,
                )
            }
            "--no-aec-dt-recovery" => a.dt_recovery_db = None,
            "--aec-erle-quantile" => {
                a.erle_quantile = Some(
                    it.next().and_then(|v| v.parse().ok()).ok_or("--aec-erle-quantile needs q")?,
                )
            }
            "--no-aec-erle-quantile" => a.erle_quantile = None,
            "--apm" => a.apm = Some(it.next().ok_or("--apm needs a suppression level")?),
            "--model" => a.model = Some(it.next().ok_or("--model needs a file")?),
            _ => pos.push(arg),
        }
    }
    if pos.len() != 2 {
        return Err("usage: process_wav <in.wav> <out.wav> [--far far.wav] [--no-aec] [--no-ns] \
                    [--no-opus] [--bitrate bps] [--complexity 0-10] [--packet-ms 10|20|40|60] \
                    [--model file.rnn] [--aec-dt-recovery dB | --no-aec-dt-recovery]
                    [--aec-erle-quantile q | --no-aec-erle-quantile]"
            .into());
    }
    a.output = pos.pop().unwrap_or_default();
    a.input = pos.pop().unwrap_or_default();
    Ok(a)
}

/// Interleaved f32 samples and the format of a WAV file.
fn read_wav(path: &str) -> Result<(Vec<f32>, DeviceFormat), Box<dyn std::error::Error>> {
    let clip = WavClip::read(std::path::Path::new(path))?;
    let format = DeviceFormat::new(clip.rate, clip.channels)?;
    Ok((clip.samples, format))
}

/// Convert a whole file to 48 kHz mono, 10 ms at a time.
fn to_engine(samples: &[f32], format: DeviceFormat) -> Result<Vec<f32>, AudioError> {
    let mut conv = FormatConverter::new(format, DeviceFormat::ENGINE)?;
    let ch = format.channels as usize;
    let mut out = Vec::new();
    let mut buf = [0.0f32; ENGINE_FRAME];
    let (mut pos, mut k) = (0, 0);
    while pos + format.frame_len(k) * ch <= samples.len() {
        let len = format.frame_len(k) * ch;
        conv.convert(&samples[pos..pos + len], &mut buf)?;
        out.extend_from_slice(&buf);
        pos += len;
        k += 1;
    }
    Ok(out)
}

#[cfg(feature = "webrtc-apm")]
fn use_apm(config: &mut AecConfig, level: &str) -> Result<(), String> {
    use sottovoce::audio::{ApmSuppression, CancellerKind};
    config.canceller = CancellerKind::WebRtcApm;
    config.apm_suppression = match level {
        "lowest" => ApmSuppression::Lowest,
        "lower" => ApmSuppression::Lower,
        "low" => ApmSuppression::Low,
        "moderate" => ApmSuppression::Moderate,
        "high" => ApmSuppression::High,
        _ => return Err(format!("unknown APM suppression level {level}")),
    };
    Ok(())
}

#[cfg(not(feature = "webrtc-apm"))]
fn use_apm(_: &mut AecConfig, _: &str) -> Result<(), String> {
    Err("--apm needs the webrtc-apm feature (cargo run --features webrtc-apm ...)".into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let (mic, format) = read_wav(&args.input)?;
    let far = match &args.far {
        Some(p) => {
            let (s, f) = read_wav(p)?;
            Some(to_engine(&s, f)?)
        }
        None => None,
    };
    let noise_suppression = match (args.ns, &args.model) {
        (false, _) => None,
        (true, Some(path)) => Some(NsModel::from_file(path)?),
        (true, None) => Some(NsModel::BuiltIn),
    };
    let mut aec_config = AecConfig {
        suppression: if args.moderate {
            EchoSuppression::Moderate
        } else {
            EchoSuppression::Strong
        },
        reverb_rt60_s: args.rt60,
        filter_length_ms: args.filter_ms,
        double_talk_recovery_min_erle_db: args.dt_recovery_db,
        residual_erle_quantile: args.erle_quantile,
        ..AecConfig::default()
    };
    if let Some(level) = &args.apm {
        use_apm(&mut aec_config, level)?;
    }
    let config = CaptureConfig {
        device: format,
        aec: args.aec.then_some(aec_config),
        noise_suppression,
        opus: OpusConfig {
            bitrate_bps: args.bitrate,
            complexity: args.complexity,
            frames_per_packet: args.packet_ms / 10,
            ..OpusConfig::default()
        },
    };
    let (tx, rx) = far_end_channel(64);
    let mut chain = CaptureChain::new(&config, far.as_ref().map(|_| rx))?;
    let mut decoder = OpusDecoder::new(960)?;
    let mut decoded = vec![0.0f32; 5760];
    let mut out = Vec::new();
    let ch = format.channels as usize;
    let started = Instant::now();
    let (mut pos, mut k) = (0usize, 0u64);
    while pos + format.frame_len(k) * ch <= mic.len() {
        let len = format.frame_len(k) * ch;
        if let Some(far) = &far {
            let i = k as usize * ENGINE_FRAME;
            let frame = far.get(i..i + ENGINE_FRAME).unwrap_or(&[0.0; ENGINE_FRAME]);
            tx.send(frame)?;
        }
        let packet = chain.process(&mic[pos..pos + len], started)?;
        if args.opus {
            if let Some(p) = packet {
                let n = decoder.decode(p.data(), &mut decoded)?;
                out.extend_from_slice(&decoded[..n]);
            }
        } else {
            out.extend_from_slice(chain.last_frame());
        }
        pos += len;
        k += 1;
    }
    let elapsed = started.elapsed();
    let mut w = WavWriter::create(std::path::Path::new(&args.output), 48_000)?;
    w.write(&out)?;
    w.finish()?;
    println!(
        "{} frames of 10 ms ({} Hz x {}) in {:.2} s ({:.1}x real time) -> {}",
        k,
        format.sample_rate,
        format.channels,
        elapsed.as_secs_f64(),
        k as f64 * 0.01 / elapsed.as_secs_f64(),
        args.output
    );
    println!("per-stage processing time per 10 ms frame (µs):");
    for (name, s) in chain.timings().summaries() {
        if s.count > 0 {
            println!(
                "  {name:<9} p50 {:>7.1}  p95 {:>7.1}  p99 {:>7.1}  max {:>8.1}",
                s.p50.as_secs_f64() * 1e6,
                s.p95.as_secs_f64() * 1e6,
                s.p99.as_secs_f64() * 1e6,
                s.max.as_secs_f64() * 1e6
            );
        }
    }
    if let Some(m) = chain.processor().echo_metrics() {
        println!("AEC: delay estimate {} ms, ERLE estimate {:.1} dB", m.delay_ms, m.erle_db);
    }
    Ok(())
}
