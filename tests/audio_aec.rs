//! Echo cancellation on simulated rooms: a speech-like far end convolved with a synthetic
//! room impulse response, delayed, played back into the microphone.

use sottovoce::audio::synth::{self, Voice, power_db};
use sottovoce::audio::{
    Aec3Canceller, AecConfig, ENGINE_FRAME, ENGINE_RATE, EchoCanceller, far_end_channel,
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
    let rir = synth::room_impulse_response(rt60, RATE, 3);
    let mut echo = synth::convolve(&far, &rir);
    // Loudspeaker-to-microphone coupling: the echo arrives ~6 dB below the far end.
    let gain = 10f32.powf((power_db(&far) - 6.0 - power_db(&echo)) as f32 / 20.0);
    echo.iter_mut().for_each(|s| *s *= gain);
    let echo = synth::delayed(&echo, (delay_ms * RATE / 1000) as usize);
    let mut near = vec![0.0f32; far.len()];
    if let Some((from, to)) = near_span {
        let voice = synth::speech_like(to - from, RATE, Voice { pitch_hz: 210.0, peak: 0.4, seed: 11 });
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
    let mut aec = Aec3Canceller::new(config).unwrap();
    let (tx, rx) = far_end_channel(32);
    let mut out = vec![0.0f32; s.far.len()];
    let frames = s.far.len() / ENGINE_FRAME;
    for k in 0..frames {
        let r = k * ENGINE_FRAME..(k + 1) * ENGINE_FRAME;
        tx.send(&s.far[r.clone()]).unwrap();
        rx.drain_into(&mut aec).unwrap();
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

fn single_talk(rt60: f32, delay_ms: u32) -> (f64, i32) {
    let s = scenario(20.0, rt60, delay_ms, None);
    let (out, delay) = run(&s, &AecConfig::default());
    (erle_db(&s, &out, 6.0, 20.0), delay)
}

#[test]
fn tuning_table() {
    for &rt in &[0.3f32, 0.7] {
        for &d in &[40u32, 120, 250] {
            let (e, delay) = single_talk(rt, d);
            println!("rt60 {rt} delay {d} ms: ERLE {e:.1} dB (locked delay {delay} ms)");
        }
    }
}
