//! The [`Call`] object: one end-to-end encrypted audio (and optionally video) call over a
//! packet transport.
//!
//! The threads of a call (see `docs/call.md` for the full model):
//!
//! * the app's **capture** thread calls [`CallCapture::push_audio`] every 10 ms: AEC, noise
//!   suppression and Opus run right there, then the call's audio send stream puts the
//!   packet in RTP and SRTP-protects it, and it is handed to the transport;
//! * the app's **playout** thread calls [`CallPlayout::pull_audio`] every 10 ms: it drains
//!   the receive queue into the call's [`AudioPlayout`] (jitter buffer, Opus decoder,
//!   concealment, time-scaling) and returns 10 ms at the device rate, feeding the AEC's
//!   far-end reference;
//! * a **network** thread owned by the call feeds every datagram, with its arrival
//!   instant, to the sans-IO session (`session::core::Session`), which SRTP-unprotects it,
//!   routes it by SSRC (Opus to the playout queue, video to the video receive thread) and
//!   handles RTCP; the thread sends the RTCP the session queues;
//! * with a video track, a **video send** thread (conversion, AV1 encoding, packetising,
//!   retransmissions, bandwidth estimation) and a **video receive** thread (frame assembly,
//!   NACK, decoding, lip sync) owned by the call; the app pushes camera frames with
//!   [`VideoInput::push`] and pulls display frames with [`VideoOutput::pull`].
//!
//! No thread ever takes a lock or waits for another: they meet only in bounded lock-free
//! queues and atomic counters. Video work never runs on the audio threads.
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
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam::queue::ArrayQueue;

use super::network::NetworkThread;
use super::video::{ReceivedVideo, VideoStats, VideoTrackConfig};
use super::video_receive::VideoReceiveThread;
use super::video_send::VideoSendThread;
use crate::audio::AudioPlayout;
use crate::audio::{
    AudioError, CaptureChain, CaptureConfig, DeviceFormat, ENGINE_FRAME, FarEndSender,
    FormatConverter, far_end_channel,
};
use crate::e2ee::{CallKeys, RekeyPolicy};
use crate::pipeline::{
    FrameSender, LatencyHistogram, LatencySummary, QueuePolicy, Timestamped, frame_channel,
};
use crate::rtp::RtpError;
use crate::session::audio_send::{AudioSendStream, SendStreamError};
use crate::session::core::{LocalStream, Session, SessionConfig, VideoReceive};
use crate::session::jitter::{JitterBuffer, JitterConfig, JitterError, JitterStats};
use crate::session::keys::{KeyEpochs, KeyMailbox, srtp_session};
use crate::session::rtcp_stats::NtpClock;
use crate::session::shared::{CallEnded, PlayoutClock, ReceivedAudio, RemoteClock, Shared};
use crate::session::streams::{VideoStreamConfig, audio_receiver, audio_sender, video_streams};
use crate::session::video::{VideoIds, VideoShared};
use crate::srtp::SrtpError;
use crate::transport::{PacketRecv, PacketSend, TransportError};
use crate::video::av1::{Av1Decoder, DecoderConfig, VideoCodecError, create_encoder};
use crate::video::{ConverterConfig, PixelFormat, VideoConverter, VideoFrame};

/// Default RTP payload type for Opus (dynamic range; 111 as in most WebRTC stacks).
pub const OPUS_PAYLOAD_TYPE: u8 = 111;

/// Shortest peer timeout accepted (the network thread checks it every few ms).
const MIN_PEER_TIMEOUT: Duration = Duration::from_millis(20);

/// Captured frames waiting for the video send thread (newest wins beyond this).
const VIDEO_INPUT_QUEUE: usize = 2;

/// Decoded frames waiting for the app (about 270 ms at 30 fps: room to hold frames back
/// for lip sync; newest wins beyond this).
const VIDEO_OUTPUT_QUEUE: usize = 8;

