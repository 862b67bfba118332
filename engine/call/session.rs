//! The [`Call`] object: one end-to-end encrypted audio call over a packet transport.
//!
//! Three threads touch a call (see `docs/call.md` for the full model):
//!
//! * the app's **capture** thread calls [`CallCapture::push_audio`] every 10 ms: AEC, noise
//!   suppression and Opus run right there, then the packet is put in RTP, SRTP-protected with
//!   the outbound key and handed to the transport;
//! * a **network** thread owned by the call receives datagrams, SRTP-unprotects them with the
//!   inbound key, parses RTP and pushes the Opus payload into a bounded lock-free queue;
//! * the app's **playout** thread calls [`CallPlayout::pull_audio`] every 10 ms: it drains
//!   the queue into the [`JitterBuffer`], executes the buffer's [`PlayoutAction`] with the
//!   Opus decoder and returns 10 ms at the device rate, feeding the AEC's far-end reference.
//!
//! Neither real-time thread ever takes a lock or waits for the other: they meet only in
//! lock-free queues and atomic counters.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Instant;
//! use sottovoce::audio::DeviceFormat;
//! use sottovoce::call::{Call, CallConfig};
//! use sottovoce::transport::memory_link;
//! # fn keys() -> sottovoce::e2ee::CallKeys { unimplemented!() }
//!
//! let (near, _far) = memory_link();
//! let config = CallConfig::new(keys(), 0x1111, 0x2222, DeviceFormat::new(16_000, 1)?);
//! let call = Call::new(config, Arc::new(near.sender), Box::new(near.receiver))?;
//! let (mut capture, mut playout, control) = call.into_parts();
//! // capture thread, every 10 ms:
//! capture.push_audio(&[0.0; 160], Instant::now())?;
//! // playout thread, every 10 ms:
//! let mut speaker = [0.0f32; 160];
//! playout.pull_audio(&mut speaker, Instant::now())?;
//! // control:
//! let stats = control.hang_up(capture, playout);
//! println!("{} packets sent", stats.packets_sent);
//! # Ok::<(), sottovoce::Error>(())
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;

use super::jitter::{
    AudioPacket, JitterBuffer, JitterConfig, JitterError, JitterStats, PlayoutAction,
};
use crate::audio::{
    AudioError, CaptureChain, CaptureConfig, DeviceFormat, ENGINE_FRAME, FarEndSender,
    FormatConverter, OpusDecoder, far_end_channel,
};
use crate::e2ee::{CallKeys, SrtpKeys, SrtpSuite};
use crate::pipeline::{LatencyHistogram, LatencySummary};
use crate::rtp::{OpusPayload, RtpError, RtpHeader, RtpPacket};
use crate::srtp::{SrtpConfig, SrtpError, SrtpProfile, SrtpSession};
use crate::transport::{MAX_DATAGRAM, PacketRecv, PacketSend, TransportError};

/// Default RTP payload type for Opus (dynamic range; 111 as in most WebRTC stacks).
pub const OPUS_PAYLOAD_TYPE: u8 = 111;

/// Largest Opus payload carried (a datagram minus the fixed RTP header).
const MAX_OPUS_PAYLOAD: usize = MAX_DATAGRAM - 12;

/// Packets the network thread can queue for the playout thread (1.28 s of 20 ms packets).
const RECEIVE_QUEUE: usize = 64;

/// How long the network thread blocks in one receive before checking for hang-up.
const RECEIVE_POLL: Duration = Duration::from_millis(20);

/// Consecutive transport I/O errors after which the network thread gives up.
const MAX_CONSECUTIVE_IO_ERRORS: u32 = 100;

/// Longest decoded audio one action can produce (two 120 ms packets at 48 kHz).
const MAX_DECODED: usize = 2 * 5760;

/// Cross-fade length of the accelerate/stretch splice (2.5 ms at 48 kHz).
const SPLICE_FADE: usize = 120;

