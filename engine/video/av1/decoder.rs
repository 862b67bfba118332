//! [`Av1Decoder`]: dav1d with one frame of delay, I420 output into the engine's pool,
//! typed errors for bad packets and recovery at the next keyframe.

use std::time::Instant;

use dav1d::{PixelLayout, PlanarImageComponent};

use super::{EncodedFrame, VideoCodecError};
use crate::pipeline::{BufferPool, PooledBuffer, Timestamped};
use crate::rtp::RtpError;
use crate::rtp::av1::inspect_temporal_unit;
use crate::video::{PixelFormat, VideoFrame};

/// Largest picture (in pixels) the decoder accepts: AV1 level 6.x's `MaxPicSize`
/// (8192x4352). Larger sequence headers are refused instead of allocating for them.
pub const MAX_DECODE_PIXELS: u32 = 35_651_584;

/// Decoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderConfig {
    /// dav1d worker threads (tile and post-filter work; with one frame of delay there is
    /// no frame threading). 0 picks the core count, at most 4.
    pub threads: u32,
    /// Decoded pictures kept ready in the output pool.
    pub pool_frames: usize,
}

impl Default for DecoderConfig {
    fn default() -> Self {
        Self { threads: 0, pool_frames: 8 }
    }
}

/// Counters of an [`Av1Decoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecoderStats {
    /// Packets accepted by dav1d.
    pub packets: u64,
    /// Pictures output.
    pub pictures: u64,
    /// Packets refused as malformed or failed inside dav1d.
    pub errors: u64,
    /// Inter packets dropped while waiting for a keyframe.
    pub skipped_awaiting_keyframe: u64,
    /// Times the decoder reset itself after an error.
    pub resets: u64,
}

/// A packet handed to dav1d, returned to the decoder's pool when dav1d releases it.
struct PacketBytes(PooledBuffer<u8>);

impl AsRef<[u8]> for PacketBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Capture instants of packets inside dav1d, found again by sequence number.
const TIMING_SLOTS: usize = 16;

/// AV1 decoder (dav1d, `max_frame_delay = 1`: each packet's picture is ready when
/// [`decode`](Self::decode) returns).
///
/// A packet that is not a well-formed temporal unit, or that dav1d fails on, gives an
/// error; the decoder then resets and drops inter packets
/// ([`VideoCodecError::AwaitingKeyframe`]) until a keyframe arrives, so corruption never
/// propagates into later pictures. It also waits for a keyframe at the start.
pub struct Av1Decoder {
    decoder: dav1d::Decoder,
    frame_pool: BufferPool<u8>,
    packet_pool: BufferPool<u8>,
    awaiting_keyframe: bool,
    timing: [(u64, Instant); TIMING_SLOTS],
    stats: DecoderStats,
}

impl std::fmt::Debug for Av1Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Av1Decoder")
            .field("awaiting_keyframe", &self.awaiting_keyframe)
            .field("stats", &self.stats)
            .finish()
    }
}

fn dav1d_error(call: &'static str, e: dav1d::Error) -> VideoCodecError {
    VideoCodecError::Dav1d { call, reason: e.to_string() }
}

