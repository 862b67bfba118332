//! The video receive thread of a call: the runtime edge of the sans-IO
//! [`VideoReceiveStream`] (RTX unwrapping, frame assembly, NACK, keyframe requests, AV1
//! depacketising). The thread owns the decoder (dav1d) and the clock: complete temporal
//! units are decoded here and each decoded frame gets the instant at which it should be
//! shown to play in sync with the audio (from both streams' RTCP sender reports and
//! where audio playout is).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError};
use crossbeam::queue::ArrayQueue;

use super::video::ReceivedVideo;
use crate::rtp::OPUS_CLOCK_RATE;
use crate::session::shared::{PlayoutClock, RemoteClock, Shared, VideoPacketIn};
use crate::session::video::{VIDEO_CLOCK_RATE, VideoShared};
use crate::session::video_receive::VideoReceiveStream;
use crate::video::VideoFrame;
use crate::video::av1::Av1Decoder;

/// Longest wait between two passes over the timers.
const MAX_WAIT: Duration = Duration::from_millis(10);

/// Longest a frame is held back for lip sync; beyond this, audio is too far behind for
/// holding video to be better than showing it.
const MAX_SYNC_HOLD: Duration = Duration::from_millis(500);

pub(crate) struct VideoReceiveThread {
    pub packets: Receiver<VideoPacketIn>,
    pub stream: VideoReceiveStream,
    pub output: Arc<ArrayQueue<ReceivedVideo>>,
    pub decoder: Av1Decoder,
    pub shared: Arc<Shared>,
    pub stats: Arc<VideoShared>,
    pub video_clock: Arc<RemoteClock>,
    pub audio_clock: Arc<RemoteClock>,
    pub playout_clock: Arc<PlayoutClock>,
}

impl VideoReceiveThread {
    pub fn run(mut self) {
        let mut decoded_count = 0u64;
        while !self.shared.stopping() {
            let now = Instant::now();
            let wake = self.stream.poll_timeout(now).unwrap_or(now + MAX_WAIT).min(now + MAX_WAIT);
            match self.packets.recv_timeout(wake.saturating_duration_since(now)) {
                Ok(packet) => self.stream.on_packet(packet),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(packet) = self.packets.try_recv() {
                self.stream.on_packet(packet);
            }
            let now = Instant::now();
            self.pop_frames(now, &mut decoded_count);
            let wanted = self.shared.keyframe_wanted.swap(false, Ordering::AcqRel)
                || self.decoder.is_awaiting_keyframe();
            self.stream.poll(now, self.shared.rtt(), wanted);
        }
    }

    fn pop_frames(&mut self, now: Instant, decoded_count: &mut u64) {
        loop {
            let started = Instant::now();
            let mut decoded: Option<VideoFrame> = None;
            let mut failed = false;
            let decoder = &mut self.decoder;
            let Some(frame) = self.stream.pop_frame(now, &mut |unit| {
                *decoded_count += 1;
                // The picture's capture time is set below, once the frame's first
                // arrival is known.
                let result = decoder.decode(unit, now, *decoded_count, &mut |f| {
                    decoded = Some(f);
                });
                failed |= result.is_err();
            }) else {
                break;
            };
            if failed {
                self.stream.decode_failed();
            }
            let Some(mut picture) = decoded else { continue };
            picture.set_capture_time(frame.first_arrival);
            let decoded_at = Instant::now();
            self.stats.decode.record(decoded_at.saturating_duration_since(started));
            let render_at = self.sync_render_time(frame.timestamp, decoded_at);
            let received = ReceivedVideo {
                frame: picture,
                rtp_timestamp: frame.timestamp,
                keyframe: frame.keyframe,
                completed_at: frame.completed_at,
                decoded_at,
                render_at,
            };
            self.stats.frames_decoded.fetch_add(1, Ordering::Relaxed);
            if self.output.force_push(received).is_some() {
                self.stats.frames_dropped_before_display.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// When to show the frame with RTP timestamp `rtp` so that it plays with the audio
    /// captured at the same instant: audio that was captured at sender time `A` plays at
    /// `P + (A - A_p)` where the playout thread last played sender time `A_p` at local
    /// instant `P`; the frame captured at `V` belongs at `P + (V - A_p)`. The sender's and
    /// our clocks never need to agree: only differences of sender times are used.
    fn sync_render_time(&self, rtp: u32, decoded_at: Instant) -> Option<Instant> {
        let video_capture = self.video_clock.capture_secs(rtp, VIDEO_CLOCK_RATE)?;
        let (played_at, audio_rtp) = self.playout_clock.get()?;
        let audio_capture = self.audio_clock.capture_secs(audio_rtp, OPUS_CLOCK_RATE)?;
        let offset = video_capture - audio_capture;
        let ideal = if offset >= 0.0 {
            played_at.checked_add(Duration::from_secs_f64(offset))?
        } else {
            played_at.checked_sub(Duration::from_secs_f64(-offset))?
        };
        let hold_ms = match ideal.checked_duration_since(decoded_at) {
            Some(d) => d.as_secs_f64() * 1e3,
            None => -decoded_at.duration_since(ideal).as_secs_f64() * 1e3,
        };
        self.stats.av_offset_ms.store(hold_ms.to_bits(), Ordering::Relaxed);
        Some(ideal.clamp(decoded_at, decoded_at + MAX_SYNC_HOLD))
    }
}
