//! The video send thread of a call: captured frames -> conversion (scale and colour, GPU
//! or CPU) -> AV1 encoder -> RTP packetiser -> SRTP -> transport, plus retransmissions
//! (RTX, RFC 4588) for NACKed packets, keyframes on PLI/FIR, and the bandwidth estimator
//! steering the encoder bitrate from transport-wide feedback.
//!
//! Captured frames reach it through a queue that keeps only the newest frames (the
//! capture side never waits; a frame the encoder had no time for is dropped and counted).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::video::video_timestamp;
use crate::adapt::{BandwidthEstimator, BweConfig, PacketFeedback};
use crate::pipeline::{FrameReceiver, Timestamped};
use crate::rtp::av1::Av1Packetizer;
use crate::rtp::{HeaderExtension, RtpHeader};
use crate::session::nack::RetransmissionHistory;
use crate::session::shared::{
    EPOCH_EXTENSION_ID, EpochMailbox, SenderClock, SenderMailbox, Shared,
};
use crate::session::video::{
    MAX_VIDEO_PAYLOAD, TRANSPORT_SEQUENCE_EXTENSION_ID, VideoIds, VideoShared,
};
use crate::srtp::SrtpSession;
use crate::transport::{MAX_DATAGRAM, PacketSend, TransportError};
use crate::video::av1::{EncodedFrame, VideoEncoder};
use crate::video::{PixelFormat, VideoConverter, VideoFrame};

/// Sent packets kept for retransmission (about 3 s at 1 Mbit/s).
const HISTORY: usize = 1024;

/// Oldest packet worth retransmitting: later than this the receiver has given up.
const HISTORY_AGE: Duration = Duration::from_millis(1000);

/// Send records kept for matching transport-wide feedback.
const SEND_RECORDS: usize = 4096;

/// How long the thread waits for a frame before serving NACKs and feedback again.
const POLL: Duration = Duration::from_millis(5);

/// Highest bitrate a call starts at before the estimator has seen the path; it ramps up
/// from there (libwebrtc starts at 300 kbit/s). Starting at a high configured bitrate over
/// a thin path would overflow the bottleneck with the first keyframe.
const START_BITRATE_BPS: u32 = 300_000;

/// Packets leave at this multiple of the target rate (libwebrtc's pacing factor), so a
/// keyframe is spread over a few frame intervals instead of hitting the bottleneck queue
/// in one burst.
const PACING_FACTOR: f64 = 2.5;

/// Sending may run ahead of the pacing schedule by this much (a small burst is harmless).
const PACING_BURST: Duration = Duration::from_millis(5);

/// Keyframes requested by the peer are sent at most this often: a keyframe costs several
/// frames' worth of bits, and on a congested path back-to-back keyframes only deepen the
/// congestion that lost the previous one (the request stays pending until then).
const MIN_KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// Retransmissions may use at most this share of the target bitrate: on a congested path
/// unbounded repair traffic would deepen the congestion that caused the loss (a burst of
/// half a second's worth plus two packets is allowed).
const RTX_SHARE: f64 = 0.3;

/// Bitrate kept for audio and RTCP when the estimate is split (Opus at 32 kbit/s plus
/// RTP/SRTP/UDP overhead and reports).
const AUDIO_ALLOWANCE_BPS: u64 = 50_000;

/// One sent video packet kept for retransmission.
struct SentPacket {
    seq: u16,
    timestamp: u32,
    marker: bool,
    len: usize,
    payload: Box<[u8]>,
}

pub(crate) struct VideoSendThread {
    pub frames: FrameReceiver<VideoFrame>,
    pub converter: VideoConverter,
    pub encoder: Box<dyn VideoEncoder>,
    pub srtp: SrtpSession,
    pub sender: Arc<dyn PacketSend>,
    pub shared: Arc<Shared>,
    pub stats: Arc<VideoShared>,
    pub mailbox: Arc<SenderMailbox>,
    pub clock: Arc<SenderClock>,
    pub ids: VideoIds,
    pub origin: Instant,
    pub adapt_bitrate: bool,
    pub min_bitrate_bps: u32,
    pub new_keys: Arc<EpochMailbox>,
}

/// The mutable state of the running thread (built once, reused for every frame).
struct SendState {
    packetizer: Av1Packetizer,
    history: RetransmissionHistory<u16>,
    sent: Vec<SentPacket>,
    send_records: Vec<(u16, Instant, u32)>,
    bwe: BandwidthEstimator,
    max_bitrate: u32,
    bitrate: u32,
    timestamp_base: u32,
    seq: u16,
    rtx_seq: u16,
    transport_seq: u16,
    buf: Box<[u8]>,
    payloads: Vec<(usize, usize, bool)>,
    unit: Vec<u8>,
    feedback: Vec<PacketFeedback>,
    next_send_at: Instant,
    last_keyframe: Option<Instant>,
    /// Retransmission budget in bytes (token bucket refilled at `RTX_SHARE` x bitrate).
    rtx_budget: f64,
    rtx_refilled: Instant,
    epoch: u8,
}

