//! The call's network thread: it receives every datagram, SRTP-unprotects it with the
//! inbound key and demultiplexes by SSRC and payload type (RFC 5761 for RTP/RTCP on one
//! socket): Opus to the playout queue, video and RTX to the video receive thread, RTCP
//! handled here. It is also the only sender of RTCP (one owner of the outbound SRTCP
//! state, so no SRTCP index is ever reused): sender/receiver reports, NACK and PLI/FIR
//! asked for by the video receive thread, and transport-wide feedback.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam::channel::{Sender, TrySendError};
use crossbeam::queue::ArrayQueue;

use super::nack::KeyframeRequest;
use super::rtcp_stats::{self, NtpClock, NtpTime, ReceiverStats};
use super::shared::{
    CallEnded, EPOCH_EXTENSION_ID, EpochMailbox, FeedbackRequest, MAX_OPUS_PAYLOAD, OpusBytes,
    ReceivedAudio, RemoteClock, SenderClock, SenderMailbox, Shared, VideoPacketIn,
};
use super::video::{TRANSPORT_SEQUENCE_EXTENSION_ID, VIDEO_CLOCK_RATE, VideoIds, VideoShared};
use crate::e2ee::{InboundKeys, OutboundKeys, RekeyPolicy};
use crate::rtp::SeqUnwrapper;
use crate::rtp::rtcp::{
    self, FirEntry, FullIntraRequest, Nack, PictureLossIndication, ReceiverReport, ReportBlock,
    RtcpPacket, SdesChunk, SenderReport, SourceDescription, TransportFeedback,
};
use crate::rtp::{OPUS_CLOCK_RATE, OpusPayload, RtpPacket};
use crate::srtp::{SrtpError, SrtpSession};
use crate::transport::{MAX_DATAGRAM, PacketRecv, PacketSend, TransportError};

/// How long one receive blocks before timers (RTCP, feedback requests, hang-up) are
/// checked. Short, because NACKs asked for by the video receive thread wait this long at
/// most before leaving.
const RECEIVE_POLL: Duration = Duration::from_millis(5);

/// Consecutive transport I/O errors after which the network thread gives up.
const MAX_CONSECUTIVE_IO_ERRORS: u32 = 100;

/// Interval of sender/receiver reports (libwebrtc uses 1 s for video); the first goes
/// out sooner so that the RTT is known early.
const REPORT_INTERVAL: Duration = Duration::from_millis(1000);
const FIRST_REPORT: Duration = Duration::from_millis(100);

/// Interval of transport-wide feedback (libwebrtc: 50-250 ms depending on bitrate).
const FEEDBACK_INTERVAL: Duration = Duration::from_millis(50);

/// Most arrivals remembered between two feedback packets.
const MAX_ARRIVALS: usize = 2048;

/// The SSRCs and payload types of the call's streams.
#[derive(Debug, Clone, Copy)]
pub(crate) struct StreamIds {
    pub local_audio: u32,
    pub remote_audio: u32,
    pub audio_pt: u8,
    pub video: Option<VideoIds>,
}

/// The network thread's side of the video threads.
pub(crate) struct VideoLinks {
    pub to_receiver: Sender<VideoPacketIn>,
    pub free_buffers: Arc<ArrayQueue<Box<[u8]>>>,
    pub requests: Arc<ArrayQueue<FeedbackRequest>>,
    pub mailbox: Arc<SenderMailbox>,
    pub stats: Arc<VideoShared>,
    pub sender_clock: Arc<SenderClock>,
    pub remote_clock: Arc<RemoteClock>,
}

