//! The [`VideoEncoder`] trait, its configuration and output, and the book-keeping both
//! backends share (latency per frame, position in the stream, RTP timestamps).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::VideoCodecError;
use crate::pipeline::{BufferPool, PooledBuffer, Timestamped};
use crate::video::{PixelFormat, VideoFrame};

/// RTP clock rate of video (RFC 9628 uses 90 kHz for AV1 like every video payload).
pub const RTP_VIDEO_CLOCK_HZ: u64 = 90_000;

/// Which AV1 encoder implementation runs behind [`VideoEncoder`].
///
/// The default is [`EncoderBackend::Libaom`]: in real-time mode it emits each frame's
/// packet from the same `encode` call (no lag), which is what keeps capture-to-packet
/// latency of a 30 fps call under 50 ms on a 2-core machine. rav1e at its lowest-latency
/// settings reads four later input frames before emitting a frame (133 ms at 30 fps),
/// see `docs/av1.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum EncoderBackend {
    /// libaom (system `libaom`, `AOM_USAGE_REALTIME`, `lag_in_frames = 0`).
    #[default]
    Libaom,
    /// rav1e (pure Rust, speed preset 10, `low_latency`).
    Rav1e,
}

/// What the encoder is asked to produce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncoderConfig {
    /// Implementation to use.
    pub backend: EncoderBackend,
    /// Frame width in pixels (16..=[`MAX_DIMENSION`](crate::video::MAX_DIMENSION)).
    pub width: u32,
    /// Frame height in pixels (16..=[`MAX_DIMENSION`](crate::video::MAX_DIMENSION)).
    pub height: u32,
    /// Nominal frame rate (frames per second, 1..=240); drives rate control.
    pub frame_rate: u32,
    /// Target bitrate in bits per second (10 kbit/s ..= 100 Mbit/s).
    pub bitrate_bps: u32,
    /// Force a keyframe every this many frames; `None` sends keyframes only at the start,
    /// on request ([`VideoEncoder::request_keyframe`]) and on a resolution change, as
    /// libwebrtc does (the receiver asks with PLI/FIR when it needs one).
    pub keyframe_interval: Option<u32>,
    /// Encoder threads; 0 picks from the core count and frame size.
    pub threads: usize,
    /// Speed preset: rav1e 0..=10, libaom `cpu-used` 6..=10. `None` picks 10 for rav1e
    /// and, for libaom, libwebrtc's table (9 up to 640x360, 10 above).
    pub speed: Option<u8>,
}

impl EncoderConfig {
    /// A configuration for the default backend.
    pub fn new(width: u32, height: u32, frame_rate: u32, bitrate_bps: u32) -> Self {
        Self {
            backend: EncoderBackend::default(),
            width,
            height,
            frame_rate,
            bitrate_bps,
            keyframe_interval: None,
            threads: 0,
            speed: None,
        }
    }

    /// The same configuration with another backend.
    pub fn with_backend(mut self, backend: EncoderBackend) -> Self {
        self.backend = backend;
        self
    }

    /// Check every value against its documented range.
    pub fn validate(&self) -> Result<(), VideoCodecError> {
        check_size(self.width, self.height)?;
        if !(1..=240).contains(&self.frame_rate) {
            return Err(VideoCodecError::InvalidConfig(format!(
                "frame rate {} outside 1..=240",
                self.frame_rate
            )));
        }
        check_bitrate(self.bitrate_bps)?;
        if self.keyframe_interval == Some(0) {
            return Err(VideoCodecError::InvalidConfig("keyframe interval 0".into()));
        }
        if self.threads > 64 {
            return Err(VideoCodecError::InvalidConfig(format!("{} threads", self.threads)));
        }
        if let Some(speed) = self.speed {
            let range = match self.backend {
                EncoderBackend::Rav1e => 0..=10,
                EncoderBackend::Libaom => 6..=10,
            };
            if !range.contains(&speed) {
                return Err(VideoCodecError::InvalidConfig(format!(
                    "{:?} speed {speed} outside {range:?}",
                    self.backend
                )));
            }
        }
        Ok(())
    }

