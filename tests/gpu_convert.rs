//! The GPU video path against an independent float64 reference, on Mesa lavapipe in CI.
//!
//! These tests run the GPU kernels for real. If no adapter can be opened they FAIL,
//! unless `SOTTOVOCE_ALLOW_NO_GPU=1` is set (for machines without even lavapipe).

use std::time::Instant;

use sottovoce::gpu::{Backends, GpuContext, GpuError};
use sottovoce::pipeline::PooledBuffer;
use sottovoce::video::{
    ColorMatrix, ColorRange, ColorSpace, ConversionPath, ConvertError, ConverterConfig,
    PathPreference, PixelFormat, VideoConverter, VideoFrame,
};

const ALL_SPACES: [ColorSpace; 4] = [
    ColorSpace::BT601_LIMITED,
    ColorSpace::BT601_FULL,
    ColorSpace::BT709_LIMITED,
    ColorSpace::BT709_FULL,
];

fn gpu() -> Option<GpuContext> {
    match GpuContext::shared() {
        Ok(g) => Some(g),
        Err(e) if std::env::var("SOTTOVOCE_ALLOW_NO_GPU").as_deref() == Ok("1") => {
            eprintln!("no GPU adapter ({e}); SOTTOVOCE_ALLOW_NO_GPU=1 so skipping GPU checks");
            None
        }
        Err(e) => {
            panic!("no GPU adapter ({e}): CI has lavapipe; set SOTTOVOCE_ALLOW_NO_GPU=1 to skip")
        }
    }
}

fn converter(
    gpu: Option<&GpuContext>,
    output: PixelFormat,
    (w, h): (u32, u32),
    color: ColorSpace,
) -> VideoConverter {
    let config = ConverterConfig::new(output, w, h).color(color);
    match gpu {
        Some(g) => {
            let c = VideoConverter::new(config.path(PathPreference::Gpu), Ok(g.clone())).unwrap();
            assert_eq!(c.stats().path, ConversionPath::Gpu);
            c
        }
        None => VideoConverter::cpu(config).unwrap(),
    }
}

// ---------------------------------------------------------------- test images

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u8 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 24) as u8
    }
}

#[derive(Debug, Clone, Copy)]
enum Pattern {
    Random,
    Gradient,
    ColorBars,
    Edges,
}

/// RGB of pixel (x, y) of a `w` x `h` image.
fn pattern_rgb(p: Pattern, x: u32, y: u32, w: u32, h: u32, rng: &mut Rng) -> [u8; 3] {
    match p {
        Pattern::Random => [rng.next(), rng.next(), rng.next()],
        Pattern::Gradient => [
            (x * 255 / w.max(2).saturating_sub(1).max(1)).min(255) as u8,
            (y * 255 / h.max(2).saturating_sub(1).max(1)).min(255) as u8,
            ((x + y) * 255 / (w + h)) as u8,
        ],
        Pattern::ColorBars => {
            const BARS: [[u8; 3]; 8] = [
                [235, 235, 235],
                [235, 235, 16],
                [16, 235, 235],
                [16, 235, 16],
                [235, 16, 235],
                [235, 16, 16],
                [16, 16, 235],
                [16, 16, 16],
            ];
            BARS[(x * 8 / w) as usize]
        }
        Pattern::Edges => {
            let on = (x < w / 3) ^ (y < h / 2) ^ (x + y < (w + h) / 2);
            if on { [255, 255, 255] } else { [0, 40, 200] }
        }
    }
}

/// An RGBA or BGRA frame with row stride `4w + pad` (pad need not keep rows aligned).
fn rgb_frame(format: PixelFormat, p: Pattern, w: u32, h: u32, pad: usize, seed: u64) -> VideoFrame {
    let stride = w as usize * 4 + pad;
    let mut data = vec![0xA5u8; stride * h as usize];
    let mut rng = Rng(seed | 1);
    for y in 0..h {
        for x in 0..w {
            let [r, g, b] = pattern_rgb(p, x, y, w, h, &mut rng);
            let px = if format == PixelFormat::Bgra { [b, g, r, 255] } else { [r, g, b, 255] };
            let o = y as usize * stride + x as usize * 4;
            data[o..o + 4].copy_from_slice(&px);
        }
    }
    VideoFrame::new(format, w, h, &[stride], PooledBuffer::detached(data), Instant::now(), seed)
        .unwrap()
}

