//! Steady-state allocation check: after warm-up, the capture chain (resampling, echo
//! cancellation, noise suppression, Opus) and the playout chain allocate nothing per
//! frame. AEC3 (the vendored aec3 crate, patched for this: `vendor/aec3/VENDORED.md`) is
//! also checked alone, and so is the playout's pitch-synchronous time-scaling.

use std::time::Instant;

use sottovoce::audio::synth::{self, Voice};
use sottovoce::audio::{
    AudioPlayout, CaptureChain, CaptureConfig, DeviceFormat, ENGINE_FRAME, ENGINE_RATE,
    FormatConverter, TimeScaleKind, compress_speech, expand_speech, far_end_channel,
};
use sottovoce::session::jitter::JitterConfig;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::thread_allocations as allocations;

#[test]
fn capture_and_playout_do_not_allocate_per_frame() {
    let voice = synth::speech_like(2.0, 44_100, Voice::default());
    let stereo: Vec<f32> = voice.iter().flat_map(|&s| [s, s]).collect();
    let config = CaptureConfig {
        device: DeviceFormat::new(44_100, 2).unwrap(),
        aec: None,
        ..CaptureConfig::default()
    };
    let mut chain = CaptureChain::new(&config, None).unwrap();
    let mut playout = AudioPlayout::new(JitterConfig::default()).unwrap();
    let device = DeviceFormat::new(44_100, 2).unwrap();
    let mut converter = FormatConverter::new(DeviceFormat::ENGINE, device).unwrap();
    let mut speaker = vec![0.0f32; device.max_frame_len() * 2];
    let mut engine_frame = [0.0f32; ENGINE_FRAME];
    let t0 = Instant::now();
    let frames: Vec<&[f32]> = stereo.chunks_exact(882).collect();
    let mut played = 0usize;
    let mut seq = 0u16;
    let mut step = |k: usize, played: &mut usize| {
        let now = t0 + std::time::Duration::from_millis(10 * k as u64);
        if let Some(p) = chain.process(frames[k], now).unwrap() {
            playout.insert_payload(now, seq, u32::from(seq) * 960, p.data()).unwrap();
            seq = seq.wrapping_add(1);
        }
        playout.pull(now, &mut engine_frame);
        if converter.convert(&engine_frame, &mut speaker).unwrap() > 0 {
            *played += 1;
        }
    };
    for k in 0..50 {
        step(k, &mut played);
    }
    let before = allocations();
    for k in 50..frames.len() {
        step(k, &mut played);
    }
    let during = allocations() - before;
    println!("{} frames after warm-up: {during} allocations", frames.len() - 50);
    assert_eq!(during, 0);
    assert!(played > 100);
}

/// AEC3 allocates nothing per frame after warm-up, alone (fed the far end and a
/// microphone frame, as the engine does) and in the whole capture chain (far-end
/// channel, wrapper, noise suppression, encoder).
#[test]
fn aec3_does_not_allocate_per_frame() {
    use sottovoce::audio::{Aec3Canceller, AecConfig, EchoCanceller};
    let far = synth::speech_like(2.0, ENGINE_RATE, Voice::default());
    let frames: Vec<&[f32]> = far.chunks_exact(ENGINE_FRAME).collect();

    let mut bare = Aec3Canceller::new(&AecConfig::default()).unwrap();
    let mut buf = [0.0f32; ENGINE_FRAME];
    let mut run_bare = |f: &[f32]| {
        bare.analyze_render(f).unwrap();
        buf.copy_from_slice(f);
        bare.process_capture(&mut buf).unwrap();
    };
    frames[..50].iter().for_each(|f| run_bare(f));
    let before = allocations();
    frames[50..].iter().for_each(|f| run_bare(f));
    let bare_count = allocations() - before;

    let (tx, rx) = far_end_channel(8);
    let mut chain = CaptureChain::new(&CaptureConfig::default(), Some(rx)).unwrap();
    let t0 = Instant::now();
    let mut run_chain = |f: &[f32]| {
        tx.send(f).unwrap();
        chain.process(f, t0).unwrap();
    };
    frames[..50].iter().for_each(|f| run_chain(f));
    let before = allocations();
    frames[50..].iter().for_each(|f| run_chain(f));
    let chain_count = allocations() - before;
    println!(
        "{} frames after warm-up: AEC3 alone {bare_count} allocations; capture chain with \
         AEC3 {chain_count}",
        frames.len() - 50
    );
    assert_eq!(bare_count, 0, "AEC3 allocated");
    assert_eq!(chain_count, 0, "capture chain with AEC3 allocated");
}

/// The WebRTC APM canceller (feature `webrtc-apm`) in the whole capture chain: no Rust
/// allocation per frame. (The counter sees Rust's global allocator only; APM's C++ core
/// preallocates its buffers when created, which this test cannot observe.)
#[cfg(feature = "webrtc-apm")]
#[test]
fn capture_chain_with_apm_does_not_allocate_per_frame() {
    use sottovoce::audio::{AecConfig, CancellerKind};
    let far = synth::speech_like(2.0, ENGINE_RATE, Voice::default());
    let frames: Vec<&[f32]> = far.chunks_exact(ENGINE_FRAME).collect();
    let (tx, rx) = far_end_channel(8);
    let config = CaptureConfig {
        aec: Some(AecConfig { canceller: CancellerKind::WebRtcApm, ..AecConfig::default() }),
        ..CaptureConfig::default()
    };
    let mut chain = CaptureChain::new(&config, Some(rx)).unwrap();
    let t0 = Instant::now();
    let mut run_chain = |f: &[f32]| {
        tx.send(f).unwrap();
        chain.process(f, t0).unwrap();
    };
    frames[..50].iter().for_each(|f| run_chain(f));
    let before = allocations();
    frames[50..].iter().for_each(|f| run_chain(f));
    let during = allocations() - before;
    println!("capture chain with APM: {during} allocations in {} frames", frames.len() - 50);
    assert_eq!(during, 0);
}

/// The jitter buffer's accelerate/stretch work (pitch search and overlap-add) allocates
/// nothing, on every kind of input it meets: voiced, quiet and aperiodic.
#[test]
fn time_scaling_does_not_allocate() {
    let voice = synth::speech_like(2.0, ENGINE_RATE, Voice::default());
    let mut out = vec![0.0f32; 3 * ENGINE_FRAME];
    let mut kinds = Vec::with_capacity(1000);
    let before = allocations();
    for chunk in voice.chunks_exact(2 * ENGINE_FRAME) {
        kinds.push(compress_speech(chunk, ENGINE_FRAME / 2, &mut out).kind);
        kinds.push(expand_speech(chunk, ENGINE_FRAME, &mut out).kind);
    }
    let during = allocations() - before;
    assert_eq!(during, 0, "time-scaling allocated");
    for kind in [TimeScaleKind::PitchPeriods, TimeScaleKind::Quiet] {
        assert!(kinds.contains(&kind), "{kind:?} not exercised: {kinds:?}");
    }
}
