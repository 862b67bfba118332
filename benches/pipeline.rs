//! Frame-queue figures: the cost of one hop through a `frame_channel`, on one thread and
//! across threads (spinning or parked), for audio-sized (10 ms, 48 kHz stereo) and
//! 720p-sized (1280x720 I420) frames.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sottovoce::audio::AudioFrame;
use sottovoce::pipeline::{BufferPool, QueuePolicy, frame_channel};
use sottovoce::video::{PixelFormat, VideoFrame};

fn audio_source() -> impl FnMut(u64) -> AudioFrame {
    let pool = BufferPool::<f32>::new(64, 64, 960);
    move |seq| AudioFrame::silence(&pool, 48_000, 2, Instant::now(), seq).unwrap()
}

fn video_source() -> impl FnMut(u64) -> VideoFrame {
    let pool = BufferPool::<u8>::new(64, 16, 1280 * 720 * 3 / 2);
    move |seq| VideoFrame::alloc(&pool, PixelFormat::I420, 1280, 720, Instant::now(), seq).unwrap()
}

fn queue_hop(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue_hop");
    let mut audio = audio_source();
    let (tx, rx) = frame_channel::<AudioFrame>(QueuePolicy::audio(64));
    let mut seq = 0;
    let frame = audio(0);
    let mut slot = Some(frame);
    g.bench_function("same_thread/audio", |b| {
        b.iter(|| {
            tx.push(slot.take().unwrap()).unwrap();
            slot = rx.try_recv();
            seq += 1;
        })
    });
    let mut video = video_source();
    let (tx, rx) = frame_channel::<VideoFrame>(QueuePolicy::video(4));
    let mut slot = Some(video(0));
    g.bench_function("same_thread/720p", |b| {
        b.iter(|| {
            tx.push(slot.take().unwrap()).unwrap();
            slot = rx.try_recv();
        })
    });

    // One hop across threads: a ping-pong through two queues, half the round trip.
    for (name, spin) in [
        ("cross_thread_spinning", Duration::from_millis(5)),
        ("cross_thread_parked", Duration::ZERO),
    ] {
        let (ping_tx, mut ping_rx) = frame_channel::<AudioFrame>(QueuePolicy::audio(4));
        let (pong_tx, mut pong_rx) = frame_channel::<AudioFrame>(QueuePolicy::audio(4));
        let echo = std::thread::spawn(move || {
            while let Some(f) = ping_rx.recv_spin(spin, Duration::from_secs(2)) {
                if pong_tx.push(f).is_err() {
                    break;
                }
            }
        });
        let mut slot = Some(audio(0));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    ping_tx.push(slot.take().unwrap()).unwrap();
                    slot = pong_rx.recv_spin(spin, Duration::from_secs(2));
                }
                start.elapsed() / 2
            })
        });
        drop(ping_tx);
        echo.join().unwrap();
    }
    g.finish();
}

criterion_group!(benches, queue_hop);
criterion_main!(benches);
