//! [`VideoFrame`]: one picture in I420, NV12, RGBA or BGRA, with strides and its capture
//! instant.

use std::time::Instant;

use crate::pipeline::{BufferPool, PooledBuffer, Timestamped};

/// A frame whose size, strides or buffer do not match what it claims. The text says which
/// check failed and with what numbers; it never holds pixel data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid video frame: {0}")]
pub struct VideoFrameError(String);

/// Largest width or height a frame may have (8K is 7680; this leaves room, and keeps
/// every size computation far from overflow).
pub const MAX_DIMENSION: u32 = 16_384;

/// Pixel layouts the engine handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelFormat {
    /// Planar Y, U, V; chroma at half width and half height (rounded up).
    I420,
    /// Y plane, then one plane of interleaved U,V at half width and half height.
    Nv12,
    /// Packed 8-bit R, G, B, A.
    Rgba,
    /// Packed 8-bit B, G, R, A (the usual camera and screen order on many platforms).
    Bgra,
}

impl PixelFormat {
    /// Number of planes.
    pub fn plane_count(self) -> usize {
        match self {
            PixelFormat::I420 => 3,
            PixelFormat::Nv12 => 2,
            PixelFormat::Rgba | PixelFormat::Bgra => 1,
        }
    }

    /// Minimum bytes per row and number of rows of each plane at `width` x `height`.
    pub fn plane_dims(self, width: u32, height: u32) -> [(usize, usize); 3] {
        let (w, h) = (width as usize, height as usize);
        let (cw, ch) = (w.div_ceil(2), h.div_ceil(2));
        match self {
            PixelFormat::I420 => [(w, h), (cw, ch), (cw, ch)],
            PixelFormat::Nv12 => [(w, h), (cw * 2, ch), (0, 0)],
            PixelFormat::Rgba | PixelFormat::Bgra => [(w * 4, h), (0, 0), (0, 0)],
        }
    }

    /// Bytes of a tightly packed frame.
    pub fn packed_len(self, width: u32, height: u32) -> usize {
        self.plane_dims(width, height).iter().map(|(row, rows)| row * rows).sum()
    }
}

/// Where one plane lives in the frame's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Plane {
    offset: usize,
    stride: usize,
    rows: usize,
}

/// One picture. Planes are stored one after another in a single (pooled) buffer, each row
/// `stride` bytes apart; strides may exceed the visible width.
#[derive(Debug)]
pub struct VideoFrame {
    format: PixelFormat,
    width: u32,
    height: u32,
    planes: [Plane; 3],
    data: PooledBuffer<u8>,
    capture_time: Instant,
    sequence: u64,
}

impl VideoFrame {
    /// Wrap `data` holding the planes one after another with the given strides (one per
    /// plane). Checks sizes, strides and buffer length.
    pub fn new(
        format: PixelFormat,
        width: u32,
        height: u32,
        strides: &[usize],
        data: PooledBuffer<u8>,
        capture_time: Instant,
        sequence: u64,
    ) -> Result<Self, VideoFrameError> {
        let planes = layout(format, width, height, strides)?;
        let needed = planes[format.plane_count() - 1].offset
            + planes[format.plane_count() - 1].stride * planes[format.plane_count() - 1].rows;
        if data.len() < needed {
            return Err(VideoFrameError(format!(
                "{format:?} {width}x{height} needs {needed} bytes, buffer has {}",
                data.len()
            )));
        }
        Ok(Self { format, width, height, planes, data, capture_time, sequence })
    }

    /// A tightly packed frame (strides equal to the row width) copied from `data`.
    pub fn from_packed(
        format: PixelFormat,
        width: u32,
        height: u32,
        data: &[u8],
        capture_time: Instant,
        sequence: u64,
    ) -> Result<Self, VideoFrameError> {
        let strides = packed_strides(format, width, height);
        let expected = format.packed_len(width, height);
        if data.len() != expected {
            return Err(VideoFrameError(format!(
                "{format:?} {width}x{height} packed is {expected} bytes, got {}",
                data.len()
            )));
        }
        Self::new(
            format,
            width,
            height,
            &strides[..format.plane_count()],
            PooledBuffer::detached(data.to_vec()),
            capture_time,
            sequence,
        )
    }

    /// A zeroed, tightly packed frame taken from `pool`.
    pub fn alloc(
        pool: &BufferPool<u8>,
        format: PixelFormat,
        width: u32,
        height: u32,
        capture_time: Instant,
        sequence: u64,
    ) -> Result<Self, VideoFrameError> {
        check_size(width, height)?;
        let strides = packed_strides(format, width, height);
        let data = pool.acquire(format.packed_len(width, height));
        Self::new(
            format,
            width,
            height,
            &strides[..format.plane_count()],
            data,
            capture_time,
            sequence,
        )
    }

