//! Echo cancellation on simulated rooms: a speech-like far end convolved with a synthetic
//! room impulse response, delayed, played back into the microphone.

use sottovoce::audio::synth::{self, Voice, power_db};
use sottovoce::audio::{
    Aec3Canceller, AecConfig, CancellerKind, ENGINE_FRAME, ENGINE_RATE, EchoCanceller,
    far_end_channel,
};

const RATE: u32 = ENGINE_RATE;

struct Scenario {
    far: Vec<f32>,
    echo: Vec<f32>,
    near: Vec<f32>,
    noise: Vec<f32>,
}

/// Far-end voice, its echo through a room of `rt60` seconds after `delay_ms`, an optional
/// near-end voice active in `near_span` seconds, and a -70 dBFS microphone noise floor.
fn scenario(seconds: f32, rt60: f32, delay_ms: u32, near_span: Option<(f32, f32)>) -> Scenario {
    let far = synth::speech_like(seconds, RATE, Voice { pitch_hz: 110.0, peak: 0.6, seed: 7 });
    let rir = synth::room_impulse_response(rt60, DRR_DB, RATE, 3);
    let mut echo = synth::convolve(&far, &rir);
    // Loudspeaker-to-microphone coupling: the echo arrives ~6 dB below the far end.
    let gain = 10f32.powf((power_db(&far) - 6.0 - power_db(&echo)) as f32 / 20.0);
    echo.iter_mut().for_each(|s| *s *= gain);
    let echo = synth::delayed(&echo, (delay_ms * RATE / 1000) as usize);
    let mut near = vec![0.0f32; far.len()];
    if let Some((from, to)) = near_span {
        let voice =
            synth::speech_like(to - from, RATE, Voice { pitch_hz: 210.0, peak: 0.4, seed: 11 });
        let start = (from * RATE as f32) as usize;
        near[start..start + voice.len()].copy_from_slice(&voice);
    }
    let mut rng = synth::Rng::new(99);
    let noise = (0..far.len()).map(|_| 3e-4 * rng.gaussian()).collect();
    Scenario { far, echo, near, noise }
}

/// Run the canceller over the scenario (far end through the lock-free reference channel,
/// as the playout thread would), returning the output.
fn run(s: &Scenario, config: &AecConfig) -> (Vec<f32>, i32) {
    let mut aec = config.build().unwrap();
    let (tx, rx) = far_end_channel(32);
    let mut out = vec![0.0f32; s.far.len()];
    let frames = s.far.len() / ENGINE_FRAME;
    for k in 0..frames {
        let r = k * ENGINE_FRAME..(k + 1) * ENGINE_FRAME;
        tx.send(&s.far[r.clone()]).unwrap();
        rx.drain_into(aec.as_mut()).unwrap();
        let mut mic: Vec<f32> = (r.clone()).map(|i| s.echo[i] + s.near[i] + s.noise[i]).collect();
        aec.process_capture(&mut mic).unwrap();
        out[r].copy_from_slice(&mic);
    }
    (out, aec.metrics().delay_ms)
}

fn segment(x: &[f32], from: f32, to: f32) -> &[f32] {
    let a = (from * RATE as f32) as usize;
    let b = ((to * RATE as f32) as usize).min(x.len());
    &x[a..b]
}

/// ERLE over single talk after convergence: echo power at the microphone over output power.
fn erle_db(s: &Scenario, out: &[f32], from: f32, to: f32) -> f64 {
    power_db(segment(&s.echo, from, to)) - power_db(segment(out, from, to))
}

/// Direct-to-reverberant ratio of the simulated rooms: a little more reverberant than the
/// simulated shoebox room in `shared/media/rir` (+5.6 dB).
const DRR_DB: f32 = 3.0;

fn config(kind: CancellerKind) -> AecConfig {
    AecConfig { canceller: kind, ..AecConfig::default() }
}

fn check_single_talk(kind: CancellerKind, rt60: f32, delay_ms: u32) {
    let s = scenario(20.0, rt60, delay_ms, None);
    let (out, locked) = run(&s, &config(kind));
    // Converged after 6 s; measured over the remaining 14 s of single talk.
    let erle = erle_db(&s, &out, 6.0, 20.0);
    println!(
        "{kind:?} RT60 {rt60} s, delay {delay_ms} ms: ERLE {erle:.1} dB, estimated delay {locked} ms"
    );
    assert!(erle >= 35.0, "{kind:?} RT60 {rt60} s, delay {delay_ms} ms: ERLE {erle:.1} dB < 35 dB");
    assert!(
        (locked - delay_ms as i32).abs() <= 12,
        "{kind:?}: estimated delay {locked} ms vs true {delay_ms} ms"
    );
}

/// Per-frame view of double talk: for every 20 ms frame in which the near-end voice alone
/// is within 30 dB of its loudest frame, the output's level minus the near end's level
/// (dB). An echo canceller that gates the near end while the far end talks shows up here
/// as many strongly negative frames even when the average level loss is small (a few loud
/// frames carry the average).
fn near_end_frame_gains(near: &[f32], out: &[f32]) -> Vec<f64> {
    const FRAME: usize = (RATE / 50) as usize;
    let levels: Vec<(f64, f64)> = near
        .chunks_exact(FRAME)
        .zip(out.chunks_exact(FRAME))
        .map(|(n, o)| (power_db(n), power_db(o)))
        .collect();
    let loudest = levels.iter().map(|l| l.0).fold(f64::MIN, f64::max);
    levels.iter().filter(|l| l.0 > loudest - 30.0).map(|(n, o)| o - n).collect()
}

