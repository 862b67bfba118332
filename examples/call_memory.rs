//! Resident memory of a call side: two `Call`s in one process over an in-memory link,
//! media rendered on the fly (nothing pre-rendered is held), RSS read from
//! `/proc/self/status` before the calls, after they are built and after some seconds of
//! media; the figure per side is half the growth. Options change one consumer at a time.
//!
//! `cargo run --release --example call_memory -- [--video none|360p|720p] [--encoder aom|rav1e]
//!  [--conversion auto|cpu] [--decoder-threads N] [--seconds 8]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use sottovoce::audio::DeviceFormat;
use sottovoce::audio::synth::{Voice, speech_like};
use sottovoce::call::{Call, CallConfig, VideoTrackConfig};
use sottovoce::pipeline::BufferPool;
use sottovoce::transport::memory_link;
use sottovoce::video::av1::synthetic::SyntheticScene;
use sottovoce::video::{EncoderBackend, EncoderConfig, PathPreference};

#[path = "../tests/support/handshake.rs"]
mod handshake;

const RATE: u32 = 16_000;
const FRAME: usize = (RATE / 100) as usize;

/// (resident, peak resident) in bytes, and the thread count.
fn memory() -> (u64, u64, usize) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .unwrap_or(0)
            * 1024
    };
    let threads = std::fs::read_dir("/proc/self/task").map_or(0, |d| d.count());
    (field("VmRSS:"), field("VmHWM:"), threads)
}

fn value<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(String::as_str)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let size = match value(&args, "--video").unwrap_or("360p") {
        "none" => None,
        "360p" => Some((640, 360)),
        "720p" => Some((1280, 720)),
        other => return Err(format!("--video {other}: none, 360p or 720p").into()),
    };
    let backend = match value(&args, "--encoder").unwrap_or("aom") {
        "aom" => EncoderBackend::Libaom,
        "rav1e" => EncoderBackend::Rav1e,
        other => return Err(format!("--encoder {other}: aom or rav1e").into()),
    };
    let conversion = match value(&args, "--conversion").unwrap_or("auto") {
        "auto" => PathPreference::Auto,
        "cpu" => PathPreference::Cpu,
        other => return Err(format!("--conversion {other}: auto or cpu").into()),
    };
    let seconds: u64 = value(&args, "--seconds").map(str::parse).transpose()?.unwrap_or(8);
    let decoder_threads: Option<u32> =
        value(&args, "--decoder-threads").map(str::parse).transpose()?;

    let (alice_keys, bob_keys) = handshake::agreed_call_keys();
    let voice = speech_like(10.0, RATE, Voice { pitch_hz: 115.0, peak: 0.5, seed: 11 });
    let scene = size.map(|(w, h)| SyntheticScene::new(w, h));
    let pool = size.map(|(w, h)| BufferPool::new(8, 2, (w * h * 3 / 2) as usize));
    let (before, _, threads_before) = memory();

    let (a, b) = memory_link();
    let device = DeviceFormat::new(RATE, 1)?;
    let make = |keys, local: u32, remote: u32| {
        let mut c = CallConfig::new(keys, local, remote, device);
        c.capture.aec = None;
        if let Some((w, h)) = size {
            let encoder = EncoderConfig::new(w, h, 30, 500_000).with_backend(backend);
            let mut video = VideoTrackConfig::new(local + 0x10, remote + 0x10, encoder);
            video.conversion = conversion;
            if let Some(threads) = decoder_threads {
                video.decoder_threads = threads;
            }
            c = c.with_video(video);
        }
        c
    };
    let mut calls = [
        Call::new(make(alice_keys, 0x100, 0x200), Arc::new(a.sender), Box::new(a.receiver))?,
        Call::new(make(bob_keys, 0x200, 0x100), Arc::new(b.sender), Box::new(b.receiver))?,
    ];
    let (built, _, _) = memory();
    let mut out = [0.0f32; FRAME];
    let mut shown = 0u64;
    let start = Instant::now();
    for tick in 0..seconds * 100 {
        let at = start + Duration::from_millis(10 * tick);
        if let Some(wait) = at.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        let offset = (tick as usize * FRAME) % (voice.len() - FRAME);
        for call in &mut calls {
            call.push_audio(&voice[offset..offset + FRAME], now)?;
            call.pull_audio(&mut out, now)?;
        }
        if let (Some(scene), Some(pool)) = (&scene, &pool) {
            if tick % 3 == 0 {
                for call in &calls {
                    call.push_video(scene.frame(pool, tick / 3, now)?, now)?;
                }
            }
            for call in &mut calls {
                while call.pull_video(now).is_some() {
                    shown += 1;
                }
            }
        }
    }
    let (running, peak, threads) = memory();
    let mb = |bytes: u64| bytes as f64 / 1e6;
    println!(
        "video {:?}, encoder {backend:?}, conversion {conversion:?}, decoder threads {:?}: \
         before the calls {:.1} MB ({threads_before} threads); built +{:.1} MB; after {seconds} s \
         +{:.1} MB (peak {:.1} MB, {threads} threads, {shown} frames shown) => per side {:.1} MB",
        size,
        decoder_threads,
        mb(before),
        mb(built.saturating_sub(before)),
        mb(running.saturating_sub(before)),
        mb(peak),
        mb(running.saturating_sub(before)) / 2.0,
    );
    for call in calls {
        call.hang_up();
    }
    Ok(())
}
