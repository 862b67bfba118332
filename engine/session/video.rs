//! The video streams' identities, wire constants and counters: what the sans-IO session
//! and the runtime's video threads share (atomics only).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::pipeline::LatencyHistogram;

/// The SSRCs and payload types of the video streams.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VideoIds {
    pub local: u32,
    pub remote: u32,
    pub local_rtx: u32,
    pub remote_rtx: u32,
    pub pt: u8,
    pub rtx_pt: u8,
}

/// Default RTP payload type of AV1 (dynamic range; 45 as in libwebrtc).
pub const AV1_PAYLOAD_TYPE: u8 = 45;

/// Default RTP payload type of AV1 retransmissions (RFC 4588 `rtx`, `apt=45`).
pub const RTX_PAYLOAD_TYPE: u8 = 46;

/// RTP clock rate of video (RFC 3551 and the AV1 RTP specification).
pub const VIDEO_CLOCK_RATE: u32 = 90_000;

/// Largest AV1 payload per packet. A datagram stays under 1200 bytes (safe through
/// tunnels and IPv6 without fragmentation): 12 bytes of RTP header, 12 of header
/// extensions (transport-wide sequence number and key epoch), 2 of RTX original sequence
/// number and 16 of SRTP tag are added.
pub const MAX_VIDEO_PAYLOAD: usize = 1200 - 12 - 12 - 2 - 16;

/// RFC 8285 one-byte extension id carrying the transport-wide sequence number
/// (draft-holmer-rmcat-transport-wide-cc-extensions), used for bandwidth estimation; audio
/// and video packets carry it (`shared::TransportWide` draws the numbers).
pub const TRANSPORT_SEQUENCE_EXTENSION_ID: u8 = 3;

/// Counters of the video track.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct VideoStats {
    /// Frames passed to `push_video`.
    pub frames_captured: u64,
    /// Captured frames dropped before encoding because a newer one arrived first (the
    /// encoder was busy): newest wins.
    pub frames_dropped_before_encode: u64,
    /// Frames the encoder produced.
    pub frames_encoded: u64,
    /// Of which keyframes.
    pub keyframes_encoded: u64,
    /// RTP packets sent (original, not retransmissions).
    pub packets_sent: u64,
    /// SRTP bytes sent (originals and retransmissions).
    pub bytes_sent: u64,
    /// Retransmissions (RTX) sent in answer to NACKs.
    pub retransmissions_sent: u64,
    /// Padding-only packets sent in bandwidth probe clusters (on the RTX stream; not
    /// counted as retransmissions).
    pub probe_packets_sent: u64,
    /// Probe clusters whose result came back (what the link delivered of the burst).
    pub probe_results: u64,
    /// NACKed packets not retransmitted because repair traffic was over its budget (30 %
    /// of the target bitrate).
    pub retransmissions_skipped: u64,
    /// Packets dropped because the pacer queue was full (the sender produced far more
    /// than the paced rate drains).
    pub pacer_drops: u64,
    /// Longest time a packet waited in the pacer.
    pub pacer_delay_max: Duration,
    /// Sequence numbers the peer NACKed.
    pub nacked_by_peer: u64,
    /// Keyframe requests (PLI/FIR) from the peer, plus local [`request_keyframe`] calls.
    ///
    /// [`request_keyframe`]: crate::call::Call::request_keyframe
    pub keyframe_requests_received: u64,
    /// Bitrate the encoder currently targets (bits per second).
    pub encoder_bitrate_bps: u64,
    /// Latest bandwidth estimate (bits per second; the configured bitrate until feedback).
    pub estimated_bandwidth_bps: u64,
    /// Where conversion runs (`"gpu"` or `"cpu"`).
    pub conversion_path: &'static str,
    /// Authenticated RTP packets of the peer's video received (originals and RTX).
    pub packets_received: u64,
    /// SRTP bytes of those packets.
    pub bytes_received: u64,
    /// Retransmissions received.
    pub retransmissions_received: u64,
    /// Padding-only packets received (the peer's bandwidth probes: they carry no media,
    /// only their transport-wide sequence number matters).
    pub padding_received: u64,
    /// Frames assembled complete and decodable.
    pub frames_assembled: u64,
    /// Frames decoded and handed to the display queue.
    pub frames_decoded: u64,
    /// Decoded frames dropped from the display queue because the app did not pull them in
    /// time (newest wins).
    pub frames_dropped_before_display: u64,
    /// Frames given up incomplete or undecodable (waiting for a keyframe).
    pub frames_lost: u64,
    /// Temporal units the decoder rejected.
    pub decode_errors: u64,
    /// Sequence numbers this side NACKed.
    pub nacks_sent: u64,
    /// Missing packets given up (no retransmission in time).
    pub packets_given_up: u64,
    /// PLI/FIR sent to the peer.
    pub keyframe_requests_sent: u64,
    /// Freezes (an inter-frame interval over `max(3 x average, average + 150 ms)`).
    pub freezes: u64,
    /// Total frozen time.
    pub frozen: Duration,
    /// Audio minus video latency measured from the sender reports (ms; positive: audio
    /// lags and video is held back), once both streams have reported.
    pub av_offset_ms: Option<f64>,
}