impl Av1Decoder {
    /// Open dav1d with low-latency settings.
    pub fn new(config: DecoderConfig) -> Result<Self, VideoCodecError> {
        let threads = if config.threads == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get()).min(4) as u32
        } else {
            config.threads
        };
        let mut settings = dav1d::Settings::new();
        settings.set_n_threads(threads);
        settings.set_max_frame_delay(1);
        settings.set_frame_size_limit(MAX_DECODE_PIXELS);
        settings.set_apply_grain(true);
        let decoder =
            dav1d::Decoder::with_settings(&settings).map_err(|e| dav1d_error("open", e))?;
        let frames = config.pool_frames.max(1);
        Ok(Self {
            decoder,
            frame_pool: BufferPool::new(frames, 0, 0),
            packet_pool: BufferPool::new(8, 4, 64 * 1024),
            awaiting_keyframe: true,
            timing: [(u64::MAX, Instant::now()); TIMING_SLOTS],
            stats: DecoderStats::default(),
        })
    }

    /// The pool decoded pictures are allocated from (they return there when dropped).
    pub fn frame_pool(&self) -> &BufferPool<u8> {
        &self.frame_pool
    }

    /// Counters so far.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Whether the decoder drops inter packets until a keyframe.
    pub fn is_awaiting_keyframe(&self) -> bool {
        self.awaiting_keyframe
    }

    /// Decode an [`EncodedFrame`]; see [`decode`](Self::decode).
    pub fn decode_frame(
        &mut self,
        frame: &EncodedFrame,
        sink: &mut dyn FnMut(VideoFrame),
    ) -> Result<(), VideoCodecError> {
        self.decode(frame.data(), frame.capture_time(), frame.input_sequence(), sink)
    }

    /// Decode one temporal unit. The picture it shows (if any) is passed to `sink` as an
    /// I420 frame from the decoder's pool, carrying `capture_time` and `sequence`.
    pub fn decode(
        &mut self,
        packet: &[u8],
        capture_time: Instant,
        sequence: u64,
        sink: &mut dyn FnMut(VideoFrame),
    ) -> Result<(), VideoCodecError> {
        let info = match inspect_temporal_unit(packet) {
            Ok(info) => info,
            Err(e) => {
                self.fail();
                return Err(VideoCodecError::Malformed(match e {
                    RtpError::BadAv1(why) => why,
                    RtpError::Leb128Overflow => "OBU size above 2^32 - 1",
                    RtpError::Truncated { .. } => "OBU size field truncated",
                    _ => "malformed temporal unit",
                }));
            }
        };
        if self.awaiting_keyframe {
            if !info.is_random_access_point() {
                self.stats.skipped_awaiting_keyframe += 1;
                return Err(VideoCodecError::AwaitingKeyframe);
            }
            self.awaiting_keyframe = false;
        }
        self.timing[(sequence % TIMING_SLOTS as u64) as usize] = (sequence, capture_time);
        let bytes = PacketBytes(self.packet_pool.acquire_copy(packet));
        let timestamp = i64::try_from(sequence).unwrap_or(i64::MAX);
        let mut result = self.decoder.send_data(bytes, None, Some(timestamp), None);
        loop {
            match result {
                Ok(()) => break,
                // dav1d has pictures to hand out before it takes the rest of the data.
                Err(dav1d::Error::Again) => {
                    self.drain(sink)?;
                    result = self.decoder.send_pending_data();
                }
                Err(e) => {
                    self.fail();
                    return Err(dav1d_error("send_data", e));
                }
            }
        }
        self.stats.packets += 1;
        self.drain(sink)
    }

    /// Pass every picture dav1d has ready to `sink`.
    fn drain(&mut self, sink: &mut dyn FnMut(VideoFrame)) -> Result<(), VideoCodecError> {
        loop {
            match self.decoder.get_picture() {
                Ok(picture) => {
                    let frame = self.copy_out(&picture)?;
                    self.stats.pictures += 1;
                    sink(frame);
                }
                Err(dav1d::Error::Again) => return Ok(()),
                Err(e) => {
                    self.fail();
                    return Err(dav1d_error("get_picture", e));
                }
            }
        }
    }

    /// Copy a dav1d picture into a pooled, tightly packed I420 frame.
    fn copy_out(&mut self, picture: &dav1d::Picture) -> Result<VideoFrame, VideoCodecError> {
        if picture.pixel_layout() != PixelLayout::I420 || picture.bit_depth() != 8 {
            self.fail();
            return Err(VideoCodecError::UnsupportedFormat(format!(
                "{:?} at {} bits",
                picture.pixel_layout(),
                picture.bit_depth()
            )));
        }
        let sequence = picture.timestamp().and_then(|t| u64::try_from(t).ok()).unwrap_or(0);
        let slot = self.timing[(sequence % TIMING_SLOTS as u64) as usize];
        let capture_time = if slot.0 == sequence { slot.1 } else { Instant::now() };
        let (width, height) = (picture.width(), picture.height());
        let mut frame = VideoFrame::alloc(
            &self.frame_pool,
            PixelFormat::I420,
            width,
            height,
            capture_time,
            sequence,
        )
        .map_err(|e| VideoCodecError::UnsupportedFormat(e.to_string()))?;
        let components =
            [PlanarImageComponent::Y, PlanarImageComponent::U, PlanarImageComponent::V];
        for (index, component) in components.into_iter().enumerate() {
            let source = picture.plane(component);
            let source_stride = picture.stride(component) as usize;
            let row_bytes = frame.stride(index);
            let destination = frame.plane_mut(index);
            for (dst, src) in
                destination.chunks_exact_mut(row_bytes).zip(source.chunks(source_stride))
            {
                let n = row_bytes.min(src.len());
                dst[..n].copy_from_slice(&src[..n]);
            }
        }
        Ok(frame)
    }

    /// Reset after an error: forget all reference state and wait for a keyframe.
    fn fail(&mut self) {
        self.stats.errors += 1;
        if !self.awaiting_keyframe {
            self.decoder.flush();
            // Pictures dav1d still held belong to the broken sequence; drop them.
            while self.decoder.get_picture().is_ok() {}
            self.stats.resets += 1;
        }
        self.awaiting_keyframe = true;
    }
}
