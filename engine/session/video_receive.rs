//! One video receive stream, sans-IO: RTP packets of the stream and its RTX companion in
//! (RTX unwrapped, RFC 4588), complete temporal units out, in order, for the decoder. It
//! owns frame assembly with its decodability and freeze accounting, NACK generation and
//! give-up, keyframe request throttling (PLI, then FIR) and the AV1 depacketiser.
//! Feedback it wants sent goes to the session's request queue for this stream, which
//! turns it into RTCP.
//!
//! The decoder belongs to the caller (the runtime's video receive thread or the
//! simulated-call harness): [`VideoReceiveStream::pop_frame`] hands each temporal unit to
//! a closure, and [`VideoReceiveStream::decode_failed`] tells the stream to ask for a
//! keyframe.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;

use super::frame_assembler::{AssemblerConfig, FrameAssembler, VideoPacket};
use super::nack::{KeyframeRequestConfig, KeyframeRequester, NackConfig, NackGenerator};
use super::shared::{FeedbackRequest, NACK_CHUNK, Shared, VideoPacketIn};
use super::video::{VideoIds, VideoShared};
use crate::rtp::RtpError;
use crate::rtp::RtpPacket;
use crate::rtp::av1::{Av1Depacketizer, Av1DepacketizerConfig, Av1Event, inspect_payload};

/// A packet's payload inside the buffer it arrived in.
struct Payload {
    seq: u16,
    marker: bool,
    arrival: Instant,
    data: Box<[u8]>,
    start: usize,
    end: usize,
}

/// A frame [`VideoReceiveStream::pop_frame`] completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CompletedFrame {
    /// RTP timestamp (90 kHz, sender's clock).
    pub timestamp: u32,
    /// Whether it was coded as a keyframe.
    pub keyframe: bool,
    /// When its first packet arrived.
    pub first_arrival: Instant,
    /// When its last packet arrived (the frame became complete).
    pub completed_at: Instant,
}

/// See the module documentation.
pub(crate) struct VideoReceiveStream {
    ids: VideoIds,
    shared: Arc<Shared>,
    stats: Arc<VideoShared>,
    /// Buffers handed back to the session once their payload is consumed.
    free_buffers: Arc<ArrayQueue<Box<[u8]>>>,
    /// NACK and keyframe requests for the session to send.
    requests: Arc<ArrayQueue<FeedbackRequest>>,
    assembler: FrameAssembler<Payload>,
    nack: NackGenerator,
    keyframes: KeyframeRequester,
    depacketizer: Av1Depacketizer,
    payloads: Vec<Payload>,
    missing: Vec<u16>,
}

impl VideoReceiveStream {
    /// A receive stream for `ids`' remote stream and its RTX companion.
    pub fn new(
        ids: VideoIds,
        nack: NackConfig,
        assembler: AssemblerConfig,
        shared: Arc<Shared>,
        stats: Arc<VideoShared>,
        free_buffers: Arc<ArrayQueue<Box<[u8]>>>,
        requests: Arc<ArrayQueue<FeedbackRequest>>,
    ) -> Result<Self, RtpError> {
        Ok(Self {
            ids,
            shared,
            stats,
            free_buffers,
            requests,
            assembler: FrameAssembler::new(assembler),
            missing: Vec::with_capacity(nack.max_list),
            nack: NackGenerator::new(nack),
            keyframes: KeyframeRequester::new(KeyframeRequestConfig::default()),
            depacketizer: Av1Depacketizer::new(Av1DepacketizerConfig::default())?,
            payloads: Vec::with_capacity(256),
        })
    }

