//! Resampling: a sine keeps its frequency and level through every supported rate, and a
//! click comes out exactly the reported delay later.

use sottovoce::audio::synth::{self, power_db};
use sottovoce::audio::{DeviceFormat, ENGINE_RATE, FormatConverter, SUPPORTED_RATES};

fn run(conv: &mut FormatConverter, input_mono: &[f32]) -> Vec<f32> {
    let from = conv.from();
    let to = conv.to();
    let (ci, co) = (from.channels as usize, to.channels as usize);
    let mut out = Vec::new();
    let mut buf = vec![0.0; to.max_frame_len() * co];
    let mut pos = 0;
    let mut k = 0;
    loop {
        let len = from.frame_len(k);
        if pos + len > input_mono.len() {
            break;
        }
        let frame: Vec<f32> =
            input_mono[pos..pos + len].iter().flat_map(|&s| std::iter::repeat_n(s, ci)).collect();
        let n = conv.convert(&frame, &mut buf).unwrap();
        // Keep the first channel (all channels are equal after upmix).
        out.extend(buf[..n].chunks_exact(co).map(|c| c[0]));
        pos += len;
        k += 1;
    }
    out
}

/// Frequency by counting rising zero crossings over the steady part.
fn frequency(x: &[f32], rate: u32) -> f64 {
    let crossings: Vec<usize> = (1..x.len()).filter(|&i| x[i - 1] < 0.0 && x[i] >= 0.0).collect();
    let (a, b) = (crossings[0], crossings[crossings.len() - 1]);
    (crossings.len() - 1) as f64 * rate as f64 / (b - a) as f64
}

#[test]
fn sine_keeps_frequency_and_level_both_ways() {
    for &rate in &SUPPORTED_RATES {
        let device = DeviceFormat::new(rate, 2).unwrap();
        let freq = 440.0f32.min(rate as f32 * 0.2);
        // Capture: device -> engine.
        let input = synth::sine(freq, 0.5, rate, rate as usize);
        let mut up = FormatConverter::new(device, DeviceFormat::ENGINE).unwrap();
        let out = run(&mut up, &input);
        let steady = &out[up.delay_samples() + 2400..];
        let f = frequency(steady, ENGINE_RATE);
        let level = power_db(steady) - power_db(&input);
        println!(
            "{rate} -> 48000: {f:.2} Hz (sent {freq}), level {level:+.2} dB, delay {:?}",
            up.delay()
        );
        assert!((f - freq as f64).abs() < 0.5, "{rate}: frequency {f}");
        assert!(level.abs() < 0.2, "{rate}: level {level}");
        // Playout: engine -> device.
        let input = synth::sine(freq, 0.5, ENGINE_RATE, ENGINE_RATE as usize);
        let mut down = FormatConverter::new(DeviceFormat::ENGINE, device).unwrap();
        let out = run(&mut down, &input);
        let steady = &out[down.delay_samples() + rate as usize / 20..];
        let f = frequency(steady, rate);
        let level = power_db(steady) - power_db(&input);
        assert!((f - freq as f64).abs() < 0.5, "48000 -> {rate}: frequency {f}");
        assert!(level.abs() < 0.2, "48000 -> {rate}: level {level}");
    }
}

/// A band-limited click (Hann-windowed 1 kHz burst) at a known instant: the envelope
/// peak of the output lands at input time + reported delay.
#[test]
fn measured_delay_matches_the_reported_one() {
    for &rate in &SUPPORTED_RATES {
        let device = DeviceFormat::new(rate, 1).unwrap();
        let mut conv = FormatConverter::new(device, DeviceFormat::ENGINE).unwrap();
        let at = 0.1f64; // seconds
        let width = 0.004f64;
        let input: Vec<f32> = (0..rate as usize / 4)
            .map(|i| {
                let t = i as f64 / rate as f64 - at;
                if t.abs() < width {
                    let w = 0.5 * (1.0 + (std::f64::consts::PI * t / width).cos());
                    (w * (2.0 * std::f64::consts::PI * 1000.0 * t).cos()) as f32
                } else {
                    0.0
                }
            })
            .collect();
        let out = run(&mut conv, &input);
        let peak = (0..out.len()).max_by(|&a, &b| out[a].abs().total_cmp(&out[b].abs())).unwrap();
        let expected = at * ENGINE_RATE as f64 + conv.delay_samples() as f64;
        println!(
            "{rate}: peak at {peak}, expected {expected:.1} (reported delay {:?})",
            conv.delay()
        );
        assert!((peak as f64 - expected).abs() <= 2.0, "{rate}: peak {peak} vs {expected}");
    }
}
