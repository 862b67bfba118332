//! The sans-IO call session: every datagram a call receives goes in here with its arrival
//! instant, and every RTCP datagram it sends comes out of here. The session never reads a
//! clock, sleeps, owns a socket or starts a thread; the runtime (`call::network`) or the
//! simulated-call harness (`testing::sim`) feeds it `now` and carries its output.
//!
//! It owns:
//!
//! * the inbound SRTP/SRTCP context (every remote stream) and the outbound SRTCP context;
//! * the **receive-stream table**, keyed by SSRC: any number of remote audio streams, each
//!   with its RFC 3550 statistics and its queue to the playout side, and remote video
//!   streams with their RTX companions, handed to the video receive side;
//! * the **local-stream table**: what RTCP needs of each stream this side sends (sender
//!   report clock, the peer's loss reports, NACK/PLI/FIR/transport feedback addressed to
//!   it);
//! * RTCP: sender/receiver reports, CNAME, NACK and PLI/FIR asked for by the receive side,
//!   transport-wide feedback;
//! * the key epochs of both directions and the peer timeout.
//!
//! Outputs: [`Session::poll_transmit`] (datagrams to send, from a fixed ring: nothing is
//! allocated per packet), [`Session::poll_timeout`] (when to call
//! [`Session::handle_timeout`] next), and media handed to the playout and video sides
//! through their bounded queues (one per receive stream; a full queue drops the newest and
//! counts it in `queue_overflows`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam::channel::{Sender, TrySendError};
use crossbeam::queue::ArrayQueue;

use super::keys::{KeyEpochs, OutboundStep};
use super::video::{TRANSPORT_SEQUENCE_EXTENSION_ID, VIDEO_CLOCK_RATE, VideoShared};
use crate::rtp::SeqUnwrapper;
use crate::rtp::rtcp::{
    FirEntry, FullIntraRequest, MAX_REPORT_BLOCKS, Nack, PictureLossIndication, ReceiverReport,
    ReportBlock, RtcpPacket, RtcpParser, SdesChunk, SenderReport, SourceDescription,
    TransportFeedback,
};
use crate::rtp::{OPUS_CLOCK_RATE, RtpPacket};
use crate::session::nack::KeyframeRequest;
use crate::session::rtcp_stats::{self, NtpClock, NtpTime, ReceiverStats};
use crate::session::shared::{
    CallEnded, EPOCH_EXTENSION_ID, FeedbackRequest, ReceivedAudio, RemoteClock, SenderClock,
    SenderMailbox, Shared, VideoPacketIn,
};
use crate::srtp::{SrtpError, SrtpSession};
use crate::transport::MAX_DATAGRAM;

/// Interval of sender/receiver reports (libwebrtc uses 1 s for video); the first goes
/// out sooner so that the RTT is known early.
const REPORT_INTERVAL: Duration = Duration::from_millis(1000);
const FIRST_REPORT: Duration = Duration::from_millis(100);

/// Interval of transport-wide feedback (libwebrtc: 50-250 ms depending on bitrate).
const FEEDBACK_INTERVAL: Duration = Duration::from_millis(50);

/// How often queued NACK and keyframe requests of the receive side are looked at: they
/// wait this long at most before leaving.
const REQUEST_POLL: Duration = Duration::from_millis(5);

/// Most arrivals remembered between two feedback packets.
const MAX_ARRIVALS: usize = 2048;

/// Datagrams the session can hold for the runtime between two drains.
const TRANSMIT_SLOTS: usize = 16;

/// A remote audio stream: where its packets go.
pub(crate) struct AudioReceive {
    pub ssrc: u32,
    pub payload_type: u8,
    /// Packets for the playout side (one queue per stream: the playout side mixes).
    pub queue: Arc<ArrayQueue<ReceivedAudio>>,
    /// Updated from the stream's sender reports, for lip sync.
    pub clock: Arc<RemoteClock>,
}

