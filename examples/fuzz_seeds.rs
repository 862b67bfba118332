//! Writes the real-data seeds of the codec fuzz targets into `fuzz/seeds/`: Opus packets
//! from `OpusEncoder` on synthetic speech (`opus_decode`) and AV1 temporal units from the
//! libaom and rav1e encoders on a small synthetic scene (`av1_decode`), in each target's
//! input format (see `fuzz/logic/`). Run: `cargo run --example fuzz_seeds`.

use std::error::Error;
use std::path::Path;
use std::time::{Duration, Instant};

use sottovoce::audio::synth::{self, Voice};
use sottovoce::audio::{ENGINE_FRAME, ENGINE_RATE, OpusBitrateMode, OpusConfig, OpusEncoder};
use sottovoce::pipeline::BufferPool;
use sottovoce::video::av1::synthetic::SyntheticScene;
use sottovoce::video::{EncoderBackend, EncoderConfig, create_encoder};

/// Appends a record `op | length (u16, big-endian) | bytes`.
fn record(out: &mut Vec<u8>, op: Option<u8>, bytes: &[u8]) {
    out.extend(op);
    out.extend_from_slice(&u16::try_from(bytes.len()).expect("short record").to_be_bytes());
    out.extend_from_slice(bytes);
}

fn opus_seeds(dir: &Path) -> Result<(), Box<dyn Error>> {
    std::fs::create_dir_all(dir)?;
    let speech =
        synth::speech_like(0.5, ENGINE_RATE, Voice { pitch_hz: 140.0, peak: 0.5, seed: 7 });
    let configs = [
        ("20ms_fec_32k", OpusConfig::default()),
        (
            "10ms_12k",
            OpusConfig { frames_per_packet: 1, bitrate_bps: 12_000, ..OpusConfig::default() },
        ),
        (
            "60ms_vbr_64k",
            OpusConfig {
                frames_per_packet: 6,
                bitrate_bps: 64_000,
                bitrate_mode: OpusBitrateMode::Variable,
                ..OpusConfig::default()
            },
        ),
    ];
    for (name, config) in configs {
        let mut encoder = OpusEncoder::new(config)?;
        let t0 = Instant::now();
        let mut packets = Vec::new();
        for (k, frame) in speech.chunks_exact(ENGINE_FRAME).enumerate() {
            let t = t0 + Duration::from_millis(10 * k as u64);
            if let Some(packet) = encoder.push_frame(frame, t)? {
                packets.push(packet.data().to_vec());
            }
        }
        // Default concealment length 960 samples; decode, lose one (FEC from the next),
        // conceal one, decode the rest.
        let mut seed = vec![16];
        for (i, packet) in packets.iter().take(12).enumerate() {
            match i {
                3 => record(&mut seed, Some(3), packet),
                6 => record(&mut seed, Some(2), &[]),
                _ => {}
            }
            record(&mut seed, Some(0), packet);
        }
        std::fs::write(dir.join(name), seed)?;
    }
    Ok(())
}

fn av1_seeds(dir: &Path) -> Result<(), Box<dyn Error>> {
    std::fs::create_dir_all(dir)?;
    let scene = SyntheticScene::new(64, 48);
    let pool = BufferPool::new(16, 0, 0);
    let t0 = Instant::now();
    for (name, backend) in
        [("libaom_64x48", EncoderBackend::Libaom), ("rav1e_64x48", EncoderBackend::Rav1e)]
    {
        let config = EncoderConfig::new(64, 48, 30, 150_000).with_backend(backend);
        let mut encoder = create_encoder(config)?;
        let mut units = Vec::new();
        for i in 0..6u64 {
            let frame = scene.frame(&pool, i, t0 + Duration::from_millis(33 * i))?;
            encoder.encode(&frame, &mut |p| units.push(p.data().to_vec()))?;
        }
        encoder.flush(&mut |p| units.push(p.data().to_vec()))?;
        let mut seed = Vec::new();
        for unit in units.iter().take(8) {
            record(&mut seed, None, unit);
        }
        std::fs::write(dir.join(name), seed)?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn Error>> {
    let seeds = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("seeds");
    opus_seeds(&seeds.join("opus_decode"))?;
    av1_seeds(&seeds.join("av1_decode"))?;
    println!("seeds written to {}", seeds.display());
    Ok(())
}
