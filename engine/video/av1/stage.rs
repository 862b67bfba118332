//! Pipeline stages around the encoder and decoder, and a lock-free control handle so the
//! call layer (bandwidth estimator, PLI handling) can steer an encoder running on its own
//! stage thread.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use super::{Av1Decoder, EncodedFrame, VideoCodecError, VideoEncoder};
use crate::pipeline::Stage;
use crate::video::VideoFrame;

#[derive(Debug, Default)]
struct ControlShared {
    keyframe: AtomicBool,
    /// 0 = no change pending.
    bitrate_bps: AtomicU32,
    /// `width << 32 | height`; 0 = no change pending.
    resolution: AtomicU64,
}

/// Steers an [`EncoderStage`] from any thread; requests are picked up before the next
/// picture is encoded. Cheap to clone; never blocks.
#[derive(Debug, Clone)]
pub struct EncoderControl {
    shared: Arc<ControlShared>,
}

impl EncoderControl {
    /// Make the next picture a keyframe (e.g. on a PLI or FIR from the receiver).
    pub fn request_keyframe(&self) {
        self.shared.keyframe.store(true, Ordering::Release);
    }

    /// Retarget the bitrate (bits per second); the latest value wins.
    pub fn set_bitrate(&self, bitrate_bps: u32) {
        self.shared.bitrate_bps.store(bitrate_bps.max(1), Ordering::Release);
    }

    /// Announce a new coded size; pictures of that size must follow.
    pub fn set_resolution(&self, width: u32, height: u32) {
        let packed = (u64::from(width) << 32) | u64::from(height);
        self.shared.resolution.store(packed.max(1), Ordering::Release);
    }
}

/// Runs a [`VideoEncoder`] as a pipeline [`Stage`]: I420 [`VideoFrame`]s in,
/// [`EncodedFrame`]s out.
pub struct EncoderStage {
    encoder: Box<dyn VideoEncoder>,
    shared: Arc<ControlShared>,
}

impl EncoderStage {
    /// Wrap `encoder`; the returned handle steers it.
    pub fn new(encoder: Box<dyn VideoEncoder>) -> (Self, EncoderControl) {
        let shared = Arc::new(ControlShared::default());
        let control = EncoderControl { shared: Arc::clone(&shared) };
        (Self { encoder, shared }, control)
    }

    /// The wrapped encoder.
    pub fn encoder(&self) -> &dyn VideoEncoder {
        &*self.encoder
    }

    fn apply_control(&mut self) -> Result<(), VideoCodecError> {
        let resolution = self.shared.resolution.swap(0, Ordering::AcqRel);
        if resolution != 0 {
            self.encoder.set_resolution((resolution >> 32) as u32, resolution as u32)?;
        }
        let bitrate = self.shared.bitrate_bps.swap(0, Ordering::AcqRel);
        if bitrate != 0 {
            self.encoder.set_bitrate(bitrate)?;
        }
        if self.shared.keyframe.swap(false, Ordering::AcqRel) {
            self.encoder.request_keyframe();
        }
        Ok(())
    }
}

impl Stage for EncoderStage {
    type Input = VideoFrame;
    type Output = EncodedFrame;

    fn name(&self) -> &'static str {
        "av1-encode"
    }

    fn process(
        &mut self,
        input: VideoFrame,
        emit: &mut dyn FnMut(EncodedFrame),
    ) -> crate::Result<()> {
        self.apply_control()?;
        self.encoder.encode(&input, emit)?;
        Ok(())
    }

    fn flush(&mut self, emit: &mut dyn FnMut(EncodedFrame)) -> crate::Result<()> {
        self.encoder.flush(emit)?;
        Ok(())
    }
}

/// Runs an [`Av1Decoder`] as a pipeline [`Stage`]: [`EncodedFrame`]s in, I420
/// [`VideoFrame`]s out. A failed packet is counted as a stage error; the decoder waits
/// for the next keyframe.
pub struct DecoderStage {
    decoder: Av1Decoder,
}

impl DecoderStage {
    /// Wrap `decoder`.
    pub fn new(decoder: Av1Decoder) -> Self {
        Self { decoder }
    }
}

impl Stage for DecoderStage {
    type Input = EncodedFrame;
    type Output = VideoFrame;

    fn name(&self) -> &'static str {
        "av1-decode"
    }

    fn process(
        &mut self,
        input: EncodedFrame,
        emit: &mut dyn FnMut(VideoFrame),
    ) -> crate::Result<()> {
        self.decoder.decode_frame(&input, emit)?;
        Ok(())
    }
}
