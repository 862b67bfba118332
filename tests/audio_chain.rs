//! The capture chain and the playout unit end to end.

use std::time::{Duration, Instant};

use sottovoce::audio::synth::{self, Voice, power_db};
use sottovoce::audio::{
    AudioPlayout, CaptureChain, CaptureConfig, DeviceFormat, ENGINE_FRAME, ENGINE_RATE,
    EncodedPacket, FormatConverter, OpusDecoder, far_end_channel,
};
use sottovoce::pipeline::Timestamped;
use sottovoce::session::jitter::JitterConfig;

/// Far end: remote speech encoded, then played by the playout chain (feeding the AEC
/// reference); its output goes through a room into the microphone of a 16 kHz stereo
/// device; the capture chain must send back packets with the echo removed.
#[test]
fn playout_feeds_the_echo_canceller_of_the_capture_chain() {
    let remote =
        synth::speech_like(12.0, ENGINE_RATE, Voice { pitch_hz: 110.0, peak: 0.6, seed: 5 });
    let mut enc = sottovoce::audio::OpusEncoder::new(Default::default()).unwrap();
    let t0 = Instant::now();
    let mut remote_packets = Vec::new();
    for (k, f) in remote.chunks_exact(ENGINE_FRAME).enumerate() {
        if let Some(p) = enc.push_frame(f, t0 + Duration::from_millis(10 * k as u64)).unwrap() {
            remote_packets.push(p);
        }
    }
    // Packet `i` arrives on time at 20 ms * i, except packet 100, which is lost; the
    // playout unit plays 10 ms per tick, concealing the loss.
    let tick = |k: usize| t0 + Duration::from_millis(10 * k as u64);
    let arrive = |playout: &mut AudioPlayout, i: usize, p: &EncodedPacket| {
        if i != 100 {
            let ts = (i * 960) as u32;
            playout.insert_payload(tick(2 * i), i as u16, ts, p.data()).unwrap();
        }
    };
    // First pass: what the loudspeaker plays (to simulate the room).
    let mut playout = AudioPlayout::new(JitterConfig::default()).unwrap();
    let mut speaker = Vec::new();
    let mut frame = [0.0f32; ENGINE_FRAME];
    for (i, p) in remote_packets.iter().enumerate() {
        arrive(&mut playout, i, p);
        for k in [2 * i, 2 * i + 1] {
            playout.pull(tick(k), &mut frame);
            speaker.extend_from_slice(&frame);
        }
    }
    let stats = playout.stats();
    assert_eq!(stats.jitter.lost, 1, "{stats:?}");
    assert!(stats.jitter.concealed > Duration::ZERO, "{stats:?}");
    assert_eq!(speaker.len(), remote.len() / ENGINE_FRAME * ENGINE_FRAME);
    // Room: RT60 0.3 s, 60 ms acoustic delay, echo 6 dB below the loudspeaker.
    let rir = synth::room_impulse_response(0.3, 3.0, ENGINE_RATE, 1);
    let mut echo = synth::delayed(&synth::convolve(&speaker, &rir), 2880);
    let g = 10f32.powf((power_db(&speaker) - 6.0 - power_db(&echo)) as f32 / 20.0);
    echo.iter_mut().for_each(|s| *s *= g);
    // Microphone: 16 kHz stereo (decimate the 48 kHz echo by 3 after a crude lowpass).
    let mic16: Vec<f32> = echo.chunks_exact(3).map(|c| c.iter().sum::<f32>() / 3.0).collect();
    // Second pass, live: each 10 ms played (and fed to the AEC reference through the
    // lock-free channel, as `CallPlayout` does) and the matching 10 ms of microphone
    // audio captured.
    let (tx, rx) = far_end_channel(64);
    let mut playout = AudioPlayout::new(JitterConfig::default()).unwrap();
    let config =
        CaptureConfig { device: DeviceFormat::new(16_000, 2).unwrap(), ..CaptureConfig::default() };
    let mut capture = CaptureChain::new(&config, Some(rx)).unwrap();
    let mut packets: Vec<EncodedPacket> = Vec::new();
    let mic_frames: Vec<&[f32]> = mic16.chunks_exact(160).collect();
    for (i, p) in remote_packets.iter().enumerate() {
        arrive(&mut playout, i, p);
        for k in [2 * i, 2 * i + 1] {
            playout.pull(tick(k), &mut frame);
            tx.send(&frame).unwrap();
            let Some(mic) = mic_frames.get(k) else { continue };
            let stereo: Vec<f32> = mic.iter().flat_map(|&s| [s, s]).collect();
            if let Some(p) = capture.process(&stereo, t0).unwrap() {
                packets.push(p);
            }
        }
    }
    let capture_live = capture;
    // Decode what would be sent and compare with the echo over the last 6 s.
    let mut dec = OpusDecoder::new(960).unwrap();
    let mut sent = Vec::new();
    let mut buf = vec![0.0; 5760];
    for p in &packets {
        let n = dec.decode(p.data(), &mut buf).unwrap();
        sent.extend_from_slice(&buf[..n]);
    }
    let from = 6 * ENGINE_RATE as usize;
    let to = sent.len().min(echo.len());
    let erle = power_db(&echo[from..to]) - power_db(&sent[from..to]);
    println!("end-to-end echo reduction through resampling, AEC, NS and Opus: {erle:.1} dB");
    assert!(erle >= 30.0, "echo only reduced by {erle:.1} dB");
    let timings = capture_live.timings().summaries();
    assert!(timings.iter().all(|(_, s)| s.count > 0), "{timings:?}");
}