/// A remote video stream and its RTX companion: where their packets go.
pub(crate) struct VideoReceive {
    pub ssrc: u32,
    pub rtx_ssrc: u32,
    pub payload_type: u8,
    pub rtx_payload_type: u8,
    pub to_receiver: Sender<VideoPacketIn>,
    /// Buffers the receive side hands back, so that forwarding a packet allocates nothing.
    pub free_buffers: Arc<ArrayQueue<Box<[u8]>>>,
    /// NACK and keyframe requests of the receive side, sent as RTCP by the session.
    pub requests: Arc<ArrayQueue<FeedbackRequest>>,
    pub stats: Arc<VideoShared>,
    pub clock: Arc<RemoteClock>,
}

/// A stream this side sends, as RTCP sees it.
pub(crate) enum LocalStream {
    Audio {
        ssrc: u32,
        clock: Arc<SenderClock>,
    },
    Video {
        ssrc: u32,
        clock: Arc<SenderClock>,
        /// NACKs, keyframe requests and transport feedback for the sending side.
        mailbox: Arc<SenderMailbox>,
        stats: Arc<VideoShared>,
    },
}

impl LocalStream {
    fn ssrc(&self) -> u32 {
        match self {
            LocalStream::Audio { ssrc, .. } | LocalStream::Video { ssrc, .. } => *ssrc,
        }
    }
}

/// Settings of a [`Session`].
pub(crate) struct SessionConfig {
    pub srtp_in: SrtpSession,
    pub srtcp_out: SrtpSession,
    pub keys: KeyEpochs,
    pub audio: Vec<AudioReceive>,
    pub video: Vec<VideoReceive>,
    /// This side's streams; the first one's SSRC sends RTCP.
    pub local: Vec<LocalStream>,
    pub peer_timeout: Duration,
    /// Maps instants to NTP time for sender reports.
    pub ntp: NtpClock,
    pub shared: Arc<Shared>,
}

/// Where an SSRC's packets go.
#[derive(Clone, Copy)]
enum Route {
    Audio(usize),
    Video(usize),
    Rtx(usize),
}

/// One row of the receive-stream table.
struct ReceiveRow {
    ssrc: u32,
    route: Route,
}

/// RFC 3550 statistics of a remote stream (originals only: the loss the sender's
/// congestion control must see is loss before repair).
struct RemoteStats {
    ssrc: u32,
    stats: ReceiverStats,
    heard: bool,
}

/// A fixed ring of outgoing datagrams.
struct TransmitRing {
    slots: Box<[Box<[u8]>]>,
    lens: [usize; TRANSMIT_SLOTS],
    head: usize,
    len: usize,
    /// Set after `poll_transmit` handed out the head slot, which is released on the next
    /// call.
    lent: bool,
}

impl TransmitRing {
    fn new() -> Self {
        Self {
            slots: (0..TRANSMIT_SLOTS)
                .map(|_| vec![0u8; MAX_DATAGRAM].into_boxed_slice())
                .collect(),
            lens: [0; TRANSMIT_SLOTS],
            head: 0,
            len: 0,
            lent: false,
        }
    }

    fn release_lent(&mut self) {
        if self.lent {
            self.lent = false;
            self.head = (self.head + 1) % TRANSMIT_SLOTS;
            self.len -= 1;
        }
    }

    /// The next free slot, or `None` when the runtime has not drained the ring.
    fn free_slot(&mut self) -> Option<(usize, &mut [u8])> {
        self.release_lent();
        if self.len == TRANSMIT_SLOTS {
            return None;
        }
        let index = (self.head + self.len) % TRANSMIT_SLOTS;
        Some((index, &mut self.slots[index]))
    }

    fn commit(&mut self, index: usize, len: usize) {
        self.lens[index] = len;
        self.len += 1;
    }

    fn pop(&mut self) -> Option<&[u8]> {
        self.release_lent();
        if self.len == 0 {
            return None;
        }
        self.lent = true;
        Some(&self.slots[self.head][..self.lens[self.head]])
    }
}

