//! Pipeline core figures: the cost of one queue hop, the latency a chain of stage threads
//! adds to a frame, and the throughput of a 4-stage chain, for audio-sized (10 ms, 48 kHz
//! stereo) and 720p-sized (1280x720 I420) frames.
//!
//! Besides criterion's medians, the paced-latency bench prints p50/p95/p99 from the
//! pipeline's own end-to-end histogram, since the target is a p99.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sottovoce::audio::AudioFrame;
use sottovoce::pipeline::{
    BufferPool, Pipeline, QueuePolicy, Timestamped, frame_channel, stage_fn,
};
use sottovoce::video::{PixelFormat, VideoFrame};

fn audio_source() -> impl FnMut(u64) -> AudioFrame {
    let pool = BufferPool::<f32>::new(64, 64, 960);
    move |seq| AudioFrame::silence(&pool, 48_000, 2, Instant::now(), seq).unwrap()
}

fn video_source() -> impl FnMut(u64) -> VideoFrame {
    let pool = BufferPool::<u8>::new(64, 16, 1280 * 720 * 3 / 2);
    move |seq| VideoFrame::alloc(&pool, PixelFormat::I420, 1280, 720, Instant::now(), seq).unwrap()
}

/// Four pass-through stages, each on its own thread.
fn four_threads<T: Timestamped + Send + 'static>(
    policy: QueuePolicy,
    spin: Duration,
) -> Pipeline<T, T> {
    Pipeline::builder("bench", policy)
        .spin(spin)
        .stage(stage_fn("s1", |f: T| Ok(Some(f))))
        .stage(stage_fn("s2", |f: T| Ok(Some(f))))
        .stage(stage_fn("s3", |f: T| Ok(Some(f))))
        .stage(stage_fn("s4", |f: T| Ok(Some(f))))
        .build()
        .unwrap()
}

/// Four pass-through stages sharing one thread (the audio placement).
fn four_inline<T: Timestamped + Send + 'static>(policy: QueuePolicy) -> Pipeline<T, T> {
    Pipeline::builder("bench", policy)
        .stage(stage_fn("s1", |f: T| Ok(Some(f))))
        .stage_inline(stage_fn("s2", |f: T| Ok(Some(f))))
        .stage_inline(stage_fn("s3", |f: T| Ok(Some(f))))
        .stage_inline(stage_fn("s4", |f: T| Ok(Some(f))))
        .build()
        .unwrap()
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

fn chain_throughput(c: &mut Criterion) {
    let mut g = c.benchmark_group("chain4_throughput");
    g.throughput(Throughput::Elements(1));
    let mut audio = audio_source();
    let mut p = four_threads::<AudioFrame>(QueuePolicy::audio(64), Duration::ZERO);
    g.bench_function(BenchmarkId::new("frames", "audio"), |b| {
        b.iter_custom(|iters| run_batch(&mut p, &mut audio, iters))
    });
    let mut video = video_source();
    // Newest-wins would drop frames under a flood; the bench measures the chain, so the
    // video run uses the lossless policy with the same frames.
    let mut p = four_threads::<VideoFrame>(QueuePolicy::audio(16), Duration::ZERO);
    g.bench_function(BenchmarkId::new("frames", "720p"), |b| {
        b.iter_custom(|iters| run_batch(&mut p, &mut video, iters))
    });
    g.finish();
}

/// Push `iters` frames through as fast as the chain takes them.
fn run_batch<T: Timestamped + Send + 'static>(
    p: &mut Pipeline<T, T>,
    source: &mut impl FnMut(u64) -> T,
    iters: u64,
) -> Duration {
    let start = Instant::now();
    let (mut sent, mut got) = (0, 0);
    while got < iters {
        while sent < iters {
            match p.push(source(sent)) {
                Ok(()) => sent += 1,
                Err(_) => break,
            }
        }
        if p.recv_timeout(Duration::from_secs(5)).is_some() {
            got += 1;
        }
        while p.try_recv().is_some() {
            got += 1;
        }
    }
    start.elapsed()
}

/// A frame every millisecond (the chain is idle between frames, as with 10 ms audio):
/// the latency the 4 stage threads add, including waking each one.
fn chain_latency(c: &mut Criterion) {
    let mut g = c.benchmark_group("chain4_paced_latency");
    g.sample_size(20);
    type MakeChain = fn() -> Pipeline<AudioFrame, AudioFrame>;
    let placements: [(&str, MakeChain); 3] = [
        ("threads_parked", || four_threads(QueuePolicy::audio(8), Duration::ZERO)),
        ("threads_spin_200us", || four_threads(QueuePolicy::audio(8), Duration::from_micros(200))),
        ("one_thread", || four_inline(QueuePolicy::audio(8))),
    ];
    for (name, make) in placements {
        let mut audio = audio_source();
        let mut p = make();
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    std::thread::sleep(Duration::from_millis(1));
                    let start = Instant::now();
                    p.push(audio(i)).unwrap();
                    black_box(p.recv_timeout(Duration::from_secs(5)).unwrap());
                    total += start.elapsed();
                }
                total
            })
        });
        let e2e = p.stats().end_to_end;
        eprintln!(
            "chain4_paced_latency/{name}: capture->exit over {} frames: p50 {:.1} µs, p95 {:.1} µs, p99 {:.1} µs, max {:.1} µs",
            e2e.count,
            e2e.p50.as_secs_f64() * 1e6,
            e2e.p95.as_secs_f64() * 1e6,
            e2e.p99.as_secs_f64() * 1e6,
            e2e.max.as_secs_f64() * 1e6
        );
    }
    g.finish();
}

criterion_group!(benches, queue_hop, chain_throughput, chain_latency);
criterion_main!(benches);