    /// When [`poll`](Self::poll) or [`pop_frame`](Self::pop_frame) next have something to
    /// do without a new packet (NACK retries, frame deadlines, keyframe request retries).
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        [self.assembler.next_wakeup(), self.nack.next_wakeup(), self.keyframes.next_wakeup(now)]
            .into_iter()
            .flatten()
            .min()
    }

    fn recycle(&self, data: Box<[u8]>) {
        // A full free list means the session has plenty; let this one go.
        let _ = self.free_buffers.push(data);
    }

    /// Takes one authenticated RTP packet of the stream or its RTX companion.
    pub fn on_packet(&mut self, packet: VideoPacketIn) {
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
        let Some(info) = inspect_payload(&data[start..end]) else {
            self.shared.rtp_dropped.fetch_add(1, Ordering::Relaxed);
            self.recycle(data);
            return;
        };
        self.nack.on_packet(arrival, seq, info.keyframe);
        self.assembler.insert(
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

    /// The next frame complete and decodable at `now`: its temporal units go to
    /// `decode`, in order. `None` when no frame is ready.
    pub fn pop_frame(
        &mut self,
        now: Instant,
        decode: &mut dyn FnMut(&[u8]),
    ) -> Option<CompletedFrame> {
        let frame = self.assembler.pop_frame(now, &mut self.payloads)?;
        let mut first_arrival = now;
        let mut completed_at = now;
        if let Some(first) = self.payloads.first() {
            first_arrival = first.arrival;
            completed_at = first.arrival;
        }
        for payload in self.payloads.drain(..) {
            first_arrival = first_arrival.min(payload.arrival);
            completed_at = completed_at.max(payload.arrival);
            // Every packet of a complete frame, in order: a malformed one makes the
            // depacketiser report the unit corrupt.
            let _ = self.depacketizer.push(
                payload.seq,
                frame.timestamp,
                payload.marker,
                &payload.data[payload.start..payload.end],
            );
            let _ = self.free_buffers.push(payload.data);
        }
        self.stats.assemble.record(now.saturating_duration_since(completed_at));
        self.depacketizer.flush();
        while let Some(event) = self.depacketizer.poll() {
            if let Av1Event::Frame(unit) = event {
                decode(unit.data);
            }
        }
        if frame.keyframe {
            self.keyframes.on_keyframe();
        }
        let assembled = self.assembler.stats();
        let s = &self.stats;
        s.frames_assembled.store(assembled.frames, Ordering::Relaxed);
        s.frames_lost.store(assembled.frames_dropped + assembled.undecodable, Ordering::Relaxed);
        s.freezes.store(assembled.freezes, Ordering::Relaxed);
        s.frozen_us.store(assembled.frozen.as_micros() as u64, Ordering::Relaxed);
        Some(CompletedFrame {
            timestamp: frame.timestamp,
            keyframe: frame.keyframe,
            first_arrival,
            completed_at,
        })
    }

    /// The decoder rejected a unit: a keyframe is needed.
    pub fn decode_failed(&mut self) {
        self.stats.decode_errors.fetch_add(1, Ordering::Relaxed);
        self.keyframes.request();
    }

    /// Queues the NACKs and keyframe requests due at `now` for the session to send.
    /// `rtt` is the session's latest round-trip time; `keyframe_wanted` says the app or
    /// the decoder (waiting for a keyframe) wants one.
    pub fn poll(&mut self, now: Instant, rtt: Option<Duration>, keyframe_wanted: bool) {
        if let Some(rtt) = rtt {
            self.nack.set_rtt(rtt);
            self.keyframes.set_rtt(rtt);
        }
        self.missing.clear();
        self.nack.poll(now, &mut self.missing);
        for chunk in self.missing.chunks(NACK_CHUNK) {
            let mut seqs = [0u16; NACK_CHUNK];
            seqs[..chunk.len()].copy_from_slice(chunk);
            if self.requests.push(FeedbackRequest::Nack { seqs, len: chunk.len() }).is_ok() {
                self.stats.nacks_sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
        }
        self.stats.packets_given_up.store(self.nack.stats().given_up, Ordering::Relaxed);
        if keyframe_wanted || self.nack.take_keyframe_wanted() || self.assembler.needs_keyframe() {
            self.keyframes.request();
        }
        if let Some(request) = self.keyframes.poll(now)
            && self.requests.push(FeedbackRequest::Keyframe(request)).is_ok()
        {
            self.stats.keyframe_requests_sent.fetch_add(1, Ordering::Relaxed);
        }
    }
}