/// An I420 or NV12 frame with arbitrary content and padded strides.
fn yuv_frame(format: PixelFormat, p: Pattern, w: u32, h: u32, pad: usize, seed: u64) -> VideoFrame {
    let dims = format.plane_dims(w, h);
    let strides: Vec<usize> =
        dims[..format.plane_count()].iter().map(|(row, _)| row + pad).collect();
    let total: usize = strides.iter().zip(dims).map(|(s, (_, rows))| s * rows).sum();
    let mut data = vec![0x5Au8; total];
    let mut rng = Rng(seed | 1);
    let mut offset = 0;
    for (i, &stride) in strides.iter().enumerate() {
        let (row, rows) = dims[i];
        for y in 0..rows {
            for x in 0..row {
                let [a, b, c] =
                    pattern_rgb(p, x as u32, y as u32, row as u32, rows as u32, &mut rng);
                data[offset + y * stride + x] = [a, b, c][(i + x) % 3];
            }
        }
        offset += stride * rows;
    }
    VideoFrame::new(format, w, h, &strides, PooledBuffer::detached(data), Instant::now(), seed)
        .unwrap()
}

// ---------------------------------------------------------------- f64 reference

/// `(first sample, weight)` pairs for the source interval `[a, b)` on an axis of `len`.
fn ref_weights(a: f64, b: f64, len: usize) -> Vec<(usize, f64)> {
    if b - a > 2.0 {
        let mut v: Vec<(usize, f64)> = (0..len)
            .filter_map(|k| {
                let overlap = (b.min(k as f64 + 1.0) - a.max(k as f64)).max(0.0);
                (overlap > 0.0).then_some((k, overlap))
            })
            .collect();
        let sum: f64 = v.iter().map(|(_, w)| w).sum();
        v.iter_mut().for_each(|(_, w)| *w /= sum);
        v
    } else {
        let c = ((a + b) / 2.0 - 0.5).clamp(0.0, (len - 1) as f64);
        let k = c.floor() as usize;
        let t = c - k as f64;
        if k + 1 < len { vec![(k, 1.0 - t), (k + 1, t)] } else { vec![(k, 1.0)] }
    }
}

/// Interval of output luma sample `i` (S source, D output samples).
fn luma_iv(i: usize, s: u32, d: u32) -> (f64, f64) {
    let r = f64::from(s) / f64::from(d);
    (i as f64 * r, (i + 1) as f64 * r)
}

/// Interval of output chroma sample `i`: the 2x2 luma block it is subsampled from.
fn chroma_iv(i: usize, s: u32, d: u32) -> (f64, f64) {
    let r = f64::from(s) / f64::from(d);
    (2.0 * i as f64 * r, ((2 * i + 2) as f64).min(f64::from(d)) * r)
}

fn halve((a, b): (f64, f64)) -> (f64, f64) {
    (a / 2.0, b / 2.0)
}

/// Filtered value of `sample(x, y)` over the 2-D footprint.
fn filter2(
    ix: (f64, f64),
    iy: (f64, f64),
    (lx, ly): (usize, usize),
    sample: impl Fn(usize, usize) -> f64,
) -> f64 {
    let wx = ref_weights(ix.0, ix.1, lx);
    let wy = ref_weights(iy.0, iy.1, ly);
    wy.iter().map(|&(y, fy)| fy * wx.iter().map(|&(x, fx)| fx * sample(x, y)).sum::<f64>()).sum()
}

fn coefficients(cs: ColorSpace) -> (f64, f64, f64, f64, f64) {
    let (kr, kb) = match cs.matrix {
        ColorMatrix::Bt601 => (0.299, 0.114),
        ColorMatrix::Bt709 => (0.2126, 0.0722),
    };
    let (oy, sy, sc) = match cs.range {
        ColorRange::Limited => (16.0, 219.0, 224.0),
        ColorRange::Full => (0.0, 255.0, 255.0),
    };
    (kr, kb, oy, sy, sc)
}

