//! A deterministic moving test scene and PSNR, for codec tests, benches and a camera-less
//! test source.
//!
//! The scene is a diagonal gradient scrolling 3 px per frame with a fixed 4x4-block
//! texture that scrolls with it, a bright disc on a Lissajous path and a dark bar sweeping
//! across, all with hard edges, and slowly shifting chroma. It has the ingredients that
//! make a real encoder work (motion, edges, texture) without depending on any file.

use std::time::Instant;

use crate::pipeline::BufferPool;
use crate::video::{PixelFormat, VideoFrame};

/// Generator of the moving test scene at one size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticScene {
    width: u32,
    height: u32,
}

/// Texture value of the 4x4 block at (`bx`, `by`): a fixed pseudo-random offset in
/// -12..=12 (an integer hash, so every run and platform agrees).
fn block_texture(bx: i64, by: i64) -> i32 {
    let mut h = (bx as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (by as u64).wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^= h >> 32;
    (h % 25) as i32 - 12
}

impl SyntheticScene {
    /// A scene of `width` x `height` pixels.
    pub fn new(width: u32, height: u32) -> Self {
        Self { width, height }
    }

    /// Picture number `index`, I420, from `pool`, stamped with `capture_time`.
    pub fn frame(
        &self,
        pool: &BufferPool<u8>,
        index: u64,
        capture_time: Instant,
    ) -> Result<VideoFrame, crate::video::VideoFrameError> {
        let mut frame = VideoFrame::alloc(
            pool,
            PixelFormat::I420,
            self.width,
            self.height,
            capture_time,
            index,
        )?;
        self.render(&mut frame, index);
        Ok(frame)
    }

    /// Draw picture number `index` into `frame` (I420 of this scene's size).
    pub fn render(&self, frame: &mut VideoFrame, index: u64) {
        let (w, h) = (i64::from(self.width), i64::from(self.height));
        let t = index as i64;
        let scroll = 3 * t;
        // Disc on a Lissajous path; radius and paths scale with the picture.
        let radius = (h / 6).max(4);
        let phase = t as f64 / 30.0;
        let cx = (w as f64 * (0.5 + 0.35 * (phase * 1.3).sin())) as i64;
        let cy = (h as f64 * (0.5 + 0.30 * (phase * 0.9).cos())) as i64;
        // Bar sweeping left to right, wrapping.
        let bar_w = (w / 10).max(4);
        let bar_x = (t * 5) % (w + bar_w) - bar_w;
        let (bar_y0, bar_y1) = (h / 5, h / 5 + h / 8);
        let inside_disc = |x: i64, y: i64| (x - cx).pow(2) + (y - cy).pow(2) <= radius * radius;
        let inside_bar =
            |x: i64, y: i64| x >= bar_x && x < bar_x + bar_w && y >= bar_y0 && y < bar_y1;

        let stride = frame.stride(0);
        let luma = frame.plane_mut(0);
        for y in 0..h {
            let row = &mut luma[y as usize * stride..][..w as usize];
            for (x, px) in row.iter_mut().enumerate() {
                let x = x as i64;
                let sx = x + scroll;
                let value = if inside_disc(x, y) {
                    235
                } else if inside_bar(x, y) {
                    24
                } else {
                    let gradient = 40 + ((sx + y) * 160 / (w + h)).rem_euclid(160) as i32;
                    gradient + block_texture(sx.div_euclid(4), y / 4)
                };
                *px = value.clamp(16, 235) as u8;
            }
        }
        let (cw, ch) = ((w + 1) / 2, (h + 1) / 2);
        for (plane, base) in [(1usize, 110i64), (2, 140)] {
            let stride = frame.stride(plane);
            let chroma = frame.plane_mut(plane);
            for y in 0..ch {
                let row = &mut chroma[y as usize * stride..][..cw as usize];
                for (x, px) in row.iter_mut().enumerate() {
                    let x = x as i64;
                    let (fx, fy) = (2 * x, 2 * y);
                    let value = if inside_disc(fx, fy) {
                        if plane == 1 { 90 } else { 200 }
                    } else if inside_bar(fx, fy) {
                        if plane == 1 { 180 } else { 100 }
                    } else {
                        base + ((x + y + t) * 40 / (cw + ch)).rem_euclid(40) - 20
                    };
                    *px = value.clamp(16, 240) as u8;
                }
            }
        }
    }
}

/// PSNR of two I420 pictures of the same size, per plane and combined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Psnr {
    /// Luma PSNR in dB.
    pub y: f64,
    /// Cb PSNR in dB.
    pub u: f64,
    /// Cr PSNR in dB.
    pub v: f64,
    /// PSNR of all samples together (luma weighs four times each chroma plane), in dB.
    pub combined: f64,
}