    /// Threads to use: the configured count, or else per backend.
    ///
    /// libaom follows libwebrtc's `NumberOfThreads`: 2 threads from 320x180 only with more
    /// than 2 cores, 4 from 640x360 only with more than 4 cores, otherwise 1. On the
    /// 2-core target a second libaom thread raised 540p throughput (115 -> 142 fps) but
    /// made paced 720p capture-to-packet latency worse (p50 20 -> 26 ms, p95 31 -> 47 ms)
    /// because capture, audio and network share the cores (docs/benchmarks.md).
    /// rav1e is below real time on 2 cores at any size, so it takes one thread per core
    /// the frame size can use (one below 640x360, two up to 720p, four above).
    pub(crate) fn effective_threads(&self) -> usize {
        if self.threads > 0 {
            return self.threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pixels = u64::from(self.width) * u64::from(self.height);
        match self.backend {
            EncoderBackend::Libaom => {
                if pixels >= 640 * 360 && cores > 4 {
                    4
                } else if pixels >= 320 * 180 && cores > 2 {
                    2
                } else {
                    1
                }
            }
            EncoderBackend::Rav1e => {
                let useful = if pixels < 640 * 360 {
                    1
                } else if pixels <= 1280 * 720 {
                    2
                } else {
                    4
                };
                useful.min(cores)
            }
        }
    }
}

pub(crate) fn check_size(width: u32, height: u32) -> Result<(), VideoCodecError> {
    let max = crate::video::MAX_DIMENSION;
    if !(16..=max).contains(&width) || !(16..=max).contains(&height) {
        return Err(VideoCodecError::InvalidConfig(format!(
            "size {width}x{height} outside 16..={max}"
        )));
    }
    Ok(())
}

pub(crate) fn check_bitrate(bps: u32) -> Result<(), VideoCodecError> {
    if !(10_000..=100_000_000).contains(&bps) {
        return Err(VideoCodecError::InvalidConfig(format!(
            "bitrate {bps} bit/s outside 10 kbit/s..=100 Mbit/s"
        )));
    }
    Ok(())
}

/// One encoded picture: an AV1 temporal unit in the low-overhead OBU format (temporal
/// delimiter first, every OBU with a size field; keyframes carry the sequence header), as
/// RTP packetisation (RFC 9628 / the AV1 RTP payload spec) consumes it.
#[derive(Debug)]
pub struct EncodedFrame {
    data: PooledBuffer<u8>,
    keyframe: bool,
    capture_time: Instant,
    rtp_timestamp: u32,
    frame_number: u64,
    input_sequence: u64,
    width: u32,
    height: u32,
    encode_latency: Duration,
    frames_held: u32,
}

impl EncodedFrame {
    /// The temporal unit's bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Whether this is a keyframe (decodable without any earlier frame).
    pub fn is_keyframe(&self) -> bool {
        self.keyframe
    }

    /// RTP timestamp (90 kHz) derived from the capture instant, counted from the first
    /// frame the encoder saw; the RTP layer adds its random offset.
    pub fn rtp_timestamp(&self) -> u32 {
        self.rtp_timestamp
    }

    /// Position in the encoded stream: 0 for the first packet the encoder emitted.
    pub fn frame_number(&self) -> u64 {
        self.frame_number
    }

    /// The [`VideoFrame::sequence`] of the picture this packet encodes.
    pub fn input_sequence(&self) -> u64 {
        self.input_sequence
    }

    /// Coded width.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Coded height.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Time from the `encode` call that received this picture to the packet being ready,
    /// including any time the encoder held the picture back waiting for later ones.
    pub fn encode_latency(&self) -> Duration {
        self.encode_latency
    }

    /// How many later pictures had been submitted before this packet came out (0 for
    /// libaom real-time; 4 for rav1e, see `docs/av1.md`).
    pub fn frames_held(&self) -> u32 {
        self.frames_held
    }
}

impl Timestamped for EncodedFrame {
    fn capture_time(&self) -> Instant {
        self.capture_time
    }
}

/// An AV1 encoder for real-time video.
///
/// ```no_run
/// use std::time::Instant;
/// use sottovoce::pipeline::BufferPool;
/// use sottovoce::video::{EncoderConfig, PixelFormat, VideoFrame, create_encoder};
///
/// let mut encoder = create_encoder(EncoderConfig::new(640, 360, 30, 800_000))?;
/// let pool = BufferPool::new(4, 4, 640 * 360 * 3 / 2);
/// let frame = VideoFrame::alloc(&pool, PixelFormat::I420, 640, 360, Instant::now(), 0)?;
/// encoder.request_keyframe();
/// encoder.encode(&frame, &mut |packet| println!("{} bytes", packet.data().len()))?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait VideoEncoder: Send {
    /// Which implementation this is.
    fn backend(&self) -> EncoderBackend;

    /// The configuration now in force (after any bitrate or resolution change).
    fn config(&self) -> &EncoderConfig;

    /// Encode one I420 picture; every packet that becomes ready is passed to `sink`, in
    /// stream order (none, one, or, after a reconfiguration, several).
    fn encode(
        &mut self,
        frame: &VideoFrame,
        sink: &mut dyn FnMut(EncodedFrame),
    ) -> Result<(), VideoCodecError>;

    /// Emit every picture still held inside the encoder. Encoding may continue afterwards;
    /// the next picture then starts a new sequence with a keyframe.
    fn flush(&mut self, sink: &mut dyn FnMut(EncodedFrame)) -> Result<(), VideoCodecError>;

    /// Make the next picture passed to [`encode`](Self::encode) a keyframe.
    fn request_keyframe(&mut self);

