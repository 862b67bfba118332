//! The video half of a simulated-call party: a synthetic camera stamped with frame ids,
//! a real AV1 encoder (libaom) and the sans-IO `VideoSendStream` on the way out; the
//! sans-IO `VideoReceiveStream` and a real AV1 decoder (dav1d) on the way in, reading
//! the frame ids back so glass-to-glass latency is measured end to end.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam::channel::Receiver;

use super::media::{Y4mClip, packed_i420};
use super::{SimError, setup};
use crate::call::probe::{FrameIdClock, FrameIdStamp};
use crate::pipeline::BufferPool;
use crate::session::core::{LocalStream, VideoReceive};
use crate::session::frame_assembler::AssemblerConfig;
use crate::session::keys::KeyMailbox;
use crate::session::nack::NackConfig;
use crate::session::shared::{SenderMailbox, Shared, VideoPacketIn};
use crate::session::streams::{VideoStreamConfig, video_streams};
use crate::session::video::{AV1_PAYLOAD_TYPE, RTX_PAYLOAD_TYPE, VideoIds, VideoShared};
use crate::session::video_receive::VideoReceiveStream;
use crate::session::video_send::VideoSendStream;
use crate::srtp::SrtpSession;
use crate::video::av1::synthetic::SyntheticScene;
use crate::video::av1::{
    Av1Decoder, DecoderConfig, EncodedFrame, EncoderConfig, VideoEncoder, create_encoder,
};
use crate::video::{PixelFormat, VideoFrame};

/// The video track of a simulated call.
#[derive(Debug, Clone)]
pub struct SimVideoConfig {
    /// Coded size and frame rate.
    pub width: u32,
    /// See [`width`](Self::width).
    pub height: u32,
    /// Frames per second of the synthetic camera.
    pub fps: u32,
    /// Encoder bitrate ceiling (the bandwidth estimator starts lower and ramps up).
    pub bitrate_bps: u32,
    /// Encoder bitrate floor, or `None` for a tenth of the ceiling.
    pub min_bitrate_bps: Option<u32>,
    /// Encoder and decoder threads. One keeps the call bit-for-bit repeatable (libaom's
    /// multi-threaded rate control is not).
    pub codec_threads: u32,
    /// What the camera loops: a Y4M clip of exactly `width` x `height`, or `None` for
    /// the synthetic moving scene. Frame ids are stamped into the pictures either way.
    pub source: Option<Arc<Y4mClip>>,
    /// Keep every decoded picture (see [`SimulatedCall::recorded_video`]).
    ///
    /// [`SimulatedCall::recorded_video`]: super::sim::SimulatedCall::recorded_video
    pub record: bool,
}

impl SimVideoConfig {
    /// 360p30 at 500 kbit/s, one codec thread.
    pub fn p360() -> Self {
        Self {
            width: 640,
            height: 360,
            fps: 30,
            bitrate_bps: 500_000,
            min_bitrate_bps: None,
            codec_threads: 1,
            source: None,
            record: false,
        }
    }
}

/// SSRCs of party `party`'s video stream and its RTX companion.
pub fn video_ssrcs(party: usize) -> (u32, u32) {
    let base = 0x5200_0000 + (party as u32) * 0x1000;
    (base, base + 1)
}

/// The session-side links of one party's video.
pub(crate) struct VideoSessionParts {
    pub local: LocalStream,
    pub receive: VideoReceive,
    pub keys: KeyMailbox,
}