fn ref_rgb_to_yuv(cs: ColorSpace, [r, g, b]: [f64; 3]) -> [f64; 3] {
    let (kr, kb, oy, sy, sc) = coefficients(cs);
    let l = kr * r + (1.0 - kr - kb) * g + kb * b;
    [
        oy + sy * l / 255.0,
        128.0 + sc * (b - l) / 255.0 / (2.0 * (1.0 - kb)),
        128.0 + sc * (r - l) / 255.0 / (2.0 * (1.0 - kr)),
    ]
}

fn ref_yuv_to_rgb(cs: ColorSpace, [y, u, v]: [f64; 3]) -> [f64; 3] {
    let (kr, kb, oy, sy, sc) = coefficients(cs);
    let l = (y - oy) * 255.0 / sy;
    let b = l + (u - 128.0) * 255.0 / sc * 2.0 * (1.0 - kb);
    let r = l + (v - 128.0) * 255.0 / sc * 2.0 * (1.0 - kr);
    let g = (l - kr * r - kb * b) / (1.0 - kr - kb);
    [r, g, b]
}

fn code(v: f64) -> i32 {
    v.round().clamp(0.0, 255.0) as i32
}

/// Visible samples of plane `i` of `f`, row by row.
fn plane_rows(f: &VideoFrame, i: usize) -> Vec<Vec<u8>> {
    let (row, rows) = f.format().plane_dims(f.width(), f.height())[i];
    (0..rows).map(|y| f.plane(i)[y * f.stride(i)..][..row].to_vec()).collect()
}

/// Assert `got` is within 1 of `want` everywhere.
fn assert_close(what: &str, got: &[Vec<u8>], want: &[Vec<i32>]) {
    assert_eq!(got.len(), want.len(), "{what}: row count");
    for (y, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what}: row {y} length");
        for (x, (&g, &w)) in g.iter().zip(w).enumerate() {
            assert!((i32::from(g) - w).abs() <= 1, "{what}: ({x},{y}) got {g} want {w}");
        }
    }
}

fn ref_rgb_to_i420(src: &VideoFrame, (dw, dh): (u32, u32), cs: ColorSpace) -> [Vec<Vec<i32>>; 3] {
    let (sw, sh) = (src.width(), src.height());
    let bgra = src.format() == PixelFormat::Bgra;
    let px = |x: usize, y: usize, c: usize| {
        let c = if bgra { [2, 1, 0][c] } else { c };
        f64::from(src.plane(0)[y * src.stride(0) + x * 4 + c])
    };
    let dims = (sw as usize, sh as usize);
    let rgb_at = |ix, iy| [0, 1, 2].map(|c| filter2(ix, iy, dims, |x, y| px(x, y, c)));
    let y_plane = (0..dh as usize)
        .map(|y| {
            (0..dw as usize)
                .map(|x| {
                    code(ref_rgb_to_yuv(cs, rgb_at(luma_iv(x, sw, dw), luma_iv(y, sh, dh)))[0])
                })
                .collect()
        })
        .collect();
    let (cw, ch) = (dw.div_ceil(2) as usize, dh.div_ceil(2) as usize);
    let chroma = |k: usize| -> Vec<Vec<i32>> {
        (0..ch)
            .map(|y| {
                (0..cw)
                    .map(|x| {
                        let rgb = rgb_at(chroma_iv(x, sw, dw), chroma_iv(y, sh, dh));
                        code(ref_rgb_to_yuv(cs, rgb)[k])
                    })
                    .collect()
            })
            .collect()
    };
    [y_plane, chroma(1), chroma(2)]
}

/// Sample accessor for plane `k` (0 Y, 1 U, 2 V) of an I420 or NV12 frame.
fn yuv_sample(src: &VideoFrame, k: usize) -> impl Fn(usize, usize) -> f64 + '_ {
    move |x, y| {
        let v = match (src.format(), k) {
            (_, 0) => src.plane(0)[y * src.stride(0) + x],
            (PixelFormat::Nv12, k) => src.plane(1)[y * src.stride(1) + 2 * x + k - 1],
            (_, k) => src.plane(k)[y * src.stride(k) + x],
        };
        f64::from(v)
    }
}

