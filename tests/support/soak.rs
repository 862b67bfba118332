//! A long call for leak hunting, shared by `examples/soak_call.rs` (an hour) and
//! `tests/call_soak.rs` (two minutes in CI): two `Call`s with audio and video over an
//! impaired in-memory link, re-keying on a timer, muting and asking for keyframes now and
//! then, with the process's resident memory and open file descriptors sampled as it runs.
//! The including crate also includes `support/handshake.rs` as `handshake` (the keys come
//! from its `agreed_call_keys`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sottovoce::audio::DeviceFormat;
use sottovoce::audio::synth::{Voice, speech_like};
use sottovoce::call::{Call, CallConfig, CallStats, MediaKind, VideoTrackConfig};
use sottovoce::e2ee::RekeyPolicy;
use sottovoce::pipeline::BufferPool;
use sottovoce::transport::impair::ImpairmentConfig;
use sottovoce::transport::{ImpairedSender, memory_link};
use sottovoce::video::EncoderConfig;
use sottovoce::video::av1::synthetic::SyntheticScene;

const RATE: u32 = 16_000;
const FRAME: usize = (RATE / 100) as usize;

/// What to run.
pub struct SoakConfig {
    pub duration: Duration,
    /// Memory and descriptor samples are taken this often.
    pub sample_every: Duration,
    /// Growth is judged from the first sample at or after this time.
    pub warm_up: Duration,
    pub rekey_every: Duration,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Applied to both directions.
    pub network: ImpairmentConfig,
    /// Bytes live on the Rust heap, where the binary counts them (its global allocator):
    /// flat heap beside a rising RSS points at C libraries or allocator retention rather
    /// than at a Rust leak.
    pub rust_heap_bytes: Option<fn() -> u64>,
}

/// One sample of the process.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub at: Duration,
    pub rss_bytes: u64,
    pub open_fds: usize,
    pub rust_heap_bytes: Option<u64>,
}

/// What a soak run saw.
pub struct SoakReport {
    pub samples: Vec<Sample>,
    pub stats: [CallStats; 2],
    pub video_frames_shown: [u64; 2],
    pub mutes: u64,
    pub keyframe_requests: u64,
}

impl SoakReport {
    /// Resident-memory growth after the warm-up: the highest sample minus the first one at
    /// or after `warm_up`.
    pub fn rss_growth_after(&self, warm_up: Duration) -> Option<i64> {
        let after: Vec<&Sample> = self.samples.iter().filter(|s| s.at >= warm_up).collect();
        let first = after.first()?;
        let highest = after.iter().map(|s| s.rss_bytes).max()?;
        Some(highest as i64 - first.rss_bytes as i64)
    }

    /// Rust-heap growth over the same span, where it was counted.
    pub fn rust_heap_growth_after(&self, warm_up: Duration) -> Option<i64> {
        let after: Vec<u64> = self
            .samples
            .iter()
            .filter(|s| s.at >= warm_up)
            .filter_map(|s| s.rust_heap_bytes)
            .collect();
        let first = *after.first()?;
        Some(*after.iter().max()? as i64 - first as i64)
    }

    /// Descriptor growth over the same span.
    pub fn fd_growth_after(&self, warm_up: Duration) -> Option<i64> {
        let after: Vec<&Sample> = self.samples.iter().filter(|s| s.at >= warm_up).collect();
        let first = after.first()?;
        let highest = after.iter().map(|s| s.open_fds).max()?;
        Some(highest as i64 - first.open_fds as i64)
    }
}

/// Resident set size of this process (Linux `/proc/self/statm`, in pages of 4 KiB).
pub fn rss_bytes() -> std::io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| std::io::Error::other("unreadable /proc/self/statm"))?;
    Ok(pages * 4096)
}

/// Open file descriptors of this process.
pub fn open_fds() -> std::io::Result<usize> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count())
}

