//! The video receive thread of a call: RTP packets (RTX unwrapped) -> frame assembly with
//! NACK-based repair -> AV1 depacketiser -> dav1d -> the display queue, asking for a
//! keyframe (PLI, then FIR) when a frame cannot be repaired. Every decoded frame gets the
//! instant at which it should be shown to play in sync with the audio (from both
//! streams' RTCP sender reports and where audio playout is).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError};
use crossbeam::queue::ArrayQueue;

use super::video::{ReceivedVideo, inspect_av1_payload};
use crate::rtp::av1::{Av1Depacketizer, Av1DepacketizerConfig, Av1Event};
use crate::rtp::{OPUS_CLOCK_RATE, RtpPacket};
use crate::session::frame_assembler::{AssemblerConfig, FrameAssembler, VideoPacket};
use crate::session::nack::{KeyframeRequestConfig, KeyframeRequester, NackConfig, NackGenerator};
use crate::session::shared::{
    FeedbackRequest, NACK_CHUNK, PlayoutClock, RemoteClock, Shared, VideoPacketIn,
};
use crate::session::video::{VIDEO_CLOCK_RATE, VideoIds, VideoShared};
use crate::video::VideoFrame;
use crate::video::av1::Av1Decoder;

/// Longest wait between two passes over the timers.
const MAX_WAIT: Duration = Duration::from_millis(10);

/// Longest a frame is held back for lip sync; beyond this, audio is too far behind for
/// holding video to be better than showing it.
const MAX_SYNC_HOLD: Duration = Duration::from_millis(500);