/// The key ratchets of both directions (`e2ee::rekey`) and the sending threads to tell.
pub(crate) struct KeyEpochs {
    pub outbound: OutboundKeys,
    pub inbound: InboundKeys,
    /// When to move the outbound keys on by policy; `None`: only on request.
    pub policy: Option<RekeyPolicy>,
    /// The key mailboxes of the other sending threads (capture, video send).
    pub mailboxes: Vec<KeyMailbox>,
    pub epoch_started: Instant,
    pub packets_at_epoch_start: u64,
    /// The inbound epoch whose keys `srtp_in` holds staged, if any.
    pub staged_epoch: Option<u8>,
    /// Since when a due epoch change has been held back by a sending thread.
    pub deferred_since: Option<Instant>,
    /// Whether the current hold-up was already counted as a stall.
    pub stall_counted: bool,
}

/// Which sending thread a key mailbox belongs to: its packet counters tell whether it
/// has sent anything since new keys were posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SendingThread {
    Audio,
    Video,
}

/// One sending thread's mailbox for new outbound keys.
pub(crate) struct KeyMailbox {
    pub mailbox: Arc<EpochMailbox>,
    pub thread: SendingThread,
    /// The thread's packets sent when keys were last posted: while that count has not
    /// moved the thread has sent nothing under the old keys since, so it is idle, not
    /// behind, and cannot hold the next epoch change back.
    pub packets_when_posted: u64,
}

impl KeyMailbox {
    pub fn new(mailbox: Arc<EpochMailbox>, thread: SendingThread) -> Self {
        Self { mailbox, thread, packets_when_posted: 0 }
    }
}

/// A due epoch change held back this long by a sending thread that keeps sending under the
/// old keys counts as a stall ([`Shared::rekey_stalls`]).
const REKEY_STALL: Duration = Duration::from_secs(2);

pub(crate) struct NetworkThread {
    pub receiver: Box<dyn PacketRecv>,
    pub sender: Arc<dyn PacketSend>,
    pub srtp_in: SrtpSession,
    pub srtcp_out: SrtpSession,
    pub audio_queue: Arc<ArrayQueue<ReceivedAudio>>,
    pub shared: Arc<Shared>,
    pub ids: StreamIds,
    pub peer_timeout: Duration,
    pub origin: Instant,
    pub ntp: NtpClock,
    pub audio_clock: Arc<SenderClock>,
    pub remote_audio_clock: Arc<RemoteClock>,
    pub video: Option<VideoLinks>,
    pub keys: KeyEpochs,
    /// A copy of an SRTCP packet, to retry it under the next epoch's keys.
    pub rtcp_scratch: Box<[u8]>,
}

/// RTCP bookkeeping of the network thread.
struct RtcpState {
    audio_rx: ReceiverStats,
    audio_heard: bool,
    video_rx: ReceiverStats,
    video_heard: bool,
    next_report: Instant,
    arrivals: Vec<(i64, i64)>,
    twcc_unwrapper: SeqUnwrapper,
    next_feedback: Instant,
    feedback_count: u8,
    statuses: Vec<Option<i64>>,
    out: Box<[u8]>,
}

