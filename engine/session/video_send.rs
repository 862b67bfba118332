//! One video send stream, sans-IO: encoded AV1 frames in, paced SRTP datagrams out. It
//! owns the stream's RTP state (SSRC, sequence numbers, 90 kHz timestamps, transport-wide
//! sequence numbers), the AV1 packetiser, the retransmission history and RTX (RFC 4588)
//! with its bandwidth budget, the bandwidth estimator fed by transport-wide feedback, the
//! pacer, and the stream's outbound SRTP context and key epoch.
//!
//! Inputs: [`VideoSendStream::send_frame`] (an encoded frame), [`serve_mailbox`] (NACKs,
//! keyframe requests and feedback the session routed to this stream). Outputs:
//! [`VideoSendStream::poll_transmit`] (the next datagram whose pacing slot has come),
//! [`VideoSendStream::poll_timeout`], and from `serve_mailbox` the encoder bitrate to
//! set and whether to encode a keyframe. The encoder itself belongs to the caller (the
//! runtime's video send thread or the simulated-call harness).
//!
//! [`serve_mailbox`]: VideoSendStream::serve_mailbox

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::nack::RetransmissionHistory;
use super::shared::{
    EPOCH_EXTENSION_ID, EpochMailbox, SenderClock, SenderMailbox, Shared, TransportSendRecord,
};
use super::video::{
    MAX_VIDEO_PAYLOAD, TRANSPORT_SEQUENCE_EXTENSION_ID, VIDEO_CLOCK_RATE, VideoIds, VideoShared,
};
use crate::adapt::probe::{ProbeCluster, ProbeController, ProbeEstimator, ProbePacketFeedback};
use crate::adapt::{AUDIO_OVERHEAD_BPS, audio_allocation_bps};
use crate::adapt::{BandwidthEstimator, BweConfig, PacketFeedback};
use crate::rtp::av1::Av1Packetizer;
use crate::rtp::rtcp::TransportFeedback;
use crate::rtp::{HeaderExtension, RtpHeader};
use crate::srtp::SrtpSession;
use crate::transport::MAX_DATAGRAM;
use crate::video::av1::EncodedFrame;

/// Sent packets kept for retransmission (about 3 s at 1 Mbit/s).
const HISTORY: usize = 1024;

/// Oldest packet worth retransmitting: later than this the receiver has given up.
const HISTORY_AGE: Duration = Duration::from_millis(1000);

/// Send records kept for matching transport-wide feedback.
const SEND_RECORDS: usize = 4096;

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

/// Datagrams the pacer holds. Full-queue policy: a packet that finds it full is dropped
/// and counted (`VideoStats::pacer_drops`); at the lowest bitrate a 720p keyframe still
/// fits with room to spare.
const PACER_SLOTS: usize = 256;

/// The pacer's queue-time limit: when what it holds would take longer than this to leave
/// at the pacing rate (a keyframe at a low target: a 20 kB keyframe at 100 kbit/s is 640 ms
/// at 2.5 x), it paces faster, at the rate that empties it in this time. Holding packets
/// longer would add their wait to every frame behind them; the bottleneck queue, which
/// the delay-based estimator watches, is the place for such a backlog.
const MAX_PACER_DELAY: Duration = Duration::from_millis(100);

/// Keyframes requested by the peer are sent at most this often: a keyframe costs several
/// frames' worth of bits, and on a congested path back-to-back keyframes only deepen the
/// congestion that lost the previous one (the request stays pending until then).
const MIN_KEYFRAME_INTERVAL: Duration = Duration::from_millis(500);

/// Probe clusters are padding-only packets on the RTX stream, each carrying at most this
/// much padding (RFC 3550's one-byte count), at least the smaller amount, so that a
/// cluster is exactly the bytes the probe asks for: full-size copies of media packets
/// made a probe on a thin link several times its 15 ms worth, enough to overflow a
/// small bottleneck queue.
const MAX_PADDING: usize = 255;
const MIN_PADDING: usize = 16;
/// Header, extensions and SRTP tag of a padding-only packet, roughly (the cluster's byte
/// count uses the real lengths).
const PADDING_PACKET_OVERHEAD: usize = 40;
/// Most packets one cluster may take (a 5 Mbit/s probe needs about 32).
const MAX_PROBE_PACKETS: u32 = 64;

