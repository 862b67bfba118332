//! Two `Call`s in one process talking over real UDP sockets on 127.0.0.1, with keys agreed
//! by the e2ee handshake, built-in media (or files), optional network impairment through
//! a relay, a live status line, measured latency and a final table. See
//! `docs/call-demo.md` for how to read the output.
//!
//! `cargo run --example loopback_call -- --help`

#[path = "support/mod.rs"]
mod support;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sottovoce::audio::synth::Voice;
use sottovoce::audio::{DeviceFormat, OpusBitrateMode};
use sottovoce::call::probe::{
    AudioMarkerDetector, AudioMarkerInserter, FrameIdClock, LatencyRecorder, MarkerMatcher,
};
use sottovoce::call::{
    Call, CallCapture, CallConfig, CallControl, CallPlayout, CallStats, VideoTrackConfig,
};
use sottovoce::e2ee::{AnsweringHandshake, IdentityKeyPair, OfferingHandshake, SrtpSuite};
use sottovoce::transport::UdpTransport;
use sottovoce::transport::impair::{ImpairmentConfig, parse_bitrate};
use sottovoce::video::av1::{EncoderBackend, EncoderConfig};

use support::args::{Args, IMPAIRMENT_OPTIONS, parse_resolution};
use support::media::{AudioSource, VideoSource, WavSink};
use support::relay::{BandwidthSteps, Relay, parse_bandwidth_steps};
use support::report::{DirectionReport, plot, video_notes};
use support::video::{Display, glass_to_glass, start_camera, synthetic_clip};

const HELP: &str = "\
loopback_call: two end-to-end encrypted calls in one process over UDP on 127.0.0.1

USAGE: cargo run --example loopback_call -- [OPTIONS] [SECONDS]