impl NetworkThread {
    pub fn run(mut self) {
        let mut buf = vec![0u8; MAX_DATAGRAM].into_boxed_slice();
        let start = Instant::now();
        let mut rtcp = RtcpState {
            audio_rx: ReceiverStats::new(OPUS_CLOCK_RATE),
            audio_heard: false,
            video_rx: ReceiverStats::new(VIDEO_CLOCK_RATE),
            video_heard: false,
            next_report: start + FIRST_REPORT,
            arrivals: Vec::with_capacity(MAX_ARRIVALS),
            twcc_unwrapper: SeqUnwrapper::new(),
            next_feedback: start + FEEDBACK_INTERVAL,
            feedback_count: 0,
            statuses: Vec::with_capacity(MAX_ARRIVALS),
            out: vec![0u8; MAX_DATAGRAM].into_boxed_slice(),
        };
        let mut last_heard = start;
        let mut io_errors = 0u32;
        while !self.shared.stopping() {
            match self.receiver.recv(&mut buf, RECEIVE_POLL) {
                Ok(Some(len)) => {
                    io_errors = 0;
                    let arrival = Instant::now();
                    if self.handle(&mut buf[..len], arrival, &mut rtcp) {
                        last_heard = arrival;
                    }
                }
                Ok(None) => io_errors = 0,
                Err(TransportError::PeerUnreachable) => {
                    self.shared.end(CallEnded::PeerUnreachable);
                    return;
                }
                Err(TransportError::Closed) => {
                    self.shared.end(CallEnded::TransportFailed);
                    return;
                }
                Err(_) => {
                    io_errors += 1;
                    if io_errors >= MAX_CONSECUTIVE_IO_ERRORS {
                        self.shared.end(CallEnded::TransportFailed);
                        return;
                    }
                }
            }
            let now = Instant::now();
            self.advance_epochs(now);
            self.send_requested_feedback(&mut rtcp);
            if now >= rtcp.next_feedback {
                self.send_transport_feedback(&mut rtcp);
                rtcp.next_feedback = now + FEEDBACK_INTERVAL;
            }
            if now >= rtcp.next_report {
                self.send_reports(now, &mut rtcp);
                // +-25 % so that two peers do not synchronise their reports.
                let spread = (now.duration_since(self.origin).subsec_nanos() % 500) as u64;
                rtcp.next_report =
                    now + REPORT_INTERVAL.mul_f64(0.75) + Duration::from_millis(spread);
            }
            if now.saturating_duration_since(last_heard) >= self.peer_timeout {
                self.shared.end(CallEnded::PeerTimeout);
                return;
            }
        }
    }

    /// Handles one datagram; returns whether it authenticated as the peer's.
    fn handle(&mut self, datagram: &mut [u8], arrival: Instant, rtcp: &mut RtcpState) -> bool {
        // RFC 5761: RTCP packet types 192-223 occupy the second byte where RTP has the
        // marker bit and payload type; our payload types stay below 128 - 32.
        if datagram.len() >= 2 && (192..=223).contains(&datagram[1]) {
            return self.handle_rtcp(datagram, arrival, rtcp);
        }
        let started = Instant::now();
        // The epoch travels in a header extension: in the clear, but authenticated, so a
        // forged epoch number makes the packet fail and changes nothing.
        let epoch = RtpPacket::parse(datagram)
            .ok()
            .and_then(|p| p.extension(EPOCH_EXTENSION_ID).and_then(|d| d.first().copied()));
        let next = self.keys.inbound.epoch().wrapping_add(1);
        let result = if epoch == Some(next) {
            self.unprotect_under_next_epoch(datagram, arrival, SrtpSession::unprotect_rtp_staged)
        } else {
            self.srtp_in.unprotect_rtp(datagram)
        };
        self.shared.unprotect.record(started.elapsed());
        let len = match result {
            Ok(len) => len,
            Err(e) => {
                self.count_srtp_error(&e);
                return false;
            }
        };
        let srtp_len = datagram.len();
        let Ok(packet) = RtpPacket::parse(&datagram[..len]) else {
            self.shared.rtp_dropped.fetch_add(1, Ordering::Relaxed);
            return true;
        };
        let ssrc = packet.ssrc();
        if ssrc == self.ids.remote_audio {
            self.handle_audio(&packet, srtp_len, arrival, rtcp);
        } else if let Some(video) =
            self.ids.video.filter(|v| ssrc == v.remote || ssrc == v.remote_rtx)
        {
            self.handle_video(&packet, srtp_len, arrival, rtcp, video);
        } else {
            self.shared.rtp_dropped.fetch_add(1, Ordering::Relaxed);
        }
        // Authenticated, so the peer is alive even if we cannot use the packet.
        true
    }