/// Which media a call control applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// The microphone.
    Audio,
    /// The camera.
    Video,
}

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
    /// The video encoder or decoder could not be set up.
    #[error("video codec: {0}")]
    VideoCodec(#[from] VideoCodecError),
    /// A send stream could not packetise or protect a packet.
    #[error("send stream: {0}")]
    SendStream(#[from] SendStreamError),
    /// The video converter could not be set up.
    #[error("video conversion: {0}")]
    VideoConversion(crate::video::ConvertError),
    /// The call has no video track, or its video output was already taken.
    #[error("no video track (or its output was taken)")]
    NoVideo,
    /// A thread of the call could not be started.
    #[error("could not start a call thread: {0}")]
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
    /// The video track, if the call has one (both sides must agree).
    pub video: Option<VideoTrackConfig>,
    /// When this side moves its outbound keys to the next ratchet epoch
    /// (`e2ee::rekey`: a stolen key then opens neither earlier nor, alone, later media);
    /// `None` re-keys only on [`CallControl::rekey`]. Incoming epochs are followed either
    /// way, keeping the previous one until this policy's `overlap` time has passed (the
    /// default's when `None`) or 1024 packets opened under the new one
    /// (`SrtpConfig::rekey_overlap_packets`), whichever comes first.
    pub rekey: Option<RekeyPolicy>,
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
            .field("video", &self.video)
            .field("rekey", &self.rekey)
            .finish()
    }
}

impl CallConfig {
    /// Defaults for everything but the keys, SSRCs and device format: AEC, noise
    /// suppression, 32 kbit/s Opus with FEC in 20 ms packets, payload type 111, the default
    /// jitter buffer, a 10 s peer timeout, re-keying every 10 minutes (or 2^20 packets),
    /// and no video.
    pub fn new(keys: CallKeys, local_ssrc: u32, remote_ssrc: u32, device: DeviceFormat) -> Self {
        Self {
            keys,
            local_ssrc,
            remote_ssrc,
            payload_type: OPUS_PAYLOAD_TYPE,
            capture: CaptureConfig { device, ..CaptureConfig::default() },
            jitter: JitterConfig::default(),
            peer_timeout: Duration::from_secs(10),
            video: None,
            rekey: Some(RekeyPolicy::default()),
        }
    }

    /// The same configuration with a video track.
    pub fn with_video(mut self, video: VideoTrackConfig) -> Self {
        self.video = Some(video);
        self
    }

    fn validate(&self) -> Result<(), CallError> {
        if self.peer_timeout < MIN_PEER_TIMEOUT {
            return Err(CallError::InvalidConfig("peer timeout shorter than 20 ms"));
        }
        let mut ssrcs = vec![self.local_ssrc, self.remote_ssrc];
        let mut payload_types = vec![self.payload_type];
        if let Some(v) = &self.video {
            ssrcs.extend([v.local_ssrc, v.remote_ssrc, v.local_rtx_ssrc, v.remote_rtx_ssrc]);
            payload_types.extend([v.payload_type, v.rtx_payload_type]);
        }
        let mut sorted = ssrcs.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != ssrcs.len() {
            return Err(CallError::InvalidConfig("every SSRC of the call must be distinct"));
        }
        for &pt in &payload_types {
            // RFC 5761 4: 64-95 would collide with RTCP packet types on a shared socket.
            if pt > 127 || (64..=95).contains(&pt) {
                return Err(CallError::InvalidConfig("payload type must be 0..=63 or 96..=127"));
            }
        }
        if payload_types.len() == 3
            && (payload_types[0] == payload_types[1]
                || payload_types[0] == payload_types[2]
                || payload_types[1] == payload_types[2])
        {
            return Err(CallError::InvalidConfig("payload types must be distinct"));
        }
        if let Some(v) = &self.video {
            v.encoder.validate()?;
            if v.min_bitrate_bps > v.encoder.bitrate_bps {
                return Err(CallError::InvalidConfig("video minimum bitrate above the bitrate"));
            }
        }
        Ok(())
    }
}