/// Retransmissions may use at most this share of the target bitrate: on a congested path
/// unbounded repair traffic would deepen the congestion that caused the loss (a burst of
/// half a second's worth plus two packets is allowed).
const RTX_SHARE: f64 = 0.3;

/// Bitrate counted for audio and RTCP in the estimator's start, floor and ceiling (Opus
/// at 32 kbit/s plus its overhead and reports); the split of a live estimate uses the
/// audio bitrate the capture thread reports.
const AUDIO_ALLOWANCE_BPS: u64 = 50_000;

/// One sent video packet kept for retransmission.
struct SentPacket {
    seq: u16,
    timestamp: u32,
    marker: bool,
    len: usize,
    payload: Box<[u8]>,
}

/// What one transport-wide sequence number carried (this stream's packets, and the audio
/// stream's, whose records join the table): kept to match feedback.
#[derive(Clone, Copy)]
struct SendRecord {
    sent: TransportSendRecord,
    /// The probe cluster it belonged to (0: none).
    cluster: u32,
}

/// What a queued packet is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PacketKind {
    /// An original media packet.
    Media,
    /// A retransmission (RTX) in answer to a NACK.
    Retransmission,
    /// Padding only, for a probe cluster.
    Padding,
}

/// How a packet is paced.
#[derive(Clone, Copy)]
enum Pace {
    /// At `PACING_FACTOR` x the target bitrate.
    Media,
    /// At a probe cluster's rate.
    Probe { cluster: u32, rate_bps: u64 },
}

/// What one packet carries.
enum Body<'a> {
    /// A media payload.
    Media(&'a [u8]),
    /// A stored payload again (RFC 4588: the original sequence number leads it).
    Retransmission { original_seq: u16, payload: &'a [u8] },
    /// This many bytes of padding and nothing else.
    Padding(u8),
}

/// One protected datagram waiting for its pacing slot.
struct Paced {
    queued_at: Instant,
    pace: Pace,
    transport_seq: u16,
    kind: PacketKind,
    len: usize,
    data: Box<[u8]>,
}

/// Settings of a [`VideoSendStream`].
pub(crate) struct VideoSendConfig {
    pub ids: VideoIds,
    /// The encoder's configured bitrate (the ceiling of adaptation).
    pub configured_bitrate_bps: u32,
    /// Floor of adaptation.
    pub min_bitrate_bps: u32,
    /// Whether the estimator steers the encoder bitrate.
    pub adapt_bitrate: bool,
    /// RTP timestamps count from here.
    pub origin: Instant,
}

/// What serving the mailbox asks of the encoder.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct EncoderRequests {
    /// Encode the next frame as a keyframe.
    pub keyframe: bool,
    /// Retarget the encoder to this bitrate.
    pub bitrate_bps: Option<u32>,
}

/// See the module documentation.
pub(crate) struct VideoSendStream {
    srtp: SrtpSession,
    ids: VideoIds,
    stats: Arc<VideoShared>,
    /// The call's transport-wide sequence numbers and the audio stream's send records.
    shared: Arc<Shared>,
    clock: Arc<SenderClock>,
    new_keys: Arc<EpochMailbox>,
    origin: Instant,
    adapt_bitrate: bool,
    min_bitrate: u32,
    max_bitrate: u32,
    bitrate: u32,
    packetizer: Av1Packetizer,
    history: RetransmissionHistory<u16>,
    sent: Vec<SentPacket>,
    send_records: Vec<SendRecord>,
    bwe: BandwidthEstimator,
    probes: ProbeController,
    probe_estimator: ProbeEstimator,
    /// Feedback on probe packets of the report being read (reused).
    probe_feedback: Vec<ProbePacketFeedback>,
    timestamp_base: u32,
    seq: u16,
    /// RTP timestamp of the newest frame sent (padding packets carry it).
    last_timestamp: u32,
    rtx_seq: u16,
    buf: Box<[u8]>,
    payloads: Vec<(usize, usize, bool)>,
    unit: Vec<u8>,
    feedback: Vec<PacketFeedback>,
    arrivals: Vec<(u16, i64)>,
    last_keyframe: Option<Instant>,
    /// Retransmission budget in bytes (token bucket refilled at `RTX_SHARE` x bitrate).
    rtx_budget: f64,
    rtx_refilled: Instant,
    epoch: u8,
    /// When the pacer's schedule next has room.
    next_send_at: Instant,
    /// Bytes waiting in the pacer.
    pacer_bytes: usize,
    pacer: Vec<Paced>,
    pacer_head: usize,
    pacer_len: usize,
    /// Set after `poll_transmit` lent the head slot; released on the next call.
    pacer_lent: bool,
}

