//! The camera and display threads of the example calls: frames stamped with a frame id
//! (`sottovoce::call::probe::FrameIdStamp`) go in at the frame rate; decoded frames are
//! pulled when due, their id read back, and written to Y4M.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sottovoce::call::probe::{FrameIdClock, FrameIdStamp, LatencyRecorder};
use sottovoce::call::{VideoInput, VideoOutput};
use sottovoce::pipeline::BufferPool;
use sottovoce::video::PixelFormat;
use sottovoce::video::av1::synthetic::SyntheticScene;

use sottovoce::testing::media::{Y4mClip, packed_i420};

use super::media::{VideoSource, Y4mSink};

/// How often the display thread looks for a due frame (a 1 kHz "vsync").
const DISPLAY_POLL: Duration = Duration::from_millis(1);

/// Renders `count` frames of the synthetic scene once (the crate is unoptimised in the
/// dev profile; rendering live would steal the CPU the call needs). Played in a loop.
pub fn synthetic_clip(width: u32, height: u32, count: u64) -> sottovoce::Result<VideoSource> {
    let scene = SyntheticScene::new(width, height);
    let pool = BufferPool::new(2, 0, PixelFormat::I420.packed_len(width, height));
    let now = Instant::now();
    let mut frames = Vec::with_capacity(count as usize);
    for index in 0..count {
        let frame = scene.frame(&pool, index, now)?;
        frames.push(packed_i420(&frame));
    }
    Ok(VideoSource::File(Y4mClip { width, height, frame_rate: (30, 1), frames }))
}

/// Starts the camera: frame `i` is captured at `start + i / fps` until `until`, stamped
/// with id `i mod 2^16`, its capture instant recorded in `clock`, and pushed.
pub fn start_camera(
    input: VideoInput,
    source: Arc<VideoSource>,
    fps: u32,
    start: Instant,
    until: Instant,
    clock: Arc<Mutex<FrameIdClock>>,
) -> std::io::Result<JoinHandle<u64>> {
    std::thread::Builder::new().name("camera".into()).spawn(move || {
        let (w, h) = source.size((0, 0));
        let Ok(stamp) = FrameIdStamp::for_size(w, h) else {
            eprintln!("camera: {w}x{h} is too small for frame-id stamps; no video sent");
            return 0;
        };
        let pool = BufferPool::new(4, 0, PixelFormat::I420.packed_len(w, h));
        let period = Duration::from_secs(1) / fps.max(1);
        let mut index = 0u64;
        loop {
            let due = start + period * index as u32;
            if due >= until {
                break;
            }
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
            let now = Instant::now();
            let Ok(mut frame) = source.frame(&pool, index, now) else { break };
            let id = index as u16;
            if stamp.write(&mut frame, id).is_err() {
                break;
            }
            if let Ok(mut c) = clock.lock() {
                c.captured(id, now);
            }
            if input.push(frame, now).is_err() {
                break; // the call ended
            }
            index += 1;
        }
        index
    })
}

/// One decoded frame seen by the display, for the latency figures.
#[derive(Debug, Clone, Copy)]
pub struct Sighting {
    /// Frame id read from the stamp.
    pub id: u16,
    /// When the display pulled it (shown).
    pub shown: Instant,
    /// When the decoder finished it.
    pub decoded: Instant,
}

/// What the display thread saw.
#[derive(Debug, Default)]
pub struct DisplayResult {
    /// Frames pulled.
    pub frames: u64,
    /// Frames whose stamp could not be read (damaged by loss or concealment).
    pub unreadable: u64,
    /// Frames with a readable stamp.
    pub sightings: Vec<Sighting>,
}

/// A running display thread.
pub struct Display {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<DisplayResult>,
    /// Latest glass-to-glass latency in microseconds (0: none yet), for the status line.
    pub last_latency_us: Arc<AtomicU64>,
}

impl Display {
    /// Starts pulling frames from `output`; `clock` (the sender's frame-id clock, when it
    /// is in this process) gives a live latency; `y4m` receives every frame shown.
    pub fn start(
        mut output: VideoOutput,
        clock: Option<Arc<Mutex<FrameIdClock>>>,
        y4m: Option<(PathBuf, u32)>,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let last_latency_us = Arc::new(AtomicU64::new(0));
        let (stop2, last2) = (Arc::clone(&stop), Arc::clone(&last_latency_us));
        let handle = std::thread::Builder::new().name("display".into()).spawn(move || {
            let mut result = DisplayResult::default();
            let mut sink = y4m.and_then(|(path, fps)| match Y4mSink::create(&path, fps) {
                Ok(s) => Some(s),
                Err(e) => {
                    eprintln!("display: {e}");
                    None
                }
            });
            let mut stamp: Option<FrameIdStamp> = None;
            while !stop2.load(Ordering::Acquire) {
                let now = Instant::now();
                if let Some(video) = output.pull(now) {
                    result.frames += 1;
                    let frame = &video.frame;
                    if stamp.is_none() {
                        stamp = FrameIdStamp::for_size(frame.width(), frame.height()).ok();
                    }
                    match stamp.map(|layout| layout.read(frame)) {
                        Some(Ok(Some(id))) => {
                            result.sightings.push(Sighting {
                                id,
                                shown: now,
                                decoded: video.decoded_at,
                            });
                            let live = clock.as_ref().and_then(|c| c.lock().ok()?.latency(id, now));
                            if let Some(l) = live {
                                last2.store(l.as_micros() as u64, Ordering::Relaxed);
                            }
                        }
                        _ => result.unreadable += 1,
                    }
                    if let Some(s) = sink.as_mut() {
                        if let Err(e) = s.write(frame) {
                            eprintln!("display: {e}");
                            sink = None;
                        }
                    }
                }
                std::thread::sleep(DISPLAY_POLL);
            }
            if let Some(s) = sink {
                if let Err(e) = s.finish() {
                    eprintln!("display: {e}");
                }
            }
            result
        })?;
        Ok(Self { stop, handle, last_latency_us })
    }

    /// Stops the thread and returns what it saw.
    pub fn stop(self) -> DisplayResult {
        self.stop.store(true, Ordering::Release);
        self.handle.join().unwrap_or_default()
    }
}

/// Glass-to-glass (at display) and capture-to-decoded latencies of `sightings`, against
/// the sender's `clock`; frames seen more than once count once (their first showing).
pub fn glass_to_glass(
    sightings: &[Sighting],
    clock: &FrameIdClock,
    origin: Instant,
    unreadable: u64,
) -> (LatencyRecorder, LatencyRecorder) {
    let mut shown = LatencyRecorder::new(origin);
    let mut decoded = LatencyRecorder::new(origin);
    let mut last_id = None;
    for s in sightings {
        if last_id == Some(s.id) {
            continue;
        }
        last_id = Some(s.id);
        if let Some(captured) = clock.capture_time(s.id) {
            shown.record(s.shown, s.shown.saturating_duration_since(captured));
            decoded.record(s.decoded, s.decoded.saturating_duration_since(captured));
        }
    }
    shown.set_missed(unreadable);
    decoded.set_missed(unreadable);
    (shown, decoded)
}