impl VideoSendThread {
    pub fn run(mut self) {
        let configured = self.encoder.config().bitrate_bps;
        let start = if self.adapt_bitrate { configured.min(START_BITRATE_BPS) } else { configured };
        if start != configured && self.encoder.set_bitrate(start).is_err() {
            return;
        }
        let mix = u64::from(self.ids.local).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut state = SendState {
            packetizer: match Av1Packetizer::new(MAX_VIDEO_PAYLOAD) {
                Ok(p) => p,
                Err(_) => return,
            },
            history: RetransmissionHistory::new(HISTORY, HISTORY_AGE),
            sent: (0..HISTORY)
                .map(|_| SentPacket {
                    seq: 0,
                    timestamp: 0,
                    marker: false,
                    len: 0,
                    payload: vec![0u8; MAX_VIDEO_PAYLOAD].into_boxed_slice(),
                })
                .collect(),
            send_records: vec![(0, self.origin, 0); SEND_RECORDS],
            bwe: BandwidthEstimator::new(BweConfig {
                start_bps: u64::from(start) + AUDIO_ALLOWANCE_BPS,
                min_bps: u64::from(self.min_bitrate_bps) + AUDIO_ALLOWANCE_BPS,
                max_bps: u64::from(configured) * 2 + AUDIO_ALLOWANCE_BPS,
                ..BweConfig::default()
            }),
            max_bitrate: configured,
            bitrate: start,
            timestamp_base: (mix >> 16) as u32,
            seq: (mix >> 48) as u16,
            rtx_seq: (mix >> 32) as u16,
            transport_seq: 0,
            buf: vec![0u8; MAX_DATAGRAM].into_boxed_slice(),
            payloads: Vec::with_capacity(64),
            unit: Vec::with_capacity(64 * 1024),
            feedback: Vec::with_capacity(512),
            next_send_at: Instant::now(),
            last_keyframe: None,
            rtx_budget: 0.0,
            rtx_refilled: Instant::now(),
            epoch: 0,
        };
        self.stats.encoder_bitrate_bps.store(u64::from(start), Ordering::Relaxed);
        self.stats.estimated_bandwidth_bps.store(u64::from(start), Ordering::Relaxed);
        while !self.shared.stopping() && self.shared.ended().is_none() {
            let frame = self.frames.recv_timeout(POLL);
            self.serve_mailbox(&mut state);
            if let Some(frame) = frame {
                self.send_frame(frame, &mut state);
            }
        }
    }

    /// Retransmissions, keyframe requests and bandwidth feedback from the network thread.
    fn serve_mailbox(&mut self, state: &mut SendState) {
        if let Some(rtt) = self.shared.rtt() {
            state.history.set_rtt(rtt);
            state.bwe.set_rtt(rtt);
        }
        let keyframe_due = state.last_keyframe.is_none_or(|t| t.elapsed() >= MIN_KEYFRAME_INTERVAL);
        if keyframe_due && self.mailbox.keyframe.swap(false, Ordering::AcqRel) {
            self.encoder.request_keyframe();
        }
        while let Some(seq) = self.mailbox.nacks.pop() {
            self.retransmit(seq, state);
        }
        while let Some(feedback) = self.mailbox.feedback.pop() {
            let now = Instant::now();
            state.feedback.clear();
            let arrivals: Vec<(u16, i64)> = feedback.arrivals().collect();
            let mut received = arrivals.iter().peekable();
            for i in 0..feedback.statuses.len() {
                let seq = feedback.base_sequence.wrapping_add(i as u16);
                let record = state.send_records[usize::from(seq) % SEND_RECORDS];
                let arrival = match received.peek() {
                    Some(&&(s, us)) if s == seq => {
                        received.next();
                        Some(self.origin + Duration::from_micros(us.max(0) as u64))
                    }
                    _ => None,
                };
                if record.0 != seq || record.2 == 0 {
                    continue;
                }
                state.feedback.push(PacketFeedback {
                    seq,
                    send_time: record.1,
                    arrival_time: arrival,
                    size: record.2 as usize,
                });
            }
            if state.feedback.is_empty() {
                continue;
            }
            let target = state.bwe.on_feedback(now, &state.feedback);
            self.stats.estimated_bandwidth_bps.store(target, Ordering::Relaxed);
            if self.adapt_bitrate {
                let video = target
                    .saturating_sub(AUDIO_ALLOWANCE_BPS)
                    .clamp(u64::from(self.min_bitrate_bps), u64::from(state.max_bitrate))
                    as u32;
                // Retarget on a 5 % change: every retarget costs the encoder's rate
                // control a little stability.
                if video.abs_diff(state.bitrate) * 20 > state.bitrate
                    && self.encoder.set_bitrate(video).is_ok()
                {
                    state.bitrate = video;
                    self.stats.encoder_bitrate_bps.store(u64::from(video), Ordering::Relaxed);
                }
            }
        }
    }

