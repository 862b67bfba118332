//! Pushes generated audio (10 ms frames of a two-tone signal at 48 kHz) and video (a
//! moving 640x360 test pattern at 30 fps) through small pipelines in real time, then
//! prints each pipeline's per-stage and end-to-end latency table.
//!
//! `cargo run --release --example pipeline_demo -- [seconds]`

use std::time::{Duration, Instant};

use sottovoce::audio::AudioFrame;
use sottovoce::pipeline::{BufferPool, Pipeline, QueuePolicy, stage_fn};
use sottovoce::video::{PixelFormat, VideoFrame};

fn main() -> Result<(), sottovoce::Error> {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(3);

    // Audio: cheap stages share one thread (the engine's audio placement).
    let mut audio = Pipeline::builder("audio", QueuePolicy::audio(8))
        .stage(stage_fn("dc-block", {
            let mut prev_in = 0.0f32;
            let mut prev_out = 0.0f32;
            move |mut f: AudioFrame| {
                for s in f.samples_mut() {
                    let out = *s - prev_in + 0.995 * prev_out;
                    prev_in = *s;
                    prev_out = out;
                    *s = out;
                }
                Ok(Some(f))
            }
        }))
        .stage_inline(stage_fn("gain", |mut f: AudioFrame| {
            f.samples_mut().iter_mut().for_each(|s| *s *= 0.8);
            Ok(Some(f))
        }))
        .stage_inline(stage_fn("limiter", |mut f: AudioFrame| {
            f.samples_mut().iter_mut().for_each(|s| *s = s.clamp(-0.9, 0.9));
            Ok(Some(f))
        }))
        .build()?;

    // Video: newest wins; each stage on its own thread.
    let mut video = Pipeline::builder("video", QueuePolicy::video(2))
        .stage(stage_fn("mirror", |mut f: VideoFrame| {
            let (w, stride) = (f.width() as usize, f.stride(0));
            for row in f.plane_mut(0).chunks_mut(stride) {
                row[..w].reverse();
            }
            Ok(Some(f))
        }))
        .stage(stage_fn("brighten", |mut f: VideoFrame| {
            f.plane_mut(0).iter_mut().for_each(|y| *y = y.saturating_add(16));
            Ok(Some(f))
        }))
        .build()?;

    let audio_pool = BufferPool::<f32>::new(16, 16, 480);
    let video_pool = BufferPool::<u8>::new(8, 4, 640 * 360 * 3 / 2);
    let start = Instant::now();
    let (mut audio_seq, mut video_seq) = (0u64, 0u64);
    let (mut audio_out, mut video_out) = (0u64, 0u64);
    let end = start + Duration::from_secs(seconds);
    while Instant::now() < end {
        let now = Instant::now();
        let due_audio = start + Duration::from_millis(10 * audio_seq);
        let due_video = start + Duration::from_micros(33_333 * video_seq);
        if now >= due_audio {
            let mut f = AudioFrame::silence(&audio_pool, 48_000, 1, now, audio_seq)?;
            for (i, s) in f.samples_mut().iter_mut().enumerate() {
                let t = (audio_seq * 480 + i as u64) as f32 / 48_000.0;
                *s = 0.5 * (2.0 * std::f32::consts::PI * 220.0 * t).sin()
                    + 0.3 * (2.0 * std::f32::consts::PI * 330.0 * t).sin();
            }
            if audio.push(f).is_err() {
                eprintln!("audio frame {audio_seq} refused (queue full)");
            }
            audio_seq += 1;
        }
        if now >= due_video {
            let mut f =
                VideoFrame::alloc(&video_pool, PixelFormat::I420, 640, 360, now, video_seq)?;
            let shift = (video_seq * 4) as usize;
            for (y, row) in f.plane_mut(0).chunks_mut(640).enumerate() {
                for (x, px) in row.iter_mut().enumerate() {
                    *px = (((x + shift) / 32 + y / 32) % 2 * 160 + 40) as u8;
                }
            }
            let _ = video.push(f); // newest wins: never refused
            video_seq += 1;
        }
        while audio.try_recv().is_some() {
            audio_out += 1;
        }
        while video.try_recv().is_some() {
            video_out += 1;
        }
        std::thread::sleep(Duration::from_micros(500));
    }
    while audio.recv_timeout(Duration::from_millis(50)).is_some() {
        audio_out += 1;
    }
    while video.recv_timeout(Duration::from_millis(50)).is_some() {
        video_out += 1;
    }

    let audio_report = audio.shutdown();
    let video_report = video.shutdown();
    println!("audio: {audio_seq} frames generated, {audio_out} received");
    println!("{}\n", audio_report.stats);
    println!("video: {video_seq} frames generated, {video_out} received");
    println!("{}", video_report.stats);
    Ok(())
}
