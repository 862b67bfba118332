//! Deterministic synthetic signals for tests, benches and examples: a speech-like voice,
//! room impulse responses with a chosen reverberation time, and FFT convolution.
//!
//! The voice is a glottal pulse train (pitch gliding around a speaker's mean) shaped by
//! three formant resonators that move from syllable to syllable, with a syllabic
//! envelope (about four syllables per second) and pauses between words, plus a little
//! aspiration noise. It has speech's spectral tilt, harmonic structure and on/off
//! rhythm, which is what echo cancellers, noise suppressors and codecs react to.

use std::f32::consts::PI;

use realfft::RealFftPlanner;

/// A small deterministic random generator (xorshift64*), so every signal is reproducible
/// from its seed without an extra dependency.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal (Box-Muller).
    pub fn gaussian(&mut self) -> f32 {
        let u1 = self.uniform().max(1e-7);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * PI * u2).cos()
    }
}

/// Voice parameters of [`speech_like`].
#[derive(Debug, Clone, Copy)]
pub struct Voice {
    /// Mean pitch in Hz (about 110 for a male voice, 210 for a female one).
    pub pitch_hz: f32,
    /// Peak level of the output (linear, full scale 1.0).
    pub peak: f32,
    /// Seed of everything random (syllable timing, formants, noise).
    pub seed: u64,
}

impl Default for Voice {
    fn default() -> Self {
        Self { pitch_hz: 120.0, peak: 0.5, seed: 1 }
    }
}

/// Vowel formant targets (F1, F2, F3) in Hz.
const VOWELS: [(f32, f32, f32); 6] = [
    (730.0, 1090.0, 2440.0),
    (270.0, 2290.0, 3010.0),
    (530.0, 1840.0, 2480.0),
    (570.0, 840.0, 2410.0),
    (300.0, 870.0, 2240.0),
    (660.0, 1720.0, 2410.0),
];

/// A two-pole resonator (one formant).
#[derive(Clone, Copy, Default)]
struct Resonator {
    y1: f32,
    y2: f32,
}

impl Resonator {
    fn run(&mut self, x: f32, freq: f32, bandwidth: f32, rate: f32) -> f32 {
        let r = (-PI * bandwidth / rate).exp();
        let a1 = 2.0 * r * (2.0 * PI * freq / rate).cos();
        let a2 = -r * r;
        let gain = 1.0 - r;
        let y = gain * x + a1 * self.y1 + a2 * self.y2;
        self.y2 = self.y1;
        self.y1 = y;
        y
    }
}

/// `seconds` of a speech-like voice at `rate` Hz (mono).
pub fn speech_like(seconds: f32, rate: u32, voice: Voice) -> Vec<f32> {
    let fs = rate as f32;
    let n = (seconds * fs) as usize;
    let mut rng = Rng::new(voice.seed);
    let mut out = vec![0.0f32; n];
    let mut formants = [Resonator::default(); 3];
    let mut phase = 0.0f32;
    // Syllable schedule: duration 0.15-0.35 s, after every 2-5 syllables a 0.2-0.6 s pause.
    let mut syllable_start = 0usize;
    let mut syllable_len = 1usize;
    let mut in_pause = true;
    let mut syllables_left = 0u32;
    let mut from = VOWELS[0];
    let mut to = VOWELS[1];
    let mut glottal_lp = 0.0f32;
    for (i, sample) in out.iter_mut().enumerate() {
        if i >= syllable_start + syllable_len {
            syllable_start = i;
            if syllables_left == 0 && !in_pause {
                in_pause = true;
                syllable_len = ((0.2 + 0.4 * rng.uniform()) * fs) as usize;
            } else {
                if in_pause {
                    syllables_left = 2 + (rng.next_u64() % 4) as u32;
                }
                in_pause = false;
                syllables_left -= 1;
                syllable_len = ((0.15 + 0.2 * rng.uniform()) * fs) as usize;
                from = to;
                to = VOWELS[(rng.next_u64() % VOWELS.len() as u64) as usize];
            }
        }
        let t = (i - syllable_start) as f32 / syllable_len as f32;
        let envelope = if in_pause { 0.0 } else { (PI * t).sin().powf(0.7) };
        // Pitch glides over the syllable with a slow vibrato-like drift.
        let time = i as f32 / fs;
        let f0 = voice.pitch_hz * (1.0 + 0.12 * (2.0 * PI * 0.7 * time).sin() - 0.08 * t);
        phase += f0 / fs;
        let pulse = if phase >= 1.0 {
            phase -= 1.0;
            1.0
        } else {
            0.0
        };
        // A leaky integrator turns pulses into a glottal-like waveform with a -12 dB/oct tilt.
        glottal_lp = 0.97 * glottal_lp + pulse;
        // Subtracting the train's mean keeps the excitation free of DC.
        let excitation = glottal_lp - f0 / fs / (1.0 - 0.97) + 0.05 * rng.gaussian();
        let lerp = |a: f32, b: f32| a + (b - a) * t.min(1.0);
        let f = [lerp(from.0, to.0), lerp(from.1, to.1), lerp(from.2, to.2)];
        let mut y = 0.0;
        for (k, res) in formants.iter_mut().enumerate() {
            y += res.run(excitation, f[k].min(0.45 * fs), 60.0 + 40.0 * k as f32, fs)
                / (1.0 + k as f32);
        }
        *sample = y * envelope;
    }
    normalise_peak(&mut out, voice.peak);
    out
}

/// Scale `signal` so its largest magnitude is `peak`.
pub fn normalise_peak(signal: &mut [f32], peak: f32) {
    let max = signal.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    if max > 0.0 {
        signal.iter_mut().for_each(|s| *s *= peak / max);
    }
}