    /// Opens a packet under the peer's next key epoch. The next epoch's keys are derived
    /// once and staged beside the current ones (`SrtpSession::stage_next_key`); `open`
    /// tries the packet under them alone. Only a packet that authenticates switches the
    /// inbound session and moves the ratchet on; a forged one costs one tag check and
    /// leaves every key, counter and window as it was.
    fn unprotect_under_next_epoch(
        &mut self,
        datagram: &mut [u8],
        now: Instant,
        open: impl Fn(&mut SrtpSession, &mut [u8]) -> Result<usize, SrtpError>,
    ) -> Result<usize, SrtpError> {
        let next_epoch = self.keys.inbound.epoch().wrapping_add(1);
        if self.keys.staged_epoch != Some(next_epoch) || !self.srtp_in.has_staged_key() {
            let Ok(next) = self.keys.inbound.keys_for(next_epoch, now) else {
                return Err(SrtpError::AuthenticationFailed);
            };
            self.srtp_in.stage_next_key(next.master_key(), next.master_salt())?;
            self.keys.staged_epoch = Some(next_epoch);
        }
        let len = open(&mut self.srtp_in, datagram)?;
        self.keys.inbound.authenticated(next_epoch, now);
        self.shared.receive_epoch.store(next_epoch, Ordering::Relaxed);
        self.shared.rekeys_received.fetch_add(1, Ordering::Relaxed);
        Ok(len)
    }