/// Counters and stage timings shared by the video threads and the network thread (atomics
/// only).
#[derive(Default)]
pub(crate) struct VideoShared {
    pub frames_captured: AtomicU64,
    pub frames_dropped_before_encode: AtomicU64,
    pub frames_encoded: AtomicU64,
    pub keyframes_encoded: AtomicU64,
    pub packets_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub retransmissions_sent: AtomicU64,
    pub probe_packets_sent: AtomicU64,
    pub probe_results: AtomicU64,
    pub retransmissions_skipped: AtomicU64,
    pub pacer_drops: AtomicU64,
    pub pacer_delay_max_us: AtomicU64,
    pub nacked_by_peer: AtomicU64,
    pub keyframe_requests_received: AtomicU64,
    pub encoder_bitrate_bps: AtomicU64,
    pub estimated_bandwidth_bps: AtomicU64,
    pub gpu_conversion: AtomicU64,
    pub packets_received: AtomicU64,
    pub bytes_received: AtomicU64,
    pub retransmissions_received: AtomicU64,
    pub padding_received: AtomicU64,
    pub frames_assembled: AtomicU64,
    pub frames_decoded: AtomicU64,
    pub frames_dropped_before_display: AtomicU64,
    pub frames_lost: AtomicU64,
    pub decode_errors: AtomicU64,
    pub nacks_sent: AtomicU64,
    pub packets_given_up: AtomicU64,
    pub keyframe_requests_sent: AtomicU64,
    pub freezes: AtomicU64,
    pub frozen_us: AtomicU64,
    /// `f64` bits of the audio-minus-video offset; `u64::MAX` when unknown.
    pub av_offset_ms: AtomicU64,
    pub convert: LatencyHistogram,
    pub encode: LatencyHistogram,
    pub send: LatencyHistogram,
    /// Time packets waited in the pacer.
    pub pacer: LatencyHistogram,
    pub assemble: LatencyHistogram,
    pub decode: LatencyHistogram,
}

impl VideoShared {
    pub(crate) fn new() -> Self {
        let shared = Self::default();
        shared.av_offset_ms.store(u64::MAX, Ordering::Relaxed);
        shared
    }

    pub(crate) fn snapshot(&self) -> VideoStats {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let offset = load(&self.av_offset_ms);
        VideoStats {
            frames_captured: load(&self.frames_captured),
            frames_dropped_before_encode: load(&self.frames_dropped_before_encode),
            frames_encoded: load(&self.frames_encoded),
            keyframes_encoded: load(&self.keyframes_encoded),
            packets_sent: load(&self.packets_sent),
            bytes_sent: load(&self.bytes_sent),
            retransmissions_sent: load(&self.retransmissions_sent),
            probe_packets_sent: load(&self.probe_packets_sent),
            probe_results: load(&self.probe_results),
            retransmissions_skipped: load(&self.retransmissions_skipped),
            pacer_drops: load(&self.pacer_drops),
            pacer_delay_max: Duration::from_micros(load(&self.pacer_delay_max_us)),
            nacked_by_peer: load(&self.nacked_by_peer),
            keyframe_requests_received: load(&self.keyframe_requests_received),
            encoder_bitrate_bps: load(&self.encoder_bitrate_bps),
            estimated_bandwidth_bps: load(&self.estimated_bandwidth_bps),
            conversion_path: if load(&self.gpu_conversion) != 0 { "gpu" } else { "cpu" },
            packets_received: load(&self.packets_received),
            bytes_received: load(&self.bytes_received),
            retransmissions_received: load(&self.retransmissions_received),
            padding_received: load(&self.padding_received),
            frames_assembled: load(&self.frames_assembled),
            frames_decoded: load(&self.frames_decoded),
            frames_dropped_before_display: load(&self.frames_dropped_before_display),
            frames_lost: load(&self.frames_lost),
            decode_errors: load(&self.decode_errors),
            nacks_sent: load(&self.nacks_sent),
            packets_given_up: load(&self.packets_given_up),
            keyframe_requests_sent: load(&self.keyframe_requests_sent),
            freezes: load(&self.freezes),
            frozen: Duration::from_micros(load(&self.frozen_us)),
            av_offset_ms: (offset != u64::MAX).then(|| f64::from_bits(offset)),
        }
    }
}
