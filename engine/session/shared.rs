//! State and mailboxes the threads of one call share. Everything here is lock-free:
//! atomics and bounded `ArrayQueue`s, so no thread of a call ever waits for another.

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;

use crate::e2ee::SrtpKeys;
use crate::pipeline::LatencyHistogram;
use crate::rtp::rtcp::TransportFeedback;
use crate::rtp::{OpusPayload, RtpError};
use crate::session::jitter::AudioPacket;
use crate::session::nack::KeyframeRequest;
use crate::session::rtcp_stats::NtpTime;
use crate::transport::MAX_DATAGRAM;

/// Why a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallEnded {
    /// This side hung up.
    HungUp,
    /// No authenticated packet from the peer for the configured timeout.
    PeerTimeout,
    /// The transport reported the peer unreachable (ICMP port unreachable).
    PeerUnreachable,
    /// The transport closed or kept failing.
    TransportFailed,
}

impl CallEnded {
    pub(crate) fn code(self) -> u8 {
        match self {
            CallEnded::HungUp => 1,
            CallEnded::PeerTimeout => 2,
            CallEnded::PeerUnreachable => 3,
            CallEnded::TransportFailed => 4,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(CallEnded::HungUp),
            2 => Some(CallEnded::PeerTimeout),
            3 => Some(CallEnded::PeerUnreachable),
            4 => Some(CallEnded::TransportFailed),
            _ => None,
        }
    }
}

impl std::fmt::Display for CallEnded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CallEnded::HungUp => "hung up",
            CallEnded::PeerTimeout => "peer silent for too long",
            CallEnded::PeerUnreachable => "peer unreachable",
            CallEnded::TransportFailed => "transport failed",
        })
    }
}

/// Largest Opus payload carried (a datagram minus the fixed RTP header).
pub(crate) const MAX_OPUS_PAYLOAD: usize = MAX_DATAGRAM - 12;

/// RFC 8285 one-byte extension id carrying the key epoch (`e2ee::rekey`) of every RTP
/// packet, so the receiver knows which ratchet step protects it.
pub(crate) const EPOCH_EXTENSION_ID: u8 = 4;

/// New outbound keys for a sending thread: the epoch and its SRTP keys. A sending thread
/// switches before its next packet.
pub(crate) type EpochMailbox = ArrayQueue<(u8, SrtpKeys)>;

/// Counters and flags of the whole call.
#[derive(Default)]
pub(crate) struct Shared {
    pub stop: AtomicBool,
    pub ended: AtomicU8,
    pub audio_muted: AtomicBool,
    pub video_muted: AtomicBool,
    /// The app asked for a keyframe from the peer.
    pub keyframe_wanted: AtomicBool,
    /// The app asked to move the outbound keys to the next epoch now.
    pub rekey_wanted: AtomicBool,
    /// Key epochs: what we send under, and the newest the peer's packets authenticated
    /// under.
    pub send_epoch: AtomicU8,
    pub receive_epoch: AtomicU8,
    /// Outbound and inbound epoch changes so far.
    pub rekeys_sent: AtomicU64,
    pub rekeys_received: AtomicU64,
    /// Due epoch changes held back over 2 s by a sending thread (`network::REKEY_STALL`).
    pub rekey_stalls: AtomicU64,
    pub packets_sent: AtomicU64,
    pub bytes_sent: AtomicU64,
    pub send_errors: AtomicU64,
    pub packets_received: AtomicU64,
    pub bytes_received: AtomicU64,
    pub auth_failures: AtomicU64,
    pub replays: AtomicU64,
    pub malformed: AtomicU64,
    pub rtp_dropped: AtomicU64,
    pub queue_overflows: AtomicU64,
    pub rtcp_sent: AtomicU64,
    pub rtcp_received: AtomicU64,
    /// Latest round-trip time from RTCP, in µs; 0 until measured.
    pub rtt_us: AtomicU64,
    /// Loss fractions (in 1/256) the peer last reported about our audio and video.
    pub remote_audio_loss: AtomicU8,
    pub remote_video_loss: AtomicU8,
    /// Cumulative packets lost the peer last reported about our audio and video.
    pub remote_audio_lost: AtomicU64,
    pub remote_video_lost: AtomicU64,
    pub unprotect: LatencyHistogram,
    /// Transport-wide sequence numbers of every stream this side sends.
    pub transport: TransportWide,
    /// The Opus bitrate the bandwidth allocation affords (`adapt::audio_allocation_bps`;
    /// 0 until there is an estimate), set by the video send stream's estimator...
    pub audio_bitrate_wanted: AtomicU32,
    /// ...and the one the capture thread's encoder runs at (0 until it reports).
    pub audio_bitrate: AtomicU32,
}

