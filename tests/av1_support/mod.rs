//! Helpers shared by the AV1 integration tests: paced synthetic pictures and a
//! encode -> decode loop that pairs every decoded picture with its source.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use sottovoce::pipeline::BufferPool;
use sottovoce::video::av1::synthetic::{Psnr, SyntheticScene, psnr_i420};
use sottovoce::video::{Av1Decoder, DecoderConfig, EncodedFrame, VideoEncoder, VideoFrame};

/// Capture instants 1/30 s apart, starting at a fixed base.
pub struct Clock {
    base: Instant,
    fps: u32,
}

impl Clock {
    pub fn new(fps: u32) -> Self {
        Self { base: Instant::now(), fps }
    }

    pub fn at(&self, index: u64) -> Instant {
        self.base + Duration::from_secs_f64(index as f64 / f64::from(self.fps))
    }
}

/// Everything an encode -> decode run produced.
pub struct RunResult {
    pub packets: Vec<(u64, bool, usize, u32, u32)>,
    pub psnr: Vec<Psnr>,
    pub decoded_sizes: Vec<(u32, u32)>,
}

impl RunResult {
    pub fn min_psnr(&self) -> f64 {
        self.psnr.iter().map(|p| p.y).fold(f64::INFINITY, f64::min)
    }

    pub fn mean_psnr(&self) -> f64 {
        self.psnr.iter().map(|p| p.y).sum::<f64>() / self.psnr.len() as f64
    }

    pub fn total_bytes(&self) -> usize {
        self.packets.iter().map(|p| p.2).sum()
    }
}

/// Encode `count` pictures of `scene` (numbered from `first`), decode every packet and
/// compare each decoded picture with its source (looked up by sequence number in
/// `sources`, which keeps the pictures of earlier calls: an encoder with lag emits them
/// later).
#[allow(clippy::too_many_arguments)]
pub fn encode_decode(
    encoder: &mut dyn VideoEncoder,
    decoder: &mut Av1Decoder,
    sources: &mut Vec<VideoFrame>,
    scene: &SyntheticScene,
    clock: &Clock,
    first: u64,
    count: u64,
    flush: bool,
) -> RunResult {
    let pool = BufferPool::new(16, 0, 0);
    let mut packets: Vec<EncodedFrame> = Vec::new();
    for i in first..first + count {
        let frame = scene.frame(&pool, i, clock.at(i)).expect("synthetic frame");
        encoder.encode(&frame, &mut |p| packets.push(p)).expect("encode");
        sources.push(frame);
    }
    if flush {
        encoder.flush(&mut |p| packets.push(p)).expect("flush");
    }
    let mut result = RunResult { packets: Vec::new(), psnr: Vec::new(), decoded_sizes: Vec::new() };
    for packet in &packets {
        result.packets.push((
            packet.input_sequence(),
            packet.is_keyframe(),
            packet.data().len(),
            packet.width(),
            packet.height(),
        ));
        let mut decoded = Vec::new();
        decoder.decode_frame(packet, &mut |f| decoded.push(f)).expect("decode");
        assert_eq!(decoded.len(), 1, "one picture per packet");
        let picture = &decoded[0];
        assert_eq!(picture.sequence(), packet.input_sequence());
        let source = sources
            .iter()
            .find(|s| s.sequence() == picture.sequence())
            .expect("source of decoded picture");
        result.decoded_sizes.push((picture.width(), picture.height()));
        result.psnr.push(psnr_i420(source, picture).expect("same size"));
    }
    result
}

pub fn decoder() -> Av1Decoder {
    Av1Decoder::new(DecoderConfig::default()).expect("dav1d opens")
}