impl VideoSendStream {
    /// A stream starting at `now`, protected by `srtp` until the session posts newer
    /// keys to `new_keys`. Returns the stream and the bitrate the encoder must start at.
    pub fn new(
        config: VideoSendConfig,
        srtp: SrtpSession,
        stats: Arc<VideoShared>,
        shared: Arc<Shared>,
        clock: Arc<SenderClock>,
        new_keys: Arc<EpochMailbox>,
        now: Instant,
    ) -> Result<(Self, u32), crate::rtp::RtpError> {
        let configured = config.configured_bitrate_bps;
        let start =
            if config.adapt_bitrate { configured.min(START_BITRATE_BPS) } else { configured };
        let mix = u64::from(config.ids.local).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let stream = Self {
            srtp,
            ids: config.ids,
            stats,
            shared,
            clock,
            new_keys,
            origin: config.origin,
            adapt_bitrate: config.adapt_bitrate,
            min_bitrate: config.min_bitrate_bps,
            max_bitrate: configured,
            bitrate: start,
            packetizer: Av1Packetizer::new(MAX_VIDEO_PAYLOAD)?,
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
            send_records: vec![
                SendRecord {
                    sent: TransportSendRecord { transport_seq: 0, sent_at: now, len: 0 },
                    cluster: 0
                };
                SEND_RECORDS
            ],
            bwe: BandwidthEstimator::new(BweConfig {
                start_bps: u64::from(start) + AUDIO_ALLOWANCE_BPS,
                min_bps: u64::from(config.min_bitrate_bps) + AUDIO_ALLOWANCE_BPS,
                max_bps: u64::from(configured) * 2 + AUDIO_ALLOWANCE_BPS,
                ..BweConfig::default()
            }),
            // Probing only makes sense when the estimate steers the encoder.
            probes: ProbeController::new(if config.adapt_bitrate {
                u64::from(configured) + AUDIO_ALLOWANCE_BPS
            } else {
                0
            }),
            probe_estimator: ProbeEstimator::new(),
            probe_feedback: Vec::with_capacity(64),
            timestamp_base: (mix >> 16) as u32,
            seq: (mix >> 48) as u16,
            last_timestamp: (mix >> 16) as u32,
            rtx_seq: (mix >> 32) as u16,
            buf: vec![0u8; MAX_DATAGRAM].into_boxed_slice(),
            payloads: Vec::with_capacity(64),
            unit: Vec::with_capacity(64 * 1024),
            feedback: Vec::with_capacity(512),
            arrivals: Vec::with_capacity(512),
            last_keyframe: None,
            rtx_budget: 0.0,
            rtx_refilled: now,
            epoch: 0,
            next_send_at: now,
            pacer_bytes: 0,
            pacer: (0..PACER_SLOTS)
                .map(|_| Paced {
                    queued_at: now,
                    pace: Pace::Media,
                    transport_seq: 0,
                    kind: PacketKind::Media,
                    len: 0,
                    data: vec![0u8; MAX_DATAGRAM].into_boxed_slice(),
                })
                .collect(),
            pacer_head: 0,
            pacer_len: 0,
            pacer_lent: false,
        };
        stream.stats.encoder_bitrate_bps.store(u64::from(start), Ordering::Relaxed);
        stream.stats.estimated_bandwidth_bps.store(u64::from(start), Ordering::Relaxed);
        Ok((stream, start))
    }