/// Double talk: the far end talks throughout, the near end from 10 to 16 s. Two measures
/// over 10.5..15.5 s: the near end's level loss (power of the near-end voice alone over
/// power of the output there, which also holds any residual echo) and the share of 20 ms
/// near-end frames cut by more than 6 dB (see `near_end_frame_gains`).
fn check_double_talk(kind: CancellerKind, rooms: &[(f32, u32)], max_cut_frames: f64) {
    for &(rt60, delay) in rooms {
        let s = scenario(20.0, rt60, delay, Some((10.0, 16.0)));
        let (out, _) = run(&s, &config(kind));
        let near = segment(&s.near, 10.5, 15.5);
        let output = segment(&out, 10.5, 15.5);
        let loss = power_db(near) - power_db(output);
        let gains = near_end_frame_gains(near, output);
        let cut = gains.iter().filter(|&&g| g < -6.0).count() as f64 / gains.len() as f64;
        let erle_before = erle_db(&s, &out, 6.0, 10.0);
        println!(
            "{kind:?} double talk RT60 {rt60} s delay {delay} ms: near-end loss {loss:.1} dB, \
             {:.0} % of {} near-end frames cut > 6 dB (ERLE before {erle_before:.1} dB)",
            cut * 100.0,
            gains.len()
        );
        assert!(loss < 6.0, "{kind:?}: near end lost {loss:.1} dB in double talk");
        assert!(
            cut <= max_cut_frames,
            "{kind:?}: {:.0} % of near-end frames cut by more than 6 dB",
            cut * 100.0
        );
        // Single talk before the near end starts (6-10 s) keeps the target too: the
        // double-talk fast gain recovery at a 10 dB threshold dropped the 0.7 s room to
        // 26 dB here (measured 43.5 dB and 37.2 dB at 12 dB; 38.5 and 37.0 dB with the
        // residual estimate from the measured ERLE at its 0.5 quantile, 35.1 and 35.3 dB
        // at 0.9).
        assert!(erle_before >= 35.0, "{kind:?}: ERLE before double talk {erle_before:.1} dB");
        // And it still cancels the echo once the near end has stopped.
        let erle_after = erle_db(&s, &out, 17.0, 20.0);
        assert!(erle_after >= 30.0, "{kind:?}: ERLE after double talk {erle_after:.1} dB");
    }
}

#[cfg(feature = "webrtc-apm")]
mod apm {
    use super::*;

    const KIND: CancellerKind = CancellerKind::WebRtcApm;

    // Only the short delay: APM's delay-agnostic mode locked on to ~20 ms instead of 120,
    // 200 and 250 ms in these rooms (ERLE 4-26 dB), see docs/audio.md.
    #[test]
    fn short_room_40ms() {
        check_single_talk(KIND, 0.3, 40);
    }

    #[test]
    fn double_talk_keeps_the_near_end() {
        check_double_talk(KIND, &[(0.3, 40)], 0.5);
    }
}

mod aec3 {
    use super::*;

    const KIND: CancellerKind = CancellerKind::Aec3;

    #[test]
    fn is_the_default() {
        assert_eq!(AecConfig::default().canceller, KIND);
    }

    #[test]
    fn short_room_40ms() {
        check_single_talk(KIND, 0.3, 40);
    }

    #[test]
    fn short_room_200ms() {
        check_single_talk(KIND, 0.3, 200);
    }

    #[test]
    fn long_room_120ms() {
        check_single_talk(KIND, 0.7, 120);
    }

    #[test]
    fn long_room_250ms() {
        check_single_talk(KIND, 0.7, 250);
    }

    // Share of near-end frames cut by more than 6 dB: measured 7 % (0.3 s room) and 8 %
    // (0.7 s room) with the double-talk fast gain recovery at 12 dB and the residual
    // estimate from the measured ERLE (`AecConfig::residual_erle_quantile`), 10 % and 9 %
    // with the recovery alone, 16 % and 14 % with neither
    // (`AecConfig::double_talk_recovery_min_erle_db`, docs/audio.md); 9 % fails the
    // recovery alone in the 0.3 s room and the old behaviour in both.
    #[test]
    fn double_talk_keeps_the_near_end() {
        check_double_talk(KIND, &[(0.3, 120), (0.7, 200)], 0.09);
    }
}

#[test]
fn rejects_wrong_lengths_and_sanitises_nan() {
    let mut aec = Aec3Canceller::new(&AecConfig::default()).unwrap();
    assert!(aec.analyze_render(&[0.0; 479]).is_err());
    assert!(aec.process_capture(&mut [0.0; 481]).is_err());
    let mut frame = [0.1f32; ENGINE_FRAME];
    frame[0] = f32::NAN;
    frame[1] = f32::NEG_INFINITY;
    aec.process_capture(&mut frame).unwrap();
    assert!(frame.iter().all(|s| s.is_finite()));
    assert_eq!(aec.sanitised_samples(), 2);
    assert!(
        Aec3Canceller::new(&AecConfig { filter_length_ms: 0, ..AecConfig::default() }).is_err()
    );
}

#[test]
fn far_end_channel_drops_oldest_when_full() {
    let (tx, rx) = far_end_channel(2);
    for _ in 0..5 {
        tx.send(&[0.0; ENGINE_FRAME]).unwrap();
    }
    assert_eq!(tx.overflow(), 3);
    assert_eq!(rx.len(), 2);
    assert!(tx.send(&[0.0; 10]).is_err());
}