fn ref_planar_to_i420(src: &VideoFrame, (dw, dh): (u32, u32)) -> [Vec<Vec<i32>>; 3] {
    let (sw, sh) = (src.width(), src.height());
    let y_plane = (0..dh as usize)
        .map(|y| {
            (0..dw as usize)
                .map(|x| {
                    let s = yuv_sample(src, 0);
                    code(filter2(
                        luma_iv(x, sw, dw),
                        luma_iv(y, sh, dh),
                        (sw as usize, sh as usize),
                        s,
                    ))
                })
                .collect()
        })
        .collect();
    let (cw, ch) = (dw.div_ceil(2) as usize, dh.div_ceil(2) as usize);
    let src_c = (sw.div_ceil(2) as usize, sh.div_ceil(2) as usize);
    let chroma = |k: usize| -> Vec<Vec<i32>> {
        (0..ch)
            .map(|y| {
                (0..cw)
                    .map(|x| {
                        // Source chroma units: the unclipped 2x2 block, halved.
                        let (ix, iy) = (luma_iv(x, sw, dw), luma_iv(y, sh, dh));
                        code(filter2(ix, iy, src_c, yuv_sample(src, k)))
                    })
                    .collect()
            })
            .collect()
    };
    [y_plane, chroma(1), chroma(2)]
}

fn ref_yuv_to_rgb_frame(
    src: &VideoFrame,
    (dw, dh): (u32, u32),
    cs: ColorSpace,
    bgra: bool,
) -> Vec<Vec<i32>> {
    let (sw, sh) = (src.width(), src.height());
    let src_c = (sw.div_ceil(2) as usize, sh.div_ceil(2) as usize);
    (0..dh as usize)
        .map(|y| {
            (0..dw as usize)
                .flat_map(|x| {
                    let (ix, iy) = (luma_iv(x, sw, dw), luma_iv(y, sh, dh));
                    let l = filter2(ix, iy, (sw as usize, sh as usize), yuv_sample(src, 0));
                    let u = filter2(halve(ix), halve(iy), src_c, yuv_sample(src, 1));
                    let v = filter2(halve(ix), halve(iy), src_c, yuv_sample(src, 2));
                    let [r, g, b] = ref_yuv_to_rgb(cs, [l, u, v]).map(code);
                    if bgra { [b, g, r, 255] } else { [r, g, b, 255] }
                })
                .collect()
        })
        .collect()
}

// ---------------------------------------------------------------- conversions vs reference

const PATTERNS: [Pattern; 4] =
    [Pattern::Random, Pattern::Gradient, Pattern::ColorBars, Pattern::Edges];

/// (source size, output size): identity, mild shrink (bilinear), >2x shrink with odd
/// sizes (area), enlargement, and 1-pixel frames.
const SIZES: [((u32, u32), (u32, u32)); 6] = [
    ((24, 16), (24, 16)),
    ((40, 30), (26, 20)),
    ((67, 45), (15, 11)),
    ((13, 9), (30, 21)),
    ((1, 1), (3, 3)),
    ((5, 3), (1, 1)),
];

fn paths() -> Vec<Option<GpuContext>> {
    match gpu() {
        Some(g) => vec![Some(g), None],
        None => vec![None],
    }
}

#[test]
fn rgba_and_bgra_to_i420_match_the_f64_reference() {
    for gpu in paths() {
        for (case, &(src, dst)) in SIZES.iter().enumerate() {
            for (pi, &p) in PATTERNS.iter().enumerate() {
                for format in [PixelFormat::Rgba, PixelFormat::Bgra] {
                    let cs = ALL_SPACES[(case + pi) % 4];
                    let pad = [0, 3, 8, 1][(case + pi) % 4];
                    let frame = rgb_frame(format, p, src.0, src.1, pad, 7 + case as u64);
                    let out = converter(gpu.as_ref(), PixelFormat::I420, dst, cs)
                        .convert(&frame)
                        .unwrap();
                    assert_eq!(
                        (out.format(), out.width(), out.height()),
                        (PixelFormat::I420, dst.0, dst.1)
                    );
                    let want = ref_rgb_to_i420(&frame, dst, cs);
                    for (k, want) in want.iter().enumerate() {
                        let what = format!(
                            "gpu={} {format:?} {p:?} {src:?}->{dst:?} {cs:?} plane {k}",
                            gpu.is_some()
                        );
                        assert_close(&what, &plane_rows(&out, k), want);
                    }
                }
            }
        }
    }
}