    /// Change the target bitrate (bits per second). libaom applies it from the next
    /// picture on; rav1e cannot retarget a running encoder, see the backend's docs.
    fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<(), VideoCodecError>;

    /// Change the coded size. Pictures passed to `encode` afterwards must have the new
    /// size; the first of them is coded as a keyframe (a new sequence header), after the
    /// encoder has emitted everything it held at the old size.
    fn set_resolution(&mut self, width: u32, height: u32) -> Result<(), VideoCodecError>;

    /// Pictures accepted whose packets have not been emitted yet.
    fn frames_in_flight(&self) -> usize;
}

/// A picture accepted by an encoder, waiting for its packet.
#[derive(Debug, Clone, Copy)]
struct Pending {
    sequence: u64,
    capture_time: Instant,
    submitted: Instant,
    submitted_index: u64,
    rtp_timestamp: u32,
}

/// Book-keeping shared by the backends: which pictures are inside the encoder, the
/// stream position, RTP timestamps, and the pool the packets are copied into.
#[derive(Debug)]
pub(crate) struct StreamBook {
    pending: VecDeque<Pending>,
    first_capture: Option<Instant>,
    last_ticks: Option<u64>,
    submitted: u64,
    emitted: u64,
    pool: BufferPool<u8>,
}

impl StreamBook {
    /// `packet_capacity` sizes the pooled packet buffers.
    pub(crate) fn new(packet_capacity: usize) -> Self {
        Self {
            pending: VecDeque::with_capacity(16),
            first_capture: None,
            last_ticks: None,
            submitted: 0,
            emitted: 0,
            pool: BufferPool::new(16, 8, packet_capacity),
        }
    }

    /// Check that `frame` is an I420 picture of the configured size.
    pub(crate) fn check_frame(
        frame: &VideoFrame,
        width: u32,
        height: u32,
    ) -> Result<(), VideoCodecError> {
        if frame.format() != PixelFormat::I420 {
            return Err(VideoCodecError::FrameMismatch(format!(
                "{:?} frame, the encoder takes I420",
                frame.format()
            )));
        }
        if frame.width() != width || frame.height() != height {
            return Err(VideoCodecError::FrameMismatch(format!(
                "{}x{} frame, the encoder is configured for {width}x{height}",
                frame.width(),
                frame.height()
            )));
        }
        Ok(())
    }

    /// Record that `frame` entered the encoder at `now`; returns its presentation time
    /// in 90 kHz ticks since the first picture, strictly increasing.
    pub(crate) fn admit(&mut self, frame: &VideoFrame, now: Instant) -> u64 {
        let capture = frame.capture_time();
        let first = *self.first_capture.get_or_insert(capture);
        let since_first = capture.saturating_duration_since(first).as_nanos()
            * u128::from(RTP_VIDEO_CLOCK_HZ)
            / 1_000_000_000;
        let mut ticks = u64::try_from(since_first).unwrap_or(u64::MAX);
        if let Some(last) = self.last_ticks {
            ticks = ticks.max(last + 1);
        }
        self.last_ticks = Some(ticks);
        self.pending.push_back(Pending {
            sequence: frame.sequence(),
            capture_time: capture,
            submitted: now,
            submitted_index: self.submitted,
            // RTP timestamps wrap modulo 2^32 by definition (RFC 3550).
            rtp_timestamp: ticks as u32,
        });
        self.submitted += 1;
        ticks
    }

    /// Forget the most recently admitted picture (the encoder refused it).
    pub(crate) fn retract_last(&mut self) {
        if self.pending.pop_back().is_some() {
            self.submitted -= 1;
        }
    }

    /// Turn the encoder's packet for the oldest pending picture into an [`EncodedFrame`].
    /// Both backends emit packets in input order (no reordering in low-latency mode).
    pub(crate) fn complete(
        &mut self,
        data: &[u8],
        keyframe: bool,
        width: u32,
        height: u32,
    ) -> Result<EncodedFrame, VideoCodecError> {
        let Some(p) = self.pending.pop_front() else {
            return Err(VideoCodecError::EncoderState(
                "encoder emitted a packet for no pending picture",
            ));
        };
        let frame = EncodedFrame {
            data: self.pool.acquire_copy(data),
            keyframe,
            capture_time: p.capture_time,
            rtp_timestamp: p.rtp_timestamp,
            frame_number: self.emitted,
            input_sequence: p.sequence,
            width,
            height,
            encode_latency: p.submitted.elapsed(),
            frames_held: u32::try_from(self.submitted - p.submitted_index - 1).unwrap_or(u32::MAX),
        };
        self.emitted += 1;
        Ok(frame)
    }

    /// Pictures admitted and not yet completed.
    pub(crate) fn in_flight(&self) -> usize {
        self.pending.len()
    }
}