Media:
  --seconds S          call length (default 10; with --audio: the file's length + 1 s)
  --audio FILE.wav     microphone of both sides (mono or mixed down; 8/16/32/48 kHz)
                       instead of the built-in speech-like voices
  --no-audio           send no audio
  --video FILE.y4m     camera of both sides (4:2:0, looped, coded at its own size)
                       instead of the moving pattern
  --no-video           audio-only call
  --resolution 640x360 size of the moving pattern (default 640x360)
  --fps 30             camera frame rate (default 30)
  --encoder aom|rav1e  AV1 encoder (default aom: libaom real-time)
  --video-bitrate 500kbit  start/maximum video bitrate (BWE adapts below it)
  --aec                run echo cancellation (off by default: a loopback has no
                       acoustic echo path, and AEC3 ducks double talk)
  --no-ns              switch noise suppression (RNNoise) off
  --jb-min-delay 40ms  lowest jitter-buffer target (default 0: from measured jitter)
  --no-probe           do not insert latency markers (pure input for quality metrics)
Network (applied both ways by a relay between the two UDP sockets):
  --loss 5%  --burst 3 (mean burst, packets)  --delay 50ms  --jitter 30ms
  --jitter-reorders yes|no  --reorder 1%  --reorder-delay 20ms  --duplicate 1%
  --bandwidth 1mbit  --queue 64kb  --seed N
  --bandwidth 2mbit,600kbit@20s,2mbit@40s   capacity steps (both ways), to watch the
                       call adapt (the status line's kbit/s is what each side sends)
Output:
  --out DIR            write <from>-to-<to>.sent.wav / .received.wav / .received.y4m
  --plot FILE          latency over time and per-stage breakdown (.svg, or .png via
                       ImageMagick `convert`)
";

/// Marker period: one mouth-to-ear measurement per second and direction.
const MARKER_PERIOD: Duration = Duration::from_secs(1);
/// Latest a marker may arrive and still be matched (below the period, see MarkerMatcher).
const MAX_LATENCY: Duration = Duration::from_millis(900);

struct Options {
    seconds: f32,
    audio: Option<PathBuf>,
    no_audio: bool,
    video: Option<PathBuf>,
    no_video: bool,
    resolution: (u32, u32),
    fps: u32,
    encoder: EncoderBackend,
    video_bitrate: u32,
    aec: bool,
    ns: bool,
    probe: bool,
    impairment: Option<ImpairmentConfig>,
    /// Capacity over time (`--bandwidth` with steps), applied by the relay.
    bandwidth_steps: BandwidthSteps,
    seed: u64,
    jb_min_delay: Option<Duration>,
    out: Option<PathBuf>,
    plot: Option<PathBuf>,
}

fn options() -> Result<Options, Box<dyn std::error::Error>> {
    let mut value_options = vec![
        "seconds",
        "audio",
        "video",
        "resolution",
        "fps",
        "encoder",
        "video-bitrate",
        "out",
        "plot",
        "seed",
        "jb-min-delay",
    ];
    value_options.extend(IMPAIRMENT_OPTIONS);
    let args = Args::parse(
        std::env::args().skip(1),
        &["help", "no-audio", "no-video", "aec", "no-ns", "no-probe"],
        &value_options,
    )?;
    if args.switch("help") {
        print!("{HELP}");
        std::process::exit(0);
    }
    let mut impairment = ImpairmentConfig::default();
    let mut impaired = false;
    // `--bandwidth` may be a list of steps: the first rate is the starting capacity.
    let bandwidth_steps = match args.value("bandwidth") {
        Some(value) => parse_bandwidth_steps(value).map_err(|e| format!("--bandwidth: {e}"))?,
        None => Vec::new(),
    };
    if let Some(&(_, bps)) = bandwidth_steps.first() {
        impairment.bandwidth_bps = Some(bps);
        impaired = true;
    }
    // `burst` must come after `loss` (it keeps the loss rate); apply in a fixed order.
    for name in IMPAIRMENT_OPTIONS.iter().filter(|&&name| name != "bandwidth") {
        if let Some(value) = args.value(name) {
            impairment.apply_flag(name, value).map_err(|e| format!("--{name}: {e}"))?;
            impaired = true;
        }
    }
    let positional_seconds = args.positional.first().map(|s| s.parse::<f32>()).transpose()?;
    Ok(Options {
        seconds: args.parsed("seconds")?.or(positional_seconds).unwrap_or(0.0),
        audio: args.value("audio").map(PathBuf::from),
        no_audio: args.switch("no-audio"),
        video: args.value("video").map(PathBuf::from),
        no_video: args.switch("no-video"),
        resolution: args
            .value("resolution")
            .map(parse_resolution)
            .transpose()?
            .unwrap_or((640, 360)),
        fps: args.parsed("fps")?.unwrap_or(30),
        encoder: match args.value("encoder").unwrap_or("aom") {
            "aom" | "libaom" => EncoderBackend::Libaom,
            "rav1e" => EncoderBackend::Rav1e,
            other => return Err(format!("--encoder: '{other}' is not aom or rav1e").into()),
        },
        video_bitrate: args
            .value("video-bitrate")
            .map(parse_bitrate)
            .transpose()
            .map_err(|e| format!("--video-bitrate: {e}"))?
            .map_or(500_000, |b| b.min(u64::from(u32::MAX)) as u32),
        aec: args.switch("aec"),
        ns: !args.switch("no-ns"),
        probe: !args.switch("no-probe"),
        impairment: impaired.then_some(impairment),
        bandwidth_steps,
        seed: args.parsed("seed")?.unwrap_or(1),
        jb_min_delay: args
            .value("jb-min-delay")
            .map(sottovoce::transport::impair::parse_duration)
            .transpose()
            .map_err(|e| format!("--jb-min-delay: {e}"))?,
        out: args.value("out").map(PathBuf::from),
        plot: args.value("plot").map(PathBuf::from),
    })
}

/// One side of the call with its media and measurements.
struct Party {
    name: &'static str,
    capture: CallCapture,
    playout: CallPlayout,
    control: CallControl,
    mic: AudioSource,
    inserter: Option<AudioMarkerInserter>,
    sent: Option<WavSink>,
}

/// What one side hears from the other.
struct Heard {
    detector: Option<AudioMarkerDetector>,
    matcher: MarkerMatcher,
    recorder: LatencyRecorder,
    received: Option<WavSink>,
    jitter_buffer: Vec<(Duration, Duration)>,
    last_latency: Option<Duration>,
}

fn main() {
    if let Err(e) = run() {
        eprintln!("loopback_call: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let opts = options()?;
    let mics = match &opts.audio {
        Some(path) => {
            let a = AudioSource::wav(path)?;
            let b = AudioSource::wav(path)?;
            (a, b)
        }
        None => {
            let seconds = if opts.seconds > 0.0 { opts.seconds } else { 10.0 };
            (
                AudioSource::generated(
                    seconds,
                    48_000,
                    Voice { pitch_hz: 115.0, peak: 0.5, seed: 11 },
                ),
                AudioSource::generated(
                    seconds,
                    48_000,
                    Voice { pitch_hz: 205.0, peak: 0.5, seed: 22 },
                ),
            )
        }
    };
    let rate = mics.0.rate;
    let seconds = if opts.seconds > 0.0 { opts.seconds } else { mics.0.seconds() + 1.0 };
    let frame_len = (rate / 100) as usize;
    let device = DeviceFormat::new(rate, 1)?;

    // End-to-end keys: the real handshake, both sides in this process.
    let alice_id = IdentityKeyPair::generate()?;
    let bob_id = IdentityKeyPair::generate()?;
    let (offering, offer) =
        OfferingHandshake::start(&alice_id, bob_id.public_key(), SrtpSuite::default())?;
    let (answering, answer) = AnsweringHandshake::respond(&bob_id, alice_id.public_key(), &offer)?;
    let (alice_keys, confirm) = offering.finish(&answer)?;
    let bob_keys = answering.finish(&confirm)?;
    println!("safety code: {} (both sides compare it)", alice_keys.safety_code().digits());

    let loopback = "127.0.0.1:0".parse()?;
    let a_socket = UdpTransport::bind(loopback)?;
    let b_socket = UdpTransport::bind(loopback)?;
    let relay = match &opts.impairment {
        Some(config) => {
            let relay = Relay::start(
                a_socket.local_addr()?,
                b_socket.local_addr()?,
                config,
                &opts.bandwidth_steps,
                opts.seed,
            )?;
            a_socket.connect(relay.alice_peer)?;
            b_socket.connect(relay.bob_peer)?;
            println!("network: {config:?}");
            Some(relay)
        }
        None => {
            a_socket.connect(b_socket.local_addr()?)?;
            b_socket.connect(a_socket.local_addr()?)?;
            println!("network: direct (no impairment)");
            None
        }
    };
    let (a_tx, a_rx) = a_socket.split()?;
    let (b_tx, b_rx) = b_socket.split()?;
    let video_source = if opts.no_video {
        None
    } else {
        let source = match &opts.video {
            Some(path) => VideoSource::y4m(path)?,
            // Five seconds of the moving pattern, rendered once and looped.
            None => synthetic_clip(opts.resolution.0, opts.resolution.1, 150)?,
        };
        Some(Arc::new(source))
    };
    // A file is coded at its own size: the frame-id stamp must not be rescaled.
    let resolution = video_source.as_ref().map_or(opts.resolution, |v| v.size(opts.resolution));
    let config = |keys, local: u32, remote: u32| {
        let mut c = CallConfig::new(keys, local, remote, device);
        if !opts.aec {
            c.capture.aec = None;
        }
        if !opts.ns {
            c.capture.noise_suppression = None;
        }
        if let Some(min) = opts.jb_min_delay {
            c.jitter.min_delay = min;
        }
        if opts.probe {
            // The latency markers are found by waveform correlation, which the default
            // constant-bitrate Opus does not preserve well enough; the delay is the same
            // in every bitrate mode. `--no-probe` runs keep the default (CBR).
            c.capture.opus.bitrate_mode = OpusBitrateMode::Constrained;
        }
        if video_source.is_some() {
            let (w, h) = resolution;
            let encoder =
                EncoderConfig::new(w, h, opts.fps, opts.video_bitrate).with_backend(opts.encoder);
            c = c.with_video(VideoTrackConfig::new(local ^ 0x0F00, remote ^ 0x0F00, encoder));
        }
        c
    };
    let alice_call =
        Call::new(config(alice_keys, 0xA11C_E000, 0x0000_B0B0), Arc::new(a_tx), Box::new(a_rx))?;
    let bob_call =
        Call::new(config(bob_keys, 0x0000_B0B0, 0xA11C_E000), Arc::new(b_tx), Box::new(b_rx))?;

    if let Some(dir) = &opts.out {
        std::fs::create_dir_all(dir)?;
    }
    let wav = |name: &str| -> Result<Option<WavSink>, Box<dyn std::error::Error>> {
        opts.out
            .as_ref()
            .map(|dir| WavSink::create(&dir.join(name), rate))
            .transpose()
            .map_err(Into::into)
    };
    let inserter = || -> Result<Option<AudioMarkerInserter>, Box<dyn std::error::Error>> {
        Ok(if opts.probe { Some(AudioMarkerInserter::new(rate, MARKER_PERIOD)?) } else { None })
    };
    let mut parties = [
        Party::new("alice", alice_call, mics.0, inserter()?, wav("alice-to-bob.sent.wav")?),
        Party::new("bob", bob_call, mics.1, inserter()?, wav("bob-to-alice.sent.wav")?),
    ];
    let start = Instant::now();
    let heard = |name: &str| -> Result<Heard, Box<dyn std::error::Error>> {
        Ok(Heard {
            detector: if opts.probe {
                Some(AudioMarkerDetector::new(rate, AudioMarkerDetector::DEFAULT_THRESHOLD)?)
            } else {
                None
            },
            matcher: MarkerMatcher::new(MAX_LATENCY),
            recorder: LatencyRecorder::new(start),
            received: wav(name)?,
            jitter_buffer: Vec::new(),
            last_latency: None,
        })
    };
    // heard[0]: what bob hears from alice; heard[1]: what alice hears from bob.
    let mut heard = [heard("alice-to-bob.received.wav")?, heard("bob-to-alice.received.wav")?];

    let media_ticks = (seconds * 100.0) as u64;
    // After the media, keep playing out (silence in) until the last marker can arrive.
    let tail_ticks = (MAX_LATENCY.as_millis() / 10 + 10) as u64;
    let media_end = start + Duration::from_millis(10 * media_ticks);

    // Video: per direction, the sender's camera thread and the receiver's display thread
    // share the sender's frame-id clock.
    let clocks =
        [Arc::new(Mutex::new(FrameIdClock::new())), Arc::new(Mutex::new(FrameIdClock::new()))];
    let mut cameras = Vec::new();
    let mut displays = Vec::new();
    if let Some(source) = &video_source {
        for (i, names) in [(0, "alice-to-bob"), (1, "bob-to-alice")] {
            let input = parties[i].control.video_input().ok_or("the call has no video track")?;
            cameras.push(start_camera(
                input,
                Arc::clone(source),
                opts.fps,
                start,
                media_end,
                Arc::clone(&clocks[i]),
            )?);
            let output = parties[1 - i].control.take_video_output().ok_or("no video output")?;
            let y4m =
                opts.out.as_ref().map(|d| (d.join(format!("{names}.received.y4m")), opts.fps));
            displays.push(Display::start(output, Some(Arc::clone(&clocks[i])), y4m)?);
        }
    }

    let mut mic = vec![0.0f32; frame_len];
    let mut speaker = vec![0.0f32; frame_len];
    let mut last_stats: [Option<CallStats>; 2] = [None, None];
    for tick in 0..media_ticks + tail_ticks {
        let deadline = start + Duration::from_millis(10 * tick);
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        for (i, party) in parties.iter_mut().enumerate() {
            if opts.no_audio {
                mic.fill(0.0);
            } else {
                party.mic.next_frame(&mut mic);
            }
            if tick < media_ticks && !opts.no_audio {
                if let Some(inserter) = party.inserter.as_mut() {
                    if let Some(at) = inserter.process(&mut mic, now) {
                        heard[i].matcher.sent(at);
                    }
                }
            } else {
                mic.fill(0.0);
            }
            if let Some(sink) = party.sent.as_mut() {
                sink.write(&mic)?;
            }
            party.capture.push_audio(&mic, now)?;
        }
        for (i, party) in parties.iter_mut().enumerate() {
            // Party i plays what the other one sent: heard[1 - i].
            let h = &mut heard[1 - i];
            let n = party.playout.pull_audio(&mut speaker, now)?;
            if let Some(sink) = h.received.as_mut() {
                sink.write(&speaker[..n])?;
            }
            if let Some(found) = h.detector.as_mut().and_then(|d| d.process(&speaker[..n], now)) {
                if let Some(latency) = h.matcher.received(found.played_at) {
                    h.recorder.record(found.played_at, latency);
                    h.last_latency = Some(latency);
                }
            }
        }
        if tick % 10 == 9 && tick % 100 != 99 {
            // The jitter-buffer level for the plot, ten times a second.
            for (from, h) in heard.iter_mut().enumerate() {
                let level = parties[1 - from].stats().jitter.current_delay;
                h.jitter_buffer.push((now - start, level));
            }
        }
        if tick % 100 == 99 {
            let stats = [parties[0].stats(), parties[1].stats()];
            let t = now - start;
            let mut line = format!("{:>5.1}s", t.as_secs_f64());
            for (from, h) in heard.iter_mut().enumerate() {
                let to = 1 - from;
                h.matcher.expire(now);
                let rx = &stats[to];
                h.jitter_buffer.push((t, rx.jitter.current_delay));
                let total_sent =
                    |s: &CallStats| s.bytes_sent + s.video.as_ref().map_or(0, |v| v.bytes_sent);
                let sent_before = last_stats[from].as_ref().map_or(0, total_sent);
                let kbps = (total_sent(&stats[from]) - sent_before) as f64 * 8.0 / 1e3;
                let expected = rx.jitter.received + rx.jitter.lost;
                let g2g = displays
                    .get(from)
                    .map(|d: &Display| d.last_latency_us.load(Ordering::Relaxed))
                    .filter(|&us| us > 0)
                    .map_or("  - ".into(), |us| format!("{:>3.0}ms", us as f64 / 1e3));
                let video = rx.video.as_ref().map_or(String::new(), |v| {
                    format!(
                        " g2g {g2g} fps-in {:>3} frz {:>4.0}ms",
                        v.frames_decoded,
                        v.frozen.as_secs_f64() * 1e3
                    )
                });
                line += &format!(
                    " | {}->{} m2e {} jb {:>3.0}ms loss {:>4.1}% conc {:>4.0}ms{video} {:>6.1}kbit/s",
                    &parties[from].name[..1],
                    &parties[to].name[..1],
                    h.last_latency
                        .map_or("  - ".into(), |l| format!("{:>3.0}ms", l.as_secs_f64() * 1e3)),
                    rx.jitter.current_delay.as_secs_f64() * 1e3,
                    100.0 * rx.jitter.lost as f64 / expected.max(1) as f64,
                    rx.jitter.concealed.as_secs_f64() * 1e3,
                    kbps,
                );
            }
            println!("{line}");
            last_stats = stats.map(Some);
        }
    }
    let end = Instant::now();
    for camera in cameras {
        let _ = camera.join();
    }
    let seen: Vec<_> = displays.into_iter().map(Display::stop).collect();
    let [alice, bob] = parties;
    let stats = [alice.hang_up(), bob.hang_up()];
    let relay_counters = relay.map(Relay::stop);
    let names = ["alice -> bob", "bob -> alice"];
    let mut reports = Vec::new();
    for (i, mut h) in heard.into_iter().enumerate() {
        let missed = h.matcher.expire(end);
        h.recorder.set_missed(missed);
        let mut notes = Vec::new();
        if h.matcher.unmatched() > 0 {
            notes.push(format!(
                "audio probe: {} detections matched no marker (false or too late)",
                h.matcher.unmatched()
            ));
        }
        if let Some(sink) = h.received.take() {
            sink.finish()?;
        }
        let mut g2g = None;
        if let Some(display) = seen.get(i) {
            let clock = clocks[i].lock().map_err(|_| "frame clock poisoned")?;
            let (shown, decoded) =
                glass_to_glass(&display.sightings, &clock, start, display.unreadable);
            let d = decoded.summary();
            notes.push(format!(
                "capture-to-decoded     p50 {:>6.1} ms  p95 {:>6.1} ms  p99 {:>6.1} ms  (before the lip-sync hold and display)",
                d.p50.as_secs_f64() * 1e3,
                d.p95.as_secs_f64() * 1e3,
                d.p99.as_secs_f64() * 1e3
            ));
            notes.push(format!(
                "video display: {} frames shown, {} with an unreadable stamp",
                display.frames, display.unreadable
            ));
            g2g = Some(shown);
        }
        notes.extend(video_notes(&stats[i], &stats[1 - i], f64::from(seconds)));
        reports.push(DirectionReport {
            name: names[i].into(),
            seconds: f64::from(seconds),
            sender: stats[i].clone(),
            receiver: stats[1 - i].clone(),
            mouth_to_ear: (opts.probe && !opts.no_audio).then_some(h.recorder),
            glass_to_glass: g2g,
            jitter_buffer: h.jitter_buffer,
            relay: relay_counters.map(|(ab, ba)| if i == 0 { ab } else { ba }),
            notes,
        });
    }
    for r in &reports {
        r.print();
    }
    println!("\nended: alice {:?}, bob {:?}", stats[0].ended, stats[1].ended);
    if let Some(path) = &opts.plot {
        plot(path, &reports)?;
        println!("plot written to {}", path.display());
    }
    if let Some(dir) = &opts.out {
        println!("received media written to {}", dir.display());
    }
    Ok(())
}

impl Party {
    fn new(
        name: &'static str,
        call: Call,
        mic: AudioSource,
        inserter: Option<AudioMarkerInserter>,
        sent: Option<WavSink>,
    ) -> Self {
        let (capture, playout, control) = call.into_parts();
        Self { name, capture, playout, control, mic, inserter, sent }
    }

    fn stats(&self) -> CallStats {
        self.control.stats(&self.capture, &self.playout)
    }

    /// Ends the call and returns its final statistics (the WAV of what it sent is closed).
    fn hang_up(self) -> CallStats {
        if let Some(sink) = self.sent {
            if let Err(e) = sink.finish() {
                eprintln!("{}: {e}", self.name);
            }
        }
        self.control.hang_up(self.capture, self.playout)
    }
}
