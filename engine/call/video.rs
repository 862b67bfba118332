//! The video track of a call: its configuration, the frames the receiver hands out, its
//! counters, and the RTP details shared by the send and receive threads (AV1 payload
//! inspection, RTX wrapping per RFC 4588).

use std::time::Instant;

use crate::session::frame_assembler::AssemblerConfig;
use crate::session::nack::NackConfig;
pub use crate::session::video::{
    AV1_PAYLOAD_TYPE, MAX_VIDEO_PAYLOAD, RTX_PAYLOAD_TYPE, TRANSPORT_SEQUENCE_EXTENSION_ID,
    VIDEO_CLOCK_RATE, VideoStats,
};
use crate::video::av1::EncoderConfig;
use crate::video::{PathPreference, VideoFrame};

/// Settings of the video track of a call.
#[derive(Debug, Clone)]
pub struct VideoTrackConfig {
    /// SSRC of the video this side sends.
    pub local_ssrc: u32,
    /// SSRC of the video the peer sends.
    pub remote_ssrc: u32,
    /// SSRC of this side's retransmissions.
    pub local_rtx_ssrc: u32,
    /// SSRC of the peer's retransmissions.
    pub remote_rtx_ssrc: u32,
    /// RTP payload type of AV1 (both sides must agree).
    pub payload_type: u8,
    /// RTP payload type of retransmissions (both sides must agree).
    pub rtx_payload_type: u8,
    /// What is encoded: coded size, frame rate, start bitrate, backend. Captured frames of
    /// any size and pixel format are converted (scaled, colour-converted) to this size.
    pub encoder: EncoderConfig,
    /// Where conversion runs ([`PathPreference::Auto`]: the GPU when one is usable for
    /// this size, else the CPU; the choice is in [`VideoStats::conversion_path`]).
    pub conversion: PathPreference,
    /// NACK timing at the receiver.
    pub nack: NackConfig,
    /// Frame assembly at the receiver (how long an incomplete frame is waited for).
    pub assembler: AssemblerConfig,
    /// Let the bandwidth estimate (transport-wide feedback, RFC 8888-style GCC) steer the
    /// encoder bitrate between [`min_bitrate_bps`](Self::min_bitrate_bps) and the
    /// configured bitrate.
    pub adapt_bitrate: bool,
    /// Lowest bitrate adaptation may choose.
    pub min_bitrate_bps: u32,
    /// dav1d worker threads for the received stream; 0 picks the core count (at most 4).
    /// Each thread costs memory and a stack: on a low-end phone with many participants,
    /// fewer is better (see `examples/call_memory.rs` and docs/benchmarks.md).
    pub decoder_threads: u32,
}

impl VideoTrackConfig {
    /// A track with default payload types, RTX SSRCs one above the media SSRCs, CPU or GPU
    /// conversion as available, default NACK and assembly timing, and bitrate adaptation
    /// on (down to 100 kbit/s).
    pub fn new(local_ssrc: u32, remote_ssrc: u32, encoder: EncoderConfig) -> Self {
        Self {
            local_ssrc,
            remote_ssrc,
            local_rtx_ssrc: local_ssrc.wrapping_add(1),
            remote_rtx_ssrc: remote_ssrc.wrapping_add(1),
            payload_type: AV1_PAYLOAD_TYPE,
            rtx_payload_type: RTX_PAYLOAD_TYPE,
            encoder,
            conversion: PathPreference::Auto,
            nack: NackConfig::default(),
            assembler: AssemblerConfig::default(),
            adapt_bitrate: true,
            min_bitrate_bps: 100_000,
            decoder_threads: 0,
        }
    }
}

/// A decoded picture handed out by [`Call::pull_video`](super::Call::pull_video).
#[derive(Debug)]
pub struct ReceivedVideo {
    /// The picture, I420 at the sender's coded size. Its
    /// [`capture_time`](crate::pipeline::Timestamped) is when its first packet arrived here
    /// (the sender's capture clock is not known to this side).
    pub frame: VideoFrame,
    /// RTP timestamp (90 kHz, sender's clock).
    pub rtp_timestamp: u32,
    /// Whether it was coded as a keyframe.
    pub keyframe: bool,
    /// When its last packet arrived (the frame became complete).
    pub completed_at: Instant,
    /// When decoding finished.
    pub decoded_at: Instant,
    /// When to show it so that it plays in sync with the audio captured at the same
    /// instant (from the RTCP sender reports of both streams), or `None` before both
    /// streams have sent reports. [`Call::pull_video`](super::Call::pull_video) holds a
    /// frame back until this instant.
    pub render_at: Option<Instant>,
}