/// Counters and latency figures of a call.
#[derive(Debug, Clone, Default)]
pub struct CallStats {
    /// Audio RTP packets handed to the transport.
    pub packets_sent: u64,
    /// Audio SRTP bytes handed to the transport.
    pub bytes_sent: u64,
    /// Packets the transport refused (buffer full, oversize, I/O error).
    pub send_errors: u64,
    /// Authenticated RTP packets of the peer's audio stream received.
    pub packets_received: u64,
    /// SRTP bytes of those packets.
    pub bytes_received: u64,
    /// Datagrams that failed SRTP/SRTCP authentication (forged, corrupted or wrong key).
    pub auth_failures: u64,
    /// Replayed or too-old SRTP packets refused.
    pub replays: u64,
    /// Datagrams that were not SRTP at all (too short, bad version, ...) or malformed RTCP.
    pub malformed: u64,
    /// Authenticated packets dropped for their RTP content (wrong SSRC or payload type,
    /// unparsable Opus TOC or AV1 payload).
    pub rtp_dropped: u64,
    /// Packets dropped because a receiving thread did not drain its queue.
    pub queue_overflows: u64,
    /// Compound RTCP packets sent and received (authenticated).
    pub rtcp_sent: u64,
    /// See [`rtcp_sent`](Self::rtcp_sent).
    pub rtcp_received: u64,
    /// Round-trip time from RTCP reports, once measured.
    pub rtt: Option<Duration>,
    /// Key epoch our packets are sent under.
    pub send_epoch: u8,
    /// Newest key epoch the peer's packets authenticated under.
    pub receive_epoch: u8,
    /// Outbound key epochs started since the call began.
    pub rekeys_sent: u64,
    /// Peer key epochs followed since the call began.
    pub rekeys_received: u64,
    /// Times a due outbound epoch change was held back for more than 2 s by a sending
    /// thread that kept sending under the old keys (0 in a healthy call; a rising count
    /// means re-keying has stalled).
    pub rekey_stalls: u64,
    /// Loss the peer last reported for our audio (fraction, 0..1).
    pub remote_audio_loss: f64,
    /// Loss the peer last reported for our video, before retransmission (fraction, 0..1).
    pub remote_video_loss: f64,
    /// Audio packets the peer reported lost in total (RTCP cumulative count).
    pub remote_audio_lost: u64,
    /// Video packets the peer reported lost in total, before retransmission.
    pub remote_video_lost: u64,
    /// The Opus bitrate the encoder runs at: the configured one, or lower on a thin link
    /// (the bandwidth allocation gives audio up to half the estimate; video calls only).
    pub audio_bitrate_bps: u64,
    /// Packets the jitter buffer refused as invalid.
    pub jitter_rejected: u64,
    /// The jitter buffer's counters (loss, late, FEC, concealment, delay).
    pub jitter: JitterStats,
    /// Opus payloads that failed to decode (concealed instead).
    pub decode_errors: u64,
    /// Playout ticks the decoded audio did not fill (padded with silence).
    pub playout_underruns: u64,
    /// The video track's counters, when the call has one.
    pub video: Option<VideoStats>,
    /// Per-stage processing time: capture chain steps (`capture.*`), SRTP protect and
    /// send (`send`), SRTP unprotect (`unprotect`), receive queue wait (`queue`), decode
    /// (`decode`), the whole playout tick (`playout`), and for video `video.convert`,
    /// `video.encode`, `video.send` (packetise, protect, send one frame),
    /// `video.assemble` (last packet to frame complete) and `video.decode`.
    pub stages: Vec<(&'static str, LatencySummary)>,
    /// Why the call ended, once it has.
    pub ended: Option<CallEnded>,
}

/// A whole call: capture side, playout side, video input and output, and the call's own
/// threads. Use it directly from one thread, or [`Call::into_parts`] to give each side to
/// its own thread.
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
    /// Starts a call: builds the media chains and SRTP sessions, and starts the network
    /// thread reading `receiver` (and, with a video track, the video threads). Media is
    /// sent with `sender`.
    pub fn new(
        config: CallConfig,
        sender: Arc<dyn PacketSend>,
        receiver: Box<dyn PacketRecv>,
    ) -> Result<Self, CallError> {
        config.validate()?;
        let device = config.capture.device;
        let origin = Instant::now();
        let unix = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let shared = Arc::new(Shared::default());
        // One SRTP session per sending thread and one for receiving: no crypto state is
        // shared between threads, so nothing is locked. Each stream (SSRC) and the RTCP
        // index are written by exactly one of them, so no nonce is ever used twice.
        let audio_out = srtp_session(&config.keys.outbound(), 1)?;
        let rtcp_out = srtp_session(&config.keys.outbound(), 2)?;
        let inbound_srtp = srtp_session(&config.keys.inbound(), 4)?;
        // The AEC needs what the speaker plays: 320 ms of reference frames may queue.
        let (far_tx, far_rx) = if config.capture.aec.is_some() {
            let (tx, rx) = far_end_channel(32);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let chain = CaptureChain::new(&config.capture, far_rx)?;
        // The stages report their own delays (resampler, RNNoise, Opus look-ahead).
        let audio_send = audio_sender(
            audio_out,
            config.local_ssrc,
            config.payload_type,
            chain.algorithmic_delay(),
            &shared,
            origin,
        );
        let capture = CallCapture::new(
            device,
            chain,
            audio_send.stream,
            Arc::clone(&sender),
            Arc::clone(&shared),
        );
        let remote_audio_clock = Arc::new(RemoteClock::default());
        let (audio_receive, queue) = audio_receiver(
            config.remote_ssrc,
            config.payload_type,
            Arc::clone(&remote_audio_clock),
        );
        let playout_clock = Arc::new(PlayoutClock::new(origin));
        let playout = CallPlayout::new(&config, device, far_tx, queue, Arc::clone(&playout_clock))?;
        let mut control = CallControl {
            shared: Arc::clone(&shared),
            threads: Vec::new(),
            video: None,
            video_output: None,
        };
        let mut local = vec![audio_send.local];
        let audio = vec![audio_receive];
        let mut video = Vec::new();
        let mut mailboxes = vec![audio_send.keys];
        if let Some(video_config) = &config.video {
            let (video_local, video_remote, video_keys) = start_video(
                video_config,
                &config.keys,
                &sender,
                &shared,
                origin,
                &remote_audio_clock,
                &playout_clock,
                &mut control,
            )?;
            mailboxes.push(video_keys);
            local.push(video_local);
            video.push(video_remote);
        }
        let policy = config.rekey;
        let (outbound, inbound) = config.keys.into_ratchets(policy.unwrap_or_default(), origin);
        let keys = KeyEpochs::new(outbound, inbound, policy, mailboxes, origin);
        let session = Session::new(
            SessionConfig {
                srtp_in: inbound_srtp,
                srtcp_out: rtcp_out,
                keys,
                audio,
                video,
                local,
                peer_timeout: config.peer_timeout,
                ntp: NtpClock::new(origin, unix),
                shared: Arc::clone(&shared),
            },
            // The peer timeout counts from when the call starts listening.
            Instant::now(),
        );
        let network = NetworkThread { receiver, sender, session, shared: Arc::clone(&shared) };
        let handle =
            std::thread::Builder::new().name("call-network".into()).spawn(move || network.run())?;
        control.threads.push(handle);
        Ok(Self { capture, playout, control })
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

    /// Hands one camera frame (any size and pixel format) to the video send thread; see
    /// [`VideoInput::push`]. [`CallError::NoVideo`] without a video track.
    pub fn push_video(&self, frame: VideoFrame, capture_time: Instant) -> Result<(), CallError> {
        self.control.video.as_ref().ok_or(CallError::NoVideo)?.push(frame, capture_time)
    }

    /// The next decoded frame due for display at `now`; see [`VideoOutput::pull`]. `None`
    /// when there is none (or no video track, or its output was taken).
    pub fn pull_video(&mut self, now: Instant) -> Option<ReceivedVideo> {
        self.control.video_output.as_mut()?.pull(now)
    }

    /// Mutes or unmutes a medium; see [`CallControl::set_muted`].
    pub fn set_muted(&self, kind: MediaKind, muted: bool) {
        self.control.set_muted(kind, muted);
    }

    /// Asks the peer for a keyframe; see [`CallControl::request_keyframe`].
    pub fn request_keyframe(&self) {
        self.control.request_keyframe();
    }

    /// Moves the outbound keys to the next epoch now; see [`CallControl::rekey`].
    pub fn rekey(&self) {
        self.control.rekey();
    }

    /// Why the call ended, once it has.
    pub fn ended(&self) -> Option<CallEnded> {
        self.control.ended()
    }

    /// Counters and latencies so far.
    pub fn stats(&self) -> CallStats {
        self.control.stats(&self.capture, &self.playout)
    }

    /// Stops the call's threads and returns the final statistics.
    pub fn hang_up(self) -> CallStats {
        self.control.hang_up(self.capture, self.playout)
    }

    /// Splits the call so that capture and playout run on their own threads. Video input
    /// and output handles come from the [`CallControl`] ([`CallControl::video_input`],
    /// [`CallControl::take_video_output`]).
    pub fn into_parts(self) -> (CallCapture, CallPlayout, CallControl) {
        (self.capture, self.playout, self.control)
    }
}

/// Builds the video streams and threads and returns the session's entries for them (the
/// local stream, the remote stream, the key mailbox).
#[allow(clippy::too_many_arguments)]
fn start_video(
    config: &VideoTrackConfig,
    keys: &CallKeys,
    sender: &Arc<dyn PacketSend>,
    shared: &Arc<Shared>,
    origin: Instant,
    remote_audio_clock: &Arc<RemoteClock>,
    playout_clock: &Arc<PlayoutClock>,
    control: &mut CallControl,
) -> Result<(LocalStream, VideoReceive, KeyMailbox), CallError> {
    let ids = VideoIds {
        local: config.local_ssrc,
        remote: config.remote_ssrc,
        local_rtx: config.local_rtx_ssrc,
        remote_rtx: config.remote_rtx_ssrc,
        pt: config.payload_type,
        rtx_pt: config.rtx_payload_type,
    };
    let mut encoder = create_encoder(config.encoder.clone())?;
    let converter_config =
        ConverterConfig::new(PixelFormat::I420, config.encoder.width, config.encoder.height)
            .path(config.conversion);
    let converter = VideoConverter::auto(converter_config).map_err(CallError::VideoConversion)?;
    let decoder = Av1Decoder::new(DecoderConfig {
        threads: config.decoder_threads,
        pool_frames: 2 * VIDEO_OUTPUT_QUEUE,
    })?;
    let streams = video_streams(
        VideoStreamConfig {
            ids,
            configured_bitrate_bps: config.encoder.bitrate_bps,
            min_bitrate_bps: config.min_bitrate_bps,
            adapt_bitrate: config.adapt_bitrate,
            nack: config.nack.clone(),
            assembler: config.assembler.clone(),
        },
        srtp_session(&keys.outbound(), 2)?,
        shared,
        origin,
        Instant::now(),
    )?;
    if streams.start_bitrate_bps != config.encoder.bitrate_bps {
        encoder.set_bitrate(streams.start_bitrate_bps)?;
    }
    let stats = Arc::clone(&streams.stats);
    let (frames_in, frames) = frame_channel(QueuePolicy::video(VIDEO_INPUT_QUEUE));
    let output = Arc::new(ArrayQueue::new(VIDEO_OUTPUT_QUEUE));
    let send = VideoSendThread {
        frames,
        converter,
        encoder,
        stream: streams.send,
        sender: Arc::clone(sender),
        shared: Arc::clone(shared),
        stats: Arc::clone(&stats),
        mailbox: streams.mailbox,
    };
    let receive = VideoReceiveThread {
        packets: streams.packets,
        stream: streams.receive,
        output: Arc::clone(&output),
        decoder,
        shared: Arc::clone(shared),
        stats: Arc::clone(&stats),
        video_clock: streams.remote_clock,
        audio_clock: Arc::clone(remote_audio_clock),
        playout_clock: Arc::clone(playout_clock),
    };
    let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
        std::thread::Builder::new().name(name.into()).spawn(f)
    };
    control.threads.push(spawn("call-video-send", Box::new(move || send.run()))?);
    control.threads.push(spawn("call-video-receive", Box::new(move || receive.run()))?);
    control.video = Some(VideoInput {
        frames: frames_in,
        shared: Arc::clone(shared),
        stats: Arc::clone(&stats),
    });
    control.video_output = Some(VideoOutput { queue: output, held: None, stats });
    Ok((streams.local, streams.remote, streams.keys))
}

/// Camera input of a call: hands frames to the video send thread. Cheap to clone, usable
/// from any thread, never blocks.
#[derive(Clone)]
pub struct VideoInput {
    frames: FrameSender<VideoFrame>,
    shared: Arc<Shared>,
    stats: Arc<VideoShared>,
}

impl std::fmt::Debug for VideoInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoInput").finish_non_exhaustive()
    }
}