/// The sans-IO core of a call; see the module documentation.
pub(crate) struct Session {
    srtp_in: SrtpSession,
    srtcp_out: SrtpSession,
    keys: KeyEpochs,
    audio: Vec<AudioReceive>,
    video: Vec<VideoReceive>,
    local: Vec<LocalStream>,
    /// Sorted by SSRC.
    table: Vec<ReceiveRow>,
    remote_stats: Vec<RemoteStats>,
    shared: Arc<Shared>,
    ntp: NtpClock,
    origin: Instant,
    peer_timeout: Duration,
    last_heard: Instant,
    next_report: Instant,
    next_feedback: Instant,
    next_requests: Instant,
    arrivals: Vec<(i64, i64)>,
    twcc_unwrapper: SeqUnwrapper,
    feedback_count: u8,
    statuses: Vec<Option<i64>>,
    /// RTCP is written here, then protected into a transmit slot.
    rtcp_out: Box<[u8]>,
    /// Received RTCP is parsed into its reused packets.
    rtcp_parser: RtcpParser,
    /// Reused outgoing RTCP: the report blocks, our SDES (fixed for the call), and one
    /// NACK, FIR and transport feedback packet refilled for each send.
    report_blocks: Vec<ReportBlock>,
    sdes_out: RtcpPacket,
    nack_out: Nack,
    fir_out: FullIntraRequest,
    feedback_out: TransportFeedback,
    /// A copy of an SRTCP packet, to retry it under the next epoch's keys.
    rtcp_scratch: Box<[u8]>,
    transmit: TransmitRing,
}

impl Session {
    /// A session starting at `now` (timers and the peer timeout count from here).
    pub fn new(config: SessionConfig, now: Instant) -> Self {
        let mut table = Vec::new();
        let mut remote_stats = Vec::new();
        for (i, a) in config.audio.iter().enumerate() {
            table.push(ReceiveRow { ssrc: a.ssrc, route: Route::Audio(i) });
            remote_stats.push(RemoteStats {
                ssrc: a.ssrc,
                stats: ReceiverStats::new(OPUS_CLOCK_RATE),
                heard: false,
            });
        }
        for (i, v) in config.video.iter().enumerate() {
            table.push(ReceiveRow { ssrc: v.ssrc, route: Route::Video(i) });
            table.push(ReceiveRow { ssrc: v.rtx_ssrc, route: Route::Rtx(i) });
            remote_stats.push(RemoteStats {
                ssrc: v.ssrc,
                stats: ReceiverStats::new(VIDEO_CLOCK_RATE),
                heard: false,
            });
        }
        table.sort_unstable_by_key(|row| row.ssrc);
        // The CNAME ties our streams together for lip sync (RFC 3550 6.5.1). It is derived
        // from the SSRC, not from anything that identifies the user or the device.
        let rtcp_ssrc = config.local.first().map_or(0, LocalStream::ssrc);
        let cname = format!("sv-{rtcp_ssrc:08x}");
        let sdes_out = RtcpPacket::SourceDescription(SourceDescription {
            chunks: vec![SdesChunk::cname(rtcp_ssrc, &cname)],
        });
        Self {
            srtp_in: config.srtp_in,
            srtcp_out: config.srtcp_out,
            keys: config.keys,
            audio: config.audio,
            video: config.video,
            local: config.local,
            table,
            remote_stats,
            shared: config.shared,
            ntp: config.ntp,
            origin: now,
            peer_timeout: config.peer_timeout,
            last_heard: now,
            next_report: now + FIRST_REPORT,
            next_feedback: now + FEEDBACK_INTERVAL,
            next_requests: now,
            arrivals: Vec::with_capacity(MAX_ARRIVALS),
            twcc_unwrapper: SeqUnwrapper::new(),
            feedback_count: 0,
            statuses: Vec::with_capacity(MAX_ARRIVALS),
            rtcp_out: vec![0u8; MAX_DATAGRAM].into_boxed_slice(),
            rtcp_parser: RtcpParser::new(),
            report_blocks: Vec::with_capacity(MAX_REPORT_BLOCKS),
            sdes_out,
            nack_out: Nack::default(),
            fir_out: FullIntraRequest {
                sender_ssrc: rtcp_ssrc,
                entries: vec![FirEntry { ssrc: 0, sequence_number: 0 }],
            },
            feedback_out: TransportFeedback::default(),
            rtcp_scratch: vec![0u8; MAX_DATAGRAM].into_boxed_slice(),
            transmit: TransmitRing::new(),
        }
    }