/// Audio send records kept for the bandwidth estimator between two feedback reads
/// (5 s of 20 ms packets). Full-queue policy: the oldest record goes (its feedback has
/// long been read, or the call has no video and nobody reads them).
const AUDIO_SEND_RECORDS: usize = 256;

/// One transport-wide sequence number: what carried it, for matching feedback.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TransportSendRecord {
    pub transport_seq: u16,
    pub sent_at: Instant,
    pub len: u32,
}

/// The call's transport-wide sequence numbers (RFC draft-holmer-rmcat-transport-wide-cc):
/// one counter for every stream that carries the extension, audio and video alike, so
/// that the peer's feedback covers everything sent and the bandwidth estimator measures
/// the whole rate. The audio stream, on the capture thread, leaves its send records here
/// for the video send stream's estimator, on the video thread.
pub(crate) struct TransportWide {
    next: AtomicU16,
    pub audio_sent: ArrayQueue<TransportSendRecord>,
}

impl Default for TransportWide {
    fn default() -> Self {
        Self { next: AtomicU16::new(0), audio_sent: ArrayQueue::new(AUDIO_SEND_RECORDS) }
    }
}

impl TransportWide {
    /// The next sequence number.
    pub fn next_seq(&self) -> u16 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// An audio packet left: its record waits for the estimator.
    pub fn audio_sent(&self, record: TransportSendRecord) {
        let _ = self.audio_sent.force_push(record);
    }
}

impl Shared {
    /// The Opus bitrate to switch to, if the allocation asks for another one than
    /// `current` (never above `configured`, the app's choice, nor below what Opus accepts);
    /// publishes `current` for the allocation either way. Called by the thread that owns
    /// the encoder before each frame: two atomic loads in steady state.
    pub fn audio_bitrate_change(&self, configured: u32, current: u32) -> Option<u32> {
        if self.audio_bitrate.load(Ordering::Relaxed) != current {
            self.audio_bitrate.store(current, Ordering::Relaxed);
        }
        let wanted = self.audio_bitrate_wanted.load(Ordering::Relaxed);
        if wanted == 0 {
            return None;
        }
        let rate = wanted.clamp(6_000, configured.max(6_000));
        (rate != current).then_some(rate)
    }

    /// Records the first reason the call ended; later ones are ignored.
    pub fn end(&self, reason: CallEnded) {
        let _ = self.ended.compare_exchange(0, reason.code(), Ordering::AcqRel, Ordering::Acquire);
    }

    pub fn ended(&self) -> Option<CallEnded> {
        CallEnded::from_code(self.ended.load(Ordering::Acquire))
    }

    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    /// The counters as of now (relaxed loads: each is exact, together they are a
    /// snapshot taken while the threads run).
    pub fn counters(&self) -> SessionCounters {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        SessionCounters {
            packets_sent: load(&self.packets_sent),
            bytes_sent: load(&self.bytes_sent),
            send_errors: load(&self.send_errors),
            packets_received: load(&self.packets_received),
            bytes_received: load(&self.bytes_received),
            auth_failures: load(&self.auth_failures),
            replays: load(&self.replays),
            malformed: load(&self.malformed),
            rtp_dropped: load(&self.rtp_dropped),
            queue_overflows: load(&self.queue_overflows),
            rtcp_sent: load(&self.rtcp_sent),
            rtcp_received: load(&self.rtcp_received),
            rtt_us: load(&self.rtt_us),
            rekeys_sent: load(&self.rekeys_sent),
            rekeys_received: load(&self.rekeys_received),
            rekey_stalls: load(&self.rekey_stalls),
            remote_audio_lost: load(&self.remote_audio_lost),
            remote_video_lost: load(&self.remote_video_lost),
            audio_bitrate_bps: u64::from(self.audio_bitrate.load(Ordering::Relaxed)),
        }
    }

