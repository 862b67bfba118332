//! One side of an end-to-end encrypted call between two processes (two terminals, or two
//! machines): `--listen PORT` on one, `--connect HOST:PORT` on the other. The e2ee
//! handshake (identities, offer, answer, confirm) goes over a side channel: files in a
//! shared directory (`--signal DIR`) or lines pasted between the terminals
//! (`--signal -`). Both print the same safety code; compare it to rule out a
//! man in the middle. See `docs/call-demo.md`.
//!
//! ```text
//! terminal 1: cargo run --example call_peer -- --listen 40000 --signal /tmp/sig --out /tmp/l
//! terminal 2: cargo run --example call_peer -- --connect 127.0.0.1:40000 --signal /tmp/sig --out /tmp/c
//! ```

#[path = "support/mod.rs"]
mod support;

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sottovoce::audio::synth::Voice;
use sottovoce::audio::{DeviceFormat, OpusBitrateMode};
use sottovoce::call::probe::{
    AudioMarkerDetector, AudioMarkerInserter, FrameIdClock, LatencyRecorder, MarkerMatcher,
};
use sottovoce::call::{Call, CallConfig, VideoTrackConfig};
use sottovoce::e2ee::{
    Answer, AnsweringHandshake, CallKeys, Confirm, IdentityKeyPair, IdentityPublicKey, Offer,
    OfferingHandshake, SrtpSuite,
};
use sottovoce::transport::{MAX_DATAGRAM, UdpTransport};
use sottovoce::video::av1::{EncoderBackend, EncoderConfig};

use support::args::{Args, parse_resolution};
use support::media::{AudioSource, VideoSource, WavSink};
use support::report::{DirectionReport, plot, video_notes};
use support::signal::Signal;
use support::video::{Display, glass_to_glass, start_camera, synthetic_clip};

const HELP: &str = "\
call_peer: one side of an end-to-end encrypted call between two processes

USAGE:
  cargo run --example call_peer -- --listen PORT  [OPTIONS]   (waits for the peer)
  cargo run --example call_peer -- --connect HOST:PORT [OPTIONS]

  --signal DIR|-     side channel for the key exchange: a directory both processes see
                     (default /tmp/sottovoce-signal; start the listener first), or - to
                     print messages and read the peer's from stdin (paste between terminals)
  --seconds S        media length (default 10; with --audio the file's length + 1 s)
  --audio FILE.wav   microphone (default: a built-in speech-like voice)
  --no-ns            noise suppression off;  --aec  echo cancellation on
  --video FILE.y4m   camera (default: the moving test pattern);  --no-video  audio only
  --resolution 640x360  --fps 30  --encoder aom|rav1e  --video-bitrate 500kbit
                     (both sides must agree on whether there is video)
  --out DIR          write sent.wav, received.wav and received.y4m
  --plot FILE        latency over time and per-stage breakdown (.svg or .png)

Mouth-to-ear and glass-to-glass latency need both processes on one machine with
--signal DIR: each side writes the wall-clock capture times of its markers and frames
there at the end and reads the peer's.
";

/// Marker period and longest matchable latency (see `sottovoce::call::probe`).
const MARKER_PERIOD: Duration = Duration::from_secs(1);
const MAX_LATENCY: Duration = Duration::from_millis(900);
const SIGNAL_TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    if let Err(e) = run() {
        eprintln!("call_peer: {e}");
        std::process::exit(1);
    }
}

/// Microseconds since the Unix epoch of a local `Instant`, through one paired reading of
/// both clocks (processes on one machine share the wall clock).
struct WallClock {
    instant: Instant,
    unix_us: i64,
}

impl WallClock {
    fn now() -> Self {
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        Self { instant: Instant::now(), unix_us: unix.as_micros() as i64 }
    }

    fn to_unix_us(&self, at: Instant) -> i64 {
        match at.checked_duration_since(self.instant) {
            Some(d) => self.unix_us + d.as_micros() as i64,
            None => self.unix_us - (self.instant - at).as_micros() as i64,
        }
    }