    /// Moves the outbound keys to the next epoch when the policy or the app says so, and
    /// retires the peer's previous epoch once its overlap is over.
    fn advance_epochs(&mut self, now: Instant) {
        if self.keys.inbound.next_timeout().is_some_and(|t| now >= t) {
            self.keys.inbound.poll(now);
            self.srtp_in.retire_previous_key();
        }
        let packets =
            self.packets_sent(SendingThread::Audio) + self.packets_sent(SendingThread::Video);
        let wanted = self.shared.rekey_wanted.load(Ordering::Acquire);
        let due = wanted
            || self.keys.policy.is_some_and(|p| {
                now.saturating_duration_since(self.keys.epoch_started) >= p.rekey_after
                    || packets - self.keys.packets_at_epoch_start >= p.rekey_after_packets
            });
        if !due {
            self.keys.deferred_since = None;
            return;
        }
        // The peer follows one epoch at a time, so every thread that is sending must have
        // taken the current epoch's keys first. A thread that has sent nothing since they
        // were posted (a video track with no frames, say) is not waited for: it takes the
        // newest keys, replacing the ones it never used, with its next packet.
        let held_back =
            self.keys.mailboxes.iter().any(|m| {
                !m.mailbox.is_empty() && self.packets_sent(m.thread) != m.packets_when_posted
            });
        if held_back {
            let since = *self.keys.deferred_since.get_or_insert(now);
            if !self.keys.stall_counted && now.saturating_duration_since(since) >= REKEY_STALL {
                self.keys.stall_counted = true;
                self.shared.rekey_stalls.fetch_add(1, Ordering::Relaxed);
            }
            return;
        }
        self.keys.deferred_since = None;
        self.keys.stall_counted = false;
        self.shared.rekey_wanted.store(false, Ordering::Release);
        let epoch = self.keys.outbound.rekey(now);
        let (_, keys) = self.keys.outbound.keys_for_next_packet(now);
        let keys = keys.clone();
        for index in 0..self.keys.mailboxes.len() {
            let thread = self.keys.mailboxes[index].thread;
            let sent = self.packets_sent(thread);
            let m = &mut self.keys.mailboxes[index];
            m.packets_when_posted = sent;
            let _ = m.mailbox.force_push((epoch, keys.clone()));
        }
        if self.srtcp_out.rekey_outbound(keys.master_key(), keys.master_salt()).is_err() {
            return;
        }
        self.keys.epoch_started = now;
        self.keys.packets_at_epoch_start = packets;
        self.shared.send_epoch.store(epoch, Ordering::Relaxed);
        self.shared.rekeys_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// RTP packets (retransmissions included) a sending thread has sent so far.
    fn packets_sent(&self, thread: SendingThread) -> u64 {
        match (thread, &self.video) {
            (SendingThread::Audio, _) => self.shared.packets_sent.load(Ordering::Relaxed),
            (SendingThread::Video, Some(links)) => {
                links.stats.packets_sent.load(Ordering::Relaxed)
                    + links.stats.retransmissions_sent.load(Ordering::Relaxed)
            }
            (SendingThread::Video, None) => 0,
        }
    }

    fn count_srtp_error(&self, error: &SrtpError) {
        let counter = match error {
            SrtpError::AuthenticationFailed => &self.shared.auth_failures,
            SrtpError::Replayed { .. } | SrtpError::TooOld { .. } => &self.shared.replays,
            _ => &self.shared.malformed,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn handle_audio(
        &mut self,
        packet: &RtpPacket<'_>,
        srtp_len: usize,
        arrival: Instant,
        rtcp: &mut RtcpState,
    ) {
        let payload = packet.payload();
        let duration = match OpusPayload::parse(payload) {
            Ok(opus) if packet.payload_type() == self.ids.audio_pt => opus.duration_samples(),
            _ => {
                self.shared.rtp_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        if payload.len() > MAX_OPUS_PAYLOAD {
            self.shared.rtp_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        rtcp.audio_rx.on_packet(arrival, packet.sequence_number(), packet.timestamp());
        rtcp.audio_heard = true;
        let mut bytes = OpusBytes { len: payload.len(), data: [0u8; MAX_OPUS_PAYLOAD] };
        bytes.data[..payload.len()].copy_from_slice(payload);
        let audio = ReceivedAudio {
            seq: packet.sequence_number(),
            timestamp: packet.timestamp(),
            duration,
            arrival,
            payload: bytes,
        };
        self.shared.packets_received.fetch_add(1, Ordering::Relaxed);
        self.shared.bytes_received.fetch_add(srtp_len as u64, Ordering::Relaxed);
        if self.audio_queue.push(audio).is_err() {
            // The playout thread is not draining: drop the newest and count it. Audio is
            // already broken in that case; dropping keeps this thread from ever waiting.
            self.shared.queue_overflows.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn handle_video(
        &mut self,
        packet: &RtpPacket<'_>,
        srtp_len: usize,
        arrival: Instant,
        rtcp: &mut RtcpState,
        ids: VideoIds,
    ) {
        let Some(links) = &self.video else { return };
        let is_rtx = packet.ssrc() == ids.remote_rtx;
        let expected_pt = if is_rtx { ids.rtx_pt } else { ids.pt };
        if packet.payload_type() != expected_pt {
            self.shared.rtp_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        links.stats.packets_received.fetch_add(1, Ordering::Relaxed);
        links.stats.bytes_received.fetch_add(srtp_len as u64, Ordering::Relaxed);
        if is_rtx {
            links.stats.retransmissions_received.fetch_add(1, Ordering::Relaxed);
        } else {
            // Report blocks describe the original stream: its loss before repair is what
            // the sender's congestion control needs to see.
            rtcp.video_rx.on_packet(arrival, packet.sequence_number(), packet.timestamp());
            rtcp.video_heard = true;
        }
        if let Some(&[hi, lo]) = packet.extension(TRANSPORT_SEQUENCE_EXTENSION_ID) {
            let seq = rtcp.twcc_unwrapper.unwrap(u16::from_be_bytes([hi, lo]));
            if rtcp.arrivals.len() < MAX_ARRIVALS {
                let us = arrival.saturating_duration_since(self.origin).as_micros() as i64;
                rtcp.arrivals.push((seq, us));
            }
        }
        let bytes = packet.as_bytes();
        let mut data =
            links.free_buffers.pop().unwrap_or_else(|| vec![0u8; MAX_DATAGRAM].into_boxed_slice());
        data[..bytes.len()].copy_from_slice(bytes);
        let item = VideoPacketIn { arrival, len: bytes.len(), data };
        match links.to_receiver.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(item) | TrySendError::Disconnected(item)) => {
                self.shared.queue_overflows.fetch_add(1, Ordering::Relaxed);
                let _ = links.free_buffers.push(item.data);
            }
        }
    }

    fn handle_rtcp(&mut self, datagram: &mut [u8], arrival: Instant, rtcp: &mut RtcpState) -> bool {
        // SRTCP has no room for the epoch: a packet that fails under the current keys is
        // tried (from a copy: a failed open leaves the buffer unspecified) under the next.
        let n = datagram.len().min(self.rtcp_scratch.len());
        self.rtcp_scratch[..n].copy_from_slice(&datagram[..n]);
        let result = match self.srtp_in.unprotect_rtcp(datagram) {
            Err(SrtpError::AuthenticationFailed) => {
                datagram[..n].copy_from_slice(&self.rtcp_scratch[..n]);
                self.unprotect_under_next_epoch(
                    datagram,
                    arrival,
                    SrtpSession::unprotect_rtcp_staged,
                )
            }
            other => other,
        };
        let len = match result {
            Ok(len) => len,
            Err(e) => {
                self.count_srtp_error(&e);
                return false;
            }
        };
        self.shared.rtcp_received.fetch_add(1, Ordering::Relaxed);
        // Parse what we can; a malformed tail is dropped, the authenticated head is used.
        for packet in rtcp::CompoundIter::new(&datagram[..len]) {
            match packet {
                Ok(packet) => self.on_rtcp(packet, arrival, rtcp),
                Err(_) => {
                    self.shared.malformed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        true
    }

    fn on_rtcp(&mut self, packet: RtcpPacket, arrival: Instant, rtcp: &mut RtcpState) {
        match packet {
            RtcpPacket::SenderReport(sr) => {
                let ntp = NtpTime(sr.ntp_time);
                if sr.ssrc == self.ids.remote_audio {
                    rtcp.audio_rx.on_sender_report(arrival, ntp);
                    self.remote_audio_clock.set(ntp, sr.rtp_time);
                } else if self.ids.video.is_some_and(|v| v.remote == sr.ssrc) {
                    rtcp.video_rx.on_sender_report(arrival, ntp);
                    if let Some(links) = &self.video {
                        links.remote_clock.set(ntp, sr.rtp_time);
                    }
                }
                self.on_report_blocks(&sr.reports, arrival);
            }
            RtcpPacket::ReceiverReport(rr) => self.on_report_blocks(&rr.reports, arrival),
            RtcpPacket::Nack(nack) => {
                if let (Some(ids), Some(links)) = (self.ids.video, &self.video)
                    && nack.media_ssrc == ids.local
                {
                    for seq in nack.lost_sequence_numbers() {
                        links.stats.nacked_by_peer.fetch_add(1, Ordering::Relaxed);
                        // A full mailbox means the sender is far behind: those packets
                        // would be too late anyway.
                        let _ = links.mailbox.nacks.push(seq);
                    }
                }
            }
            RtcpPacket::PictureLossIndication(pli)
                if self.ids.video.is_some_and(|v| v.local == pli.media_ssrc) =>
            {
                self.keyframe_requested();
            }
            RtcpPacket::FullIntraRequest(fir) => {
                if let Some(ids) = self.ids.video
                    && fir.entries.iter().any(|e| e.ssrc == ids.local)
                {
                    self.keyframe_requested();
                }
            }
            RtcpPacket::TransportFeedback(feedback) => {
                if let Some(links) = &self.video {
                    // Oldest feedback is the least useful; a full box drops the newest,
                    // which the estimator survives (the next one covers it).
                    let _ = links.mailbox.feedback.push(feedback);
                }
            }
            _ => {}
        }
    }

    fn keyframe_requested(&self) {
        if let Some(links) = &self.video {
            links.stats.keyframe_requests_received.fetch_add(1, Ordering::Relaxed);
            links.mailbox.keyframe.store(true, Ordering::Release);
        }
    }

    fn on_report_blocks(&self, blocks: &[ReportBlock], arrival: Instant) {
        let arrival_ntp = self.ntp.ntp(arrival);
        for block in blocks {
            let is_audio = block.ssrc == self.ids.local_audio;
            let is_video = self.ids.video.is_some_and(|v| v.local == block.ssrc);
            if !is_audio && !is_video {
                continue;
            }
            let view = rtcp_stats::ReportBlock {
                fraction_lost: block.fraction_lost,
                cumulative_lost: block.cumulative_lost,
                extended_highest_seq: block.extended_highest_sequence,
                jitter: block.jitter,
                last_sr: block.last_sender_report,
                delay_since_last_sr: block.delay_since_last_sender_report,
            };
            if let Some(rtt) = rtcp_stats::round_trip_time(arrival_ntp, &view) {
                self.shared.rtt_us.store((rtt.as_micros() as u64).max(1), Ordering::Relaxed);
            }
            let (loss, lost) = if is_audio {
                (&self.shared.remote_audio_loss, &self.shared.remote_audio_lost)
            } else {
                (&self.shared.remote_video_loss, &self.shared.remote_video_lost)
            };
            loss.store(block.fraction_lost, Ordering::Relaxed);
            lost.store(block.cumulative_lost.max(0) as u64, Ordering::Relaxed);
        }
    }

    /// Protects and sends one compound RTCP packet.
    fn send_rtcp(&mut self, packets: &[RtcpPacket], out: &mut [u8]) {
        let overhead = self.srtcp_out.profile().rtcp_overhead();
        let room = out.len() - overhead;
        let Ok(len) = rtcp::write_compound(packets, &mut out[..room]) else { return };
        let Ok(len) = self.srtcp_out.protect_rtcp(out, len) else { return };
        match self.sender.send(&out[..len]) {
            Ok(()) => {
                self.shared.rtcp_sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(TransportError::PeerUnreachable) => self.shared.end(CallEnded::PeerUnreachable),
            Err(_) => {
                self.shared.send_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// NACK and PLI/FIR asked for by the video receive thread.
    fn send_requested_feedback(&mut self, rtcp: &mut RtcpState) {
        let (Some(ids), Some(links)) = (self.ids.video, &self.video) else { return };
        let requests = Arc::clone(&links.requests);
        while let Some(request) = requests.pop() {
            let packet = match request {
                FeedbackRequest::Nack { seqs, len } => RtcpPacket::Nack(Nack::from_lost(
                    self.ids.local_audio,
                    ids.remote,
                    seqs[..len].iter().copied(),
                )),
                FeedbackRequest::Keyframe(KeyframeRequest::Pli) => {
                    RtcpPacket::PictureLossIndication(PictureLossIndication {
                        sender_ssrc: self.ids.local_audio,
                        media_ssrc: ids.remote,
                    })
                }
                FeedbackRequest::Keyframe(KeyframeRequest::Fir { seq }) => {
                    RtcpPacket::FullIntraRequest(FullIntraRequest {
                        sender_ssrc: self.ids.local_audio,
                        entries: vec![FirEntry { ssrc: ids.remote, sequence_number: seq }],
                    })
                }
            };
            let mut out = std::mem::take(&mut rtcp.out);
            self.send_rtcp(&[packet], &mut out);
            rtcp.out = out;
        }
    }

    /// Transport-wide feedback about the video packets received since the last one.
    fn send_transport_feedback(&mut self, rtcp: &mut RtcpState) {
        let Some(ids) = self.ids.video else { return };
        if rtcp.arrivals.is_empty() {
            return;
        }
        rtcp.arrivals.sort_unstable();
        let first = rtcp.arrivals[0].0;
        let last = rtcp.arrivals[rtcp.arrivals.len() - 1].0;
        let span = (last - first + 1) as usize;
        if span > MAX_ARRIVALS * 4 {
            // A sequence jump this large is a restart, not loss: report nothing.
            rtcp.arrivals.clear();
            return;
        }
        rtcp.statuses.clear();
        rtcp.statuses.resize(span, None);
        for &(seq, us) in &rtcp.arrivals {
            rtcp.statuses[(seq - first) as usize] = Some(us);
        }
        rtcp.arrivals.clear();
        let Ok(feedback) = TransportFeedback::from_arrivals(
            self.ids.local_audio,
            ids.remote,
            first as u16,
            rtcp.feedback_count,
            &rtcp.statuses,
        ) else {
            return;
        };
        rtcp.feedback_count = rtcp.feedback_count.wrapping_add(1);
        let mut out = std::mem::take(&mut rtcp.out);
        self.send_rtcp(&[RtcpPacket::TransportFeedback(feedback)], &mut out);
        rtcp.out = out;
    }

    /// Sender reports for what we send, with report blocks for what we receive (a
    /// receiver report when we have sent nothing), and our CNAME.
    fn send_reports(&mut self, now: Instant, rtcp: &mut RtcpState) {
        let mut blocks = Vec::with_capacity(2);
        if rtcp.audio_heard {
            blocks.push(wire_block(self.ids.remote_audio, rtcp.audio_rx.report_block(now)));
        }
        if let Some(v) = self.ids.video
            && rtcp.video_heard
        {
            blocks.push(wire_block(v.remote, rtcp.video_rx.report_block(now)));
        }
        let mut packets = Vec::with_capacity(3);
        match sender_report(
            self.ids.local_audio,
            &self.audio_clock,
            OPUS_CLOCK_RATE,
            now,
            &self.ntp,
        ) {
            Some(mut sr) => {
                sr.reports = blocks;
                packets.push(RtcpPacket::SenderReport(sr));
            }
            None => packets.push(RtcpPacket::ReceiverReport(ReceiverReport {
                ssrc: self.ids.local_audio,
                reports: blocks,
            })),
        }
        if let (Some(ids), Some(links)) = (self.ids.video, &self.video)
            && let Some(sr) =
                sender_report(ids.local, &links.sender_clock, VIDEO_CLOCK_RATE, now, &self.ntp)
        {
            packets.push(RtcpPacket::SenderReport(sr));
        }
        // The CNAME ties our streams together for lip sync (RFC 3550 6.5.1). It is derived
        // from the SSRC, not from anything that identifies the user or the device.
        let cname = format!("sv-{:08x}", self.ids.local_audio);
        packets.push(RtcpPacket::SourceDescription(SourceDescription {
            chunks: vec![SdesChunk::cname(self.ids.local_audio, &cname)],
        }));
        let mut out = std::mem::take(&mut rtcp.out);
        self.send_rtcp(&packets, &mut out);
        rtcp.out = out;
    }
}

fn wire_block(ssrc: u32, block: rtcp_stats::ReportBlock) -> ReportBlock {
    ReportBlock {
        ssrc,
        fraction_lost: block.fraction_lost,
        cumulative_lost: block.cumulative_lost,
        extended_highest_sequence: block.extended_highest_seq,
        jitter: block.jitter,
        last_sender_report: block.last_sr,
        delay_since_last_sender_report: block.delay_since_last_sr,
    }
}

/// An SR for a stream whose sending thread publishes to `clock`: the RTP timestamp of
/// `now` is extrapolated from the latest packet's capture instant.
fn sender_report(
    ssrc: u32,
    clock: &SenderClock,
    clock_rate: u32,
    now: Instant,
    ntp: &NtpClock,
) -> Option<SenderReport> {
    let (capture, rtp, packets, octets) = clock.latest()?;
    let elapsed = match now.checked_duration_since(capture) {
        Some(d) => d.as_secs_f64(),
        None => -capture.duration_since(now).as_secs_f64(),
    };
    let advance = (elapsed * f64::from(clock_rate)).round() as i64;
    Some(SenderReport {
        ssrc,
        ntp_time: ntp.ntp(now).0,
        rtp_time: rtp.wrapping_add(advance as u32),
        packet_count: packets,
        octet_count: octets,
        reports: Vec::new(),
    })
}