    /// Pixel layout.
    pub fn format(&self) -> PixelFormat {
        self.format
    }

    /// Visible width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Visible height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Bytes from one row of plane `index` to the next.
    pub fn stride(&self, index: usize) -> usize {
        self.planes[index].stride
    }

    /// Plane `index` (all rows, including stride padding). Panics if `index` is not below
    /// [`PixelFormat::plane_count`], like slice indexing.
    pub fn plane(&self, index: usize) -> &[u8] {
        assert!(index < self.format.plane_count(), "plane {index} of {:?}", self.format);
        let p = self.planes[index];
        &self.data[p.offset..p.offset + p.stride * p.rows]
    }

    /// Plane `index`, writable.
    pub fn plane_mut(&mut self, index: usize) -> &mut [u8] {
        assert!(index < self.format.plane_count(), "plane {index} of {:?}", self.format);
        let p = self.planes[index];
        &mut self.data[p.offset..p.offset + p.stride * p.rows]
    }

    /// Sequence number given by the producer.
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Replace the capture instant.
    pub fn set_capture_time(&mut self, t: Instant) {
        self.capture_time = t;
    }
}

impl Timestamped for VideoFrame {
    fn capture_time(&self) -> Instant {
        self.capture_time
    }
}

fn check_size(width: u32, height: u32) -> Result<(), VideoFrameError> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(VideoFrameError(format!("size {width}x{height} outside 1..={MAX_DIMENSION}")));
    }
    Ok(())
}

fn packed_strides(format: PixelFormat, width: u32, height: u32) -> [usize; 3] {
    let dims = format.plane_dims(width, height);
    [dims[0].0, dims[1].0, dims[2].0]
}

fn layout(
    format: PixelFormat,
    width: u32,
    height: u32,
    strides: &[usize],
) -> Result<[Plane; 3], VideoFrameError> {
    check_size(width, height)?;
    let count = format.plane_count();
    if strides.len() != count {
        return Err(VideoFrameError(format!(
            "{format:?} has {count} planes, got {} strides",
            strides.len()
        )));
    }
    let dims = format.plane_dims(width, height);
    let mut planes = [Plane::default(); 3];
    let mut offset = 0usize;
    for i in 0..count {
        let (row, rows) = dims[i];
        if strides[i] < row || strides[i] > row + 4096 {
            return Err(VideoFrameError(format!(
                "plane {i} stride {} outside {row}..={}",
                strides[i],
                row + 4096
            )));
        }
        planes[i] = Plane { offset, stride: strides[i], rows };
        offset += strides[i] * rows;
    }
    Ok(planes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_sizes_round_chroma_up() {
        // 5x3 luma + two 3x2 chroma planes = 15 + 12 = 27 bytes; 26 is one short.
        let short = VideoFrame::from_packed(PixelFormat::I420, 5, 3, &[0; 26], Instant::now(), 0);
        assert!(short.is_err());
        let f =
            VideoFrame::from_packed(PixelFormat::I420, 5, 3, &[0; 27], Instant::now(), 0).unwrap();
        assert_eq!(f.plane(1).len(), 6);
        assert_eq!(f.stride(2), 3);
    }

    #[test]
    fn padded_strides_are_accepted_and_short_buffers_refused() {
        let strides = [64, 32, 32];
        let ok = VideoFrame::new(
            PixelFormat::I420,
            50,
            10,
            &strides,
            PooledBuffer::detached(vec![0; 64 * 10 + 32 * 5 * 2]),
            Instant::now(),
            0,
        )
        .unwrap();
        assert_eq!(ok.plane(0).len(), 640);
        let short = VideoFrame::new(
            PixelFormat::I420,
            50,
            10,
            &strides,
            PooledBuffer::detached(vec![0; 64 * 10]),
            Instant::now(),
            0,
        );
        assert!(short.is_err());
        let narrow = VideoFrame::new(
            PixelFormat::Rgba,
            50,
            10,
            &[199],
            PooledBuffer::detached(vec![0; 4000]),
            Instant::now(),
            0,
        );
        assert!(narrow.is_err());
    }

    #[test]
    fn zero_and_oversized_frames_are_refused() {
        let pool = BufferPool::new(1, 0, 0);
        let now = Instant::now();
        assert!(VideoFrame::alloc(&pool, PixelFormat::Nv12, 0, 10, now, 0).is_err());
        assert!(VideoFrame::alloc(&pool, PixelFormat::Nv12, 10, 20_000, now, 0).is_err());
        let f = VideoFrame::alloc(&pool, PixelFormat::Nv12, 7, 7, now, 0).unwrap();
        assert_eq!(f.plane(1).len(), 8 * 4);
    }
}