    /// The next datagram to send, if any. The slice stays valid until the next call on
    /// the session.
    pub fn poll_transmit(&mut self) -> Option<&[u8]> {
        self.transmit.pop()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Instant {
        let mut next = self.next_report.min(self.next_feedback).min(self.next_requests);
        next = next.min(self.last_heard + self.peer_timeout);
        if let Some(t) = self.keys.inbound.next_timeout() {
            next = next.min(t);
        }
        next
    }

    /// Runs the timers due at `now`: key epochs, feedback asked for by the receive side,
    /// transport-wide feedback, reports and the peer timeout (which ends the call).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.advance_epochs(now);
        if now >= self.next_requests {
            self.send_requested_feedback();
            self.next_requests = now + REQUEST_POLL;
        }
        if now >= self.next_feedback {
            self.send_transport_feedback();
            self.next_feedback = now + FEEDBACK_INTERVAL;
        }
        if now >= self.next_report {
            self.send_reports(now);
            // +-25 % so that two peers do not synchronise their reports.
            let spread = u64::from(now.duration_since(self.origin).subsec_nanos() % 500);
            self.next_report = now + REPORT_INTERVAL.mul_f64(0.75) + Duration::from_millis(spread);
        }
        if now.saturating_duration_since(self.last_heard) >= self.peer_timeout {
            self.shared.end(CallEnded::PeerTimeout);
        }
    }

    /// Handles one received datagram that arrived at `arrival` (decrypted in place).
    /// Returns whether it authenticated as the peer's; everything else is counted and
    /// dropped without touching any state.
    pub fn handle_receive(&mut self, arrival: Instant, datagram: &mut [u8]) -> bool {
        let heard = self.receive(arrival, datagram);
        if heard {
            self.last_heard = self.last_heard.max(arrival);
        }
        heard
    }