#[test]
fn all_colour_spaces_convert_colour_bars_within_one_code() {
    for gpu in paths() {
        for cs in ALL_SPACES {
            let frame = rgb_frame(PixelFormat::Rgba, Pattern::ColorBars, 64, 8, 0, 1);
            let out =
                converter(gpu.as_ref(), PixelFormat::I420, (64, 8), cs).convert(&frame).unwrap();
            let want = ref_rgb_to_i420(&frame, (64, 8), cs);
            for (k, want) in want.iter().enumerate() {
                assert_close(&format!("{cs:?} plane {k}"), &plane_rows(&out, k), want);
            }
        }
    }
}

#[test]
fn nv12_and_i420_to_i420_match_the_f64_reference() {
    for gpu in paths() {
        for (case, &(src, dst)) in SIZES.iter().enumerate() {
            for (pi, &p) in PATTERNS.iter().enumerate() {
                for format in [PixelFormat::Nv12, PixelFormat::I420] {
                    let pad = [0, 5, 2, 7][(case + pi) % 4];
                    let frame = yuv_frame(format, p, src.0, src.1, pad, 11 + pi as u64);
                    let out =
                        converter(gpu.as_ref(), PixelFormat::I420, dst, ColorSpace::default())
                            .convert(&frame)
                            .unwrap();
                    let want = ref_planar_to_i420(&frame, dst);
                    for (k, want) in want.iter().enumerate() {
                        let what = format!(
                            "gpu={} {format:?} {p:?} {src:?}->{dst:?} plane {k}",
                            gpu.is_some()
                        );
                        assert_close(&what, &plane_rows(&out, k), want);
                    }
                }
            }
        }
    }
}

#[test]
fn i420_and_nv12_to_rgba_match_the_f64_reference() {
    for gpu in paths() {
        for (case, &(src, dst)) in SIZES.iter().enumerate() {
            for (pi, &p) in PATTERNS.iter().enumerate() {
                let format = [PixelFormat::I420, PixelFormat::Nv12][(case + pi) % 2];
                let output = [PixelFormat::Rgba, PixelFormat::Bgra][pi % 2];
                let cs = ALL_SPACES[(case + 2 * pi) % 4];
                let frame = yuv_frame(format, p, src.0, src.1, case % 3, 3 + case as u64);
                let out = converter(gpu.as_ref(), output, dst, cs).convert(&frame).unwrap();
                let want = ref_yuv_to_rgb_frame(&frame, dst, cs, output == PixelFormat::Bgra);
                let what = format!(
                    "gpu={} {format:?}->{output:?} {p:?} {src:?}->{dst:?} {cs:?}",
                    gpu.is_some()
                );
                assert_close(&what, &plane_rows(&out, 0), &want);
            }
        }
    }
}

// ---------------------------------------------------------------- filter quality

#[test]
fn one_pixel_stripes_shrunk_4x_come_out_flat_grey() {
    for gpu in paths() {
        // Vertical stripes, horizontal stripes and a checkerboard, black/white 1-px.
        let patterns: [fn(u32, u32) -> bool; 3] =
            [|x, _| x % 2 == 0, |_, y| y % 2 == 0, |x, y| (x + y) % 2 == 0];
        for (i, on) in patterns.iter().enumerate() {
            let (w, h) = (256u32, 128u32);
            let data: Vec<u8> = (0..h)
                .flat_map(|y| {
                    (0..w).flat_map(
                        move |x| if on(x, y) { [255, 255, 255, 255] } else { [0, 0, 0, 255] },
                    )
                })
                .collect();
            let frame =
                VideoFrame::from_packed(PixelFormat::Rgba, w, h, &data, Instant::now(), 0).unwrap();
            let out =
                converter(gpu.as_ref(), PixelFormat::I420, (w / 4, h / 4), ColorSpace::BT709_FULL)
                    .convert(&frame)
                    .unwrap();
            let luma: Vec<u8> = plane_rows(&out, 0).concat();
            let (lo, hi) = (luma.iter().min().unwrap(), luma.iter().max().unwrap());
            assert!(
                *lo >= 127 && *hi <= 128,
                "pattern {i}: luma spans {lo}..={hi}, expected flat 127.5"
            );
            for k in 1..3 {
                let c: Vec<u8> = plane_rows(&out, k).concat();
                assert!(
                    c.iter().all(|&v| (127..=129).contains(&v)),
                    "pattern {i} chroma {k} not neutral"
                );
            }
        }
    }
}