/// One party's video.
pub(crate) struct VideoSide {
    pub stats: Arc<VideoShared>,
    scene: SyntheticScene,
    pool: BufferPool<u8>,
    stamp: FrameIdStamp,
    /// Capture instants of the frame ids this party sent.
    pub sent_ids: FrameIdClock,
    encoder: Box<dyn VideoEncoder>,
    /// What the encoder gave for the current picture (reused).
    encoded: Vec<EncodedFrame>,
    send: VideoSendStream,
    mailbox: Arc<SenderMailbox>,
    frame_index: u64,
    next_frame: Instant,
    interval: Duration,
    packets: Receiver<VideoPacketIn>,
    receive: VideoReceiveStream,
    decoder: Av1Decoder,
    units_decoded: u64,
    /// (frame id, decoded at) of pictures decoded since the harness last looked.
    pub shown: Vec<(u16, Instant)>,
    /// Decoded pictures whose frame id could not be read.
    pub unreadable: u64,
    source: Option<Arc<Y4mClip>>,
    /// Decoded pictures (frame id, packed I420), when recording.
    pub recorded: Option<Vec<(Option<u16>, Vec<u8>)>>,
}

impl VideoSide {
    /// Builds party `party`'s video, starting at `start`; `srtp` protects its sending.
    pub fn new(
        config: &SimVideoConfig,
        party: usize,
        srtp: SrtpSession,
        shared: &Arc<Shared>,
        start: Instant,
    ) -> Result<(Self, VideoSessionParts), SimError> {
        if let Some(clip) = &config.source
            && (clip.width, clip.height) != (config.width, config.height)
        {
            return Err(SimError::InvalidConfig("the Y4M clip's size differs from the track's"));
        }
        let (local, local_rtx) = video_ssrcs(party);
        let (remote, remote_rtx) = video_ssrcs(1 - party);
        let ids = VideoIds {
            local,
            remote,
            local_rtx,
            remote_rtx,
            pt: AV1_PAYLOAD_TYPE,
            rtx_pt: RTX_PAYLOAD_TYPE,
        };
        let mut encoder_config =
            EncoderConfig::new(config.width, config.height, config.fps, config.bitrate_bps);
        encoder_config.threads = config.codec_threads as usize;
        let mut encoder = create_encoder(encoder_config).map_err(setup("encoder"))?;
        let streams = video_streams(
            VideoStreamConfig {
                ids,
                configured_bitrate_bps: config.bitrate_bps,
                min_bitrate_bps: config.min_bitrate_bps.unwrap_or(config.bitrate_bps / 10),
                adapt_bitrate: true,
                nack: NackConfig::default(),
                assembler: AssemblerConfig::default(),
            },
            srtp,
            shared,
            start,
            start,
        )
        .map_err(setup("video streams"))?;
        if streams.start_bitrate_bps != config.bitrate_bps {
            encoder.set_bitrate(streams.start_bitrate_bps).map_err(setup("encoder bitrate"))?;
        }
        let decoder =
            Av1Decoder::new(DecoderConfig { threads: config.codec_threads, pool_frames: 4 })
                .map_err(setup("decoder"))?;
        let parts =
            VideoSessionParts { local: streams.local, receive: streams.remote, keys: streams.keys };
        let stats = streams.stats;
        let (send, mailbox, receive, packets) =
            (streams.send, streams.mailbox, streams.receive, streams.packets);
        let side = Self {
            stats,
            scene: SyntheticScene::new(config.width, config.height),
            pool: BufferPool::new(8, 4, (config.width * config.height * 3 / 2) as usize),
            stamp: FrameIdStamp::for_size(config.width, config.height)
                .map_err(setup("frame id stamp"))?,
            sent_ids: FrameIdClock::new(),
            encoder,
            encoded: Vec::with_capacity(4),
            send,
            mailbox,
            frame_index: 0,
            next_frame: start,
            interval: Duration::from_secs(1) / config.fps.max(1),
            packets,
            receive,
            decoder,
            units_decoded: 0,
            // Drained every step; room for a burst of decoded pictures so it never grows.
            shown: Vec::with_capacity(64),
            unreadable: 0,
            source: config.source.clone(),
            recorded: config.record.then(Vec::new),
        };
        Ok((side, parts))
    }

    /// The earliest instant at which this side has something to do.
    pub fn poll_timeout(&self, now: Instant) -> Instant {
        let mut next = self.next_frame;
        if let Some(t) = self.send.poll_timeout() {
            next = next.min(t);
        }
        if let Some(t) = self.receive.poll_timeout(now) {
            next = next.min(t);
        }
        next
    }

