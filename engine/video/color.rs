//! Colour spaces: the RGB <-> Y'CbCr matrices of BT.601 and BT.709, limited or full range.

/// Luma coefficients of a Y'CbCr standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ColorMatrix {
    /// ITU-R BT.601 (SD video, JPEG): Kr = 0.299, Kb = 0.114.
    Bt601,
    /// ITU-R BT.709 (HD video): Kr = 0.2126, Kb = 0.0722.
    #[default]
    Bt709,
}

/// Code-value range of the Y'CbCr samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ColorRange {
    /// "TV" range: Y in 16..=235, Cb/Cr in 16..=240 (what encoders expect by default).
    #[default]
    Limited,
    /// "PC"/JPEG range: Y, Cb and Cr use all of 0..=255.
    Full,
}

/// A matrix and a range: everything needed to convert between 8-bit RGB and Y'CbCr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct ColorSpace {
    /// Luma coefficients.
    pub matrix: ColorMatrix,
    /// Code-value range.
    pub range: ColorRange,
}

/// Three rows `[c_0, c_1, c_2, offset]`: `out_r = c_0*in_0 + c_1*in_1 + c_2*in_2 + offset`.
pub(crate) type Affine = [[f64; 4]; 3];

impl ColorSpace {
    /// BT.601, limited range.
    pub const BT601_LIMITED: Self = Self { matrix: ColorMatrix::Bt601, range: ColorRange::Limited };
    /// BT.601, full range (JPEG).
    pub const BT601_FULL: Self = Self { matrix: ColorMatrix::Bt601, range: ColorRange::Full };
    /// BT.709, limited range (the default for HD video).
    pub const BT709_LIMITED: Self = Self { matrix: ColorMatrix::Bt709, range: ColorRange::Limited };
    /// BT.709, full range.
    pub const BT709_FULL: Self = Self { matrix: ColorMatrix::Bt709, range: ColorRange::Full };

    fn kr_kb(self) -> (f64, f64) {
        match self.matrix {
            ColorMatrix::Bt601 => (0.299, 0.114),
            ColorMatrix::Bt709 => (0.2126, 0.0722),
        }
    }

    /// Luma offset, luma excursion and chroma excursion in code values.
    fn range_params(self) -> (f64, f64, f64) {
        match self.range {
            ColorRange::Limited => (16.0, 219.0, 224.0),
            ColorRange::Full => (0.0, 255.0, 255.0),
        }
    }

    /// RGB code values (0..=255) to unrounded Y, Cb, Cr code values.
    pub(crate) fn rgb_to_yuv(self) -> Affine {
        let (kr, kb) = self.kr_kb();
        let kg = 1.0 - kr - kb;
        let (oy, sy, sc) = self.range_params();
        let ys = sy / 255.0;
        let us = sc / 255.0 / (2.0 * (1.0 - kb));
        let vs = sc / 255.0 / (2.0 * (1.0 - kr));
        [
            [kr * ys, kg * ys, kb * ys, oy],
            [-kr * us, -kg * us, (1.0 - kb) * us, 128.0],
            [(1.0 - kr) * vs, -kg * vs, -kb * vs, 128.0],
        ]
    }

    /// Y, Cb, Cr code values to unrounded RGB code values (the exact inverse of
    /// [`ColorSpace::rgb_to_yuv`]).
    pub(crate) fn yuv_to_rgb(self) -> Affine {
        let (kr, kb) = self.kr_kb();
        let kg = 1.0 - kr - kb;
        let (oy, sy, sc) = self.range_params();
        let cy = 255.0 / sy;
        let cr = 255.0 / sc * 2.0 * (1.0 - kr);
        let cb = 255.0 / sc * 2.0 * (1.0 - kb);
        let (gu, gv) = (-kb * cb / kg, -kr * cr / kg);
        [
            [cy, 0.0, cr, -oy * cy - 128.0 * cr],
            [cy, gu, gv, -oy * cy - 128.0 * (gu + gv)],
            [cy, cb, 0.0, -oy * cy - 128.0 * cb],
        ]
    }
}

/// Apply `m` and keep the unrounded result.
#[cfg(test)]
#[inline]
pub(crate) fn apply(m: &Affine, x: [f64; 3]) -> [f64; 3] {
    let row = |r: &[f64; 4]| r[0] * x[0] + r[1] * x[1] + r[2] * x[2] + r[3];
    [row(&m[0]), row(&m[1]), row(&m[2])]
}

/// Round to the nearest code value and clamp to 0..=255 (the rule both paths use).
#[inline]
pub(crate) fn to_code(v: f32) -> u8 {
    (v + 0.5).floor().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn white_black_and_grey_land_on_the_nominal_codes() {
        for cs in [
            ColorSpace::BT601_LIMITED,
            ColorSpace::BT601_FULL,
            ColorSpace::BT709_LIMITED,
            ColorSpace::BT709_FULL,
        ] {
            let m = cs.rgb_to_yuv();
            let (lo, hi) =
                if cs.range == ColorRange::Limited { (16.0, 235.0) } else { (0.0, 255.0) };
            let w = apply(&m, [255.0; 3]);
            let b = apply(&m, [0.0; 3]);
            assert!((w[0] - hi).abs() < 1e-9 && (w[1] - 128.0).abs() < 1e-9);
            assert!((b[0] - lo).abs() < 1e-9 && (b[2] - 128.0).abs() < 1e-9);
        }
    }

    #[test]
    fn inverse_undoes_forward() {
        for cs in [ColorSpace::BT601_LIMITED, ColorSpace::BT709_FULL] {
            let rgb = [200.0, 30.0, 90.0];
            let back = apply(&cs.yuv_to_rgb(), apply(&cs.rgb_to_yuv(), rgb));
            for c in 0..3 {
                assert!((back[c] - rgb[c]).abs() < 1e-9, "{cs:?}: {back:?}");
            }
        }
    }

    #[test]
    fn bt601_red_matches_the_published_value() {
        // BT.601 limited: pure red is Y=81, Cb=90, Cr=240 (rounded).
        let y = apply(&ColorSpace::BT601_LIMITED.rgb_to_yuv(), [255.0, 0.0, 0.0]);
        assert_eq!(y.map(|v| v.round() as i32), [81, 90, 240]);
    }
}
