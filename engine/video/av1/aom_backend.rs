//! The zero-lag backend: libaom in real-time mode, configured as libwebrtc configures it.

use std::time::Instant;

use super::VideoCodecError;
use super::aom_ffi::{AomSession, AomSettings};
use super::encoder::{EncodedFrame, EncoderBackend, EncoderConfig, StreamBook, VideoEncoder};
use super::encoder::{check_bitrate, check_size};
use crate::video::VideoFrame;

/// libaom AV1 encoder (`AOM_USAGE_REALTIME`, CBR, `lag_in_frames = 0`): each picture's
/// packet is emitted by the `encode` call that receives it.
#[derive(Debug)]
pub struct AomEncoder {
    config: EncoderConfig,
    session: AomSession,
    book: StreamBook,
    keyframe_requested: bool,
    /// Set by `set_resolution`; the session is reopened at the next picture.
    reopen: bool,
}

/// libwebrtc's speed table for the default complexity: 9 up to 640x360, 10 above.
fn default_cpu_used(width: u32, height: u32) -> u8 {
    if u64::from(width) * u64::from(height) <= 640 * 360 { 9 } else { 10 }
}

fn settings_for(config: &EncoderConfig) -> AomSettings {
    AomSettings {
        width: config.width,
        height: config.height,
        threads: config.effective_threads() as u32,
        bitrate_kbps: (config.bitrate_bps / 1000).max(1),
        cpu_used: config.speed.unwrap_or_else(|| default_cpu_used(config.width, config.height)),
        keyframe_interval: config.keyframe_interval,
    }
}

impl AomEncoder {
    /// Open libaom with `config` (its `backend` field is ignored).
    pub fn new(mut config: EncoderConfig) -> Result<Self, VideoCodecError> {
        config.backend = EncoderBackend::Libaom;
        config.validate()?;
        let session = AomSession::open(settings_for(&config))?;
        let packet_capacity = (config.width as usize * config.height as usize) / 4;
        Ok(Self {
            config,
            session,
            book: StreamBook::new(packet_capacity),
            keyframe_requested: false,
            reopen: false,
        })
    }
}

impl VideoEncoder for AomEncoder {
    fn backend(&self) -> EncoderBackend {
        EncoderBackend::Libaom
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
        if self.reopen {
            // A new session starts with a keyframe carrying the new sequence header.
            // libaom holds nothing (zero lag), so nothing is lost by closing the old one.
            self.session = AomSession::open(settings_for(&self.config))?;
            self.reopen = false;
            self.keyframe_requested = false;
        }
        let now = Instant::now();
        let pts = self.book.admit(frame, now);
        let duration = super::encoder::RTP_VIDEO_CLOCK_HZ / u64::from(self.config.frame_rate);
        let force = std::mem::take(&mut self.keyframe_requested);
        let (width, height) = (self.config.width, self.config.height);
        let book = &mut self.book;
        let result = self.session.encode(
            frame,
            i64::try_from(pts).unwrap_or(i64::MAX),
            duration,
            force,
            &mut |data, keyframe| {
                sink(book.complete(data, keyframe, width, height)?);
                Ok(())
            },
        );
        if result.is_err() {
            // libaom refused the picture: it is not inside the encoder.
            if self.book.in_flight() > 0 {
                self.book.retract_last();
            }
            self.keyframe_requested |= force;
        }
        result
    }

    fn flush(&mut self, _sink: &mut dyn FnMut(EncodedFrame)) -> Result<(), VideoCodecError> {
        // Zero lag: nothing is ever held between calls.
        Ok(())
    }

    fn request_keyframe(&mut self) {
        self.keyframe_requested = true;
    }

    fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<(), VideoCodecError> {
        check_bitrate(bitrate_bps)?;
        self.session.set_bitrate_kbps((bitrate_bps / 1000).max(1))?;
        self.config.bitrate_bps = bitrate_bps;
        Ok(())
    }

    fn set_resolution(&mut self, width: u32, height: u32) -> Result<(), VideoCodecError> {
        check_size(width, height)?;
        if (width, height) != (self.config.width, self.config.height) {
            self.config.width = width;
            self.config.height = height;
            self.reopen = true;
        }
        Ok(())
    }

    fn frames_in_flight(&self) -> usize {
        self.book.in_flight()
    }
}