    pub fn rtt(&self) -> Option<Duration> {
        match self.rtt_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }
}

/// A snapshot of a session's counters (the network-side part of `CallStats`; the
/// simulated-call harness reports it as is).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Audio RTP packets sent.
    pub packets_sent: u64,
    /// Audio SRTP bytes sent.
    pub bytes_sent: u64,
    /// Datagrams the transport refused.
    pub send_errors: u64,
    /// Authenticated audio RTP packets received.
    pub packets_received: u64,
    /// SRTP bytes of those packets.
    pub bytes_received: u64,
    /// Datagrams that failed authentication.
    pub auth_failures: u64,
    /// Replayed or too-old packets refused.
    pub replays: u64,
    /// Datagrams that were not SRTP at all, or malformed RTCP.
    pub malformed: u64,
    /// Authenticated packets dropped for their RTP content.
    pub rtp_dropped: u64,
    /// Packets dropped because a receiving side did not drain its queue.
    pub queue_overflows: u64,
    /// Compound RTCP packets sent.
    pub rtcp_sent: u64,
    /// Compound RTCP packets received (authenticated).
    pub rtcp_received: u64,
    /// Round-trip time from RTCP, in µs (0 until measured).
    pub rtt_us: u64,
    /// Outbound key epochs started.
    pub rekeys_sent: u64,
    /// Peer key epochs followed.
    pub rekeys_received: u64,
    /// Due epoch changes held back over 2 s.
    pub rekey_stalls: u64,
    /// Cumulative loss the peer reported for our audio.
    pub remote_audio_lost: u64,
    /// Cumulative loss the peer reported for our video, before retransmission.
    pub remote_video_lost: u64,
    /// The Opus bitrate the encoder runs at (0 until the capture side first reports it):
    /// the configured one, or lower where the bandwidth allocation asks for less.
    pub audio_bitrate_bps: u64,
}

/// One received Opus packet on its way from the network thread to the playout thread.
/// Fixed-size so that queueing it never allocates.
#[derive(Clone)]
pub(crate) struct ReceivedAudio {
    pub seq: u16,
    pub timestamp: u32,
    pub duration: u32,
    pub arrival: Instant,
    pub payload: OpusBytes,
}

impl ReceivedAudio {
    /// One received Opus payload, its duration read from the TOC byte (RFC 6716 3.1) and
    /// the payload copied inline. A malformed TOC or a payload larger than any datagram is
    /// refused.
    pub fn from_opus(
        seq: u16,
        timestamp: u32,
        arrival: Instant,
        payload: &[u8],
    ) -> Result<Self, RtpError> {
        let duration = OpusPayload::parse(payload)?.duration_samples();
        if payload.len() > MAX_OPUS_PAYLOAD {
            return Err(RtpError::BadOpus("payload larger than a datagram"));
        }
        let mut bytes = OpusBytes { len: payload.len(), data: [0u8; MAX_OPUS_PAYLOAD] };
        bytes.data[..payload.len()].copy_from_slice(payload);
        Ok(Self { seq, timestamp, duration, arrival, payload: bytes })
    }

    /// The packet as the jitter buffer takes it (a payload of at most two bytes is a DTX
    /// update).
    pub fn into_audio_packet(self) -> AudioPacket<OpusBytes> {
        AudioPacket {
            seq: self.seq,
            timestamp: self.timestamp,
            duration: self.duration,
            dtx: self.payload.len <= 2,
            payload: self.payload,
        }
    }
}

/// An Opus payload stored inline.
#[derive(Clone)]
pub(crate) struct OpusBytes {
    pub len: usize,
    pub data: [u8; MAX_OPUS_PAYLOAD],
}

