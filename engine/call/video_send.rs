//! The video send thread of a call: captured frames -> conversion (scale and colour, GPU
//! or CPU) -> AV1 encoder -> the sans-IO [`VideoSendStream`] (packetiser, SRTP, RTX,
//! bandwidth estimation, pacer) -> transport. The thread owns the codec, the clock and the
//! socket; every packet decision is the stream's.
//!
//! Captured frames reach it through a queue that keeps only the newest frames (the
//! capture side never waits; a frame the encoder had no time for is dropped and counted).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::pipeline::FrameReceiver;
use crate::session::shared::{CallEnded, SenderMailbox, Shared};
use crate::session::video::VideoShared;
use crate::session::video_send::VideoSendStream;
use crate::transport::{PacketSend, TransportError};
use crate::video::av1::{EncodedFrame, VideoEncoder};
use crate::video::{PixelFormat, VideoConverter, VideoFrame};

/// Longest the thread waits for a frame before serving NACKs, feedback and the pacer.
const POLL: Duration = Duration::from_millis(5);

pub(crate) struct VideoSendThread {
    pub frames: FrameReceiver<VideoFrame>,
    pub converter: VideoConverter,
    pub encoder: Box<dyn VideoEncoder>,
    pub stream: VideoSendStream,
    pub sender: Arc<dyn PacketSend>,
    pub shared: Arc<Shared>,
    pub stats: Arc<VideoShared>,
    pub mailbox: Arc<SenderMailbox>,
}

impl VideoSendThread {
    pub fn run(mut self) {
        while !self.shared.stopping() && self.shared.ended().is_none() {
            let now = Instant::now();
            let wait = self
                .stream
                .poll_timeout()
                .map_or(POLL, |t| t.saturating_duration_since(now).min(POLL));
            let frame = self.frames.recv_timeout(wait);
            let requests =
                self.stream.serve_mailbox(Instant::now(), &self.mailbox, self.shared.rtt());
            if requests.keyframe {
                self.encoder.request_keyframe();
            }
            if let Some(bitrate) = requests.bitrate_bps
                && self.encoder.set_bitrate(bitrate).is_ok()
            {
                self.stream.bitrate_applied(bitrate);
            }
            if let Some(frame) = frame {
                self.send_frame(frame);
            }
            if !self.transmit() {
                return;
            }
        }
    }

    /// Sends every datagram whose pacing slot has come; false once the transport is gone.
    fn transmit(&mut self) -> bool {
        while let Some(datagram) = self.stream.poll_transmit(Instant::now()) {
            match self.sender.send(datagram) {
                Ok(()) => {}
                Err(TransportError::PeerUnreachable) => {
                    self.shared.end(CallEnded::PeerUnreachable);
                    return false;
                }
                Err(TransportError::Closed) => {
                    self.shared.end(CallEnded::TransportFailed);
                    return false;
                }
                Err(_) => {
                    self.shared.send_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        true
    }

    fn send_frame(&mut self, frame: VideoFrame) {
        // Newest wins: anything that queued up behind this frame is fresher.
        let mut frame = frame;
        while let Some(newer) = self.frames.try_recv() {
            self.stats.frames_dropped_before_encode.fetch_add(1, Ordering::Relaxed);
            frame = newer;
        }
        let started = Instant::now();
        let converted = if frame.format() == PixelFormat::I420
            && frame.width() == self.encoder.config().width
            && frame.height() == self.encoder.config().height
            && !self.shared.video_muted.load(Ordering::Relaxed)
        {
            frame
        } else {
            match self.converter.convert(&frame) {
                Ok(converted) => converted,
                Err(e) => {
                    tracing::warn!(error = %e, "video conversion failed; frame dropped");
                    self.stats.frames_dropped_before_encode.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        };
        let mut converted = converted;
        if self.shared.video_muted.load(Ordering::Relaxed) {
            // A muted camera sends black, as libwebrtc does: the peer sees the mute rather
            // than a frozen last picture, and black costs almost no bits.
            converted.plane_mut(0).fill(16);
            converted.plane_mut(1).fill(128);
            converted.plane_mut(2).fill(128);
        }
        self.stats
            .gpu_conversion
            .store(u64::from(self.converter.stats().gpu_frames > 0), Ordering::Relaxed);
        self.stats.convert.record(started.elapsed());
        let encode_started = Instant::now();
        let mut encoded: Option<EncodedFrame> = None;
        let mut more = Vec::new();
        let result = self.encoder.encode(&converted, &mut |packet| {
            if encoded.is_none() {
                encoded = Some(packet);
            } else {
                more.push(packet);
            }
        });
        drop(converted);
        if let Err(e) = result {
            tracing::warn!(error = %e, "video encoding failed; frame dropped");
            self.stats.frames_dropped_before_encode.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.stats.encode.record(encode_started.elapsed());
        for packet in encoded.into_iter().chain(more) {
            let started = Instant::now();
            self.stream.send_frame(started, &packet);
            // Whatever is due goes out now; the rest when its pacing slot comes.
            self.transmit();
            self.stats.send.record(started.elapsed());
        }
    }
}
