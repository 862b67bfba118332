//! Each stream built together with its links to the session: the send stream with its key
//! mailbox and the local-stream entry RTCP needs, the receive side with its queue and
//! the receive-stream table entry. The runtime (`call::runtime`) and the simulated-call
//! harness (`testing::sim`) wire calls from these, so both run the same wiring.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::Receiver;
use crossbeam::queue::ArrayQueue;

use crate::transport::MAX_DATAGRAM;

use super::audio_send::AudioSendStream;
use super::core::{AudioReceive, LocalStream, VideoReceive};
use super::frame_assembler::AssemblerConfig;
use super::keys::{KeyMailbox, SentCounter};
use super::nack::NackConfig;
use super::shared::{
    EpochMailbox, ReceivedAudio, RemoteClock, SenderClock, SenderMailbox, Shared, VideoPacketIn,
};
use super::video::{VideoIds, VideoShared};
use super::video_receive::VideoReceiveStream;
use super::video_send::{VideoSendConfig, VideoSendStream};
use crate::rtp::RtpError;
use crate::srtp::SrtpSession;

/// Packets the session can queue for one audio playout unit (1.28 s of 20 ms packets).
pub(crate) const AUDIO_RECEIVE_QUEUE: usize = 64;

/// Video packets queued from the session to a video receive stream.
pub(crate) const VIDEO_RECEIVE_QUEUE: usize = 1024;
/// Receive buffers made when a video stream starts (192 KB).
const PREFILLED_VIDEO_BUFFERS: usize = 128;

/// NACK and keyframe requests a video receive stream can queue for the session.
const FEEDBACK_REQUESTS: usize = 64;

/// An audio send stream and its session-side links.
pub(crate) struct AudioSender {
    pub stream: AudioSendStream,
    /// The session's entry for it (sender reports).
    pub local: LocalStream,
    /// Where the session posts its new keys.
    pub keys: KeyMailbox,
}

/// An audio stream this side sends as `ssrc`, protected by `srtp` until the session posts
/// newer keys; `content_delay` is the capture chain's algorithmic delay.
pub(crate) fn audio_sender(
    srtp: SrtpSession,
    ssrc: u32,
    payload_type: u8,
    content_delay: Duration,
    shared: &Arc<Shared>,
    origin: Instant,
) -> AudioSender {
    let clock = Arc::new(SenderClock::new(origin));
    let new_keys = Arc::new(EpochMailbox::new(1));
    let stream = AudioSendStream::new(
        srtp,
        ssrc,
        payload_type,
        Arc::clone(&new_keys),
        Arc::clone(&clock),
        Arc::clone(shared),
        content_delay,
    );
    AudioSender {
        stream,
        local: LocalStream::Audio { ssrc, clock },
        keys: KeyMailbox::new(new_keys, SentCounter::Audio(Arc::clone(shared))),
    }
}

/// A remote audio stream's entry for the session and the queue its playout unit drains.
pub(crate) fn audio_receiver(
    ssrc: u32,
    payload_type: u8,
    clock: Arc<RemoteClock>,
) -> (AudioReceive, Arc<ArrayQueue<ReceivedAudio>>) {
    let queue = Arc::new(ArrayQueue::new(AUDIO_RECEIVE_QUEUE));
    (AudioReceive { ssrc, payload_type, queue: Arc::clone(&queue), clock }, queue)
}

/// Settings of one video track (a send stream and a receive stream, each with RTX).
pub(crate) struct VideoStreamConfig {
    pub ids: VideoIds,
    /// The encoder's configured bitrate (the ceiling of adaptation).
    pub configured_bitrate_bps: u32,
    /// Floor of adaptation.
    pub min_bitrate_bps: u32,
    /// Whether the estimator steers the encoder bitrate.
    pub adapt_bitrate: bool,
    pub nack: NackConfig,
    pub assembler: AssemblerConfig,
}

/// A video track's streams and their session-side links.
pub(crate) struct VideoStreams {
    /// Counters shared by both streams, the session and the runtime.
    pub stats: Arc<VideoShared>,
    pub send: VideoSendStream,
    /// The bitrate the encoder must start at.
    pub start_bitrate_bps: u32,
    /// NACKs, keyframe requests and feedback the session routes to the send stream.
    pub mailbox: Arc<SenderMailbox>,
    pub receive: VideoReceiveStream,
    /// Packets the session forwards to the receive stream.
    pub packets: Receiver<VideoPacketIn>,
    /// Updated from the remote stream's sender reports, for lip sync.
    pub remote_clock: Arc<RemoteClock>,
    /// The session's entries: the local stream, the remote stream, the key mailbox.
    pub local: LocalStream,
    pub remote: VideoReceive,
    pub keys: KeyMailbox,
}

/// Builds a video track's send and receive streams at `now` (RTP timestamps count from
/// `origin`), the send side protected by `srtp` until the session posts newer keys.
pub(crate) fn video_streams(
    config: VideoStreamConfig,
    srtp: SrtpSession,
    shared: &Arc<Shared>,
    origin: Instant,
    now: Instant,
) -> Result<VideoStreams, RtpError> {
    let ids = config.ids;
    let stats = Arc::new(VideoShared::new());
    let clock = Arc::new(SenderClock::new(origin));
    let mailbox = Arc::new(SenderMailbox::new());
    let new_keys = Arc::new(EpochMailbox::new(1));
    let (send, start_bitrate_bps) = VideoSendStream::new(
        VideoSendConfig {
            ids,
            configured_bitrate_bps: config.configured_bitrate_bps,
            min_bitrate_bps: config.min_bitrate_bps,
            adapt_bitrate: config.adapt_bitrate,
            origin,
        },
        srtp,
        Arc::clone(&stats),
        Arc::clone(shared),
        Arc::clone(&clock),
        Arc::clone(&new_keys),
        now,
    )?;
    let (to_receiver, packets) = crossbeam::channel::bounded(VIDEO_RECEIVE_QUEUE);
    let free_buffers = Arc::new(ArrayQueue::new(VIDEO_RECEIVE_QUEUE));
    // Enough buffers for a keyframe's burst and the reorder window are made now, so the
    // network thread does not allocate them mid-call; more are made only if more packets
    // are ever in flight at once (they are kept, up to the queue's size).
    for _ in 0..PREFILLED_VIDEO_BUFFERS {
        let _ = free_buffers.push(vec![0u8; MAX_DATAGRAM].into_boxed_slice());
    }
    let requests = Arc::new(ArrayQueue::new(FEEDBACK_REQUESTS));
    let receive = VideoReceiveStream::new(
        ids,
        config.nack,
        config.assembler,
        Arc::clone(shared),
        Arc::clone(&stats),
        Arc::clone(&free_buffers),
        Arc::clone(&requests),
    )?;
    let remote_clock = Arc::new(RemoteClock::default());
    Ok(VideoStreams {
        local: LocalStream::Video {
            ssrc: ids.local,
            clock,
            mailbox: Arc::clone(&mailbox),
            stats: Arc::clone(&stats),
        },
        remote: VideoReceive {
            ssrc: ids.remote,
            rtx_ssrc: ids.remote_rtx,
            payload_type: ids.pt,
            rtx_payload_type: ids.rtx_pt,
            to_receiver,
            free_buffers,
            requests,
            stats: Arc::clone(&stats),
            clock: Arc::clone(&remote_clock),
        },
        keys: KeyMailbox::new(new_keys, SentCounter::Video(Arc::clone(&stats))),
        stats,
        send,
        start_bitrate_bps,
        mailbox,
        receive,
        packets,
        remote_clock,
    })
}