    /// Retransmissions, keyframe requests and bandwidth feedback the session routed to
    /// this stream; `rtt` is the session's latest round-trip time.
    pub fn serve_mailbox(
        &mut self,
        now: Instant,
        mailbox: &SenderMailbox,
        rtt: Option<Duration>,
    ) -> EncoderRequests {
        let mut requests = EncoderRequests::default();
        if let Some(rtt) = rtt {
            self.history.set_rtt(rtt);
            self.bwe.set_rtt(rtt);
        }
        let keyframe_due = self
            .last_keyframe
            .is_none_or(|t| now.saturating_duration_since(t) >= MIN_KEYFRAME_INTERVAL);
        if keyframe_due && mailbox.keyframe.swap(false, Ordering::AcqRel) {
            requests.keyframe = true;
        }
        while let Some(seq) = mailbox.nacks.pop() {
            self.retransmit(now, seq);
        }
        // Audio packets count as much as video for the estimate: their records join the
        // table the feedback is matched against.
        while let Some(record) = self.shared.transport.audio_sent.pop() {
            self.send_records[usize::from(record.transport_seq) % SEND_RECORDS] =
                SendRecord { sent: record, cluster: 0 };
        }
        while let Some(feedback) = mailbox.feedback.pop() {
            self.match_feedback(&feedback);
            // The report goes back to the session to carry the next one: no allocation.
            let _ = mailbox.spare_feedback.push(feedback);
            if self.feedback.is_empty() {
                continue;
            }
            // In send order: video takes its transport sequence number when it enters the
            // pacer (it is protected there), audio when it leaves, so sequence order can
            // differ from send order by the pacer's delay; the trendline needs send order.
            self.feedback.sort_unstable_by_key(|f| f.send_time);
            let mut target = self.bwe.on_feedback(now, &self.feedback);
            for index in 0..self.probe_feedback.len() {
                if let Some(delivered) =
                    self.probe_estimator.on_feedback(&self.probe_feedback[index])
                {
                    self.stats.probe_results.fetch_add(1, Ordering::Relaxed);
                    target = self.bwe.on_probe_result(delivered);
                }
            }
            self.probes.on_estimate(now, target, self.bwe.overusing());
            self.stats.estimated_bandwidth_bps.store(target, Ordering::Relaxed);
            // Audio first: it gets what the allocation affords (within its configured
            // rate, applied by the capture thread), video the rest.
            self.shared.audio_bitrate_wanted.store(audio_allocation_bps(target), Ordering::Relaxed);
            if self.adapt_bitrate {
                let audio = match self.shared.audio_bitrate.load(Ordering::Relaxed) {
                    0 => AUDIO_ALLOWANCE_BPS,
                    bps => u64::from(bps) + AUDIO_OVERHEAD_BPS,
                };
                let video = target
                    .saturating_sub(audio)
                    .clamp(u64::from(self.min_bitrate), u64::from(self.max_bitrate))
                    as u32;
                // Retarget on a 5 % change: every retarget costs the encoder's rate
                // control a little stability.
                if video.abs_diff(self.bitrate) * 20 > self.bitrate {
                    requests.bitrate_bps = Some(video);
                }
            }
        }
        requests
    }

    /// The encoder took the bitrate asked for by [`serve_mailbox`](Self::serve_mailbox).
    pub fn bitrate_applied(&mut self, bitrate_bps: u32) {
        self.bitrate = bitrate_bps;
        self.stats.encoder_bitrate_bps.store(u64::from(bitrate_bps), Ordering::Relaxed);
    }

