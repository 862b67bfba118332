//! Resampling filters shared by the CPU and GPU conversion paths.
//!
//! Every output sample covers an interval `[a, b)` of the source axis (in source samples).
//! When that footprint is wider than two source samples (shrinking by more than 2x) the
//! output is the exact area average of the covered samples (a box filter with fractional
//! edge weights), which removes the detail that would otherwise alias into moiré. Otherwise
//! (mild shrink, identity or enlargement) the output is the bilinear interpolation at the
//! footprint's centre. Filters are separable: a 2-D weight is the product of the two axes'.
//!
//! The weights are computed once per size in `f64` and stored as `f32` tables that the
//! CPU loops and the GPU shaders read identically, so both paths agree to rounding.

/// Largest shrink factor on one axis. Beyond it one output pixel would average thousands
/// of input pixels, which a real-time path never needs and which would stall a GPU.
pub const MAX_SHRINK: u32 = 64;

/// Which part of an axis an output sample stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Footprint {
    /// Output sample `i` of `out_len` covers source samples `[i*S/D, (i+1)*S/D)`.
    Luma,
    /// Output chroma sample `i` covers output luma samples `[2i, min(2i+2, out_len))`,
    /// i.e. the 2x2 block it is subsampled from (`out_len` is the luma length).
    ChromaOfLuma,
    /// Like [`Footprint::Luma`] for the luma axis, but measured in the units of a source
    /// chroma plane (half the luma resolution, rounded up).
    LumaInSourceChroma,
    /// Output chroma sample `i` covers source chroma `[i*S/D, (i+1)*S/D)` (`S`, `D` the
    /// luma lengths), clamped to the source chroma plane.
    ChromaInSourceChroma,
}

/// Filter weights for one axis: for every output sample, the first source sample and the
/// weights of up to `taps` consecutive samples (unused taps have weight zero).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AxisFilter {
    /// Number of weights stored per output sample.
    pub taps: usize,
    /// First source sample of each output sample.
    pub starts: Vec<u32>,
    /// Used weights of each output sample.
    pub counts: Vec<u32>,
    /// `taps` weights per output sample.
    pub weights: Vec<f32>,
}

impl AxisFilter {
    /// Build the filter mapping a source axis of `luma_src` samples to `luma_out` samples
    /// (both luma lengths; chroma lengths follow from the footprint kind).
    pub fn new(luma_src: u32, luma_out: u32, footprint: Footprint) -> Self {
        let (s, d) = (f64::from(luma_src), f64::from(luma_out));
        let half_up = |n: u32| n.div_ceil(2);
        let (out_len, src_len) = match footprint {
            Footprint::Luma => (luma_out, luma_src),
            Footprint::ChromaOfLuma => (half_up(luma_out), luma_src),
            Footprint::LumaInSourceChroma => (luma_out, half_up(luma_src)),
            Footprint::ChromaInSourceChroma => (half_up(luma_out), half_up(luma_src)),
        };
        let interval = |i: u32| -> (f64, f64) {
            let i = f64::from(i);
            let (a, b) = match footprint {
                Footprint::Luma | Footprint::LumaInSourceChroma => (i * s / d, (i + 1.0) * s / d),
                Footprint::ChromaOfLuma => (2.0 * i * s / d, (2.0 * i + 2.0).min(d) * s / d),
                // The whole (unclipped) 2x2 block: chroma sample i of the output maps to
                // chroma sample i of the source at identity, also for odd sizes, where
                // the last block half overhangs the picture on both sides.
                Footprint::ChromaInSourceChroma => (2.0 * i * s / d, (2.0 * i + 2.0) * s / d),
            };
            match footprint {
                Footprint::LumaInSourceChroma | Footprint::ChromaInSourceChroma => {
                    (a / 2.0, b / 2.0)
                }
                _ => (a, b),
            }
        };
        let mut per_sample: Vec<(u32, Vec<f64>)> = Vec::with_capacity(out_len as usize);
        for i in 0..out_len {
            let (a, b) = interval(i);
            per_sample.push(weights_for(a, b, src_len));
        }
        let taps = per_sample.iter().map(|(_, w)| w.len()).max().unwrap_or(1).max(1);
        let mut starts = Vec::with_capacity(per_sample.len());
        let mut counts = Vec::with_capacity(per_sample.len());
        let mut weights = vec![0f32; per_sample.len() * taps];
        for (i, (start, w)) in per_sample.iter().enumerate() {
            starts.push(*start);
            counts.push(w.len() as u32);
            for (k, &wk) in w.iter().enumerate() {
                weights[i * taps + k] = wk as f32;
            }
        }
        Self { taps, starts, counts, weights }
    }