    fn send_frame(&mut self, frame: VideoFrame, state: &mut SendState) {
        // Newest wins: anything that queued up behind this frame is fresher.
        let mut frame = frame;
        while let Some(newer) = self.frames.try_recv() {
            self.stats.frames_dropped_before_encode.fetch_add(1, Ordering::Relaxed);
            frame = newer;
        }
        let started = Instant::now();
        let converted = if frame.format() == PixelFormat::I420
            && frame.width() == self.encoder.config().width
            && frame.height() == self.encoder.config().height
            && !self.shared.video_muted.load(Ordering::Relaxed)
        {
            frame
        } else {
            match self.converter.convert(&frame) {
                Ok(converted) => converted,
                Err(e) => {
                    tracing::warn!(error = %e, "video conversion failed; frame dropped");
                    self.stats.frames_dropped_before_encode.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        };
        let mut converted = converted;
        if self.shared.video_muted.load(Ordering::Relaxed) {
            // A muted camera sends black, as libwebrtc does: the peer sees the mute rather
            // than a frozen last picture, and black costs almost no bits.
            converted.plane_mut(0).fill(16);
            converted.plane_mut(1).fill(128);
            converted.plane_mut(2).fill(128);
        }
        self.stats
            .gpu_conversion
            .store(u64::from(self.converter.stats().gpu_frames > 0), Ordering::Relaxed);
        self.stats.convert.record(started.elapsed());
        let encode_started = Instant::now();
        let mut encoded: Option<EncodedFrame> = None;
        let mut more = Vec::new();
        let result = self.encoder.encode(&converted, &mut |packet| {
            if encoded.is_none() {
                encoded = Some(packet);
            } else {
                more.push(packet);
            }
        });
        drop(converted);
        if let Err(e) = result {
            tracing::warn!(error = %e, "video encoding failed; frame dropped");
            self.stats.frames_dropped_before_encode.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.stats.encode.record(encode_started.elapsed());
        for packet in encoded.into_iter().chain(more) {
            self.send_encoded(&packet, state);
        }
    }

    fn send_encoded(&mut self, frame: &EncodedFrame, state: &mut SendState) {
        let started = Instant::now();
        self.stats.frames_encoded.fetch_add(1, Ordering::Relaxed);
        if frame.is_keyframe() {
            self.stats.keyframes_encoded.fetch_add(1, Ordering::Relaxed);
            state.last_keyframe = Some(Instant::now());
        }
        let timestamp = video_timestamp(state.timestamp_base, self.origin, frame.capture_time());
        // Packetise into `unit` first (the packetiser borrows its own scratch), then send.
        state.unit.clear();
        state.payloads.clear();
        let (unit, payloads) = (&mut state.unit, &mut state.payloads);
        let packetized = state.packetizer.packetize(frame.data(), frame.is_keyframe(), |p, m| {
            payloads.push((unit.len(), p.len(), m));
            unit.extend_from_slice(p);
        });
        if packetized.is_err() {
            self.stats.frames_dropped_before_encode.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let payloads = std::mem::take(&mut state.payloads);
        let unit = std::mem::take(&mut state.unit);
        for &(offset, len, marker) in &payloads {
            let seq = state.seq;
            state.seq = state.seq.wrapping_add(1);
            let slot = &mut state.sent[usize::from(seq) % HISTORY];
            slot.seq = seq;
            slot.timestamp = timestamp;
            slot.marker = marker;
            slot.len = len;
            slot.payload[..len].copy_from_slice(&unit[offset..offset + len]);
            state.history.store(Instant::now(), seq, seq);
            let header = RtpHeader {
                marker,
                payload_type: self.ids.pt,
                sequence_number: seq,
                timestamp,
                ssrc: self.ids.local,
                ..RtpHeader::default()
            };
            let sent = self.send_rtp(header, None, &unit[offset..offset + len], state);
            if sent {
                self.stats.packets_sent.fetch_add(1, Ordering::Relaxed);
                self.clock.on_sent(frame.capture_time(), timestamp, len);
            }
        }
        state.payloads = payloads;
        state.unit = unit;
        self.stats.send.record(started.elapsed());
    }

    fn retransmit(&mut self, seq: u16, state: &mut SendState) {
        let now = Instant::now();
        let share = f64::from(state.bitrate) * RTX_SHARE / 8.0;
        let elapsed = now.saturating_duration_since(state.rtx_refilled).as_secs_f64();
        state.rtx_budget = (state.rtx_budget + elapsed * share).min(share * 0.5 + 2400.0);
        state.rtx_refilled = now;
        let len = state.sent[usize::from(seq) % HISTORY].len as f64;
        if state.rtx_budget < len {
            self.stats.retransmissions_skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if state.history.on_nack(now, seq).is_none() {
            return;
        }
        state.rtx_budget -= len;
        let slot = &state.sent[usize::from(seq) % HISTORY];
        if slot.seq != seq {
            return;
        }
        let (timestamp, marker, len) = (slot.timestamp, slot.marker, slot.len);
        let payload = std::mem::take(&mut state.sent[usize::from(seq) % HISTORY].payload);
        let rtx_seq = state.rtx_seq;
        state.rtx_seq = state.rtx_seq.wrapping_add(1);
        let header = RtpHeader {
            marker,
            payload_type: self.ids.rtx_pt,
            sequence_number: rtx_seq,
            timestamp,
            ssrc: self.ids.local_rtx,
            ..RtpHeader::default()
        };
        if self.send_rtp(header, Some(seq), &payload[..len], state) {
            self.stats.retransmissions_sent.fetch_add(1, Ordering::Relaxed);
        }
        state.sent[usize::from(seq) % HISTORY].payload = payload;
    }

    /// Writes, protects and sends one RTP packet with a transport-wide sequence number;
    /// `original_seq` makes it an RTX packet (RFC 4588: the original sequence number leads
    /// the payload). Returns whether the transport took it.
    fn send_rtp(
        &mut self,
        header: RtpHeader<'_>,
        original_seq: Option<u16>,
        payload: &[u8],
        state: &mut SendState,
    ) -> bool {
        if let Some((epoch, keys)) = self.new_keys.pop() {
            if self.srtp.rekey_outbound(keys.master_key(), keys.master_salt()).is_err() {
                return false;
            }
            state.epoch = epoch;
        }
        let transport_seq = state.transport_seq;
        state.transport_seq = state.transport_seq.wrapping_add(1);
        let twcc = transport_seq.to_be_bytes();
        let epoch = [state.epoch];
        let extensions = [
            HeaderExtension { id: TRANSPORT_SEQUENCE_EXTENSION_ID, data: &twcc },
            HeaderExtension { id: EPOCH_EXTENSION_ID, data: &epoch },
        ];
        let header = RtpHeader { extensions: &extensions, ..header };
        let overhead = self.srtp.profile().rtp_overhead();
        let room = state.buf.len() - overhead;
        let header_len = header.len();
        let written = match original_seq {
            None => header.write_packet(payload, 0, &mut state.buf[..room]),
            Some(osn) => {
                let total = header_len + 2 + payload.len();
                if total > room {
                    return false;
                }
                header.write(&mut state.buf[..room]).map(|_| {
                    state.buf[header_len..header_len + 2].copy_from_slice(&osn.to_be_bytes());
                    state.buf[header_len + 2..total].copy_from_slice(payload);
                    total
                })
            }
        };
        let Ok(len) = written else { return false };
        let Ok(len) = self.srtp.protect_rtp(&mut state.buf, len) else { return false };
        // Pace: wait until this packet's slot in the schedule (2.5 x the current target).
        let mut now = Instant::now();
        if state.next_send_at > now + PACING_BURST {
            std::thread::sleep(state.next_send_at - now - PACING_BURST);
            now = Instant::now();
        }
        let pacing_bps = (f64::from(state.bitrate) * PACING_FACTOR).max(1.0);
        state.next_send_at =
            state.next_send_at.max(now) + Duration::from_secs_f64(len as f64 * 8.0 / pacing_bps);
        state.send_records[usize::from(transport_seq) % SEND_RECORDS] =
            (transport_seq, now, len as u32);
        match self.sender.send(&state.buf[..len]) {
            Ok(()) => {
                self.stats.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
                true
            }
            Err(TransportError::PeerUnreachable) => {
                self.shared.end(crate::session::shared::CallEnded::PeerUnreachable);
                false
            }
            Err(TransportError::Closed) => {
                self.shared.end(crate::session::shared::CallEnded::TransportFailed);
                false
            }
            Err(_) => {
                self.shared.send_errors.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}