fn psnr(a: &[Vec<u8>], b: &[Vec<u8>]) -> f64 {
    let (mut se, mut n) = (0f64, 0usize);
    for (ra, rb) in a.iter().zip(b) {
        for (pa, pb) in ra.chunks(4).zip(rb.chunks(4)) {
            for c in 0..3 {
                se += (f64::from(pa[c]) - f64::from(pb[c])).powi(2);
                n += 1;
            }
        }
    }
    10.0 * (255.0f64.powi(2) / (se / n as f64)).log10()
}

/// Smooth content: gradients plus low-frequency sinusoids (no detail finer than ~16 px,
/// the kind of content a camera gives after its own optics), so chroma subsampling keeps
/// nearly all the information and the round trip measures the arithmetic.
fn smooth_frame(w: u32, h: u32) -> VideoFrame {
    let data: Vec<u8> = (0..h)
        .flat_map(|y| {
            (0..w).flat_map(move |x| {
                let (fx, fy) = (f64::from(x), f64::from(y));
                let r = 128.0 + 90.0 * (fx / 23.0).sin() * (fy / 31.0).cos();
                let g = 40.0 + 170.0 * fx / f64::from(w);
                let b = 128.0 + 100.0 * ((fx + fy) / 37.0).cos();
                [r as u8, g as u8, b as u8, 255]
            })
        })
        .collect();
    VideoFrame::from_packed(PixelFormat::Rgba, w, h, &data, Instant::now(), 0).unwrap()
}

#[test]
fn rgba_to_i420_to_rgba_round_trip_is_above_40_db_on_smooth_content() {
    for gpu in paths() {
        for cs in ALL_SPACES {
            let (w, h) = (320, 180);
            let src = smooth_frame(w, h);
            let i420 =
                converter(gpu.as_ref(), PixelFormat::I420, (w, h), cs).convert(&src).unwrap();
            let back =
                converter(gpu.as_ref(), PixelFormat::Rgba, (w, h), cs).convert(&i420).unwrap();
            let db = psnr(&plane_rows(&src, 0), &plane_rows(&back, 0));
            eprintln!("round trip gpu={} {cs:?}: {db:.1} dB", gpu.is_some());
            assert!(db > 40.0, "{cs:?}: PSNR {db:.2} dB");
        }
    }
}

// ---------------------------------------------------------------- GPU and CPU agree

#[test]
fn gpu_and_cpu_paths_agree_on_camera_sizes() {
    let Some(g) = gpu() else { return };
    let cases = [
        (PixelFormat::Rgba, (1280u32, 720u32), PixelFormat::I420, (640u32, 360u32)),
        (PixelFormat::Bgra, (641, 479), PixelFormat::I420, (160, 119)),
        (PixelFormat::Nv12, (1280, 720), PixelFormat::I420, (853, 480)),
        (PixelFormat::I420, (640, 360), PixelFormat::Rgba, (1280, 720)),
    ];
    for (i, (inf, (sw, sh), outf, dst)) in cases.into_iter().enumerate() {
        let frame = match inf {
            PixelFormat::Rgba | PixelFormat::Bgra => {
                rgb_frame(inf, Pattern::Random, sw, sh, 4, i as u64)
            }
            _ => yuv_frame(inf, Pattern::Random, sw, sh, 0, i as u64),
        };
        let on_gpu =
            converter(Some(&g), outf, dst, ColorSpace::BT601_LIMITED).convert(&frame).unwrap();
        let on_cpu = converter(None, outf, dst, ColorSpace::BT601_LIMITED).convert(&frame).unwrap();
        let (mut differ, mut total) = (0usize, 0usize);
        for k in 0..outf.plane_count() {
            for (a, b) in plane_rows(&on_gpu, k).iter().zip(plane_rows(&on_cpu, k)) {
                for (x, y) in a.iter().zip(&b) {
                    assert!(x.abs_diff(*y) <= 1, "case {i}: GPU {x} vs CPU {y}");
                    differ += usize::from(x != y);
                    total += 1;
                }
            }
        }
        // Off-by-one only where the exact value sits on a rounding boundary.
        assert!(differ * 100 < total, "case {i}: {differ} of {total} samples differ");
    }
}