    /// Number of output samples.
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    /// First source sample and the used weights of output sample `i`.
    #[inline]
    pub fn sample(&self, i: usize) -> (usize, &[f32]) {
        let w = &self.weights[i * self.taps..i * self.taps + self.counts[i] as usize];
        (self.starts[i] as usize, w)
    }

    /// Append the GPU layout to `words`: per output sample `[start, count, taps x f32 bits]`.
    /// Returns the offset (in words) where this table starts.
    pub fn append_packed(&self, words: &mut Vec<u32>) -> u32 {
        let offset = words.len() as u32;
        for i in 0..self.len() {
            words.push(self.starts[i]);
            words.push(self.counts[i]);
            words.extend(
                self.weights[i * self.taps..(i + 1) * self.taps].iter().map(|w| w.to_bits()),
            );
        }
        offset
    }
}

/// Weights for the footprint `[a, b)` on an axis of `len` samples: the first sample and
/// one weight per consecutive sample, summing to one.
fn weights_for(a: f64, b: f64, len: u32) -> (u32, Vec<f64>) {
    let last = f64::from(len - 1);
    let width = b - a;
    if width > 2.0 {
        // Area average: each sample k covers [k, k+1); weight = overlap / width.
        let first = a.floor().max(0.0);
        let end = b.ceil().min(f64::from(len));
        let mut w = Vec::with_capacity((end - first) as usize);
        let mut k = first;
        while k < end {
            let overlap = (b.min(k + 1.0) - a.max(k)).max(0.0);
            w.push(overlap / width);
            k += 1.0;
        }
        // Drop zero-weight edge samples so loops stay short.
        let lead = w.iter().take_while(|&&x| x == 0.0).count();
        w.drain(..lead);
        while w.last() == Some(&0.0) {
            w.pop();
        }
        let sum: f64 = w.iter().sum();
        w.iter_mut().for_each(|x| *x /= sum);
        (first as u32 + lead as u32, w)
    } else {
        // Bilinear at the footprint centre; sample centres sit at k + 0.5.
        let c = ((a + b) / 2.0 - 0.5).clamp(0.0, last);
        let k0 = c.floor();
        let t = c - k0;
        if t == 0.0 || k0 >= last { (k0 as u32, vec![1.0]) } else { (k0 as u32, vec![1.0 - t, t]) }
    }
}

/// Check that scaling `src` to `out` on one axis stays within [`MAX_SHRINK`].
pub(crate) fn shrink_ok(src: u32, out: u32) -> bool {
    u64::from(out) * u64::from(MAX_SHRINK) >= u64::from(src)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_one_tap_per_sample() {
        let f = AxisFilter::new(7, 7, Footprint::Luma);
        for i in 0..7 {
            assert_eq!(f.sample(i), (i, &[1.0f32][..]));
        }
    }

    #[test]
    fn chroma_of_identity_averages_pairs_and_keeps_the_odd_tail() {
        let f = AxisFilter::new(5, 5, Footprint::ChromaOfLuma);
        assert_eq!(f.len(), 3);
        assert_eq!(f.sample(0), (0, &[0.5f32, 0.5][..]));
        assert_eq!(f.sample(2), (4, &[1.0f32][..]));
    }

    #[test]
    fn four_to_one_is_an_even_box() {
        let f = AxisFilter::new(16, 4, Footprint::Luma);
        for i in 0..4 {
            assert_eq!(f.sample(i), (4 * i, &[0.25f32; 4][..]));
        }
    }

    #[test]
    fn weights_sum_to_one_for_awkward_ratios() {
        for (s, d) in [(1920, 1280), (1280, 640), (1920, 7), (3, 1000), (641, 359), (1, 1)] {
            for fp in [
                Footprint::Luma,
                Footprint::ChromaOfLuma,
                Footprint::LumaInSourceChroma,
                Footprint::ChromaInSourceChroma,
            ] {
                let f = AxisFilter::new(s, d, fp);
                let src_len = if matches!(
                    fp,
                    Footprint::LumaInSourceChroma | Footprint::ChromaInSourceChroma
                ) {
                    s.div_ceil(2)
                } else {
                    s
                } as usize;
                for i in 0..f.len() {
                    let (start, w) = f.sample(i);
                    let sum: f32 = w.iter().sum();
                    assert!((sum - 1.0).abs() < 1e-5, "{s}->{d} {fp:?} sample {i}: {sum}");
                    assert!(start + w.len() <= src_len, "{s}->{d} {fp:?} sample {i} overruns");
                }
            }
        }
    }
}