/// Runs the soak in real time; `progress` is called with each sample.
pub fn run_soak(
    config: &SoakConfig,
    mut progress: impl FnMut(&Sample, &[CallStats; 2]),
) -> Result<SoakReport, Box<dyn std::error::Error>> {
    let (alice_keys, bob_keys) = crate::handshake::agreed_call_keys();
    let (a_end, b_end) = memory_link();
    let a_send = ImpairedSender::new(Arc::new(a_end.sender), config.network.clone(), 1)?;
    let b_send = ImpairedSender::new(Arc::new(b_end.sender), config.network.clone(), 2)?;
    let device = DeviceFormat::new(RATE, 1)?;
    let call_config = |keys, local: u32, remote: u32| {
        let mut c = CallConfig::new(keys, local, remote, device);
        c.capture.aec = None;
        c.rekey = Some(RekeyPolicy { rekey_after: config.rekey_every, ..RekeyPolicy::default() });
        let encoder = EncoderConfig::new(config.width, config.height, config.fps, 300_000);
        c.with_video(VideoTrackConfig::new(local + 0x10, remote + 0x10, encoder))
    };
    let mut calls = [
        Call::new(
            call_config(alice_keys, 0xA11C_E000, 0xB0B0),
            Arc::new(a_send),
            Box::new(a_end.receiver),
        )?,
        Call::new(
            call_config(bob_keys, 0xB0B0, 0xA11C_E000),
            Arc::new(b_send),
            Box::new(b_end.receiver),
        )?,
    ];
    // Ten seconds of each voice, looped.
    let voices = [
        speech_like(10.0, RATE, Voice { pitch_hz: 115.0, peak: 0.5, seed: 11 }),
        speech_like(10.0, RATE, Voice { pitch_hz: 205.0, peak: 0.5, seed: 22 }),
    ];
    let scene = SyntheticScene::new(config.width, config.height);
    let frame_len = (config.width * config.height * 3 / 2) as usize;
    let pool = BufferPool::new(16, 4, frame_len);
    let frame_every = Duration::from_secs(1) / config.fps;
    let ticks = config.duration.as_millis() as u64 / 10;
    let mut samples = Vec::new();
    let mut next_sample = Duration::ZERO;
    let mut next_frame = Duration::ZERO;
    let mut frame_index = 0u64;
    let mut shown = [0u64; 2];
    let (mut mutes, mut keyframe_requests) = (0u64, 0u64);
    let mut out = [0.0f32; FRAME];
    let start = Instant::now();
    for tick in 0..ticks {
        let at = Duration::from_millis(10 * tick);
        if let Some(wait) = (start + at).checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        let offset = (tick as usize * FRAME) % (voices[0].len() - FRAME);
        for (call, voice) in calls.iter_mut().zip(&voices) {
            call.push_audio(&voice[offset..offset + FRAME], now)?;
            call.pull_audio(&mut out, now)?;
        }
        if at >= next_frame {
            next_frame += frame_every;
            for call in &calls {
                call.push_video(scene.frame(&pool, frame_index, now)?, now)?;
            }
            frame_index += 1;
        }
        for (call, shown) in calls.iter_mut().zip(&mut shown) {
            while call.pull_video(now).is_some() {
                *shown += 1;
            }
        }
        // Every 45 s Alice mutes both media for 5 s; every 30 s Bob asks for a keyframe.
        let second = tick / 100;
        if tick % 100 == 0 && second > 0 {
            if second % 45 == 0 {
                calls[0].set_muted(MediaKind::Audio, true);
                calls[0].set_muted(MediaKind::Video, true);
                mutes += 1;
            } else if second % 45 == 5 {
                calls[0].set_muted(MediaKind::Audio, false);
                calls[0].set_muted(MediaKind::Video, false);
            }
            if second % 30 == 0 {
                calls[1].request_keyframe();
                keyframe_requests += 1;
            }
        }
        if at >= next_sample {
            next_sample += config.sample_every;
            let sample = Sample {
                at,
                rss_bytes: rss_bytes()?,
                open_fds: open_fds()?,
                rust_heap_bytes: config.rust_heap_bytes.map(|live| live()),
            };
            samples.push(sample);
            progress(&sample, &[calls[0].stats(), calls[1].stats()]);
        }
    }
    let [alice, bob] = calls;
    let stats = [alice.hang_up(), bob.hang_up()];
    Ok(SoakReport { samples, stats, video_frames_shown: shown, mutes, keyframe_requests })
}
