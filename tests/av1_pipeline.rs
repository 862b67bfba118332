//! The encoder and decoder as pipeline stages, steered through an `EncoderControl`.

use std::time::{Duration, Instant};

use sottovoce::pipeline::{BufferPool, Pipeline, QueuePolicy};
use sottovoce::video::av1::synthetic::{SyntheticScene, psnr_i420};
use sottovoce::video::av1::{DecoderStage, EncoderStage};
use sottovoce::video::{Av1Decoder, DecoderConfig, EncoderConfig, create_encoder};

#[test]
fn encode_and_decode_stages_run_in_a_pipeline() {
    let encoder = create_encoder(EncoderConfig::new(320, 180, 30, 400_000)).unwrap();
    let (encode_stage, control) = EncoderStage::new(encoder);
    let decoder = Av1Decoder::new(DecoderConfig::default()).unwrap();
    let mut pipeline = Pipeline::builder("av1", QueuePolicy::audio(64))
        .stage(encode_stage)
        .stage(DecoderStage::new(decoder))
        .build()
        .unwrap();
    let scene = SyntheticScene::new(320, 180);
    let pool = BufferPool::new(32, 0, 0);
    let mut sources = Vec::new();
    let mut decoded = Vec::new();
    for i in 0..20u64 {
        if i == 10 {
            control.request_keyframe();
            control.set_bitrate(300_000);
        }
        let frame = scene.frame(&pool, i, Instant::now()).unwrap();
        sources.push(scene.frame(&pool, i, Instant::now()).unwrap());
        pipeline.push(frame).expect("queue has room");
        // Pace like a camera so the control requests land between pictures.
        if let Some(out) = pipeline.recv_timeout(Duration::from_millis(500)) {
            decoded.push(out);
        }
    }
    let report = pipeline.shutdown();
    decoded.extend(report.undelivered);
    assert_eq!(decoded.len(), 20, "{}", report.stats);
    for picture in &decoded {
        let psnr = psnr_i420(&sources[picture.sequence() as usize], picture).unwrap();
        assert!(psnr.y > 30.0, "picture {}: {psnr:?}", picture.sequence());
    }
    assert_eq!(report.stats.counters.errors, 0);
    assert_eq!(report.stats.stages.len(), 2);
}