    fn to_instant(&self, unix_us: i64) -> Instant {
        let delta = unix_us - self.unix_us;
        if delta >= 0 {
            self.instant + Duration::from_micros(delta as u64)
        } else {
            self.instant
                .checked_sub(Duration::from_micros(delta.unsigned_abs()))
                .unwrap_or(self.instant)
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse(
        std::env::args().skip(1),
        &["help", "no-ns", "aec", "no-video"],
        &[
            "listen",
            "connect",
            "signal",
            "seconds",
            "audio",
            "video",
            "resolution",
            "fps",
            "encoder",
            "video-bitrate",
            "out",
            "plot",
        ],
    )?;
    if args.switch("help") || (args.value("listen").is_none() == args.value("connect").is_none()) {
        print!("{HELP}");
        return Ok(());
    }
    let listening = args.value("listen").is_some();
    let (me, peer) = if listening { ("listener", "connector") } else { ("connector", "listener") };
    let signal = Signal::open(args.value("signal").unwrap_or("/tmp/sottovoce-signal"))?;
    let out: Option<PathBuf> = args.value("out").map(PathBuf::from);

    let mic = match args.value("audio") {
        Some(path) => AudioSource::wav(path.as_ref())?,
        None => {
            let seconds: f32 = args.parsed("seconds")?.unwrap_or(10.0);
            let voice = if listening {
                Voice { pitch_hz: 205.0, peak: 0.5, seed: 22 }
            } else {
                Voice { pitch_hz: 115.0, peak: 0.5, seed: 11 }
            };
            AudioSource::generated(seconds, 48_000, voice)
        }
    };
    let seconds: f32 = args.parsed("seconds")?.unwrap_or(mic.seconds() + 1.0);
    let rate = mic.rate;
    let resolution =
        args.value("resolution").map(parse_resolution).transpose()?.unwrap_or((640, 360));
    let fps: u32 = args.parsed("fps")?.unwrap_or(30);
    let video_source = if args.switch("no-video") {
        None
    } else {
        Some(Arc::new(match args.value("video") {
            Some(path) => VideoSource::y4m(path.as_ref())?,
            None => synthetic_clip(resolution.0, resolution.1, 150)?,
        }))
    };
    // A file is coded at its own size: the frame-id stamp must not be rescaled.
    let resolution = video_source.as_ref().map_or(resolution, |v| v.size(resolution));
    let encoder = match args.value("encoder").unwrap_or("aom") {
        "aom" | "libaom" => EncoderBackend::Libaom,
        "rav1e" => EncoderBackend::Rav1e,
        other => return Err(format!("--encoder: '{other}' is not aom or rav1e").into()),
    };
    let video_bitrate = args
        .value("video-bitrate")
        .map(sottovoce::transport::impair::parse_bitrate)
        .transpose()
        .map_err(|e| format!("--video-bitrate: {e}"))?
        .map_or(500_000, |b| b.min(u64::from(u32::MAX)) as u32);

    // --- key exchange over the side channel ---
    if listening {
        signal.clear(&[
            "listener.id",
            "connector.id",
            "offer",
            "answer",
            "confirm",
            "listener.markers",
            "connector.markers",
        ]);
    } else {
        signal.clear(&["connector.id", "offer", "confirm", "connector.markers"]);
    }
    let identity = IdentityKeyPair::generate()?;
    signal.send(&format!("{me}.id"), identity.public_key().as_bytes())?;
    let peer_id: [u8; 32] = signal
        .recv(&format!("{peer}.id"), SIGNAL_TIMEOUT)?
        .try_into()
        .map_err(|_| "the peer's identity is not 32 bytes")?;
    // Trust on first use: the safety code below is what authenticates the peer.
    let peer_id = IdentityPublicKey::from_bytes(peer_id);
    let keys: CallKeys = if listening {
        let offer = Offer::decode(&signal.recv("offer", SIGNAL_TIMEOUT)?)?;
        let (answering, answer) = AnsweringHandshake::respond(&identity, peer_id, &offer)?;
        signal.send("answer", &answer.encode())?;
        let confirm = Confirm::decode(&signal.recv("confirm", SIGNAL_TIMEOUT)?)?;
        answering.finish(&confirm)?
    } else {
        let (offering, offer) = OfferingHandshake::start(&identity, peer_id, SrtpSuite::default())?;
        signal.send("offer", &offer.encode())?;
        let answer = Answer::decode(&signal.recv("answer", SIGNAL_TIMEOUT)?)?;
        let (keys, confirm) = offering.finish(&answer)?;
        signal.send("confirm", &confirm.encode())?;
        keys
    };
    println!("safety code: {}  -- the peer must show the same", keys.safety_code().digits());

    // --- transport ---
    let socket = if let Some(port) = args.value("listen") {
        let port: u16 = port.parse().map_err(|_| format!("bad port '{port}'"))?;
        let socket = UdpTransport::bind(SocketAddr::from(([0, 0, 0, 0], port)))?;
        println!("listening on UDP port {port}; waiting for the peer's first packet...");
        let mut first = vec![0u8; MAX_DATAGRAM];
        let (_, from) = socket
            .accept_first(&mut first, Duration::from_secs(60))?
            .ok_or("no packet from the peer within 60 s")?;
        // That first packet (20 ms of audio) is consumed here; the jitter buffer conceals it.
        println!("peer is {from}");
        socket
    } else {
        let target = args.value("connect").unwrap_or_default();
        let peer_addr =
            target.to_socket_addrs()?.next().ok_or_else(|| format!("cannot resolve '{target}'"))?;
        let local: SocketAddr =
            if peer_addr.is_ipv4() { "0.0.0.0:0".parse()? } else { "[::]:0".parse()? };
        let socket = UdpTransport::bind(local)?;
        socket.connect(peer_addr)?;
        println!("calling {peer_addr}");
        socket
    };
    let (tx, rx) = socket.split()?;
    let (local_ssrc, remote_ssrc) =
        if listening { (0x0000_B0B0, 0xA11C_E000) } else { (0xA11C_E000, 0x0000_B0B0) };
    let mut config = CallConfig::new(keys, local_ssrc, remote_ssrc, DeviceFormat::new(rate, 1)?);
    if !args.switch("aec") {
        config.capture.aec = None;
    }
    if args.switch("no-ns") {
        config.capture.noise_suppression = None;
    }
    // This example always inserts latency markers, which constant-bitrate Opus (the
    // default) does not carry well enough to be found; the delay is the same either way.
    config.capture.opus.bitrate_mode = OpusBitrateMode::Constrained;
    if video_source.is_some() {
        let video = EncoderConfig::new(resolution.0, resolution.1, fps, video_bitrate)
            .with_backend(encoder);
        config = config.with_video(VideoTrackConfig::new(
            local_ssrc ^ 0x0F00,
            remote_ssrc ^ 0x0F00,
            video,
        ));
    }
    let call = Call::new(config, Arc::new(tx), Box::new(rx))?;
    let (mut capture, mut playout, mut control) = call.into_parts();

    // --- media loop ---
    if let Some(dir) = &out {
        std::fs::create_dir_all(dir)?;
    }
    let wav = |name: &str| -> Result<Option<WavSink>, Box<dyn std::error::Error>> {
        out.as_ref()
            .map(|dir| WavSink::create(&dir.join(name), rate))
            .transpose()
            .map_err(Into::into)
    };
    let (mut sent_wav, mut received_wav) = (wav("sent.wav")?, wav("received.wav")?);
    let mut mic = mic;
    let mut inserter = AudioMarkerInserter::new(rate, MARKER_PERIOD)?;
    let mut detector = AudioMarkerDetector::new(rate, AudioMarkerDetector::DEFAULT_THRESHOLD)?;
    let mut sent_markers: Vec<Instant> = Vec::new();
    let mut detections: Vec<Instant> = Vec::new();
    let frame_len = (rate / 100) as usize;
    let (mut frame, mut speaker) = (vec![0.0f32; frame_len], vec![0.0f32; frame_len]);
    let media_ticks = (seconds * 100.0) as u64;
    let tail_ticks = (MAX_LATENCY.as_millis() / 10 + 10) as u64;
    let start = Instant::now();
    let media_end = start + Duration::from_millis(10 * media_ticks);
    let camera_clock = Arc::new(Mutex::new(FrameIdClock::new()));
    let mut camera = None;
    let mut display = None;
    if let Some(source) = &video_source {
        let input = control.video_input().ok_or("the call has no video track")?;
        camera = Some(start_camera(
            input,
            Arc::clone(source),
            fps,
            start,
            media_end,
            Arc::clone(&camera_clock),
        )?);
        let output = control.take_video_output().ok_or("no video output")?;
        let y4m = out.as_ref().map(|d| (d.join("received.y4m"), fps));
        display = Some(Display::start(output, None, y4m)?);
    }
    let mut jitter_buffer = Vec::new();
    let mut last_bytes = 0;
    let mut ended = None;
    let total_sent = |s: &sottovoce::call::CallStats| {
        s.bytes_sent + s.video.as_ref().map_or(0, |v| v.bytes_sent)
    };
    for tick in 0..media_ticks + tail_ticks {
        let deadline = start + Duration::from_millis(10 * tick);
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        mic.next_frame(&mut frame);
        if tick < media_ticks {
            if let Some(at) = inserter.process(&mut frame, now) {
                sent_markers.push(at);
            }
        } else {
            frame.fill(0.0);
        }
        if let Some(sink) = sent_wav.as_mut() {
            sink.write(&frame)?;
        }
        if let Err(e) = capture.push_audio(&frame, now) {
            ended = Some(e.to_string());
            break;
        }
        let n = playout.pull_audio(&mut speaker, now)?;
        if let Some(sink) = received_wav.as_mut() {
            sink.write(&speaker[..n])?;
        }
        if let Some(found) = detector.process(&speaker[..n], now) {
            detections.push(found.played_at);
        }
        if tick % 10 == 9 {
            jitter_buffer
                .push((now - start, control.stats(&capture, &playout).jitter.current_delay));
        }
        if tick % 100 == 99 {
            let s = control.stats(&capture, &playout);
            let expected = s.jitter.received + s.jitter.lost;
            println!(
                "{:>5.1}s | sent {:>5.1} kbit/s, audio received {} pkts, loss {:.1}%, jb {:.0} ms, concealed {:.0} ms, markers heard {}{}",
                (now - start).as_secs_f64(),
                (total_sent(&s) - last_bytes) as f64 * 8.0 / 1e3,
                s.packets_received,
                100.0 * s.jitter.lost as f64 / expected.max(1) as f64,
                s.jitter.current_delay.as_secs_f64() * 1e3,
                s.jitter.concealed.as_secs_f64() * 1e3,
                detections.len(),
                s.video.as_ref().map_or(String::new(), |v| format!(
                    ", video decoded {} frozen {:.0} ms",
                    v.frames_decoded,
                    v.frozen.as_secs_f64() * 1e3
                ))
            );
            last_bytes = total_sent(&s);
        }
    }
    if let Some(c) = camera {
        let _ = c.join();
    }
    let seen = display.map(Display::stop);
    let stats = control.hang_up(capture, playout);
    if let Some(reason) = ended {
        println!("the call ended early: {reason}");
    }
    for sink in [sent_wav, received_wav].into_iter().flatten() {
        sink.finish()?;
    }

    // --- mouth-to-ear across the two processes (shared wall clock) ---
    let clock = WallClock::now();
    let mut recorder = LatencyRecorder::new(start);
    let mut mouth_to_ear = None;
    let mut glass = None;
    let mut notes = Vec::new();
    if let Signal::Dir(_) = signal {
        let mine: Vec<u8> =
            sent_markers.iter().flat_map(|&at| clock.to_unix_us(at).to_be_bytes()).collect();
        signal.send(&format!("{me}.markers"), &mine)?;
        // Frame ids (2 bytes) and their capture instants (8 bytes) of the last 4096 frames.
        let frames: Vec<u8> = {
            let c = camera_clock.lock().map_err(|_| "frame clock poisoned")?;
            (0..=u16::MAX)
                .filter_map(|id| c.capture_time(id).map(|at| (id, at)))
                .flat_map(|(id, at)| {
                    id.to_be_bytes().into_iter().chain(clock.to_unix_us(at).to_be_bytes())
                })
                .collect()
        };
        signal.send(&format!("{me}.frames"), &frames)?;
        if let Some(display) = &seen {
            match signal.recv(&format!("{peer}.frames"), Duration::from_secs(30)) {
                Ok(bytes) => {
                    let mut peer_clock = FrameIdClock::new();
                    let mut entries: Vec<(u16, Instant)> = bytes
                        .chunks_exact(10)
                        .map(|c| {
                            let id = u16::from_be_bytes([c[0], c[1]]);
                            let mut us = [0u8; 8];
                            us.copy_from_slice(&c[2..]);
                            (id, clock.to_instant(i64::from_be_bytes(us)))
                        })
                        .collect();
                    entries.sort_by_key(|&(_, at)| at);
                    for (id, at) in entries {
                        peer_clock.captured(id, at);
                    }
                    let (shown, decoded) =
                        glass_to_glass(&display.sightings, &peer_clock, start, display.unreadable);
                    let d = decoded.summary();
                    notes.push(format!(
                        "capture-to-decoded     p50 {:>6.1} ms  p95 {:>6.1} ms  p99 {:>6.1} ms",
                        d.p50.as_secs_f64() * 1e3,
                        d.p95.as_secs_f64() * 1e3,
                        d.p99.as_secs_f64() * 1e3
                    ));
                    glass = Some(shown);
                }
                Err(e) => println!("no glass-to-glass figures: {e}"),
            }
        }
        match signal.recv(&format!("{peer}.markers"), Duration::from_secs(30)) {
            Ok(bytes) => {
                let mut matcher = MarkerMatcher::new(MAX_LATENCY);
                let mut peer_sent = bytes
                    .chunks_exact(8)
                    .map(|c| clock.to_instant(i64::from_be_bytes(c.try_into().unwrap_or([0; 8]))))
                    .peekable();
                for &heard in &detections {
                    while let Some(sent) = peer_sent.next_if(|&s| s <= heard) {
                        matcher.sent(sent);
                    }
                    if let Some(latency) = matcher.received(heard) {
                        recorder.record(heard, latency);
                    }
                }
                peer_sent.for_each(|s| matcher.sent(s));
                recorder.set_missed(matcher.expire(Instant::now() + MAX_LATENCY * 2));
                mouth_to_ear = Some(recorder);
            }
            Err(e) => println!("no mouth-to-ear figures: {e}"),
        }
    } else {
        println!("mouth-to-ear needs --signal DIR (both processes on one machine)");
    }
    if let Some(display) = &seen {
        notes.push(format!(
            "video display: {} frames shown, {} with an unreadable stamp",
            display.frames, display.unreadable
        ));
    }
    notes.extend(video_notes(&stats, &stats, f64::from(seconds)));
    notes.push(format!(
        "(one process sees its own side: 'sent', 'video send' and tx stages are this side's; \
         'received', loss, 'video receive' and rx stages are the peer's stream; markers sent {}, heard {})",
        sent_markers.len(),
        detections.len()
    ));
    let report = DirectionReport {
        name: format!("{peer} -> {me}"),
        seconds: f64::from(seconds),
        sender: stats.clone(),
        receiver: stats.clone(),
        mouth_to_ear,
        glass_to_glass: glass,
        jitter_buffer,
        relay: None,
        notes,
    };
    report.print();
    println!("ended: {:?}", stats.ended);
    if let Some(path) = args.value("plot") {
        plot(path.as_ref(), std::slice::from_ref(&report))?;
        println!("plot written to {path}");
    }
    Ok(())
}
