//! The three-band filter bank AEC3 works on at 48 kHz (three 8 kHz wide bands of 160
//! samples per 10 ms frame), computed without the per-sample branches of the `aec3`
//! crate's version, which took about a third of the canceller's time.
//!
//! The filter bank is WebRTC's: each of the three polyphase components of the signal goes
//! through four 4-tap sparse FIR filters (taps 4 samples apart), whose outputs are
//! modulated into the three bands with a cosine table; synthesis runs the same filters
//! backwards. The coefficient table below is that filter bank's published prototype
//! low-pass (the same numbers as `aec3`'s `three_band_filter_bank.rs`, MIT/BSD). The
//! arithmetic is done in the same order as the crate does it, so the bands are
//! bit-identical to `AudioBuffer::split_into_frequency_bands` (checked in the tests).

use std::f32::consts::PI;

const BANDS: usize = 3;
const SPARSITY: usize = 4;
const TAPS: usize = 4;
const FILTERS: usize = BANDS * SPARSITY;
/// Samples per band in a 10 ms frame at 48 kHz.
pub(crate) const BAND_LEN: usize = 160;
/// Full-band samples per frame.
pub(crate) const FRAME_LEN: usize = BANDS * BAND_LEN;
/// History a filter needs: its taps reach back SPARSITY * (TAPS - 1) + offset samples,
/// offset < SPARSITY.
const HISTORY: usize = SPARSITY * (TAPS - 1) + SPARSITY - 1;

const LOWPASS: [[f32; TAPS]; FILTERS] = [
    [-0.00047749, -0.00496888, 0.16547118, 0.00425496],
    [-0.00173287, -0.01585778, 0.14989004, 0.00994113],
    [-0.00304815, -0.02536082, 0.12154542, 0.01157993],
    [-0.00383509, -0.02982767, 0.08543175, 0.00983212],
    [-0.00346946, -0.02587886, 0.04760441, 0.00607594],
    [-0.00154717, -0.01136076, 0.01387458, 0.00186353],
    [0.00186353, 0.01387458, -0.01136076, -0.00154717],
    [0.00607594, 0.04760441, -0.02587886, -0.00346946],
    [0.00983212, 0.08543175, -0.02982767, -0.00383509],
    [0.01157993, 0.12154542, -0.02536082, -0.00304815],
    [0.00994113, 0.14989004, -0.01585778, -0.00173287],
    [0.00425496, 0.16547118, -0.00496888, -0.00047749],
];

/// One sparse FIR filter's input: `HISTORY` past samples followed by the current block.
#[derive(Clone)]
struct Delayed {
    samples: [f32; HISTORY + BAND_LEN],
}

impl Delayed {
    fn new() -> Self {
        Self { samples: [0.0; HISTORY + BAND_LEN] }
    }

    fn current_mut(&mut self) -> &mut [f32] {
        &mut self.samples[HISTORY..]
    }

    /// `out[n] = sum over taps of coeffs[tap] * x[n - (SPARSITY * tap + offset)]`, taps in
    /// order (the order of the reference implementation).
    fn filter(&self, filter: usize, out: &mut [f32; BAND_LEN]) {
        let c = &LOWPASS[filter];
        // Filter k = i + 3 j of the bank uses the tap offset j.
        let offset = filter / BANDS;
        let x = &self.samples;
        let base = HISTORY - offset;
        for (n, y) in out.iter_mut().enumerate() {
            let mut acc = 0.0f32;
            acc += x[base + n] * c[0];
            acc += x[base + n - SPARSITY] * c[1];
            acc += x[base + n - 2 * SPARSITY] * c[2];
            acc += x[base + n - 3 * SPARSITY] * c[3];
            *y = acc;
        }
    }

    /// Keep the end of the current block as the next block's history.
    fn advance(&mut self) {
        self.samples.copy_within(BAND_LEN.., 0);
    }
}

/// Splits 480-sample frames into three bands and merges them back, keeping the filter
/// states between frames. Allocation-free.
#[derive(Clone)]
pub(crate) struct ThreeBandSplitter {
    /// Analysis input per polyphase component.
    analysis: [Delayed; BANDS],
    /// Synthesis input per filter.
    synthesis: [Delayed; FILTERS],
    modulation: [[f32; BANDS]; FILTERS],
}