// ---------------------------------------------------------------- pipelining and stages

#[test]
fn pipelined_submissions_come_out_in_order_and_reuse_buffers() {
    let Some(g) = gpu() else { return };
    let config =
        ConverterConfig::new(PixelFormat::I420, 320, 180).path(PathPreference::Gpu).in_flight(3);
    let mut pipelined = VideoConverter::new(config, Ok(g.clone())).unwrap();
    let mut sync = VideoConverter::new(config.in_flight(1), Ok(g)).unwrap();
    let frames: Vec<VideoFrame> = (0..24)
        .map(|i| rgb_frame(PixelFormat::Rgba, Pattern::Random, 640, 360, 0, 100 + i))
        .collect();
    let mut out: Vec<VideoFrame> = Vec::new();
    let mut seen = Vec::new();
    for f in &frames {
        pipelined
            .submit(f, &mut |o| {
                seen.push(o.sequence());
                out.push(o);
            })
            .unwrap();
        assert!(pipelined.in_flight() <= 2);
        // The consumer drops frames as it goes and keeps at most two.
        while out.len() > 2 {
            out.remove(0);
        }
    }
    // At most four output buffers are ever alive at once (two kept by the consumer, up to
    // two emitted by one call), so the pool allocates at most four times in all, however
    // many frames pass: no per-frame allocation.
    assert!(pipelined.pool().misses() <= 4, "{} output allocations", pipelined.pool().misses());
    pipelined
        .finish(&mut |o| {
            seen.push(o.sequence());
            out.push(o);
        })
        .unwrap();
    assert_eq!(pipelined.in_flight(), 0);
    assert_eq!(pipelined.stats().gpu_frames, 24);
    assert_eq!(seen, (100..124).collect::<Vec<_>>());
    for o in out.iter().rev().take(2) {
        let want = sync.convert(&frames[o.sequence() as usize - 100]).unwrap();
        for k in 0..3 {
            assert_eq!(plane_rows(o, k), plane_rows(&want, k), "frame {} plane {k}", o.sequence());
        }
    }
}

#[test]
fn pipelined_conversion_follows_size_changes() {
    let Some(g) = gpu() else { return };
    let config =
        ConverterConfig::new(PixelFormat::I420, 64, 36).path(PathPreference::Gpu).in_flight(2);
    let mut converter = VideoConverter::new(config, Ok(g)).unwrap();
    let sizes = [(128u32, 72u32), (128, 72), (97, 55), (640, 360), (33, 21)];
    // With two frames in flight each frame comes out when the next one is submitted; the
    // last when the converter is finished.
    let mut got = Vec::new();
    for (i, &(w, h)) in sizes.iter().enumerate() {
        let frame = rgb_frame(PixelFormat::Bgra, Pattern::Gradient, w, h, 0, i as u64);
        converter.submit(&frame, &mut |f| got.push(f)).unwrap();
    }
    assert_eq!(got.len(), sizes.len() - 1);
    converter.finish(&mut |f| got.push(f)).unwrap();
    let seqs: Vec<u64> = got.iter().map(VideoFrame::sequence).collect();
    assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
    for f in &got {
        assert_eq!((f.format(), f.width(), f.height()), (PixelFormat::I420, 64, 36));
    }
}

// ---------------------------------------------------------------- fallback and bad input

#[test]
fn no_adapter_falls_back_to_the_cpu_path_and_says_so() {
    let none = GpuContext::with_backends(Backends::empty());
    assert!(matches!(none, Err(GpuError::NoAdapter { .. })), "{none:?}");
    let config = ConverterConfig::new(PixelFormat::I420, 32, 18);
    let mut c = VideoConverter::new(config, none.clone()).unwrap();
    assert_eq!(c.stats().path, ConversionPath::Cpu);
    assert!(c.stats().reason.contains("no GPU adapter"), "{}", c.stats().reason);
    assert!(c.stats().adapter.is_none());
    let frame = rgb_frame(PixelFormat::Rgba, Pattern::Gradient, 64, 36, 0, 0);
    let out = c.convert(&frame).unwrap();
    assert_close(
        "fallback",
        &plane_rows(&out, 0),
        &ref_rgb_to_i420(&frame, (32, 18), ColorSpace::default())[0],
    );
    assert_eq!((c.stats().cpu_frames, c.stats().gpu_frames), (1, 0));
    // Asking for the GPU explicitly without one is a typed error, not a silent CPU run.
    let explicit = VideoConverter::new(config.path(PathPreference::Gpu), none);
    assert!(matches!(explicit, Err(ConvertError::Gpu(GpuError::NoAdapter { .. }))));
}

