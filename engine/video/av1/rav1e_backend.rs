//! The rav1e backend, tuned for the lowest latency rav1e allows.
//!
//! rav1e 0.8 in `low_latency` mode reads four pictures past the one it encodes before
//! emitting that picture's packet (measured: `EncodedFrame::frames_held` is 4). Before it
//! can decide a picture's frame type its frame queue must reach
//! `input_frameno + keyframe_lookahead_distance + 1`, the keyframe lookahead distance is
//! fixed at 2 when reordering is off (`InterConfig::keyframe_lookahead_distance`), and
//! the RDO lookahead needs the frame invariants of one more picture
//! (`rdo_lookahead_frames`, already at its minimum of 1). Scene detection is off and
//! keyframe intervals do not enter into it; no setting lowers the hold. At 30 fps that is
//! 133 ms before any encoding time, which is why libaom is the default backend. See
//! `docs/av1.md`.

use std::time::Instant;

use rav1e_u8::{
    ChromaSampling, Encoder as Rav1eContext, EncoderConfig as Rav1eConfig, Rational,
    SceneDetectionSpeed, Status as EncoderStatus,
};

use super::VideoCodecError;
use super::encoder::{EncodedFrame, EncoderBackend, EncoderConfig, StreamBook, VideoEncoder};
use super::encoder::{check_bitrate, check_size};
use crate::video::VideoFrame;

/// A bitrate drop by more than this fraction restarts rav1e at once (see
/// [`Rav1eEncoder`]'s `set_bitrate`); smaller changes wait for the next keyframe.
const IMMEDIATE_BITRATE_DROP: f64 = 0.15;

/// rav1e AV1 encoder (speed 10, `low_latency`, one-frame RDO lookahead, no scene
/// detection, tiles for the thread count, bitrate mode).
///
/// rav1e cannot retarget a running rate controller, so a bitrate change restarts the
/// encoder (the next packet is a keyframe). To avoid a keyframe on every bandwidth
/// estimate, an increase or a small decrease is applied at the next requested keyframe or
/// resolution change; a decrease by more than 15 % is applied at the
/// next picture, because overshooting a shrinking link costs loss, which is worse than
/// one keyframe.
pub struct Rav1eEncoder {
    /// The configuration in force (what the running context was built with, plus
    /// pending changes that `restart` will apply).
    config: EncoderConfig,
    /// Size and bitrate the running context was built with.
    running: (u32, u32, u32),
    ctx: Option<Rav1eContext>,
    book: StreamBook,
    keyframe_requested: bool,
    restart_now: bool,
}

impl std::fmt::Debug for Rav1eEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rav1eEncoder")
            .field("config", &self.config)
            .field("in_flight", &self.book.in_flight())
            .finish()
    }
}

fn rav1e_error(call: &'static str, reason: impl std::fmt::Display) -> VideoCodecError {
    VideoCodecError::Rav1e { call, reason: reason.to_string() }
}

fn build_context(config: &EncoderConfig) -> Result<Rav1eContext, VideoCodecError> {
    let threads = config.effective_threads();
    let mut enc = Rav1eConfig::with_speed_preset(config.speed.unwrap_or(10));
    enc.width = config.width as usize;
    enc.height = config.height as usize;
    enc.bit_depth = 8;
    enc.chroma_sampling = ChromaSampling::Cs420;
    enc.time_base = Rational::new(1, u64::from(config.frame_rate));
    enc.low_latency = true;
    enc.bitrate = i32::try_from(config.bitrate_bps).unwrap_or(i32::MAX);
    // A one-second bit reservoir, like libaom's 1000 ms rate-control buffer; rav1e's
    // minimum is 12 frames.
    enc.reservoir_frame_delay = Some(i32::try_from(config.frame_rate).unwrap_or(30).max(12));
    // In bitrate mode `quantizer` is the highest qindex rate control may use; rav1e's
    // default (100) made it overshoot a 500 kbit/s 360p target by 33 % (measured).
    enc.quantizer = 255;
    // 0 maps to "no periodic keyframes"; a minimum interval of 0 never delays a
    // requested keyframe.
    enc.set_key_frame_interval(0, config.keyframe_interval.map_or(0, u64::from));
    enc.speed_settings.rdo_lookahead_frames = 1;
    enc.speed_settings.scene_detection_mode = SceneDetectionSpeed::None;
    // One tile per thread: with low_latency rav1e parallelises only across tiles.
    enc.tiles = threads;
    Rav1eContext::new(enc, threads).map_err(|e| rav1e_error("new_context", e))
}