/// PSNR of `a` against `b` (both I420, same size); identical pictures give 100 dB.
/// Returns `None` if the formats or sizes differ.
pub fn psnr_i420(a: &VideoFrame, b: &VideoFrame) -> Option<Psnr> {
    if a.format() != PixelFormat::I420
        || b.format() != PixelFormat::I420
        || a.width() != b.width()
        || a.height() != b.height()
    {
        return None;
    }
    let dims = PixelFormat::I420.plane_dims(a.width(), a.height());
    let mut sse = [0u64; 3];
    let mut count = [0u64; 3];
    for plane in 0..3 {
        let (row, rows) = dims[plane];
        let (sa, sb) = (a.stride(plane), b.stride(plane));
        let (pa, pb) = (a.plane(plane), b.plane(plane));
        for r in 0..rows {
            let ra = &pa[r * sa..r * sa + row];
            let rb = &pb[r * sb..r * sb + row];
            sse[plane] += ra
                .iter()
                .zip(rb)
                .map(|(&x, &y)| (i64::from(x) - i64::from(y)).pow(2) as u64)
                .sum::<u64>();
        }
        count[plane] = (row * rows) as u64;
    }
    let to_db = |sse: u64, n: u64| {
        if sse == 0 {
            100.0
        } else {
            (10.0 * (255.0f64 * 255.0 * n as f64 / sse as f64).log10()).min(100.0)
        }
    };
    Some(Psnr {
        y: to_db(sse[0], count[0]),
        u: to_db(sse[1], count[1]),
        v: to_db(sse[2], count[2]),
        combined: to_db(sse.iter().sum(), count.iter().sum()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_moves_and_is_deterministic() {
        let pool = BufferPool::new(4, 0, 0);
        let scene = SyntheticScene::new(64, 36);
        let now = Instant::now();
        let a = scene.frame(&pool, 5, now).unwrap();
        let b = scene.frame(&pool, 5, now).unwrap();
        let c = scene.frame(&pool, 6, now).unwrap();
        assert_eq!(psnr_i420(&a, &b).unwrap().combined, 100.0);
        let moved = psnr_i420(&a, &c).unwrap();
        assert!(moved.y < 30.0, "consecutive pictures must differ: {moved:?}");
    }

    #[test]
    fn psnr_matches_a_known_error() {
        let pool = BufferPool::new(4, 0, 0);
        let now = Instant::now();
        let a = VideoFrame::alloc(&pool, PixelFormat::I420, 16, 16, now, 0).unwrap();
        let mut b = VideoFrame::alloc(&pool, PixelFormat::I420, 16, 16, now, 0).unwrap();
        // Every luma sample off by 1: MSE 1, PSNR = 20 log10(255) = 48.13 dB.
        b.plane_mut(0).fill(1);
        let p = psnr_i420(&a, &b).unwrap();
        assert!((p.y - 48.13).abs() < 0.01, "{p:?}");
        assert_eq!(p.u, 100.0);
        let other = VideoFrame::alloc(&pool, PixelFormat::I420, 16, 18, now, 0).unwrap();
        assert!(psnr_i420(&a, &other).is_none());
    }
}