#[test]
fn capture_chain_stamps_packets_and_refuses_wrong_frames() {
    let config = CaptureConfig {
        device: DeviceFormat::new(44_100, 1).unwrap(),
        aec: None,
        ..CaptureConfig::default()
    };
    let mut chain = CaptureChain::new(&config, None).unwrap();
    let voice = synth::speech_like(1.0, 44_100, Voice::default());
    let t0 = Instant::now();
    let mut times = Vec::new();
    let mut got = Vec::new();
    for (k, f) in voice.chunks_exact(441).enumerate() {
        let t = t0 + Duration::from_millis(10 * k as u64);
        times.push(t);
        if let Some(p) = chain.process(f, t).unwrap() {
            got.push(p);
        }
    }
    // A frame of the wrong length is refused with a typed error, not a panic, and the
    // chain carries on.
    assert!(chain.process(&[0.0; 480], t0).is_err());
    assert_eq!(got.len(), 50);
    for (i, p) in got.iter().enumerate() {
        assert_eq!(p.sequence(), i as u64);
        // The capture instant of each 20 ms packet's first 10 ms frame (the stages'
        // algorithmic delay is accounted for where sender reports are made, see
        // `the_chain_reports_the_delay_of_its_stages`).
        assert_eq!(p.capture_time(), times[2 * i]);
    }
    let next = voice.chunks_exact(441).next().unwrap();
    let more: Vec<_> = (0..2)
        .filter_map(|k| chain.process(next, t0 + Duration::from_secs(2 + k)).unwrap())
        .collect();
    assert_eq!(more.len(), 1, "still encoding after the refused frame");
}

#[test]
fn played_audio_converts_to_the_device_and_corrupt_payloads_are_refused() {
    let voice = synth::speech_like(0.5, ENGINE_RATE, Voice::default());
    let mut enc = sottovoce::audio::OpusEncoder::new(Default::default()).unwrap();
    let t0 = Instant::now();
    let mut playout = AudioPlayout::new(JitterConfig::default()).unwrap();
    let device = DeviceFormat::new(22_050, 2).unwrap();
    let mut converter = FormatConverter::new(DeviceFormat::ENGINE, device).unwrap();
    let mut out = vec![0.0f32; device.max_frame_len() * 2];
    let mut frame = [0.0f32; ENGINE_FRAME];
    let mut lengths = Vec::new();
    let mut seq = 0u16;
    for (k, f) in voice.chunks_exact(ENGINE_FRAME).enumerate() {
        let now = t0 + Duration::from_millis(10 * k as u64);
        if let Some(p) = enc.push_frame(f, now).unwrap() {
            playout.insert_payload(now, seq, u32::from(seq) * 960, p.data()).unwrap();
            seq += 1;
        }
        playout.pull(now, &mut frame);
        lengths.push(converter.convert(&frame, &mut out).unwrap() / 2);
    }
    assert_eq!(lengths.len(), 50);
    for (k, n) in lengths.iter().enumerate() {
        assert_eq!(*n, if k % 2 == 0 { 220 } else { 221 }, "frame {k}");
    }
    // A TOC byte announcing an impossible frame count, and an empty payload.
    let before = playout.stats();
    assert!(playout.insert_payload(t0, 999, 0, &[0xFB]).is_err());
    assert!(playout.insert_payload(t0, 999, 0, &[]).is_err());
    assert_eq!(playout.stats(), before, "a refused payload changed the unit");
    let bad = EncodedPacket::from_bytes(&[0xFB], t0, 0);
    assert!(bad.is_err());
}

/// Stages report their own algorithmic delay (the call's sender reports use the sum):
/// RNNoise one 10 ms frame, libopus its look-ahead (6.5 ms for VoIP at 48 kHz), the
/// resampler its filter delay; without noise suppression that term goes.
#[test]
fn the_chain_reports_the_delay_of_its_stages() {
    let device = DeviceFormat::new(44_100, 2).unwrap();
    let with_ns = CaptureConfig { device, aec: None, ..CaptureConfig::default() };
    let chain = CaptureChain::new(&with_ns, None).unwrap();
    let resampler = chain.processor().resampler_delay();
    assert!(resampler > Duration::ZERO, "44.1 kHz is resampled");
    let expected = resampler + Duration::from_millis(10) + Duration::from_micros(6_500);
    let reported = chain.algorithmic_delay();
    assert!(
        reported.abs_diff(expected) < Duration::from_micros(50),
        "{reported:?} vs {expected:?}"
    );
    let without_ns = CaptureConfig { noise_suppression: None, ..with_ns };
    let chain = CaptureChain::new(&without_ns, None).unwrap();
    assert!(
        chain.algorithmic_delay().abs_diff(expected - Duration::from_millis(10))
            < Duration::from_micros(50)
    );
}