impl OpusBytes {
    pub fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

/// What a sending thread publishes for the network thread's sender reports: the RTP
/// timestamp of the latest packet with its capture instant, and the running counts.
pub(crate) struct SenderClock {
    origin: Instant,
    /// `rtp_timestamp << 32 | (capture - origin) in 100 µs units`; 0 before any packet
    /// (the units start at 1 so that a real value is never 0).
    latest: AtomicU64,
    packets: AtomicU64,
    octets: AtomicU64,
}

impl SenderClock {
    pub fn new(origin: Instant) -> Self {
        Self {
            origin,
            latest: AtomicU64::new(0),
            packets: AtomicU64::new(0),
            octets: AtomicU64::new(0),
        }
    }

    /// A packet of `payload_len` bytes with this timestamp, captured at `capture`, left.
    pub fn on_sent(&self, capture: Instant, rtp_timestamp: u32, payload_len: usize) {
        let units = capture.saturating_duration_since(self.origin).as_micros() / 100 + 1;
        let packed = (u64::from(rtp_timestamp) << 32) | (units as u64 & 0xFFFF_FFFF);
        self.latest.store(packed, Ordering::Relaxed);
        self.packets.fetch_add(1, Ordering::Relaxed);
        self.octets.fetch_add(payload_len as u64, Ordering::Relaxed);
    }

    /// `(capture instant, rtp timestamp, packets, octets)` of the latest packet.
    pub fn latest(&self) -> Option<(Instant, u32, u32, u32)> {
        let packed = self.latest.load(Ordering::Relaxed);
        if packed == 0 {
            return None;
        }
        let units = (packed & 0xFFFF_FFFF) - 1;
        let capture = self.origin + Duration::from_micros(units * 100);
        Some((
            capture,
            (packed >> 32) as u32,
            self.packets.load(Ordering::Relaxed) as u32,
            self.octets.load(Ordering::Relaxed) as u32,
        ))
    }
}

/// The latest sender report of one of the peer's streams: NTP time and the RTP timestamp
/// that corresponds to it. Written by the network thread, read by the video receive
/// thread for lip sync.
#[derive(Default)]
pub(crate) struct RemoteClock {
    ntp: AtomicU64,
    rtp: AtomicU64,
}

impl RemoteClock {
    pub fn set(&self, ntp: NtpTime, rtp: u32) {
        // Two stores are not atomic together; the reader can see a new NTP with an old RTP
        // timestamp for one report interval, an error bounded by the report interval's
        // clock drift (microseconds), far below what lip sync can perceive.
        self.rtp.store(u64::from(rtp) | 1 << 32, Ordering::Relaxed);
        self.ntp.store(ntp.0, Ordering::Release);
    }

    /// Sender NTP time (seconds) of the media with RTP timestamp `rtp` at `clock_rate`.
    pub fn capture_secs(&self, rtp: u32, clock_rate: u32) -> Option<f64> {
        let ntp = self.ntp.load(Ordering::Acquire);
        let stored = self.rtp.load(Ordering::Relaxed);
        if ntp == 0 || stored == 0 {
            return None;
        }
        let dt = rtp.wrapping_sub(stored as u32) as i32;
        Some(NtpTime(ntp).as_secs_f64() + f64::from(dt) / f64::from(clock_rate))
    }
}

/// Where audio playout is: at `instant` the speaker played the sample with this RTP
/// timestamp. Written by the playout thread, read by the video receive thread.
pub(crate) struct PlayoutClock {
    origin: Instant,
    /// `rtp << 32 | (instant - origin) in 100 µs units + 1`; 0 = not yet.
    packed: AtomicU64,
}

impl PlayoutClock {
    pub fn new(origin: Instant) -> Self {
        Self { origin, packed: AtomicU64::new(0) }
    }

    pub fn set(&self, instant: Instant, rtp: u32) {
        let units = instant.saturating_duration_since(self.origin).as_micros() / 100 + 1;
        self.packed.store((u64::from(rtp) << 32) | (units as u64 & 0xFFFF_FFFF), Ordering::Relaxed);
    }