#[test]
fn auto_path_reports_its_choice_and_adapter() {
    let Some(g) = gpu() else { return };
    let c = VideoConverter::new(ConverterConfig::new(PixelFormat::I420, 1280, 720), Ok(g.clone()))
        .unwrap();
    let stats = c.stats();
    assert_eq!(stats.adapter.as_ref(), Some(g.adapter()));
    if g.is_software() {
        assert_eq!(stats.path, ConversionPath::Cpu);
        assert!(stats.reason.contains("software"), "{}", stats.reason);
    } else {
        assert_eq!(stats.path, ConversionPath::Gpu);
    }
    let tiny = VideoConverter::new(ConverterConfig::new(PixelFormat::I420, 64, 36), Ok(g)).unwrap();
    assert_eq!(tiny.stats().path, ConversionPath::Cpu);
}

#[test]
fn bad_requests_are_typed_errors() {
    let cfg = |w, h, f| ConverterConfig::new(f, w, h).path(PathPreference::Cpu);
    assert!(matches!(
        VideoConverter::cpu(cfg(0, 10, PixelFormat::I420)),
        Err(ConvertError::BadOutputSize { .. })
    ));
    assert!(matches!(
        VideoConverter::cpu(cfg(20_000, 10, PixelFormat::I420)),
        Err(ConvertError::BadOutputSize { .. })
    ));
    assert!(matches!(
        VideoConverter::cpu(cfg(10, 10, PixelFormat::Nv12)),
        Err(ConvertError::UnsupportedOutput(PixelFormat::Nv12))
    ));
    let frame = rgb_frame(PixelFormat::Rgba, Pattern::Random, 130, 10, 0, 0);
    let mut to_rgba = VideoConverter::cpu(cfg(10, 10, PixelFormat::Rgba)).unwrap();
    assert!(matches!(to_rgba.convert(&frame), Err(ConvertError::Unsupported { .. })));
    let mut tiny = VideoConverter::cpu(cfg(1, 1, PixelFormat::I420)).unwrap();
    assert!(matches!(tiny.convert(&frame), Err(ConvertError::ShrinkTooLarge { .. })));
    // Every path still works afterwards.
    let ok = rgb_frame(PixelFormat::Rgba, Pattern::Random, 60, 10, 0, 0);
    assert_eq!(tiny.convert(&ok).unwrap().width(), 1);
    if let Some(g) = gpu() {
        let mut on_gpu =
            VideoConverter::new(cfg(1, 1, PixelFormat::I420).path(PathPreference::Gpu), Ok(g))
                .unwrap();
        assert!(matches!(on_gpu.convert(&frame), Err(ConvertError::ShrinkTooLarge { .. })));
        assert_eq!(on_gpu.convert(&ok).unwrap().width(), 1);
    }
}

#[test]
fn same_size_planar_conversion_copies_every_sample_exactly() {
    for gpu in paths() {
        for (w, h) in [(13u32, 7u32), (1, 1), (64, 35), (2, 3)] {
            for format in [PixelFormat::I420, PixelFormat::Nv12] {
                let frame = yuv_frame(format, Pattern::Random, w, h, 3, u64::from(w * h));
                let out = converter(gpu.as_ref(), PixelFormat::I420, (w, h), ColorSpace::default())
                    .convert(&frame)
                    .unwrap();
                let what = format!("gpu={} {format:?} {w}x{h}", gpu.is_some());
                assert_eq!(plane_rows(&out, 0), plane_rows(&frame, 0), "{what} luma");
                for k in 1..3 {
                    let want: Vec<Vec<u8>> = if format == PixelFormat::Nv12 {
                        plane_rows(&frame, 1)
                            .iter()
                            .map(|row| row.iter().skip(k - 1).step_by(2).copied().collect())
                            .collect()
                    } else {
                        plane_rows(&frame, k)
                    };
                    assert_eq!(plane_rows(&out, k), want, "{what} chroma {k}");
                }
            }
        }
    }
}