/// Why a call failed to start or an operation on it failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The call is over; no more media flows.
    #[error("call ended: {0}")]
    Ended(CallEnded),
    /// A setting is unusable.
    #[error("invalid call configuration: {0}")]
    InvalidConfig(&'static str),
    /// The audio chain refused a frame or failed.
    #[error("audio: {0}")]
    Audio(#[from] AudioError),
    /// SRTP set-up or protection failed.
    #[error("srtp: {0}")]
    Srtp(#[from] SrtpError),
    /// An RTP packet could not be written.
    #[error("rtp: {0}")]
    Rtp(#[from] RtpError),
    /// The jitter buffer configuration is unusable.
    #[error("jitter buffer: {0}")]
    Jitter(#[from] JitterError),
    /// The network thread could not be started.
    #[error("could not start the network thread: {0}")]
    Thread(#[from] std::io::Error),
    /// The device output slice is too short for one 10 ms frame.
    #[error("output holds {got} samples, one 10 ms frame needs {needed}")]
    OutputTooShort {
        /// Samples needed.
        needed: usize,
        /// Samples given.
        got: usize,
    },
}

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
    fn code(self) -> u8 {
        match self {
            CallEnded::HungUp => 1,
            CallEnded::PeerTimeout => 2,
            CallEnded::PeerUnreachable => 3,
            CallEnded::TransportFailed => 4,
        }
    }

    fn from_code(code: u8) -> Option<Self> {
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

/// Settings of a [`Call`].
pub struct CallConfig {
    /// The keys agreed end to end for this call.
    pub keys: CallKeys,
    /// SSRC of the audio this side sends.
    pub local_ssrc: u32,
    /// SSRC of the audio the peer sends; packets with any other SSRC are dropped.
    pub remote_ssrc: u32,
    /// RTP payload type of Opus (both sides must agree).
    pub payload_type: u8,
    /// Capture chain (device format, AEC, noise suppression, Opus settings). The playout
    /// side uses the same device format.
    pub capture: CaptureConfig,
    /// Jitter buffer tuning.
    pub jitter: JitterConfig,
    /// A peer from which no authenticated packet arrives for this long ends the call with
    /// [`CallEnded::PeerTimeout`].
    pub peer_timeout: Duration,
}

impl std::fmt::Debug for CallConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `CallKeys` redacts itself; the SSRCs and settings are not secret.
        f.debug_struct("CallConfig")
            .field("keys", &self.keys)
            .field("local_ssrc", &self.local_ssrc)
            .field("remote_ssrc", &self.remote_ssrc)
            .field("payload_type", &self.payload_type)
            .field("capture", &self.capture)
            .field("jitter", &self.jitter)
            .field("peer_timeout", &self.peer_timeout)
            .finish()
    }
}

impl CallConfig {
    /// Defaults for everything but the keys, SSRCs and device format: AEC, noise
    /// suppression, 32 kbit/s Opus with FEC in 20 ms packets, payload type 111, the default
    /// jitter buffer and a 10 s peer timeout.
    pub fn new(keys: CallKeys, local_ssrc: u32, remote_ssrc: u32, device: DeviceFormat) -> Self {
        Self {
            keys,
            local_ssrc,
            remote_ssrc,
            payload_type: OPUS_PAYLOAD_TYPE,
            capture: CaptureConfig { device, ..CaptureConfig::default() },
            jitter: JitterConfig::default(),
            peer_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters and latency figures of a call.
#[derive(Debug, Clone, Default)]
pub struct CallStats {
    /// RTP packets handed to the transport.
    pub packets_sent: u64,
    /// SRTP bytes handed to the transport.
    pub bytes_sent: u64,
    /// Packets the transport refused (buffer full, oversize, I/O error).
    pub send_errors: u64,
    /// Authenticated RTP packets of the peer's audio stream received.
    pub packets_received: u64,
    /// SRTP bytes of those packets.
    pub bytes_received: u64,
    /// Datagrams that failed SRTP authentication (forged, corrupted or wrong key).
    pub auth_failures: u64,
    /// Replayed or too-old SRTP packets refused.
    pub replays: u64,
    /// Datagrams that were not SRTP at all (too short, bad version, ...).
    pub malformed: u64,
    /// Authenticated packets dropped for their RTP content (wrong SSRC or payload type,
    /// unparsable Opus TOC).
    pub rtp_dropped: u64,
    /// Packets dropped because the playout thread did not drain the receive queue.
    pub queue_overflows: u64,
    /// Packets the jitter buffer refused as invalid.
    pub jitter_rejected: u64,
    /// The jitter buffer's counters (loss, late, FEC, concealment, delay).
    pub jitter: JitterStats,
    /// Opus payloads that failed to decode (concealed instead).
    pub decode_errors: u64,
    /// Playout ticks the decoded audio did not fill (padded with silence).
    pub playout_underruns: u64,
    /// Per-stage processing time: capture chain steps (`capture.*`), SRTP protect and
    /// send (`send`), SRTP unprotect (`unprotect`), receive queue wait (`queue`), decode
    /// (`decode`) and the whole playout tick (`playout`).
    pub stages: Vec<(&'static str, LatencySummary)>,
    /// Why the call ended, once it has.
    pub ended: Option<CallEnded>,
}

/// State shared by the three sides: atomics only.
#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    ended: AtomicU8,
    packets_sent: AtomicU64,
    bytes_sent: AtomicU64,
    send_errors: AtomicU64,
    packets_received: AtomicU64,
    bytes_received: AtomicU64,
    auth_failures: AtomicU64,
    replays: AtomicU64,
    malformed: AtomicU64,
    rtp_dropped: AtomicU64,
    queue_overflows: AtomicU64,
    unprotect: LatencyHistogram,
}

impl Shared {
    /// Records the first reason the call ended; later ones are ignored.
    fn end(&self, reason: CallEnded) {
        let _ = self.ended.compare_exchange(0, reason.code(), Ordering::AcqRel, Ordering::Acquire);
    }

    fn ended(&self) -> Option<CallEnded> {
        CallEnded::from_code(self.ended.load(Ordering::Acquire))
    }
}

/// One received Opus packet on its way from the network thread to the playout thread.
/// Fixed-size so that queueing it never allocates.
#[derive(Clone)]
struct ReceivedAudio {
    seq: u16,
    timestamp: u32,
    duration: u32,
    arrival: Instant,
    payload: OpusBytes,
}

/// An Opus payload stored inline.
#[derive(Clone)]
struct OpusBytes {
    len: usize,
    data: [u8; MAX_OPUS_PAYLOAD],
}

impl OpusBytes {
    fn bytes(&self) -> &[u8] {
        &self.data[..self.len]
    }
}

fn srtp_session(keys: &SrtpKeys) -> Result<SrtpSession, SrtpError> {
    let profile = match keys.suite() {
        SrtpSuite::AeadAes256Gcm => SrtpProfile::AeadAes256Gcm,
        SrtpSuite::AeadAes128Gcm => SrtpProfile::AeadAes128Gcm,
    };
    let config = SrtpConfig { max_streams: 4, ..SrtpConfig::default() };
    SrtpSession::new(profile, keys.master_key(), keys.master_salt(), config)
}

/// A whole call: capture side, playout side and the network thread. Use it directly from
/// one thread, or [`Call::into_parts`] to give each side to its own thread.
pub struct Call {
    capture: CallCapture,
    playout: CallPlayout,
    control: CallControl,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Call").field("ended", &self.control.ended()).finish_non_exhaustive()
    }
}

impl Call {
    /// Starts a call: builds both media chains and SRTP sessions, and starts the network
    /// thread reading `receiver`. Media is sent with `sender`.
    pub fn new(
        config: CallConfig,
        sender: Arc<dyn PacketSend>,
        receiver: Box<dyn PacketRecv>,
    ) -> Result<Self, CallError> {
        if config.payload_type > 127 {
            return Err(CallError::InvalidConfig("payload type must be 0..=127"));
        }
        if config.local_ssrc == config.remote_ssrc {
            return Err(CallError::InvalidConfig("local and remote SSRC must differ"));
        }
        if config.peer_timeout < RECEIVE_POLL {
            return Err(CallError::InvalidConfig("peer timeout shorter than 20 ms"));
        }
        let device = config.capture.device;
        let shared = Arc::new(Shared::default());
        let outbound = srtp_session(&config.keys.outbound())?;
        let inbound = srtp_session(&config.keys.inbound())?;
        // The AEC needs what the speaker plays: 320 ms of reference frames may queue.
        let (far_tx, far_rx) = if config.capture.aec.is_some() {
            let (tx, rx) = far_end_channel(32);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let capture = CallCapture::new(&config, outbound, sender, far_rx, Arc::clone(&shared))?;
        let queue = Arc::new(ArrayQueue::new(RECEIVE_QUEUE));
        let playout = CallPlayout::new(&config, device, far_tx, Arc::clone(&queue), &shared)?;
        let network = NetworkThread {
            receiver,
            srtp: inbound,
            queue,
            shared: Arc::clone(&shared),
            remote_ssrc: config.remote_ssrc,
            payload_type: config.payload_type,
            peer_timeout: config.peer_timeout,
        };
        let handle =
            std::thread::Builder::new().name("call-network".into()).spawn(move || network.run())?;
        Ok(Self { capture, playout, control: CallControl { shared, network: Some(handle) } })
    }

    /// Processes, encodes, encrypts and sends one 10 ms microphone frame; see
    /// [`CallCapture::push_audio`].
    pub fn push_audio(&mut self, samples: &[f32], capture_time: Instant) -> Result<(), CallError> {
        self.capture.push_audio(samples, capture_time)
    }

    /// Produces the next 10 ms of speaker audio; see [`CallPlayout::pull_audio`].
    pub fn pull_audio(&mut self, out: &mut [f32], now: Instant) -> Result<usize, CallError> {
        self.playout.pull_audio(out, now)
    }

    /// Why the call ended, once it has.
    pub fn ended(&self) -> Option<CallEnded> {
        self.control.ended()
    }

    /// Counters and latencies so far.
    pub fn stats(&self) -> CallStats {
        self.control.stats(&self.capture, &self.playout)
    }

    /// Stops the network thread and returns the final statistics.
    pub fn hang_up(self) -> CallStats {
        self.control.hang_up(self.capture, self.playout)
    }

    /// Splits the call so that capture and playout run on their own threads.
    pub fn into_parts(self) -> (CallCapture, CallPlayout, CallControl) {
        (self.capture, self.playout, self.control)
    }
}

/// The sending half, driven by the app's capture thread.
pub struct CallCapture {
    chain: CaptureChain,
    srtp: SrtpSession,
    sender: Arc<dyn PacketSend>,
    shared: Arc<Shared>,
    ssrc: u32,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    first_packet: bool,
    buf: Box<[u8]>,
    send_time: LatencyHistogram,
}

impl std::fmt::Debug for CallCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallCapture").field("ssrc", &self.ssrc).finish_non_exhaustive()
    }
}

impl CallCapture {
    fn new(
        config: &CallConfig,
        srtp: SrtpSession,
        sender: Arc<dyn PacketSend>,
        far_end: Option<crate::audio::FarEndReceiver>,
        shared: Arc<Shared>,
    ) -> Result<Self, CallError> {
        // Initial sequence number and timestamp should be unpredictable (RFC 3550 5.1);
        // derive them from the SSRC, itself random in a real app.
        let mix = u64::from(config.local_ssrc).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Ok(Self {
            chain: CaptureChain::new(&config.capture, far_end)?,
            srtp,
            sender,
            shared,
            ssrc: config.local_ssrc,
            payload_type: config.payload_type,
            sequence: (mix >> 48) as u16,
            timestamp: (mix >> 16) as u32,
            first_packet: true,
            buf: vec![0u8; MAX_DATAGRAM].into_boxed_slice(),
            send_time: LatencyHistogram::new(),
        })
    }

    /// Processes one 10 ms microphone frame (interleaved, at the device rate) captured at
    /// `capture_time`: echo cancellation, noise suppression and Opus run on this thread;
    /// every completed packet is put in RTP, SRTP-protected and sent. Nothing is allocated.
    ///
    /// Returns [`CallError::Ended`] once the call is over. A datagram the transport refuses
    /// (full buffer) is counted in [`CallStats::send_errors`], not returned as an error.
    pub fn push_audio(&mut self, samples: &[f32], capture_time: Instant) -> Result<(), CallError> {
        if let Some(reason) = self.shared.ended() {
            return Err(CallError::Ended(reason));
        }
        let Some(packet) = self.chain.process(samples, capture_time)? else {
            return Ok(());
        };
        let started = Instant::now();
        let header = RtpHeader {
            marker: self.first_packet,
            payload_type: self.payload_type,
            sequence_number: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            ..RtpHeader::default()
        };
        let overhead = self.srtp.profile().rtp_overhead();
        let room = self.buf.len() - overhead;
        let len = header.write_packet(packet.data(), 0, &mut self.buf[..room])?;
        let len = self.srtp.protect_rtp(&mut self.buf, len)?;
        self.first_packet = false;
        self.sequence = self.sequence.wrapping_add(1);
        // Opus RTP timestamps always count at 48 kHz (RFC 7587 4.1).
        self.timestamp = self.timestamp.wrapping_add(packet.samples() as u32);
        match self.sender.send(&self.buf[..len]) {
            Ok(()) => {
                self.shared.packets_sent.fetch_add(1, Ordering::Relaxed);
                self.shared.bytes_sent.fetch_add(len as u64, Ordering::Relaxed);
            }
            Err(TransportError::PeerUnreachable) => {
                self.shared.end(CallEnded::PeerUnreachable);
                return Err(CallError::Ended(CallEnded::PeerUnreachable));
            }
            Err(TransportError::Closed) => {
                self.shared.end(CallEnded::TransportFailed);
                return Err(CallError::Ended(CallEnded::TransportFailed));
            }
            Err(_) => {
                self.shared.send_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.send_time.record(started.elapsed());
        Ok(())
    }
}

/// The receiving half, driven by the app's playout thread.
pub struct CallPlayout {
    queue: Arc<ArrayQueue<ReceivedAudio>>,
    jitter: JitterBuffer<OpusBytes>,
    decoder: OpusDecoder,
    converter: Option<FormatConverter>,
    far_end: Option<FarEndSender>,
    device: DeviceFormat,
    decoded: Box<[f32]>,
    spliced: Box<[f32]>,
    fifo: Box<[f32]>,
    fifo_len: usize,
    jitter_rejected: u64,
    decode_errors: u64,
    underruns: u64,
    queue_wait: LatencyHistogram,
    decode_time: LatencyHistogram,
    tick_time: LatencyHistogram,
}

impl std::fmt::Debug for CallPlayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallPlayout").field("device", &self.device).finish_non_exhaustive()
    }
}

impl CallPlayout {
    fn new(
        config: &CallConfig,
        device: DeviceFormat,
        far_end: Option<FarEndSender>,
        queue: Arc<ArrayQueue<ReceivedAudio>>,
        _shared: &Arc<Shared>,
    ) -> Result<Self, CallError> {
        let converter = if device == DeviceFormat::ENGINE {
            None
        } else {
            Some(FormatConverter::new(DeviceFormat::ENGINE, device)?)
        };
        Ok(Self {
            queue,
            jitter: JitterBuffer::new(config.jitter.clone())?,
            decoder: OpusDecoder::new(2 * ENGINE_FRAME)?,
            converter,
            far_end,
            device,
            decoded: vec![0.0; MAX_DECODED].into_boxed_slice(),
            spliced: vec![0.0; MAX_DECODED].into_boxed_slice(),
            fifo: vec![0.0; MAX_DECODED + 2 * ENGINE_FRAME].into_boxed_slice(),
            fifo_len: 0,
            jitter_rejected: 0,
            decode_errors: 0,
            underruns: 0,
            queue_wait: LatencyHistogram::new(),
            decode_time: LatencyHistogram::new(),
            tick_time: LatencyHistogram::new(),
        })
    }

    /// Produces the next 10 ms of speaker audio at the device rate into `out` (interleaved;
    /// it must hold one frame, `device.max_frame_len() * channels` is always enough) and
    /// returns the number of samples written. Call it every 10 ms with the current instant.
    ///
    /// Packets received since the last call move into the jitter buffer, whose action for
    /// this tick is executed with the Opus decoder (decode, FEC recovery, concealment,
    /// accelerate or stretch). The 48 kHz frame played also goes to the echo canceller.
    /// Nothing here locks, blocks or allocates.
    pub fn pull_audio(&mut self, out: &mut [f32], now: Instant) -> Result<usize, CallError> {
        let started = Instant::now();
        while let Some(packet) = self.queue.pop() {
            self.queue_wait.record(started.saturating_duration_since(packet.arrival));
            let audio = AudioPacket {
                seq: packet.seq,
                timestamp: packet.timestamp,
                duration: packet.duration,
                dtx: packet.payload.len <= 2,
                payload: packet.payload,
            };
            if self.jitter.insert(packet.arrival, audio).is_err() {
                self.jitter_rejected += 1;
            }
        }
        self.run_action(now);
        let mut frame = [0.0f32; ENGINE_FRAME];
        if self.fifo_len < ENGINE_FRAME {
            self.underruns += 1;
        }
        let take = self.fifo_len.min(ENGINE_FRAME);
        frame[..take].copy_from_slice(&self.fifo[..take]);
        self.fifo.copy_within(take..self.fifo_len, 0);
        self.fifo_len -= take;
        if let Some(far_end) = &self.far_end {
            far_end.send(&frame)?;
        }
        let written = match self.converter.as_mut() {
            None => {
                if out.len() < ENGINE_FRAME {
                    return Err(CallError::OutputTooShort { needed: ENGINE_FRAME, got: out.len() });
                }
                out[..ENGINE_FRAME].copy_from_slice(&frame);
                ENGINE_FRAME
            }
            Some(converter) => {
                let needed = self.device.max_frame_len() * usize::from(self.device.channels);
                if out.len() < needed {
                    return Err(CallError::OutputTooShort { needed, got: out.len() });
                }
                converter.convert(&frame, out)?
            }
        };
        self.tick_time.record(started.elapsed());
        Ok(written)
    }

    /// Executes the jitter buffer's action for this tick, appending 48 kHz audio to the
    /// FIFO.
    fn run_action(&mut self, now: Instant) {
        let started = Instant::now();
        // Each arm decodes into `self.decoded` and says how many samples to queue.
        let produced = match self.jitter.pull(now) {
            PlayoutAction::Continue => return,
            PlayoutAction::Silence { samples } | PlayoutAction::ComfortNoise { samples } => {
                // No comfort noise generator yet: silence of the right length.
                let n = (samples as usize).min(MAX_DECODED);
                self.decoded[..n].fill(0.0);
                n
            }
            PlayoutAction::Decode { packet } => decode_or_conceal(
                &mut self.decoder,
                packet.bytes(),
                &mut self.decoded,
                &mut self.decode_errors,
            ),
            PlayoutAction::Accelerate { packet, next, samples } => {
                let mut n = decode_or_conceal(
                    &mut self.decoder,
                    packet.bytes(),
                    &mut self.decoded,
                    &mut self.decode_errors,
                );
                if let Some(next) = next {
                    n += decode_or_conceal(
                        &mut self.decoder,
                        next.bytes(),
                        &mut self.decoded[n..],
                        &mut self.decode_errors,
                    );
                }
                splice(&self.decoded[..n], samples as usize, &mut self.spliced);
                let m = (samples as usize).min(n);
                self.decoded[..m].copy_from_slice(&self.spliced[..m]);
                m
            }
            PlayoutAction::Stretch { packet, samples } => {
                let n = decode_or_conceal(
                    &mut self.decoder,
                    packet.bytes(),
                    &mut self.decoded,
                    &mut self.decode_errors,
                );
                let m = (samples as usize).min(MAX_DECODED);
                splice(&self.decoded[..n], m, &mut self.spliced);
                self.decoded[..m].copy_from_slice(&self.spliced[..m]);
                m
            }
            PlayoutAction::DecodeFec { next, samples } => {
                let n = match self.decoder.recover(next.bytes(), &mut self.decoded) {
                    Ok(n) => n,
                    Err(_) => {
                        self.decode_errors += 1;
                        self.decoder.conceal(&mut self.decoded).unwrap_or(0)
                    }
                };
                fit(&mut self.decoded, n, samples as usize)
            }
            PlayoutAction::Conceal { samples } => {
                let wanted = (samples as usize).min(MAX_DECODED);
                let mut n = 0;
                while n < wanted {
                    match self.decoder.conceal(&mut self.decoded[n..]) {
                        Ok(0) | Err(_) => break,
                        Ok(k) => n += k,
                    }
                }
                fit(&mut self.decoded, n, wanted)
            }
        };
        let room = self.fifo.len() - self.fifo_len;
        let n = produced.min(room);
        self.fifo[self.fifo_len..self.fifo_len + n].copy_from_slice(&self.decoded[..n]);
        self.fifo_len += n;
        self.decode_time.record(started.elapsed());
    }
}

/// Decodes `payload` into `out`; a payload that fails to decode is concealed instead (it
/// passed SRTP authentication, so it is the peer's encoder output, but never trust it).
fn decode_or_conceal(
    decoder: &mut OpusDecoder,
    payload: &[u8],
    out: &mut [f32],
    errors: &mut u64,
) -> usize {
    match decoder.decode(payload, out) {
        Ok(n) => n,
        Err(_) => {
            *errors += 1;
            decoder.conceal(out).unwrap_or(0)
        }
    }
}

/// Pads `buf[..have]` with silence or cuts it to `want` samples; returns `want` (bounded
/// by the buffer).
fn fit(buf: &mut [f32], have: usize, want: usize) -> usize {
    let want = want.min(buf.len());
    if have < want {
        buf[have..want].fill(0.0);
    }
    want
}

/// Time-scales `input` to `out_len` samples by jumping once inside it (backwards to
/// stretch, forwards to compress) with a short cross-fade at the jump. Start and end
/// samples are kept, so the result joins the previous and next decoded audio seamlessly.
/// Not pitch-synchronous (WSOLA would be): a known simplification.
fn splice(input: &[f32], out_len: usize, out: &mut [f32]) {
    let d = input.len();
    let out_len = out_len.min(out.len());
    if d == 0 || out_len == 0 {
        out[..out_len].fill(0.0);
        return;
    }
    // Output = input[..a] then input[b..], with b - a = d - out_len.
    let shift = d as i64 - out_len as i64;
    let a = if shift >= 0 { out_len / 2 } else { (d + (out_len - d)) / 2 } as i64;
    let b = a + shift;
    if b < 0 || b > d as i64 || a > d as i64 {
        // Too big a change for one jump: truncate or pad.
        let n = d.min(out_len);
        out[..n].copy_from_slice(&input[..n]);
        out[n..out_len].fill(0.0);
        return;
    }
    let (a, b) = (a as usize, b as usize);
    let fade = SPLICE_FADE.min(a).min(b);
    out[..a - fade].copy_from_slice(&input[..a - fade]);
    for i in 0..fade {
        let w = (i as f32 + 0.5) / fade as f32;
        out[a - fade + i] = input[a - fade + i] * (1.0 - w) + input[b - fade + i] * w;
    }
    let tail = d - b;
    out[a..a + tail].copy_from_slice(&input[b..]);
}

/// Handle to end the call and read its statistics, usable from any thread.
pub struct CallControl {
    shared: Arc<Shared>,
    network: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for CallControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallControl").field("ended", &self.ended()).finish_non_exhaustive()
    }
}

impl CallControl {
    /// Why the call ended, once it has.
    pub fn ended(&self) -> Option<CallEnded> {
        self.shared.ended()
    }

    /// Counters and latencies; the media sides are read as of their last call.
    pub fn stats(&self, capture: &CallCapture, playout: &CallPlayout) -> CallStats {
        let s = &self.shared;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut stages: Vec<(&'static str, LatencySummary)> = capture
            .chain
            .timings()
            .summaries()
            .into_iter()
            .map(|(name, summary)| (capture_stage_name(name), summary))
            .collect();
        stages.push(("send", capture.send_time.summary()));
        stages.push(("unprotect", s.unprotect.summary()));
        stages.push(("queue", playout.queue_wait.summary()));
        stages.push(("decode", playout.decode_time.summary()));
        stages.push(("playout", playout.tick_time.summary()));
        CallStats {
            packets_sent: load(&s.packets_sent),
            bytes_sent: load(&s.bytes_sent),
            send_errors: load(&s.send_errors),
            packets_received: load(&s.packets_received),
            bytes_received: load(&s.bytes_received),
            auth_failures: load(&s.auth_failures),
            replays: load(&s.replays),
            malformed: load(&s.malformed),
            rtp_dropped: load(&s.rtp_dropped),
            queue_overflows: load(&s.queue_overflows),
            jitter_rejected: playout.jitter_rejected,
            jitter: playout.jitter.stats(),
            decode_errors: playout.decode_errors,
            playout_underruns: playout.underruns,
            stages,
            ended: s.ended(),
        }
    }

    /// Ends the call: stops and joins the network thread and returns the final statistics.
    pub fn hang_up(mut self, capture: CallCapture, playout: CallPlayout) -> CallStats {
        self.stop();
        self.shared.end(CallEnded::HungUp);
        self.stats(&capture, &playout)
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(handle) = self.network.take() {
            // The thread only returns; a panic there would be a bug, already reported.
            let _ = handle.join();
        }
    }
}

impl Drop for CallControl {
    fn drop(&mut self) {
        self.stop();
    }
}

fn capture_stage_name(step: &'static str) -> &'static str {
    match step {
        "resample" => "capture.resample",
        "aec" => "capture.aec",
        "ns" => "capture.ns",
        "opus" => "capture.opus",
        "total" => "capture.total",
        other => other,
    }
}

/// The receive loop: datagram -> SRTP unprotect -> RTP -> queue to playout.
struct NetworkThread {
    receiver: Box<dyn PacketRecv>,
    srtp: SrtpSession,
    queue: Arc<ArrayQueue<ReceivedAudio>>,
    shared: Arc<Shared>,
    remote_ssrc: u32,
    payload_type: u8,
    peer_timeout: Duration,
}

impl NetworkThread {
    fn run(mut self) {
        let mut buf = vec![0u8; MAX_DATAGRAM].into_boxed_slice();
        let mut last_heard = Instant::now();
        let mut io_errors = 0u32;
        while !self.shared.stop.load(Ordering::Acquire) {
            match self.receiver.recv(&mut buf, RECEIVE_POLL) {
                Ok(Some(len)) => {
                    io_errors = 0;
                    let arrival = Instant::now();
                    if self.handle(&mut buf[..len], arrival) {
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
            if last_heard.elapsed() >= self.peer_timeout {
                self.shared.end(CallEnded::PeerTimeout);
                return;
            }
        }
    }

    /// Handles one datagram; returns whether it authenticated as the peer's.
    fn handle(&mut self, datagram: &mut [u8], arrival: Instant) -> bool {
        let started = Instant::now();
        let result = self.srtp.unprotect_rtp(datagram);
        self.shared.unprotect.record(started.elapsed());
        let len = match result {
            Ok(len) => len,
            Err(SrtpError::AuthenticationFailed) => {
                self.shared.auth_failures.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            Err(SrtpError::Replayed { .. } | SrtpError::TooOld { .. }) => {
                self.shared.replays.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            Err(_) => {
                self.shared.malformed.fetch_add(1, Ordering::Relaxed);
                return false;
            }
        };
        let srtp_len = datagram.len();
        let Some(audio) = self.parse(&datagram[..len], arrival) else {
            self.shared.rtp_dropped.fetch_add(1, Ordering::Relaxed);
            // Authenticated, so the peer is alive even if we cannot use the packet.
            return true;
        };
        self.shared.packets_received.fetch_add(1, Ordering::Relaxed);
        self.shared.bytes_received.fetch_add(srtp_len as u64, Ordering::Relaxed);
        if self.queue.push(audio).is_err() {
            // The playout thread is not draining: drop the newest and count it. Audio is
            // already broken in that case; dropping keeps this thread from ever waiting.
            self.shared.queue_overflows.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    fn parse(&self, rtp: &[u8], arrival: Instant) -> Option<ReceivedAudio> {
        let packet = RtpPacket::parse(rtp).ok()?;
        if packet.ssrc() != self.remote_ssrc || packet.payload_type() != self.payload_type {
            return None;
        }
        let payload = packet.payload();
        let duration = OpusPayload::parse(payload).ok()?.duration_samples();
        if payload.len() > MAX_OPUS_PAYLOAD {
            return None;
        }
        let mut bytes = OpusBytes { len: payload.len(), data: [0u8; MAX_OPUS_PAYLOAD] };
        bytes.data[..payload.len()].copy_from_slice(payload);
        Some(ReceivedAudio {
            seq: packet.sequence_number(),
            timestamp: packet.timestamp(),
            duration,
            arrival,
            payload: bytes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32).collect()
    }

    #[test]
    fn splice_compresses_keeping_both_ends() {
        let input = ramp(960);
        let mut out = [0.0f32; 960];
        splice(&input, 720, &mut out);
        assert_eq!(out[0], 0.0);
        assert_eq!(out[719], 959.0);
        // Away from the fade, the output is the input with 240 samples removed.
        assert_eq!(out[100], 100.0);
        assert_eq!(out[600], 840.0);
    }

    #[test]
    fn splice_stretches_keeping_both_ends() {
        let input = ramp(960);
        let mut out = [0.0f32; 1440];
        splice(&input, 1440, &mut out);
        assert_eq!(out[0], 0.0);
        assert_eq!(out[1439], 959.0);
        // After the jump (at 1200 - back 480) the input repeats from 720.
        assert_eq!(out[1200], 720.0);
        assert_eq!(out[1439 - 239], 720.0);
    }

    #[test]
    fn splice_of_an_impossible_ratio_truncates_or_pads() {
        let input = ramp(100);
        let mut out = [1.0f32; 400];
        splice(&input, 400, &mut out);
        assert_eq!(out[99], 99.0);
        assert!(out[100..].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn fit_pads_and_cuts() {
        let mut buf = [1.0f32; 8];
        assert_eq!(fit(&mut buf, 4, 6), 6);
        assert_eq!(buf[..6], [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(fit(&mut buf, 8, 3), 3);
    }
}