    pub fn get(&self) -> Option<(Instant, u32)> {
        let packed = self.packed.load(Ordering::Relaxed);
        (packed != 0).then(|| {
            let units = (packed & 0xFFFF_FFFF) - 1;
            (self.origin + Duration::from_micros(units * 100), (packed >> 32) as u32)
        })
    }
}

/// Sequence numbers per NACK request (a longer list is split).
pub(crate) const NACK_CHUNK: usize = 64;

/// Feedback the video receive thread asks the network thread to send (it owns RTCP).
pub(crate) enum FeedbackRequest {
    Nack { seqs: [u16; NACK_CHUNK], len: usize },
    Keyframe(KeyframeRequest),
}

/// What the network thread forwards to the video send thread.
pub(crate) struct SenderMailbox {
    /// Sequence numbers the peer NACKed.
    pub nacks: ArrayQueue<u16>,
    /// The peer asked for a keyframe (PLI or FIR).
    pub keyframe: AtomicBool,
    /// Transport-wide feedback for the bandwidth estimator.
    pub feedback: ArrayQueue<TransportFeedback>,
    /// Reports the send stream has read, back to the session to be refilled (so relaying
    /// feedback allocates nothing once both queues have cycled).
    pub spare_feedback: ArrayQueue<TransportFeedback>,
}

impl SenderMailbox {
    pub fn new() -> Self {
        Self {
            nacks: ArrayQueue::new(1024),
            keyframe: AtomicBool::new(false),
            feedback: ArrayQueue::new(32),
            spare_feedback: ArrayQueue::new(32),
        }
    }
}

/// A received video RTP packet (already SRTP-unprotected) on its way to the video receive
/// thread. The buffer comes from, and goes back to, a recycling queue so the network
/// thread does not allocate per packet in steady state.
pub(crate) struct VideoPacketIn {
    pub arrival: Instant,
    pub len: usize,
    pub data: Box<[u8]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_audio_bitrate_follows_the_allocation_within_the_configured_rate() {
        let shared = Shared::default();
        // No estimate yet: keep what runs, and publish it.
        assert_eq!(shared.audio_bitrate_change(32_000, 32_000), None);
        assert_eq!(shared.audio_bitrate.load(Ordering::Relaxed), 32_000);
        // The allocation affords less: switch; more than configured: the configured rate.
        shared.audio_bitrate_wanted.store(22_000, Ordering::Relaxed);
        assert_eq!(shared.audio_bitrate_change(32_000, 32_000), Some(22_000));
        assert_eq!(shared.audio_bitrate_change(32_000, 22_000), None);
        shared.audio_bitrate_wanted.store(500_000, Ordering::Relaxed);
        assert_eq!(shared.audio_bitrate_change(32_000, 22_000), Some(32_000));
        // Never below what Opus accepts.
        shared.audio_bitrate_wanted.store(1_000, Ordering::Relaxed);
        assert_eq!(shared.audio_bitrate_change(32_000, 32_000), Some(6_000));
    }

    #[test]
    fn sender_clock_round_trips_capture_and_timestamp() {
        let origin = Instant::now();
        let clock = SenderClock::new(origin);
        assert!(clock.latest().is_none());
        clock.on_sent(origin + Duration::from_millis(1234), 0xDEAD_BEEF, 100);
        clock.on_sent(origin + Duration::from_millis(2000), 0xFFFF_FFFF, 50);
        let (capture, ts, packets, octets) = clock.latest().unwrap();
        assert_eq!(capture, origin + Duration::from_millis(2000));
        assert_eq!((ts, packets, octets), (0xFFFF_FFFF, 2, 150));
    }

    #[test]
    fn remote_clock_maps_rtp_to_sender_time() {
        let clock = RemoteClock::default();
        assert!(clock.capture_secs(0, 90_000).is_none());
        clock.set(NtpTime::from_secs_f64(100.0), 1000);
        let at = clock.capture_secs(1000 + 45_000, 90_000).unwrap();
        assert!((at - 100.5).abs() < 1e-6);
        // Earlier timestamps, across the wrap.
        clock.set(NtpTime::from_secs_f64(100.0), 10);
        let at = clock.capture_secs(10u32.wrapping_sub(48_000), 48_000).unwrap();
        assert!((at - 99.0).abs() < 1e-6);
    }

    #[test]
    fn playout_clock_keeps_instant_and_timestamp() {
        let origin = Instant::now();
        let clock = PlayoutClock::new(origin);
        assert!(clock.get().is_none());
        clock.set(origin + Duration::from_millis(50), 4800);
        assert_eq!(clock.get(), Some((origin + Duration::from_millis(50), 4800)));
    }
}