    /// Receive side: packets the session forwarded, frames to decode, feedback to queue.
    pub fn receive(&mut self, now: Instant, rtt: Option<Duration>) {
        while let Ok(packet) = self.packets.try_recv() {
            self.receive.on_packet(packet);
        }
        loop {
            let decoder = &mut self.decoder;
            let units = &mut self.units_decoded;
            let mut picture = None;
            let mut failed = false;
            let popped = self.receive.pop_frame(now, &mut |unit| {
                *units += 1;
                failed |= decoder.decode(unit, now, *units, &mut |f| picture = Some(f)).is_err();
            });
            if popped.is_none() {
                break;
            }
            if failed {
                self.receive.decode_failed();
            }
            let Some(picture) = picture else { continue };
            self.stats.frames_decoded.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let id = match self.stamp.read(&picture) {
                Ok(Some(id)) => {
                    self.shown.push((id, now));
                    Some(id)
                }
                _ => {
                    self.unreadable += 1;
                    None
                }
            };
            if let Some(recorded) = &mut self.recorded {
                recorded.push((id, packed_i420(&picture)));
            }
        }
        let awaiting = self.decoder.is_awaiting_keyframe();
        self.receive.poll(now, rtt, awaiting);
    }

    /// Send side: a camera frame if one is due (returns the real time encoding took),
    /// mailbox service, and the datagrams whose pacing slot has come.
    pub fn send(
        &mut self,
        now: Instant,
        rtt: Option<Duration>,
        charge: bool,
        out: &mut dyn FnMut(Instant, &[u8]),
    ) -> Duration {
        let requests = self.send.serve_mailbox(now, &self.mailbox, rtt);
        if requests.keyframe {
            self.encoder.request_keyframe();
        }
        if let Some(bitrate) = requests.bitrate_bps
            && self.encoder.set_bitrate(bitrate).is_ok()
        {
            self.send.bitrate_applied(bitrate);
        }
        let mut spent = Duration::ZERO;
        if now >= self.next_frame {
            self.next_frame += self.interval;
            let index = self.frame_index;
            self.frame_index += 1;
            let frame = match &self.source {
                None => self.scene.frame(&self.pool, index, now),
                Some(clip) => copy_clip_frame(clip, index, &self.pool, now),
            };
            if let Ok(mut frame) = frame {
                let id = index as u16;
                if self.stamp.write(&mut frame, id).is_ok() {
                    self.sent_ids.captured(id, now);
                }
                let started = Instant::now();
                let encoded = &mut self.encoded;
                encoded.clear();
                let result = self.encoder.encode(&frame, &mut |packet| encoded.push(packet));
                spent = started.elapsed();
                let at = if charge { now + spent } else { now };
                if result.is_ok() {
                    for packet in self.encoded.drain(..) {
                        self.send.send_frame(at, &packet);
                    }
                }
            }
        }
        while let Some(datagram) = self.send.poll_transmit(now) {
            out(now, datagram);
        }
        spent
    }
}

/// Frame `index` of `clip` (looped) in a frame from `pool`.
fn copy_clip_frame(
    clip: &Y4mClip,
    index: u64,
    pool: &BufferPool<u8>,
    capture_time: Instant,
) -> Result<VideoFrame, crate::video::VideoFrameError> {
    let mut frame =
        VideoFrame::alloc(pool, PixelFormat::I420, clip.width, clip.height, capture_time, index)?;
    let mut data = clip.frame(index);
    for (plane, (row, rows)) in
        PixelFormat::I420.plane_dims(clip.width, clip.height).iter().enumerate()
    {
        let stride = frame.stride(plane);
        let out = frame.plane_mut(plane);
        for y in 0..*rows {
            out[y * stride..y * stride + row].copy_from_slice(&data[..*row]);
            data = &data[*row..];
        }
    }
    Ok(frame)
}