impl VideoInput {
    /// Queues one camera frame captured at `capture_time` (any size and pixel format the
    /// converter accepts; it is scaled and converted to the coded size). Never blocks: if
    /// the encoder is still busy with earlier frames, the oldest waiting frame is dropped
    /// and counted ([`VideoStats::frames_dropped_before_encode`]), newest wins.
    pub fn push(&self, mut frame: VideoFrame, capture_time: Instant) -> Result<(), CallError> {
        if let Some(reason) = self.shared.ended() {
            return Err(CallError::Ended(reason));
        }
        frame.set_capture_time(capture_time);
        self.stats.frames_captured.fetch_add(1, Ordering::Relaxed);
        match self.frames.push(frame) {
            Ok(()) => Ok(()),
            // Closed only when the send thread is gone, i.e. the call is ending.
            Err(_) => Err(CallError::Ended(self.shared.ended().unwrap_or(CallEnded::HungUp))),
        }
    }

    fn dropped(&self) -> u64 {
        self.frames.dropped_count()
    }
}

/// Display output of a call: decoded frames, released when they are due for lip sync.
/// One owner (the render thread).
pub struct VideoOutput {
    queue: Arc<ArrayQueue<ReceivedVideo>>,
    held: Option<ReceivedVideo>,
    stats: Arc<VideoShared>,
}

