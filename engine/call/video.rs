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
    use std::time::Duration;

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
