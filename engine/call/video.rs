//! The video track of a call: its configuration, the frames the receiver hands out, its
//! counters, and the RTP details shared by the send and receive threads (AV1 payload
//! inspection, RTX wrapping per RFC 4588).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::frame_assembler::AssemblerConfig;
use super::nack::NackConfig;
use crate::pipeline::LatencyHistogram;
use crate::video::av1::EncoderConfig;
use crate::video::{PathPreference, VideoFrame};

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
/// (draft-holmer-rmcat-transport-wide-cc-extensions), used for bandwidth estimation.
pub const TRANSPORT_SEQUENCE_EXTENSION_ID: u8 = 3;

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

/// Counters of the video track.
#[derive(Debug, Clone, Default)]
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
    /// NACKed packets not retransmitted because repair traffic was over its budget (30 %
    /// of the target bitrate).
    pub retransmissions_skipped: u64,
    /// Sequence numbers the peer NACKed.
    pub nacked_by_peer: u64,
    /// Keyframe requests (PLI/FIR) from the peer, plus local [`request_keyframe`] calls.
    ///
    /// [`request_keyframe`]: super::Call::request_keyframe
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
    pub retransmissions_skipped: AtomicU64,
    pub nacked_by_peer: AtomicU64,
    pub keyframe_requests_received: AtomicU64,
    pub encoder_bitrate_bps: AtomicU64,
    pub estimated_bandwidth_bps: AtomicU64,
    pub gpu_conversion: AtomicU64,
    pub packets_received: AtomicU64,
    pub bytes_received: AtomicU64,
    pub retransmissions_received: AtomicU64,
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
            retransmissions_skipped: load(&self.retransmissions_skipped),
            nacked_by_peer: load(&self.nacked_by_peer),
            keyframe_requests_received: load(&self.keyframe_requests_received),
            encoder_bitrate_bps: load(&self.encoder_bitrate_bps),
            estimated_bandwidth_bps: load(&self.estimated_bandwidth_bps),
            conversion_path: if load(&self.gpu_conversion) != 0 { "gpu" } else { "cpu" },
            packets_received: load(&self.packets_received),
            bytes_received: load(&self.bytes_received),
            retransmissions_received: load(&self.retransmissions_received),
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

/// What the receive side needs from the first bytes of an AV1 RTP payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Av1PayloadInfo {
    /// The packet starts a temporal unit (frame).
    pub starts_frame: bool,
    /// The N bit: the packet starts a coded video sequence (a keyframe).
    pub keyframe: bool,
}

/// OBU types that open a temporal unit once the temporal delimiter is dropped (the
/// packetiser drops it, RFC 9628 / AV1 RTP 5): sequence header, frame header, frame.
const FRAME_OPENING_OBUS: [u8; 3] = [1, 3, 6];

/// Reads the aggregation header and the first OBU header of an AV1 RTP payload. A
/// packet starts a frame when its first element is not a continuation (Z = 0) and is an
/// OBU that opens a temporal unit. Libaom in real-time mode puts one frame in each
/// temporal unit, so this is exact for our sender. `None` for a payload too short to
/// tell.
pub(crate) fn inspect_av1_payload(payload: &[u8]) -> Option<Av1PayloadInfo> {
    let (&aggregation, rest) = payload.split_first()?;
    let continuation = aggregation & 0x80 != 0;
    let keyframe = aggregation & 0x08 != 0;
    let element_count = (aggregation >> 4) & 0x03;
    // With W = 0 every element is preceded by its LEB128 length; with W != 0 the last one
    // is not (and with W = 1 the only element has none).
    let first = if element_count == 1 {
        rest
    } else {
        let mut at = 0;
        loop {
            let byte = *rest.get(at)?;
            at += 1;
            if byte & 0x80 == 0 || at >= 8 {
                break;
            }
        }
        rest.get(at..)?
    };
    let obu_type = (first.first()? >> 3) & 0x0F;
    Some(Av1PayloadInfo {
        starts_frame: !continuation && FRAME_OPENING_OBUS.contains(&obu_type),
        keyframe,
    })
}

/// The 90 kHz RTP timestamp of `at`, counted from `origin` and offset by `base`.
pub(crate) fn video_timestamp(base: u32, origin: Instant, at: Instant) -> u32 {
    let ticks =
        at.saturating_duration_since(origin).as_micros() * u128::from(VIDEO_CLOCK_RATE) / 1_000_000;
    base.wrapping_add(ticks as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rtp::av1::Av1Packetizer;

    #[test]
    fn packetised_frames_are_recognised_by_their_first_packet() {
        // A real temporal unit: temporal delimiter, sequence header, frame (sizes set).
        let mut unit = vec![0x12, 0x00]; // TD, size 0
        unit.extend_from_slice(&[0x0A, 0x03, 0x00, 0x00, 0x00]); // sequence header, 3 bytes
        unit.push(0x32); // OBU_FRAME with size field
        unit.extend_from_slice(&[0x90, 0x14]); // LEB128 2576
        unit.extend((0..2576).map(|i| i as u8));
        let mut packetizer = Av1Packetizer::new(MAX_VIDEO_PAYLOAD).unwrap();
        let mut infos = Vec::new();
        packetizer
            .packetize(&unit, true, |payload, _last| infos.push(inspect_av1_payload(payload)))
            .unwrap();
        assert!(infos.len() >= 3);
        assert_eq!(infos[0], Some(Av1PayloadInfo { starts_frame: true, keyframe: true }));
        for info in &infos[1..] {
            assert_eq!(info.map(|i| i.starts_frame), Some(false));
        }

        // A delta frame alone: starts a frame, no N bit.
        let mut delta = vec![0x32, 0x04, 1, 2, 3, 4];
        delta.insert(0, 0x00);
        delta.insert(0, 0x12);
        let mut first = None;
        packetizer
            .packetize(&delta, false, |payload, _| {
                first.get_or_insert(inspect_av1_payload(payload));
            })
            .unwrap();
        assert_eq!(first.flatten(), Some(Av1PayloadInfo { starts_frame: true, keyframe: false }));
    }

    #[test]
    fn truncated_payloads_are_not_guessed() {
        assert_eq!(inspect_av1_payload(&[]), None);
        assert_eq!(inspect_av1_payload(&[0x00]), None);
        assert_eq!(inspect_av1_payload(&[0x00, 0x85]), None);
    }

    #[test]
    fn video_timestamps_count_at_90_khz_and_wrap() {
        let t0 = Instant::now();
        assert_eq!(video_timestamp(10, t0, t0 + Duration::from_millis(1000)), 90_010);
        assert_eq!(video_timestamp(u32::MAX, t0, t0 + Duration::from_micros(100)), 8);
    }
}