/// A packet's payload inside the buffer it arrived in.
struct Payload {
    seq: u16,
    marker: bool,
    arrival: Instant,
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

pub(crate) struct VideoReceiveThread {
    pub packets: Receiver<VideoPacketIn>,
    pub free_buffers: Arc<ArrayQueue<Box<[u8]>>>,
    pub requests: Arc<ArrayQueue<FeedbackRequest>>,
    pub output: Arc<ArrayQueue<ReceivedVideo>>,
    pub decoder: Av1Decoder,
    pub shared: Arc<Shared>,
    pub stats: Arc<VideoShared>,
    pub ids: VideoIds,
    pub nack: NackConfig,
    pub assembler: AssemblerConfig,
    pub video_clock: Arc<RemoteClock>,
    pub audio_clock: Arc<RemoteClock>,
    pub playout_clock: Arc<PlayoutClock>,
}

struct ReceiveState {
    assembler: FrameAssembler<Payload>,
    nack: NackGenerator,
    keyframes: KeyframeRequester,
    depacketizer: Av1Depacketizer,
    payloads: Vec<Payload>,
    missing: Vec<u16>,
    decoded: u64,
}

impl VideoReceiveThread {
    pub fn run(mut self) {
        let Ok(depacketizer) = Av1Depacketizer::new(Av1DepacketizerConfig::default()) else {
            return;
        };
        let mut state = ReceiveState {
            assembler: FrameAssembler::new(self.assembler.clone()),
            nack: NackGenerator::new(self.nack.clone()),
            keyframes: KeyframeRequester::new(KeyframeRequestConfig::default()),
            depacketizer,
            payloads: Vec::with_capacity(256),
            missing: Vec::with_capacity(self.nack.max_list),
            decoded: 0,
        };
        while !self.shared.stopping() {
            let now = Instant::now();
            let wake = [
                state.assembler.next_wakeup(),
                state.nack.next_wakeup(),
                state.keyframes.next_wakeup(now),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(now + MAX_WAIT)
            .min(now + MAX_WAIT);
            match self.packets.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(packet) => self.on_packet(packet, &mut state),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(packet) = self.packets.try_recv() {
                self.on_packet(packet, &mut state);
            }
            let now = Instant::now();
            self.pop_frames(now, &mut state);
            self.feedback(now, &mut state);
        }
    }

    fn recycle(&self, data: Box<[u8]>) {
        // A full free list means the network thread has plenty; let this one go.
        let _ = self.free_buffers.push(data);
    }

    fn on_packet(&mut self, packet: VideoPacketIn, state: &mut ReceiveState) {
        let VideoPacketIn { arrival, len, data } = packet;
        let parsed = RtpPacket::parse(&data[..len]).ok().and_then(|rtp| {
            let start = rtp.header_len();
            let end = start + rtp.payload().len();
            if rtp.ssrc() == self.ids.remote_rtx {
                // RFC 4588: the original sequence number leads the payload.
                let osn = data.get(start..start + 2)?;
                Some((
                    u16::from_be_bytes([osn[0], osn[1]]),
                    rtp.timestamp(),
                    rtp.marker(),
                    start + 2,
                    end,
                ))
            } else {
                Some((rtp.sequence_number(), rtp.timestamp(), rtp.marker(), start, end))
            }
        });
        let Some((seq, timestamp, marker, start, end)) = parsed.filter(|p| p.3 <= p.4) else {
            self.shared.rtp_dropped.fetch_add(1, Ordering::Relaxed);
            self.recycle(data);
            return;
        };
        let Some(info) = inspect_av1_payload(&data[start..end]) else {
            self.shared.rtp_dropped.fetch_add(1, Ordering::Relaxed);
            self.recycle(data);
            return;
        };
        state.nack.on_packet(arrival, seq, info.keyframe);
        state.assembler.insert(
            arrival,
            VideoPacket {
                seq,
                timestamp,
                start_of_frame: info.starts_frame,
                end_of_frame: marker,
                keyframe: info.keyframe,
                payload: Payload { seq, marker, arrival, data, start, end },
            },
        );
    }

    fn pop_frames(&mut self, now: Instant, state: &mut ReceiveState) {
        while let Some(frame) = state.assembler.pop_frame(now, &mut state.payloads) {
            let started = Instant::now();
            let mut first_arrival = now;
            let mut completed_at = first_arrival;
            if let Some(first) = state.payloads.first() {
                first_arrival = first.arrival;
                completed_at = first.arrival;
            }
            for payload in state.payloads.drain(..) {
                first_arrival = first_arrival.min(payload.arrival);
                completed_at = completed_at.max(payload.arrival);
                // Every packet of a complete frame, in order: a malformed one makes the
                // depacketiser report the unit corrupt, which is counted below.
                let _ = state.depacketizer.push(
                    payload.seq,
                    frame.timestamp,
                    payload.marker,
                    &payload.data[payload.start..payload.end],
                );
                let _ = self.free_buffers.push(payload.data);
            }
            self.stats.assemble.record(now.saturating_duration_since(completed_at));
            state.depacketizer.flush();
            let mut decoded: Option<VideoFrame> = None;
            while let Some(event) = state.depacketizer.poll() {
                let Av1Event::Frame(unit) = event else { continue };
                state.decoded += 1;
                let result =
                    self.decoder.decode(unit.data, first_arrival, state.decoded, &mut |f| {
                        decoded = Some(f);
                    });
                if result.is_err() {
                    self.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
                    state.keyframes.request();
                }
            }
            if frame.keyframe {
                state.keyframes.on_keyframe();
            }
            let Some(picture) = decoded else { continue };
            let decoded_at = Instant::now();
            self.stats.decode.record(decoded_at.saturating_duration_since(started));
            let render_at = self.sync_render_time(frame.timestamp, decoded_at);
            let received = ReceivedVideo {
                frame: picture,
                rtp_timestamp: frame.timestamp,
                keyframe: frame.keyframe,
                completed_at,
                decoded_at,
                render_at,
            };
            self.stats.frames_decoded.fetch_add(1, Ordering::Relaxed);
            if self.output.force_push(received).is_some() {
                self.stats.frames_dropped_before_display.fetch_add(1, Ordering::Relaxed);
            }
        }
        let assembled = state.assembler.stats();
        let s = &self.stats;
        s.frames_assembled.store(assembled.frames, Ordering::Relaxed);
        s.frames_lost.store(assembled.frames_dropped + assembled.undecodable, Ordering::Relaxed);
        s.freezes.store(assembled.freezes, Ordering::Relaxed);
        s.frozen_us.store(assembled.frozen.as_micros() as u64, Ordering::Relaxed);
    }

    /// When to show the frame with RTP timestamp `rtp` so that it plays with the audio
    /// captured at the same instant: audio that was captured at sender time `A` plays at
    /// `P + (A - A_p)` where the playout thread last played sender time `A_p` at local
    /// instant `P`; the frame captured at `V` belongs at `P + (V - A_p)`. The sender's and
    /// our clocks never need to agree: only differences of sender times are used.
    fn sync_render_time(&self, rtp: u32, decoded_at: Instant) -> Option<Instant> {
        let video_capture = self.video_clock.capture_secs(rtp, VIDEO_CLOCK_RATE)?;
        let (played_at, audio_rtp) = self.playout_clock.get()?;
        let audio_capture = self.audio_clock.capture_secs(audio_rtp, OPUS_CLOCK_RATE)?;
        let offset = video_capture - audio_capture;
        let ideal = if offset >= 0.0 {
            played_at.checked_add(Duration::from_secs_f64(offset))?
        } else {
            played_at.checked_sub(Duration::from_secs_f64(-offset))?
        };
        let hold_ms = match ideal.checked_duration_since(decoded_at) {
            Some(d) => d.as_secs_f64() * 1e3,
            None => -decoded_at.duration_since(ideal).as_secs_f64() * 1e3,
        };
        self.stats.av_offset_ms.store(hold_ms.to_bits(), Ordering::Relaxed);
        Some(ideal.clamp(decoded_at, decoded_at + MAX_SYNC_HOLD))
    }

    /// NACKs and keyframe requests, handed to the network thread (which owns RTCP).
    fn feedback(&mut self, now: Instant, state: &mut ReceiveState) {
        if let Some(rtt) = self.shared.rtt() {
            state.nack.set_rtt(rtt);
            state.keyframes.set_rtt(rtt);
        }
        state.missing.clear();
        state.nack.poll(now, &mut state.missing);
        for chunk in state.missing.chunks(NACK_CHUNK) {
            let mut seqs = [0u16; NACK_CHUNK];
            seqs[..chunk.len()].copy_from_slice(chunk);
            if self.requests.push(FeedbackRequest::Nack { seqs, len: chunk.len() }).is_ok() {
                self.stats.nacks_sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
        self.stats.packets_given_up.store(state.nack.stats().given_up, Ordering::Relaxed);
        let wanted_by_app = self.shared.keyframe_wanted.swap(false, Ordering::AcqRel);
        if wanted_by_app
            || state.nack.take_keyframe_wanted()
            || state.assembler.needs_keyframe()
            || self.decoder.is_awaiting_keyframe()
        {
            state.keyframes.request();
        }
        if let Some(request) = state.keyframes.poll(now)
            && self.requests.push(FeedbackRequest::Keyframe(request)).is_ok()
        {
            self.stats.keyframe_requests_sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}