/// A room impulse response at `rate` Hz: a direct path of amplitude 1 followed, after
/// 2 ms, by exponentially decaying Gaussian noise whose energy falls 60 dB in `rt60`
/// seconds (lowpassed slightly, as walls absorb highs). The tail is scaled so that the
/// direct-to-reverberant energy ratio is `drr_db` (a loudspeaker and microphone a few
/// tens of centimetres apart in an office: about 0 to +8 dB; the simulated shoebox room
/// in `shared/media/rir` has +5.6 dB). Length: `rt60` (the rest is below -60 dB).
pub fn room_impulse_response(rt60: f32, drr_db: f32, rate: u32, seed: u64) -> Vec<f32> {
    let fs = rate as f32;
    let n = ((rt60 * fs) as usize).max(2);
    let mut rng = Rng::new(seed ^ 0x5EED);
    let mut h = vec![0.0f32; n];
    // Energy decay of 60 dB over rt60: amplitude factor 10^(-3 t / rt60).
    let decay_per_sample = 10f32.powf(-3.0 / (rt60 * fs));
    let mut amp = 1.0;
    let mut lp = 0.0;
    let onset = ((0.002 * fs) as usize).min(n - 1);
    for (i, tap) in h.iter_mut().enumerate() {
        lp = 0.6 * lp + 0.4 * rng.gaussian();
        if i >= onset {
            *tap = amp * lp;
        }
        amp *= decay_per_sample;
    }
    let tail: f64 = h.iter().map(|&v| (v as f64) * (v as f64)).sum();
    let want = 10f64.powf(-drr_db as f64 / 10.0);
    let scale = if tail > 0.0 { (want / tail).sqrt() as f32 } else { 0.0 };
    h.iter_mut().for_each(|v| *v *= scale);
    h[0] = 1.0;
    h
}

/// Linear convolution of `signal` with `kernel` (FFT overlap-add); output has the length
/// of `signal` (the tail past its end is dropped).
pub fn convolve(signal: &[f32], kernel: &[f32]) -> Vec<f32> {
    if signal.is_empty() || kernel.is_empty() {
        return vec![0.0; signal.len()];
    }
    let block = kernel.len().next_power_of_two().max(1024);
    let fft_len = 2 * block;
    let mut planner = RealFftPlanner::<f32>::new();
    let forward = planner.plan_fft_forward(fft_len);
    let inverse = planner.plan_fft_inverse(fft_len);
    let mut kernel_buf = vec![0.0f32; fft_len];
    kernel_buf[..kernel.len()].copy_from_slice(kernel);
    let mut kernel_spec = forward.make_output_vec();
    // Lengths are consistent by construction; a failure here is a programming error.
    forward.process(&mut kernel_buf, &mut kernel_spec).expect("fft sizes match");
    let mut out = vec![0.0f32; signal.len() + fft_len];
    let mut buf = vec![0.0f32; fft_len];
    let mut spec = forward.make_output_vec();
    let scale = 1.0 / fft_len as f32;
    for (b, chunk) in signal.chunks(block).enumerate() {
        buf.fill(0.0);
        buf[..chunk.len()].copy_from_slice(chunk);
        forward.process(&mut buf, &mut spec).expect("fft sizes match");
        spec.iter_mut().zip(&kernel_spec).for_each(|(s, k)| *s *= *k);
        inverse.process(&mut spec, &mut buf).expect("fft sizes match");
        let start = b * block;
        out[start..start + fft_len].iter_mut().zip(&buf).for_each(|(o, v)| *o += v * scale);
    }
    out.truncate(signal.len());
    out
}

/// `signal` delayed by `samples` (zeros shifted in, length kept).
pub fn delayed(signal: &[f32], samples: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; signal.len()];
    if samples < signal.len() {
        out[samples..].copy_from_slice(&signal[..signal.len() - samples]);
    }
    out
}

/// A sine of `freq` Hz and amplitude `amp`, `n` samples at `rate` Hz.
pub fn sine(freq: f32, amp: f32, rate: u32, n: usize) -> Vec<f32> {
    (0..n).map(|i| amp * (2.0 * PI * freq * i as f32 / rate as f32).sin()).collect()
}

/// Mean power of `x`, in dB (full-scale sine = -3 dB); -200 dB for silence.
pub fn power_db(x: &[f32]) -> f64 {
    if x.is_empty() {
        return -200.0;
    }
    let p = x.iter().map(|&s| (s as f64) * (s as f64)).sum::<f64>() / x.len() as f64;
    if p > 0.0 { 10.0 * p.log10() } else { -200.0 }
}

/// `n` samples of pink (1/f, -3 dB per octave) noise with RMS `rms`: the usual model of
/// steady room noise (ventilation, fans, traffic). Paul Kellet's economy filter on white
/// Gaussian noise.
pub fn pink_noise(n: usize, rms: f32, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let (mut b0, mut b1, mut b2) = (0.0f32, 0.0f32, 0.0f32);
    let mut out: Vec<f32> = (0..n)
        .map(|_| {
            let w = rng.gaussian();
            b0 = 0.99765 * b0 + w * 0.099_046;
            b1 = 0.96300 * b1 + w * 0.296_516_4;
            b2 = 0.57000 * b2 + w * 1.052_691_3;
            b0 + b1 + b2 + w * 0.1848
        })
        .collect();
    let p = out.iter().map(|&s| (s as f64) * (s as f64)).sum::<f64>() / n.max(1) as f64;
    if p > 0.0 {
        let g = rms / p.sqrt() as f32;
        out.iter_mut().for_each(|s| *s *= g);
    }
    out
}