impl Rav1eEncoder {
    /// Start rav1e with `config` (its `backend` field is ignored).
    pub fn new(mut config: EncoderConfig) -> Result<Self, VideoCodecError> {
        config.backend = EncoderBackend::Rav1e;
        config.validate()?;
        let ctx = build_context(&config)?;
        let packet_capacity = (config.width as usize * config.height as usize) / 4;
        Ok(Self {
            running: (config.width, config.height, config.bitrate_bps),
            config,
            ctx: Some(ctx),
            book: StreamBook::new(packet_capacity),
            keyframe_requested: false,
            restart_now: false,
        })
    }

    /// Pass every packet the context has ready to `sink`.
    fn drain(&mut self, sink: &mut dyn FnMut(EncodedFrame)) -> Result<(), VideoCodecError> {
        let (width, height, _) = self.running;
        let Some(ctx) = self.ctx.as_mut() else { return Ok(()) };
        loop {
            match ctx.receive() {
                Ok(packet) => {
                    sink(self.book.complete(&packet.data, packet.keyframe, width, height)?);
                }
                Err(EncoderStatus::Encoded) => {}
                Err(EncoderStatus::NeedMoreData | EncoderStatus::LimitReached) => return Ok(()),
                Err(e) => return Err(rav1e_error("receive_packet", e)),
            }
        }
    }

    /// Emit everything the running context holds and drop it.
    fn finish_context(
        &mut self,
        sink: &mut dyn FnMut(EncodedFrame),
    ) -> Result<(), VideoCodecError> {
        if let Some(ctx) = self.ctx.as_mut() {
            ctx.flush().map_err(|e| rav1e_error("flush", e))?;
            self.drain(sink)?;
            self.ctx = None;
        }
        Ok(())
    }

    /// Whether a change in `config` needs a new context before the next picture.
    fn needs_restart(&self) -> bool {
        self.ctx.is_none()
            || self.restart_now
            || (self.config.width, self.config.height) != (self.running.0, self.running.1)
            || (self.keyframe_requested && self.config.bitrate_bps != self.running.2)
    }
}

impl VideoEncoder for Rav1eEncoder {
    fn backend(&self) -> EncoderBackend {
        EncoderBackend::Rav1e
    }

    fn config(&self) -> &EncoderConfig {
        &self.config
    }

    fn encode(
        &mut self,
        frame: &VideoFrame,
        sink: &mut dyn FnMut(EncodedFrame),
    ) -> Result<(), VideoCodecError> {
        StreamBook::check_frame(frame, self.config.width, self.config.height)?;
        if self.needs_restart() {
            self.finish_context(sink)?;
            self.ctx = Some(build_context(&self.config)?);
            self.running = (self.config.width, self.config.height, self.config.bitrate_bps);
            self.restart_now = false;
            // A fresh context starts with a keyframe anyway.
            self.keyframe_requested = false;
        }
        let Some(ctx) = self.ctx.as_mut() else {
            return Err(VideoCodecError::EncoderState("rav1e context missing after restart"));
        };
        let planes = [0, 1, 2].map(|i| (frame.plane(i), frame.stride(i)));
        self.book.admit(frame, Instant::now());
        if let Err(e) = ctx.send(planes, self.keyframe_requested) {
            self.book.retract_last();
            return Err(rav1e_error("send_frame", e));
        }
        self.keyframe_requested = false;
        self.drain(sink)
    }

    fn flush(&mut self, sink: &mut dyn FnMut(EncodedFrame)) -> Result<(), VideoCodecError> {
        self.finish_context(sink)
    }

    fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<(), VideoCodecError> {
        check_bitrate(bitrate_bps)?;
        let running = f64::from(self.running.2);
        if f64::from(bitrate_bps) < running * (1.0 - IMMEDIATE_BITRATE_DROP) {
            self.restart_now = true;
        }
        self.config.bitrate_bps = bitrate_bps;
        Ok(())
    }

    fn set_resolution(&mut self, width: u32, height: u32) -> Result<(), VideoCodecError> {
        check_size(width, height)?;
        self.config.width = width;
        self.config.height = height;
        Ok(())
    }

    fn frames_in_flight(&self) -> usize {
        self.book.in_flight()
    }
}
