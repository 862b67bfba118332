//! Latency probes through the real media chains: audio markers through noise suppression
//! (RNNoise), Opus at 32 kbit/s and packet-loss concealment; frame-id stamps through AV1 at
//! 300 kbit/s, 360p.

use std::time::{Duration, Instant};

use sottovoce::audio::synth::{Voice, speech_like};
use sottovoce::audio::{CaptureChain, CaptureConfig, DeviceFormat, OpusBitrateMode, OpusDecoder};
use sottovoce::call::probe::{
    AudioMarkerDetector, AudioMarkerInserter, FrameIdStamp, LatencyRecorder, MarkerMatcher,
};
use sottovoce::pipeline::BufferPool;
use sottovoce::video::av1::synthetic::SyntheticScene;
use sottovoce::video::av1::{Av1Decoder, DecoderConfig, EncoderConfig, create_encoder};

const RATE: u32 = 48_000;
const FRAME: usize = 480;

struct AudioRun {
    inserted: u64,
    recorder: LatencyRecorder,
    missed: u64,
    unmatched: u64,
    min_score: f32,
}

/// Speech with a marker every 500 ms -> capture chain (AEC off, RNNoise on, Opus 32 kbit/s
/// with FEC) -> decoder, dropping the packets `lose` picks (concealed) -> detector. The
/// "network" is instantaneous, so the measured latency is the chain's own delay.
fn run_audio(seconds: f32, lose: impl Fn(u64) -> bool) -> AudioRun {
    let device = DeviceFormat::new(RATE, 1).unwrap();
    let mut config = CaptureConfig { device, aec: None, ..CaptureConfig::default() };
    assert!(config.noise_suppression.is_some(), "RNNoise is on by default");
    // The chirp is matched by waveform correlation, which constant-bitrate Opus (the
    // default, RFC 6562) with FEC at 32 kbit/s does not preserve well enough: 2 of 20
    // markers found. Latency does not depend on the bitrate mode (same frames, same
    // look-ahead), so the probes run with constrained VBR, as the demos do.
    config.opus.bitrate_mode = OpusBitrateMode::Constrained;
    let mut chain = CaptureChain::new(&config, None).unwrap();
    let mut decoder = OpusDecoder::new(960).unwrap();
    let mut inserter = AudioMarkerInserter::new(RATE, Duration::from_millis(500)).unwrap();
    let mut detector =
        AudioMarkerDetector::new(RATE, AudioMarkerDetector::DEFAULT_THRESHOLD).unwrap();
    let mut matcher = MarkerMatcher::new(Duration::from_millis(400));
    let t0 = Instant::now();
    let mut recorder = LatencyRecorder::new(t0);
    let speech = speech_like(seconds, RATE, Voice { pitch_hz: 130.0, peak: 0.5, seed: 5 });
    let mut decoded = vec![0.0f32; 5760];
    let mut playout: Vec<f32> = Vec::new();
    let mut played = 0usize;
    let mut min_score = 1.0f32;
    for (tick, chunk) in speech.chunks_exact(FRAME).enumerate() {
        let now = t0 + Duration::from_millis(10 * tick as u64);
        let mut mic = chunk.to_vec();
        if let Some(at) = inserter.process(&mut mic, now) {
            matcher.sent(at);
        }
        if let Some(packet) = chain.process(&mic, now).unwrap() {
            let n = if lose(packet.sequence()) {
                decoder.conceal(&mut decoded[..960]).unwrap()
            } else {
                decoder.decode(packet.data(), &mut decoded).unwrap()
            };
            playout.extend_from_slice(&decoded[..n]);
        }
        // Play 10 ms per tick once a packet is buffered (a 20 ms playout buffer).
        if playout.len() >= played + FRAME {
            let frame = &playout[played..played + FRAME];
            if let Some(found) = detector.process(frame, now) {
                min_score = min_score.min(found.score);
                if let Some(latency) = matcher.received(found.played_at) {
                    recorder.record(found.played_at, latency);
                }
            }
            played += FRAME;
        }
    }
    let missed = matcher.expire(t0 + Duration::from_secs(3600));
    recorder.set_missed(missed);
    AudioRun {
        inserted: inserter.inserted(),
        recorder,
        missed,
        unmatched: matcher.unmatched(),
        min_score,
    }
}

#[test]
fn audio_markers_survive_noise_suppression_and_opus() {
    let run = run_audio(10.0, |_| false);
    let s = run.recorder.summary();
    eprintln!("lossless: {s:?}, lowest peak correlation {:.2}", run.min_score);
    assert_eq!(run.inserted, 20);
    // The last marker may still be in flight when the signal ends.
    assert!(s.count >= 19, "{s:?}");
    assert_eq!(run.missed as usize, run.inserted as usize - s.count);
    assert_eq!(run.unmatched, 0);
    // Every marker goes through the same chain, so the delay is constant: encoder and
    // decoder look-ahead, RNNoise's frame and the 10-20 ms playout buffer of this loop.
    assert!(s.min > Duration::from_millis(5) && s.max < Duration::from_millis(60), "{s:?}");
    assert!(s.max - s.min <= Duration::from_millis(11), "{s:?}");
    assert!(run.min_score > 0.6, "{}", run.min_score);
}

#[test]
fn audio_markers_under_loss_are_measured_or_counted_missed() {
    // Every 7th packet lost (14 %), concealed by Opus PLC.
    let run = run_audio(10.0, |seq| seq % 7 == 3);
    let s = run.recorder.summary();
    eprintln!("14% loss: {s:?} of {}, lowest peak correlation {:.2}", run.inserted, run.min_score);
    assert!(s.count >= 14, "most markers still measured: {s:?}");
    assert_eq!(run.missed as usize, run.inserted as usize - s.count);
    assert_eq!(s.missed, run.missed);
    assert_eq!(run.unmatched, 0, "no false detections");
    assert!(s.max < Duration::from_millis(60), "{s:?}");
}

#[test]
fn frame_ids_survive_av1_at_300_kbits_360p() {
    let (w, h) = (640, 360);
    let scene = SyntheticScene::new(w, h);
    let stamp = FrameIdStamp::for_size(w, h).unwrap();
    let pool = BufferPool::new(8, 2, (w * h * 3 / 2) as usize);
    let mut encoder = create_encoder(EncoderConfig::new(w, h, 30, 300_000)).unwrap();
    let mut decoder = Av1Decoder::new(DecoderConfig::default()).unwrap();
    let t0 = Instant::now();
    let mut read = Vec::new();
    let mut unreadable = 0;
    for index in 0..90u64 {
        let mut frame = scene.frame(&pool, index, t0).unwrap();
        // Ids wrap at 16 bits; start near the wrap to cross it.
        let id = (65_500 + index) as u16;
        stamp.write(&mut frame, id).unwrap();
        let mut packets = Vec::new();
        encoder.encode(&frame, &mut |p| packets.push(p)).unwrap();
        for packet in packets {
            decoder
                .decode_frame(&packet, &mut |decoded| match stamp.read(&decoded).unwrap() {
                    Some(id) => read.push(id),
                    None => unreadable += 1,
                })
                .unwrap();
        }
    }
    assert_eq!(unreadable, 0);
    assert!(read.len() >= 85, "{}", read.len());
    let expected: Vec<u16> = (0..read.len() as u64).map(|i| (65_500 + i) as u16).collect();
    assert_eq!(read, expected);
}