impl std::fmt::Debug for VideoOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoOutput").field("queued", &self.queue.len()).finish()
    }
}

impl VideoOutput {
    /// The newest decoded frame due at `now`, or `None`. A frame is due once its
    /// [`ReceivedVideo::render_at`] has come (immediately when lip sync has no reports
    /// yet); when several are due only the newest is returned and the older ones are
    /// dropped and counted ([`VideoStats::frames_dropped_before_display`]). Never blocks.
    pub fn pull(&mut self, now: Instant) -> Option<ReceivedVideo> {
        let due = |f: &ReceivedVideo| f.render_at.is_none_or(|t| t <= now);
        let mut ready: Option<ReceivedVideo> = None;
        loop {
            let Some(frame) = self.held.take().or_else(|| self.queue.pop()) else { break };
            if !due(&frame) {
                self.held = Some(frame);
                break;
            }
            if ready.replace(frame).is_some() {
                self.stats.frames_dropped_before_display.fetch_add(1, Ordering::Relaxed);
            }
        }
        ready
    }
}
/// The sending half, driven by the app's capture thread: the capture chain and the
/// call's audio send stream, so a packet leaves the moment Opus produced it.
pub struct CallCapture {
    chain: CaptureChain,
    stream: AudioSendStream,
    sender: Arc<dyn PacketSend>,
    shared: Arc<Shared>,
    silence: Box<[f32]>,
    send_time: LatencyHistogram,
}