    /// Packetises and protects one encoded frame into the pacer (its capture instant
    /// gives the RTP timestamp).
    pub fn send_frame(&mut self, now: Instant, frame: &EncodedFrame) {
        use crate::pipeline::Timestamped;
        self.stats.frames_encoded.fetch_add(1, Ordering::Relaxed);
        if frame.is_keyframe() {
            self.stats.keyframes_encoded.fetch_add(1, Ordering::Relaxed);
            self.last_keyframe = Some(now);
        }
        let timestamp = video_timestamp(self.timestamp_base, self.origin, frame.capture_time());
        self.last_timestamp = timestamp;
        // Packetise into `unit` first (the packetiser borrows its own scratch), then send.
        self.unit.clear();
        self.payloads.clear();
        let (unit, payloads) = (&mut self.unit, &mut self.payloads);
        let packetized = self.packetizer.packetize(frame.data(), frame.is_keyframe(), |p, m| {
            payloads.push((unit.len(), p.len(), m));
            unit.extend_from_slice(p);
        });
        if packetized.is_err() {
            self.stats.frames_dropped_before_encode.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let payloads = std::mem::take(&mut self.payloads);
        let unit = std::mem::take(&mut self.unit);
        for &(offset, len, marker) in &payloads {
            let seq = self.seq;
            self.seq = self.seq.wrapping_add(1);
            let slot = &mut self.sent[usize::from(seq) % HISTORY];
            slot.seq = seq;
            slot.timestamp = timestamp;
            slot.marker = marker;
            slot.len = len;
            slot.payload[..len].copy_from_slice(&unit[offset..offset + len]);
            self.history.store(now, seq, seq);
            let header = RtpHeader {
                marker,
                payload_type: self.ids.pt,
                sequence_number: seq,
                timestamp,
                ssrc: self.ids.local,
                ..RtpHeader::default()
            };
            let body = Body::Media(&unit[offset..offset + len]);
            if self.queue_rtp(now, header, body, Pace::Media).is_some() {
                self.clock.on_sent(frame.capture_time(), timestamp, len);
            }
        }
        self.payloads = payloads;
        self.unit = unit;
        self.probes.on_start(now, self.bwe.target_bps());
        while let Some(cluster) = self.probes.poll_cluster(now) {
            self.send_probe(now, &cluster);
        }
    }

    /// Sends one probe cluster: padding-only packets on the RTX stream (the receiver
    /// discards them; the transport-wide feedback on them is what counts), paced at the
    /// cluster's rate, together the cluster's bytes in at least its packet count.
    fn send_probe(&mut self, now: Instant, cluster: &ProbeCluster) {
        let pace = Pace::Probe { cluster: cluster.id, rate_bps: cluster.rate_bps };
        let share = cluster.bytes.div_ceil(cluster.packets.max(1) as usize);
        let padding = share.saturating_sub(PADDING_PACKET_OVERHEAD).clamp(MIN_PADDING, MAX_PADDING);
        let (mut packets, mut bytes) = (0u32, 0usize);
        while (packets < cluster.packets || bytes < cluster.bytes) && packets < MAX_PROBE_PACKETS {
            let Some(len) = self.queue_padding(now, padding as u8, pace) else { break };
            packets += 1;
            bytes += len;
        }
        if packets > 0 {
            self.probe_estimator.on_cluster_sent(cluster, packets);
        }
    }

    /// Queues one padding-only packet of `padding` bytes on the RTX stream; returns its
    /// length on the wire if it got queued.
    fn queue_padding(&mut self, now: Instant, padding: u8, pace: Pace) -> Option<usize> {
        let rtx_seq = self.rtx_seq;
        self.rtx_seq = self.rtx_seq.wrapping_add(1);
        let header = RtpHeader {
            payload_type: self.ids.rtx_pt,
            sequence_number: rtx_seq,
            timestamp: self.last_timestamp,
            ssrc: self.ids.local_rtx,
            ..RtpHeader::default()
        };
        self.queue_rtp(now, header, Body::Padding(padding), pace)
    }

    /// Matches one transport-wide report against the send records into `self.feedback`
    /// (packets of this stream the report covers, with their arrival or loss).
    fn match_feedback(&mut self, feedback: &TransportFeedback) {
        self.feedback.clear();
        self.probe_feedback.clear();
        self.arrivals.clear();
        self.arrivals.extend(feedback.arrivals());
        let mut received = self.arrivals.iter().peekable();
        for i in 0..feedback.statuses.len() {
            let seq = feedback.base_sequence.wrapping_add(i as u16);
            let SendRecord { sent: record, cluster } =
                self.send_records[usize::from(seq) % SEND_RECORDS];
            let record_matches = record.transport_seq == seq && record.len != 0;
            let arrival = match received.peek() {
                Some(&&(s, us)) if s == seq => {
                    received.next();
                    Some(self.origin + Duration::from_micros(us.max(0) as u64))
                }
                _ => None,
            };
            if !record_matches {
                continue;
            }
            self.feedback.push(PacketFeedback {
                seq,
                send_time: record.sent_at,
                arrival_time: arrival,
                size: record.len as usize,
            });
            if cluster != 0 {
                self.probe_feedback.push(ProbePacketFeedback {
                    cluster,
                    send_time: record.sent_at,
                    arrival_time: arrival,
                    size: record.len as usize,
                });
            }
        }
    }

    fn retransmit(&mut self, now: Instant, seq: u16) {
        let share = f64::from(self.bitrate) * RTX_SHARE / 8.0;
        let elapsed = now.saturating_duration_since(self.rtx_refilled).as_secs_f64();
        self.rtx_budget = (self.rtx_budget + elapsed * share).min(share * 0.5 + 2400.0);
        self.rtx_refilled = now;
        let len = self.sent[usize::from(seq) % HISTORY].len as f64;
        if self.rtx_budget < len {
            self.stats.retransmissions_skipped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self.history.on_nack(now, seq).is_none() {
            return;
        }
        self.rtx_budget -= len;
        self.queue_rtx(now, seq);
    }

    /// Queues stored packet `seq` again on the RTX stream (RFC 4588); returns whether it
    /// was still stored and got queued.
    fn queue_rtx(&mut self, now: Instant, seq: u16) -> bool {
        let index = usize::from(seq) % HISTORY;
        let slot = &self.sent[index];
        if slot.seq != seq {
            return false;
        }
        let (timestamp, marker, len) = (slot.timestamp, slot.marker, slot.len);
        let payload = std::mem::take(&mut self.sent[index].payload);
        let rtx_seq = self.rtx_seq;
        self.rtx_seq = self.rtx_seq.wrapping_add(1);
        let header = RtpHeader {
            marker,
            payload_type: self.ids.rtx_pt,
            sequence_number: rtx_seq,
            timestamp,
            ssrc: self.ids.local_rtx,
            ..RtpHeader::default()
        };
        let body = Body::Retransmission { original_seq: seq, payload: &payload[..len] };
        let queued = self.queue_rtp(now, header, body, Pace::Media);
        self.sent[index].payload = payload;
        queued.is_some()
    }

    /// Writes and protects one RTP packet with a transport-wide sequence number into the
    /// pacer. Returns its length on the wire if it was queued.
    fn queue_rtp(
        &mut self,
        now: Instant,
        header: RtpHeader<'_>,
        body: Body<'_>,
        pace: Pace,
    ) -> Option<usize> {
        if let Some((epoch, keys)) = self.new_keys.pop() {
            if self.srtp.rekey_outbound(keys.master_key(), keys.master_salt()).is_err() {
                return None;
            }
            self.epoch = epoch;
        }
        self.release_lent();
        if self.pacer_len == PACER_SLOTS {
            self.stats.pacer_drops.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let transport_seq = self.shared.transport.next_seq();
        let twcc = transport_seq.to_be_bytes();
        let epoch = [self.epoch];
        let extensions = [
            HeaderExtension { id: TRANSPORT_SEQUENCE_EXTENSION_ID, data: &twcc },
            HeaderExtension { id: EPOCH_EXTENSION_ID, data: &epoch },
        ];
        let header = RtpHeader { extensions: &extensions, ..header };
        let overhead = self.srtp.profile().rtp_overhead();
        let room = self.buf.len() - overhead;
        let header_len = header.len();
        let (written, kind) = match body {
            Body::Media(payload) => {
                (header.write_packet(payload, 0, &mut self.buf[..room]), PacketKind::Media)
            }
            Body::Padding(padding) => {
                (header.write_packet(&[], padding, &mut self.buf[..room]), PacketKind::Padding)
            }
            Body::Retransmission { original_seq, payload } => {
                let total = header_len + 2 + payload.len();
                if total > room {
                    return None;
                }
                let written = header.write(&mut self.buf[..room]).map(|_| {
                    self.buf[header_len..header_len + 2]
                        .copy_from_slice(&original_seq.to_be_bytes());
                    self.buf[header_len + 2..total].copy_from_slice(payload);
                    total
                });
                (written, PacketKind::Retransmission)
            }
        };
        let len = written.ok()?;
        let len = self.srtp.protect_rtp(&mut self.buf, len).ok()?;
        // The slot in the schedule is taken when the packet leaves (`poll_transmit`), at
        // the rate then: 2.5 x the target, faster when the backlog is over its time limit,
        // or the probe cluster's rate.
        let index = (self.pacer_head + self.pacer_len) % PACER_SLOTS;
        self.pacer_bytes += len;
        let slot = &mut self.pacer[index];
        slot.queued_at = now;
        slot.pace = pace;
        slot.transport_seq = transport_seq;
        slot.kind = kind;
        slot.len = len;
        slot.data[..len].copy_from_slice(&self.buf[..len]);
        self.pacer_len += 1;
        Some(len)
    }

    fn release_lent(&mut self) {
        if self.pacer_lent {
            self.pacer_lent = false;
            self.pacer_head = (self.pacer_head + 1) % PACER_SLOTS;
            self.pacer_len -= 1;
        }
    }

    /// When the next paced datagram may leave, if any is waiting.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let waiting = self.pacer_len - usize::from(self.pacer_lent);
        if waiting == 0 {
            return None;
        }
        let head =
            if self.pacer_lent { (self.pacer_head + 1) % PACER_SLOTS } else { self.pacer_head };
        let send_at = self.next_send_at.max(self.pacer[head].queued_at);
        Some(send_at.checked_sub(PACING_BURST).unwrap_or(send_at))
    }

    /// The next datagram whose pacing slot has come at `now` (up to a few ms early), or
    /// `None`. The slice stays valid until the next call on the stream. Counts it as sent
    /// and records it for matching transport-wide feedback.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<&[u8]> {
        self.release_lent();
        if self.pacer_len == 0 {
            return None;
        }
        if self.next_send_at > now + PACING_BURST {
            return None;
        }
        let slot = &self.pacer[self.pacer_head];
        let (transport_seq, len, kind) = (slot.transport_seq, slot.len, slot.kind);
        let (pacing_bps, cluster) = match slot.pace {
            Pace::Probe { cluster, rate_bps } => (rate_bps.max(1) as f64, cluster),
            Pace::Media => {
                let paced = f64::from(self.bitrate) * PACING_FACTOR;
                let drain = self.pacer_bytes as f64 * 8.0 / MAX_PACER_DELAY.as_secs_f64();
                (paced.max(drain).max(1.0), 0)
            }
        };
        let waited = now.saturating_duration_since(slot.queued_at);
        self.stats.pacer.record(waited);
        self.stats.pacer_delay_max_us.fetch_max(waited.as_micros() as u64, Ordering::Relaxed);
        self.next_send_at =
            self.next_send_at.max(now) + Duration::from_secs_f64(len as f64 * 8.0 / pacing_bps);
        self.pacer_bytes -= len;
        self.send_records[usize::from(transport_seq) % SEND_RECORDS] = SendRecord {
            sent: TransportSendRecord { transport_seq, sent_at: now, len: len as u32 },
            cluster,
        };
        self.stats.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
        let counter = match kind {
            PacketKind::Media => &self.stats.packets_sent,
            PacketKind::Retransmission => &self.stats.retransmissions_sent,
            PacketKind::Padding => &self.stats.probe_packets_sent,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.pacer_lent = true;
        Some(&self.pacer[self.pacer_head].data[..len])
    }
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

    #[test]
    fn video_timestamps_count_at_90_khz_and_wrap() {
        let t0 = Instant::now();
        assert_eq!(video_timestamp(10, t0, t0 + Duration::from_millis(1000)), 90_010);
        assert_eq!(video_timestamp(u32::MAX, t0, t0 + Duration::from_micros(100)), 8);
    }
}