    fn receive(&mut self, arrival: Instant, datagram: &mut [u8]) -> bool {
        // RFC 5761: RTCP packet types 192-223 occupy the second byte where RTP has the
        // marker bit and payload type; our payload types stay below 128 - 32.
        if datagram.len() >= 2 && (192..=223).contains(&datagram[1]) {
            return self.handle_rtcp(datagram, arrival);
        }
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
        match self.route(packet.ssrc()) {
            Some(Route::Audio(i)) => self.handle_audio(i, &packet, srtp_len, arrival),
            Some(Route::Video(i)) => self.handle_video(i, false, &packet, srtp_len, arrival),
            Some(Route::Rtx(i)) => self.handle_video(i, true, &packet, srtp_len, arrival),
            None => {
                self.shared.rtp_dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Authenticated, so the peer is alive even if we cannot use the packet.
        true
    }

    fn route(&self, ssrc: u32) -> Option<Route> {
        self.table.binary_search_by_key(&ssrc, |row| row.ssrc).ok().map(|i| self.table[i].route)
    }

    fn remote_stats(&mut self, ssrc: u32) -> Option<&mut RemoteStats> {
        self.remote_stats.iter_mut().find(|s| s.ssrc == ssrc)
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
        let wanted = self.shared.rekey_wanted.load(Ordering::Acquire);
        match self.keys.poll_outbound(now, wanted) {
            OutboundStep::Idle => {}
            OutboundStep::HeldBack { stalled } => {
                if stalled {
                    self.shared.rekey_stalls.fetch_add(1, Ordering::Relaxed);
                }
            }
            OutboundStep::Moved { epoch, keys } => {
                self.shared.rekey_wanted.store(false, Ordering::Release);
                if self.srtcp_out.rekey_outbound(keys.master_key(), keys.master_salt()).is_err() {
                    return;
                }
                self.shared.send_epoch.store(epoch, Ordering::Relaxed);
                self.shared.rekeys_sent.fetch_add(1, Ordering::Relaxed);
            }
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
        index: usize,
        packet: &RtpPacket<'_>,
        srtp_len: usize,
        arrival: Instant,
    ) {
        let stream = &self.audio[index];
        let parsed = ReceivedAudio::from_opus(
            packet.sequence_number(),
            packet.timestamp(),
            arrival,
            packet.payload(),
        );
        let audio = match parsed {
            Ok(audio) if packet.payload_type() == stream.payload_type => audio,
            _ => {
                self.shared.rtp_dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        };
        self.shared.packets_received.fetch_add(1, Ordering::Relaxed);
        self.shared.bytes_received.fetch_add(srtp_len as u64, Ordering::Relaxed);
        let pushed = stream.queue.push(audio);
        self.record_transport_arrival(packet, arrival);
        if pushed.is_err() {
            // The playout side is not draining: drop the newest and count it. Audio is
            // already broken in that case; dropping keeps the session from ever waiting.
            self.shared.queue_overflows.fetch_add(1, Ordering::Relaxed);
        }
        let (ssrc, seq, timestamp) = (packet.ssrc(), packet.sequence_number(), packet.timestamp());
        if let Some(remote) = self.remote_stats(ssrc) {
            remote.stats.on_packet(arrival, seq, timestamp);
            remote.heard = true;
        }
    }

    fn handle_video(
        &mut self,
        index: usize,
        is_rtx: bool,
        packet: &RtpPacket<'_>,
        srtp_len: usize,
        arrival: Instant,
    ) {
        let stream = &self.video[index];
        let expected_pt = if is_rtx { stream.rtx_payload_type } else { stream.payload_type };
        if packet.payload_type() != expected_pt {
            self.shared.rtp_dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Every packet of the stream counts for congestion control, padding included.
        self.record_transport_arrival(packet, arrival);
        let stream = &self.video[index];
        stream.stats.bytes_received.fetch_add(srtp_len as u64, Ordering::Relaxed);
        if is_rtx && packet.payload().is_empty() {
            // Padding only (a bandwidth probe): no original sequence number, no media.
            stream.stats.padding_received.fetch_add(1, Ordering::Relaxed);
            return;
        }
        stream.stats.packets_received.fetch_add(1, Ordering::Relaxed);
        if is_rtx {
            stream.stats.retransmissions_received.fetch_add(1, Ordering::Relaxed);
        }
        let bytes = packet.as_bytes();
        let mut data =
            stream.free_buffers.pop().unwrap_or_else(|| vec![0u8; MAX_DATAGRAM].into_boxed_slice());
        data[..bytes.len()].copy_from_slice(bytes);
        let item = VideoPacketIn { arrival, len: bytes.len(), data };
        match stream.to_receiver.try_send(item) {
            Ok(()) => {}
            Err(TrySendError::Full(item) | TrySendError::Disconnected(item)) => {
                self.shared.queue_overflows.fetch_add(1, Ordering::Relaxed);
                let _ = stream.free_buffers.push(item.data);
            }
        }
        if !is_rtx {
            // Report blocks describe the original stream: its loss before repair is what
            // the sender's congestion control needs to see.
            let (ssrc, seq, timestamp) =
                (packet.ssrc(), packet.sequence_number(), packet.timestamp());
            if let Some(remote) = self.remote_stats(ssrc) {
                remote.stats.on_packet(arrival, seq, timestamp);
                remote.heard = true;
            }
        }
    }

    /// Notes the packet's transport-wide sequence number and arrival for the next
    /// transport feedback report.
    fn record_transport_arrival(&mut self, packet: &RtpPacket<'_>, arrival: Instant) {
        if let Some(&[hi, lo]) = packet.extension(TRANSPORT_SEQUENCE_EXTENSION_ID) {
            let seq = self.twcc_unwrapper.unwrap(u16::from_be_bytes([hi, lo]));
            if self.arrivals.len() < MAX_ARRIVALS {
                let us = arrival.saturating_duration_since(self.origin).as_micros() as i64;
                self.arrivals.push((seq, us));
            }
        }
    }

    fn handle_rtcp(&mut self, datagram: &mut [u8], arrival: Instant) -> bool {
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
        // The parser is lent out of `self` for the walk (an empty one costs nothing).
        let mut parser = std::mem::take(&mut self.rtcp_parser);
        let mut rest = &datagram[..len];
        while !rest.is_empty() {
            match parser.parse_one(rest) {
                Ok((packet, packet_len)) => {
                    rest = &rest[packet_len..];
                    self.on_rtcp(packet, arrival);
                }
                Err(_) => {
                    self.shared.malformed.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        self.rtcp_parser = parser;
        true
    }

    fn local_video(&self, ssrc: u32) -> Option<(&Arc<SenderMailbox>, &Arc<VideoShared>)> {
        self.local.iter().find_map(|l| match l {
            LocalStream::Video { ssrc: s, mailbox, stats, .. } if *s == ssrc => {
                Some((mailbox, stats))
            }
            _ => None,
        })
    }

    fn on_rtcp(&mut self, packet: &RtcpPacket, arrival: Instant) {
        match packet {
            RtcpPacket::SenderReport(sr) => {
                let ntp = NtpTime(sr.ntp_time);
                if let Some(remote) = self.remote_stats(sr.ssrc) {
                    remote.stats.on_sender_report(arrival, ntp);
                }
                match self.route(sr.ssrc) {
                    Some(Route::Audio(i)) => self.audio[i].clock.set(ntp, sr.rtp_time),
                    Some(Route::Video(i)) => self.video[i].clock.set(ntp, sr.rtp_time),
                    _ => {}
                }
                self.on_report_blocks(&sr.reports, arrival);
            }
            RtcpPacket::ReceiverReport(rr) => self.on_report_blocks(&rr.reports, arrival),
            RtcpPacket::Nack(nack) => {
                if let Some((mailbox, stats)) = self.local_video(nack.media_ssrc) {
                    for seq in nack.lost_sequence_numbers() {
                        stats.nacked_by_peer.fetch_add(1, Ordering::Relaxed);
                        // A full mailbox means the sender is far behind: those packets
                        // would be too late anyway.
                        let _ = mailbox.nacks.push(seq);
                    }
                }
            }
            RtcpPacket::PictureLossIndication(pli) => self.keyframe_requested(pli.media_ssrc),
            RtcpPacket::FullIntraRequest(fir) => {
                for entry in &fir.entries {
                    self.keyframe_requested(entry.ssrc);
                }
            }
            RtcpPacket::TransportFeedback(feedback) => {
                // Transport-wide: it covers every stream carrying the sequence extension,
                // which our video streams do.
                if let Some(LocalStream::Video { mailbox, .. }) =
                    self.local.iter().find(|l| matches!(l, LocalStream::Video { .. }))
                {
                    // Oldest feedback is the least useful; a full box drops the newest,
                    // which the estimator survives (the next one covers it).
                    let mut copy = mailbox.spare_feedback.pop().unwrap_or_default();
                    copy.copy_from(feedback);
                    if let Err(copy) = mailbox.feedback.push(copy) {
                        let _ = mailbox.spare_feedback.push(copy);
                    }
                }
            }
            _ => {}
        }
    }

    fn keyframe_requested(&self, ssrc: u32) {
        if let Some((mailbox, stats)) = self.local_video(ssrc) {
            stats.keyframe_requests_received.fetch_add(1, Ordering::Relaxed);
            mailbox.keyframe.store(true, Ordering::Release);
        }
    }

    fn on_report_blocks(&self, blocks: &[ReportBlock], arrival: Instant) {
        let arrival_ntp = self.ntp.ntp(arrival);
        for block in blocks {
            let Some(local) = self.local.iter().find(|l| l.ssrc() == block.ssrc) else {
                continue;
            };
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
            let (loss, lost) = match local {
                LocalStream::Audio { .. } => {
                    (&self.shared.remote_audio_loss, &self.shared.remote_audio_lost)
                }
                LocalStream::Video { .. } => {
                    (&self.shared.remote_video_loss, &self.shared.remote_video_lost)
                }
            };
            loss.store(block.fraction_lost, Ordering::Relaxed);
            lost.store(block.cumulative_lost.max(0) as u64, Ordering::Relaxed);
        }
    }

    /// SSRC our RTCP is sent from.
    fn rtcp_ssrc(&self) -> u32 {
        self.local.first().map_or(0, LocalStream::ssrc)
    }

    /// Room in `rtcp_out` for a compound packet, leaving space for the SRTCP trailer.
    fn rtcp_room(&self) -> usize {
        self.rtcp_out.len() - self.srtcp_out.profile().rtcp_overhead()
    }

    /// Writes one RTCP packet at the start of `rtcp_out` and sends it.
    fn send_rtcp(&mut self, packet: &RtcpPacket) {
        let room = self.rtcp_room();
        if let Ok(len) = packet.write_to(&mut self.rtcp_out[..room]) {
            self.queue_rtcp(len);
        }
    }

    /// Protects the compound RTCP packet in `rtcp_out[..len]` into the next transmit slot.
    fn queue_rtcp(&mut self, len: usize) {
        let Some((slot, out)) = self.transmit.free_slot() else {
            // The runtime has not drained what is queued: the report is lost, as it would
            // be in a full socket buffer.
            self.shared.send_errors.fetch_add(1, Ordering::Relaxed);
            return;
        };
        out[..len].copy_from_slice(&self.rtcp_out[..len]);
        let Ok(len) = self.srtcp_out.protect_rtcp(out, len) else { return };
        self.transmit.commit(slot, len);
        self.shared.rtcp_sent.fetch_add(1, Ordering::Relaxed);
    }

    /// NACK and PLI/FIR asked for by the video receive side.
    fn send_requested_feedback(&mut self) {
        let sender_ssrc = self.rtcp_ssrc();
        for index in 0..self.video.len() {
            let media_ssrc = self.video[index].ssrc;
            while let Some(request) = self.video[index].requests.pop() {
                // The reused packets are moved out for the write and back after it.
                let packet = match request {
                    FeedbackRequest::Nack { seqs, len } => {
                        let mut nack = std::mem::take(&mut self.nack_out);
                        nack.set_lost(sender_ssrc, media_ssrc, seqs[..len].iter().copied());
                        RtcpPacket::Nack(nack)
                    }
                    FeedbackRequest::Keyframe(KeyframeRequest::Pli) => {
                        RtcpPacket::PictureLossIndication(PictureLossIndication {
                            sender_ssrc,
                            media_ssrc,
                        })
                    }
                    FeedbackRequest::Keyframe(KeyframeRequest::Fir { seq }) => {
                        let mut fir = std::mem::take(&mut self.fir_out);
                        fir.sender_ssrc = sender_ssrc;
                        fir.entries.clear();
                        fir.entries.push(FirEntry { ssrc: media_ssrc, sequence_number: seq });
                        RtcpPacket::FullIntraRequest(fir)
                    }
                };
                self.send_rtcp(&packet);
                match packet {
                    RtcpPacket::Nack(nack) => self.nack_out = nack,
                    RtcpPacket::FullIntraRequest(fir) => self.fir_out = fir,
                    _ => {}
                }
            }
        }
    }

    /// Transport-wide feedback about the packets received since the last one.
    fn send_transport_feedback(&mut self) {
        let Some(media_ssrc) = self.video.first().map(|v| v.ssrc) else { return };
        if self.arrivals.is_empty() {
            return;
        }
        self.arrivals.sort_unstable();
        let first = self.arrivals[0].0;
        let last = self.arrivals[self.arrivals.len() - 1].0;
        let span = (last - first + 1) as usize;
        if span > MAX_ARRIVALS * 4 {
            // A sequence jump this large is a restart, not loss: report nothing.
            self.arrivals.clear();
            return;
        }
        self.statuses.clear();
        self.statuses.resize(span, None);
        for &(seq, us) in &self.arrivals {
            self.statuses[(seq - first) as usize] = Some(us);
        }
        self.arrivals.clear();
        let mut feedback = std::mem::take(&mut self.feedback_out);
        let built = feedback.set_arrivals(
            self.rtcp_ssrc(),
            media_ssrc,
            first as u16,
            self.feedback_count,
            &self.statuses,
        );
        let packet = RtcpPacket::TransportFeedback(feedback);
        if built.is_ok() {
            self.feedback_count = self.feedback_count.wrapping_add(1);
            self.send_rtcp(&packet);
        }
        if let RtcpPacket::TransportFeedback(feedback) = packet {
            self.feedback_out = feedback;
        }
    }

    /// Sender reports for what we send, with report blocks for what we receive (a
    /// receiver report when we have sent nothing), and our CNAME.
    fn send_reports(&mut self, now: Instant) {
        // Report blocks for what we hear (at most 31 fit one report).
        self.report_blocks.clear();
        for remote in self.remote_stats.iter_mut().filter(|r| r.heard) {
            if self.report_blocks.len() == MAX_REPORT_BLOCKS {
                break;
            }
            self.report_blocks.push(wire_block(remote.ssrc, remote.stats.report_block(now)));
        }
        let room = self.rtcp_room();
        let mut at = 0;
        for index in 0..self.local.len() {
            let (ssrc, clock, rate) = match &self.local[index] {
                LocalStream::Audio { ssrc, clock } => (*ssrc, clock, OPUS_CLOCK_RATE),
                LocalStream::Video { ssrc, clock, .. } => (*ssrc, clock, VIDEO_CLOCK_RATE),
            };
            let report = sender_report(ssrc, clock, rate, now, &self.ntp);
            // The first stream sends our RTCP and carries the blocks (moved in for the
            // write and back after it).
            let carries_blocks = index == 0;
            let packet = match (report, carries_blocks) {
                (Some(mut sr), true) => {
                    sr.reports = std::mem::take(&mut self.report_blocks);
                    RtcpPacket::SenderReport(sr)
                }
                (None, true) => RtcpPacket::ReceiverReport(ReceiverReport {
                    ssrc,
                    reports: std::mem::take(&mut self.report_blocks),
                }),
                (Some(sr), false) => RtcpPacket::SenderReport(sr),
                (None, false) => continue,
            };
            let written = packet.write_to(&mut self.rtcp_out[at..room]);
            match packet {
                RtcpPacket::SenderReport(sr) if carries_blocks => self.report_blocks = sr.reports,
                RtcpPacket::ReceiverReport(rr) => self.report_blocks = rr.reports,
                _ => {}
            }
            let Ok(len) = written else { return };
            at += len;
        }
        let Ok(len) = self.sdes_out.write_to(&mut self.rtcp_out[at..room]) else { return };
        self.queue_rtcp(at + len);
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

/// An SR for a stream whose sending side publishes to `clock`: the RTP timestamp of
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sender_reports_extrapolate_the_rtp_clock_from_the_latest_packet() {
        let t0 = Instant::now();
        let ntp = NtpClock::new(t0, Duration::from_secs(1_000));
        let clock = SenderClock::new(t0);
        assert!(sender_report(7, &clock, 90_000, t0, &ntp).is_none(), "nothing sent yet");
        clock.on_sent(t0, 1_000, 1200);
        clock.on_sent(t0, 1_000, 800);
        let now = t0 + Duration::from_millis(500);
        let sr = sender_report(7, &clock, 90_000, now, &ntp).expect("report");
        assert_eq!(sr.rtp_time, 1_000 + 45_000);
        assert_eq!((sr.packet_count, sr.octet_count), (2, 2000));
        assert_eq!(sr.ntp_time, ntp.ntp(now).0);
        // A packet whose content was captured after `now` (clock skew between threads)
        // pulls the timestamp back rather than wrapping.
        clock.on_sent(now + Duration::from_millis(10), 50_000, 100);
        let sr = sender_report(7, &clock, 90_000, now, &ntp).expect("report");
        assert_eq!(sr.rtp_time, 50_000 - 900);
    }
}
