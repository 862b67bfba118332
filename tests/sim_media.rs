//! Simulated calls with file media: a WAV file as every microphone and a Y4M clip as the
//! camera, through the real chains, and what each party played and decoded recorded and
//! compared with the files.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sottovoce::audio::synth::{Voice, speech_like};
use sottovoce::pipeline::BufferPool;
use sottovoce::testing::media::{WavClip, WavWriter, Y4mClip, Y4mWriter};
use sottovoce::testing::sim::{SimConfig, SimulatedCall};
use sottovoce::testing::sim_video::SimVideoConfig;
use sottovoce::video::av1::synthetic::{SyntheticScene, psnr_i420};
use sottovoce::video::{PixelFormat, VideoFrame};

const WIDTH: u32 = 320;
const HEIGHT: u32 = 180;

/// Best normalised cross-correlation of `played` against `source` (looped) over lags of
/// 0 to 400 ms, on a 2 s window from 3 s into the call.
fn best_correlation(played: &[f32], source: &[f32]) -> f64 {
    let window = 96_000;
    let start = 144_000;
    let a = &played[start..start + window];
    (0..400)
        .map(|ms| {
            let lag = ms * 48;
            let mut dot = 0.0f64;
            let (mut ea, mut eb) = (0.0f64, 0.0f64);
            for (i, &x) in a.iter().enumerate() {
                let y = source[(start + i - lag) % source.len()];
                dot += f64::from(x) * f64::from(y);
                ea += f64::from(x) * f64::from(x);
                eb += f64::from(y) * f64::from(y);
            }
            dot / (ea * eb).sqrt().max(1e-12)
        })
        .fold(f64::MIN, f64::max)
}

#[test]
fn files_in_files_out() {
    let dir = std::env::temp_dir().join(format!("sottovoce-sim-media-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    // A 16 kHz WAV (as speech recordings often are), written and read back.
    let wav_path = dir.join("voice.wav");
    let voice = Voice { pitch_hz: 140.0, peak: 0.5, seed: 99 };
    let mut writer = WavWriter::create(&wav_path, 16_000).unwrap();
    writer.write(&speech_like(4.0, 16_000, voice)).unwrap();
    writer.finish().unwrap();
    let wav = WavClip::read(&wav_path).unwrap();
    assert_eq!((wav.rate, wav.channels), (16_000, 1));
    assert!((wav.seconds() - 4.0).abs() < 1e-3, "{} s", wav.seconds());
    let microphone: Arc<[f32]> = wav.to_engine_mono().unwrap().into();
    assert_eq!(microphone.len(), 4 * 48_000);

    // A Y4M clip of 12 frames of the moving scene, from frame 500 on (not what the
    // harness's own camera would show), written and read back.
    let y4m_path = dir.join("camera.y4m");
    let scene = SyntheticScene::new(WIDTH, HEIGHT);
    let pool = BufferPool::new(2, 0, 0);
    let mut writer = Y4mWriter::create(&y4m_path, 30).unwrap();
    for i in 0..12 {
        writer.write(&scene.frame(&pool, 500 + 7 * i, Instant::now()).unwrap()).unwrap();
    }
    writer.finish().unwrap();
    let clip = Arc::new(Y4mClip::read(&y4m_path, None).unwrap());
    assert_eq!((clip.width, clip.height, clip.frames.len()), (WIDTH, HEIGHT, 12));

    let video = SimVideoConfig {
        width: WIDTH,
        height: HEIGHT,
        bitrate_bps: 400_000,
        source: Some(Arc::clone(&clip)),
        record: true,
        ..SimVideoConfig::p360()
    };
    let config = SimConfig {
        seed: 5,
        audio_source: Some(Arc::clone(&microphone)),
        record_audio: true,
        video: Some(video),
        ..SimConfig::default()
    };
    let mut call = SimulatedCall::new(config).unwrap();
    call.run_for(Duration::from_secs(6));

    let other_voice = speech_like(4.0, 48_000, Voice { pitch_hz: 140.0, peak: 0.5, seed: 98 });
    for party in 0..2 {
        // Audio: 6 s played, and what was played is the file (delayed by the call).
        let played = call.recorded_audio(party, 0).expect("recording");
        // One 10 ms tick at every multiple of 10 ms from 0 to 6 s, both ends included.
        assert_eq!(played.len(), 601 * 480);
        let own = best_correlation(played, &microphone);
        let other = best_correlation(played, &other_voice);
        assert!(own > 0.5, "party {party}: correlation with the file {own:.2}");
        assert!(own > other + 0.2, "party {party}: file {own:.2}, another voice {other:.2}");

        // Video: every decoded picture is the clip frame its id names.
        let pictures = call.recorded_video(party).expect("recording");
        assert!(pictures.len() >= 150, "party {party}: {} pictures", pictures.len());
        let mut compared = 0;
        for (id, picture) in pictures {
            let Some(id) = id else { continue };
            let decoded = VideoFrame::from_packed(
                PixelFormat::I420,
                WIDTH,
                HEIGHT,
                picture,
                Instant::now(),
                0,
            )
            .unwrap();
            let frame = |index: u64| {
                VideoFrame::from_packed(
                    PixelFormat::I420,
                    WIDTH,
                    HEIGHT,
                    clip.frame(index),
                    Instant::now(),
                    0,
                )
                .unwrap()
            };
            let psnr = psnr_i420(&decoded, &frame(u64::from(*id))).unwrap().y;
            let wrong = psnr_i420(&decoded, &frame(u64::from(*id) + 6)).unwrap().y;
            // The first 6 s are spent in the bandwidth estimator's ramp from a low start
            // rate, so quality is modest (about 22-25 dB here); a picture of another
            // frame of the clip scores about 10 dB.
            assert!(psnr > 20.0, "party {party} frame {id}: {psnr:.1} dB");
            assert!(psnr > wrong + 6.0, "party {party} frame {id}: {psnr:.1} vs {wrong:.1} dB");
            compared += 1;
        }
        assert!(compared >= 140, "party {party}: {compared} pictures with a readable id");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