impl ThreeBandSplitter {
    pub(crate) fn new() -> Self {
        let mut modulation = [[0.0f32; BANDS]; FILTERS];
        for (k, row) in modulation.iter_mut().enumerate() {
            for (band, m) in row.iter_mut().enumerate() {
                *m = 2.0
                    * ((2.0 * PI * k as f32 * (2.0 * band as f32 + 1.0)) / FILTERS as f32).cos();
            }
        }
        Self {
            analysis: std::array::from_fn(|_| Delayed::new()),
            synthesis: std::array::from_fn(|_| Delayed::new()),
            modulation,
        }
    }

    /// Split one frame into `bands` (low, middle, high).
    pub(crate) fn analysis(&mut self, input: &[f32; FRAME_LEN], bands: &mut [[f32; BAND_LEN]; 3]) {
        for band in bands.iter_mut() {
            band.fill(0.0);
        }
        let mut filtered = [0.0f32; BAND_LEN];
        for i in 0..BANDS {
            let phase = &mut self.analysis[i];
            for (n, s) in phase.current_mut().iter_mut().enumerate() {
                *s = input[BANDS * n + BANDS - 1 - i];
            }
            for j in 0..SPARSITY {
                let k = i + j * BANDS;
                phase.filter(k, &mut filtered);
                for (band, out) in bands.iter_mut().enumerate() {
                    let m = self.modulation[k][band];
                    for (o, &y) in out.iter_mut().zip(&filtered) {
                        *o += m * y;
                    }
                }
            }
            phase.advance();
        }
    }

    /// Merge `bands` back into one frame.
    pub(crate) fn synthesis(
        &mut self,
        bands: &[[f32; BAND_LEN]; 3],
        output: &mut [f32; FRAME_LEN],
    ) {
        output.fill(0.0);
        let mut filtered = [0.0f32; BAND_LEN];
        for i in 0..BANDS {
            for j in 0..SPARSITY {
                let k = i + j * BANDS;
                let delayed = &mut self.synthesis[k];
                let current = delayed.current_mut();
                current.fill(0.0);
                for (band, input) in bands.iter().enumerate() {
                    let m = self.modulation[k][band];
                    for (c, &x) in current.iter_mut().zip(input) {
                        *c += m * x;
                    }
                }
                delayed.filter(k, &mut filtered);
                delayed.advance();
                for (n, &y) in filtered.iter().enumerate() {
                    output[BANDS * n + i] += BANDS as f32 * y;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use aec3::audio_processing::audio_buffer::AudioBuffer;
    use aec3::audio_processing::stream_config::StreamConfig;

    use super::*;
    use crate::audio::synth::Rng;

    /// Same bands and same merged signal, bit for bit, as the `aec3` crate's filter bank,
    /// over several frames (so the filter histories are exercised too).
    #[test]
    fn matches_the_aec3_filter_bank_exactly() {
        let stream = StreamConfig::new(48_000, 1, false);
        let mut reference = AudioBuffer::from_sample_rates(48_000, 1, 48_000, 1, 48_000);
        let mut ours = ThreeBandSplitter::new();
        let mut rng = Rng::new(5);
        for _ in 0..6 {
            let frame: Vec<f32> = (0..FRAME_LEN).map(|_| 0.3 * rng.gaussian()).collect();
            reference.copy_from(&[&frame[..]], &stream);
            let mut input = [0.0f32; FRAME_LEN];
            input.copy_from_slice(reference.channel(0));
            reference.split_into_frequency_bands();
            let mut bands = [[0.0f32; BAND_LEN]; 3];
            ours.analysis(&input, &mut bands);
            for (b, band) in bands.iter().enumerate() {
                assert_eq!(&band[..], reference.split_band(0, b), "band {b}");
            }
            // Change the bands (as the canceller would) and merge both ways.
            for (b, band) in bands.iter_mut().enumerate() {
                band.iter_mut().for_each(|s| *s *= 0.5 + b as f32 * 0.1);
                reference.split_band_mut(0, b).copy_from_slice(band);
            }
            reference.merge_frequency_bands();
            let mut merged = [0.0f32; FRAME_LEN];
            ours.synthesis(&bands, &mut merged);
            assert_eq!(&merged[..], reference.channel(0));
        }
    }
}