impl std::fmt::Debug for CallCapture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallCapture").field("ssrc", &self.stream.ssrc()).finish_non_exhaustive()
    }
}

impl CallCapture {
    fn new(
        device: DeviceFormat,
        chain: CaptureChain,
        stream: AudioSendStream,
        sender: Arc<dyn PacketSend>,
        shared: Arc<Shared>,
    ) -> Self {
        Self {
            chain,
            stream,
            sender,
            shared,
            silence: vec![0.0; device.max_frame_len() * usize::from(device.channels)]
                .into_boxed_slice(),
            send_time: LatencyHistogram::new(),
        }
    }

    /// Processes one 10 ms microphone frame (interleaved, at the device rate) captured at
    /// `capture_time`: echo cancellation, noise suppression and Opus run on this thread;
    /// every completed packet is put in RTP, SRTP-protected and sent. Nothing is allocated.
    ///
    /// Returns [`CallError::Ended`] once the call is over. A datagram the transport refuses
    /// (full buffer) is counted in [`CallStats::send_errors`], not returned as an error.
    /// While muted ([`CallControl::set_muted`]) the frame is replaced by silence before
    /// processing: packets keep flowing (tiny ones with DTX), the peer's jitter buffer and
    /// our echo canceller stay in step.
    pub fn push_audio(&mut self, samples: &[f32], capture_time: Instant) -> Result<(), CallError> {
        if let Some(reason) = self.shared.ended() {
            return Err(CallError::Ended(reason));
        }
        let input = if self.shared.audio_muted.load(Ordering::Relaxed) {
            // Same length as the caller's frame, so a wrong length is still reported.
            let n = samples.len().min(self.silence.len());
            if n != samples.len() {
                let expected = self.silence.len();
                return Err(AudioError::WrongLength { expected, got: samples.len() }.into());
            }
            &self.silence[..n]
        } else {
            samples
        };
        self.chain.follow_bitrate_allocation(&self.shared);
        let Some(packet) = self.chain.process(input, capture_time)? else {
            return Ok(());
        };
        let started = Instant::now();
        let datagram = self.stream.packetize(
            packet.data(),
            packet.samples(),
            packet.capture_time(),
            started,
        )?;
        let len = datagram.len();
        match self.sender.send(datagram) {
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

/// The receiving half, driven by the app's playout thread: the engine's one
/// [`AudioPlayout`] unit for the peer's audio, fed from the session's receive queue, with
/// the echo canceller's far-end feed and conversion to the device format around it.
pub struct CallPlayout {
    queue: Arc<ArrayQueue<ReceivedAudio>>,
    unit: AudioPlayout,
    converter: Option<FormatConverter>,
    far_end: Option<FarEndSender>,
    device: DeviceFormat,
    playout_clock: Arc<PlayoutClock>,
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
        playout_clock: Arc<PlayoutClock>,
    ) -> Result<Self, CallError> {
        let converter = if device == DeviceFormat::ENGINE {
            None
        } else {
            Some(FormatConverter::new(DeviceFormat::ENGINE, device)?)
        };
        // Built here so that a bad setting is reported as the jitter buffer's.
        let jitter = JitterBuffer::new(config.jitter.clone())?;
        Ok(Self {
            queue,
            unit: AudioPlayout::with_jitter_buffer(jitter)?,
            converter,
            far_end,
            device,
            playout_clock,
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
        let needed = match &self.converter {
            None => ENGINE_FRAME,
            Some(_) => self.device.max_frame_len() * usize::from(self.device.channels),
        };
        if out.len() < needed {
            return Err(CallError::OutputTooShort { needed, got: out.len() });
        }
        while let Some(packet) = self.queue.pop() {
            self.queue_wait.record(started.saturating_duration_since(packet.arrival));
            self.unit.insert(packet.arrival, packet.into_audio_packet());
        }
        let mut frame = [0.0f32; ENGINE_FRAME];
        let decode_started = Instant::now();
        self.unit.pull(now, &mut frame);
        self.decode_time.record(decode_started.elapsed());
        if let Some(timestamp) = self.unit.playout_timestamp() {
            // What starts playing now leaves the device after the playout resampler.
            let resampler = self.converter.as_ref().map_or(Duration::ZERO, FormatConverter::delay);
            self.playout_clock.set(now + resampler, timestamp);
        }
        if let Some(far_end) = &self.far_end {
            far_end.send(&frame)?;
        }
        let written = match self.converter.as_mut() {
            None => {
                out[..ENGINE_FRAME].copy_from_slice(&frame);
                ENGINE_FRAME
            }
            Some(converter) => converter.convert(&frame, out)?,
        };
        self.tick_time.record(started.elapsed());
        Ok(written)
    }
}

/// Handle to end the call, read its statistics, mute, and reach the video input and
/// output, usable from any thread.
pub struct CallControl {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    video: Option<VideoInput>,
    video_output: Option<VideoOutput>,
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

    /// A handle for the camera thread, when the call has a video track.
    pub fn video_input(&self) -> Option<VideoInput> {
        self.video.clone()
    }

    /// The display output, for the render thread (once; `None` afterwards or without a
    /// video track).
    pub fn take_video_output(&mut self) -> Option<VideoOutput> {
        self.video_output.take()
    }

    /// Mutes or unmutes a medium. A muted microphone sends silence (the capture chain
    /// keeps running, so unmuting is instant and the echo canceller stays converged); a
    /// muted camera sends black frames.
    pub fn set_muted(&self, kind: MediaKind, muted: bool) {
        let flag = match kind {
            MediaKind::Audio => &self.shared.audio_muted,
            MediaKind::Video => &self.shared.video_muted,
        };
        flag.store(muted, Ordering::Relaxed);
    }

    /// Whether a medium is muted.
    pub fn is_muted(&self, kind: MediaKind) -> bool {
        match kind {
            MediaKind::Audio => self.shared.audio_muted.load(Ordering::Relaxed),
            MediaKind::Video => self.shared.video_muted.load(Ordering::Relaxed),
        }
    }

    /// Asks the peer for a keyframe (a PLI, throttled like the automatic ones), e.g. after
    /// the app recreated its display surface. Without a video track nothing happens.
    pub fn request_keyframe(&self) {
        self.shared.keyframe_wanted.store(true, Ordering::Release);
    }

    /// Moves this side's outbound keys to the next ratchet epoch now (on top of the
    /// configured [`CallConfig::rekey`] policy). The old keys are wiped; the peer follows
    /// as soon as a packet of the new epoch authenticates. Held (not dropped) while a
    /// thread that is sending has not yet taken the previous epoch's keys; a thread that
    /// sends nothing (a video track without frames) holds nothing back.
    pub fn rekey(&self) {
        self.shared.rekey_wanted.store(true, Ordering::Release);
    }

    /// Counters and latencies; the media sides are read as of their last call.
    pub fn stats(&self, capture: &CallCapture, playout: &CallPlayout) -> CallStats {
        let s = &self.shared;
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
        let video = self.video.as_ref().map(|input| {
            let v = &input.stats;
            stages.push(("video.convert", v.convert.summary()));
            stages.push(("video.encode", v.encode.summary()));
            stages.push(("video.send", v.send.summary()));
            stages.push(("video.pacer", v.pacer.summary()));
            stages.push(("video.assemble", v.assemble.summary()));
            stages.push(("video.decode", v.decode.summary()));
            let mut snapshot = v.snapshot();
            snapshot.frames_dropped_before_encode += input.dropped();
            snapshot
        });
        let unit = playout.unit.stats();
        let loss = |a: &std::sync::atomic::AtomicU8| f64::from(a.load(Ordering::Relaxed)) / 256.0;
        let c = s.counters();
        CallStats {
            packets_sent: c.packets_sent,
            bytes_sent: c.bytes_sent,
            send_errors: c.send_errors,
            packets_received: c.packets_received,
            bytes_received: c.bytes_received,
            auth_failures: c.auth_failures,
            replays: c.replays,
            malformed: c.malformed,
            rtp_dropped: c.rtp_dropped,
            queue_overflows: c.queue_overflows,
            rtcp_sent: c.rtcp_sent,
            rtcp_received: c.rtcp_received,
            rtt: s.rtt(),
            send_epoch: s.send_epoch.load(Ordering::Relaxed),
            receive_epoch: s.receive_epoch.load(Ordering::Relaxed),
            rekeys_sent: c.rekeys_sent,
            rekeys_received: c.rekeys_received,
            rekey_stalls: c.rekey_stalls,
            remote_audio_loss: loss(&s.remote_audio_loss),
            remote_video_loss: loss(&s.remote_video_loss),
            remote_audio_lost: c.remote_audio_lost,
            remote_video_lost: c.remote_video_lost,
            audio_bitrate_bps: c.audio_bitrate_bps,
            jitter_rejected: unit.rejected,
            jitter: unit.jitter,
            decode_errors: unit.decode_errors,
            playout_underruns: unit.underruns,
            video,
            stages,
            ended: s.ended(),
        }
    }

    /// Ends the call: stops and joins the call's threads and returns the final statistics.
    pub fn hang_up(mut self, capture: CallCapture, playout: CallPlayout) -> CallStats {
        self.stop();
        self.shared.end(CallEnded::HungUp);
        self.stats(&capture, &playout)
    }

    fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        for handle in self.threads.drain(..) {
            // The threads only return; a panic there would be a bug, already reported.
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
