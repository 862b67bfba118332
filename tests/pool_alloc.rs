//! Steady-state frame handling does not allocate: a counting global allocator watches every
//! thread while warmed-up pooled frames go through a frame queue to another thread and
//! back, as camera frames go from the app to the call's video send thread.
//! (Its own test binary, so no other test's allocations are counted.)

use std::time::{Duration, Instant};

use sottovoce::audio::AudioFrame;
use sottovoce::pipeline::{BufferPool, QueuePolicy, frame_channel};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[test]
fn pooled_frames_cross_queues_and_threads_without_allocating() {
    let pool = BufferPool::<f32>::new(32, 32, 480);
    let (to_worker, mut worker_in) = frame_channel::<AudioFrame>(QueuePolicy::audio(16));
    let (worker_out, mut from_worker) = frame_channel::<AudioFrame>(QueuePolicy::audio(16));
    let worker = std::thread::spawn(move || {
        while let Some(mut frame) = worker_in.recv_timeout(Duration::from_secs(5)) {
            frame.samples_mut().iter_mut().for_each(|s| *s = (*s * 0.5).clamp(-0.25, 0.25));
            if worker_out.push(frame).is_err() {
                return;
            }
        }
    });
    let mut run = |frames: u64, start_seq: u64| {
        for seq in start_seq..start_seq + frames {
            let mut frame = AudioFrame::silence(&pool, 48_000, 1, Instant::now(), seq).unwrap();
            frame.samples_mut()[0] = 1.0;
            to_worker.push(frame).expect("room in the queue");
            let out = from_worker.recv_timeout(Duration::from_secs(5)).expect("frame out");
            assert_eq!(out.sequence(), seq);
            assert_eq!(out.samples()[0], 0.25);
        }
    };

    run(200, 0); // warm-up: pool, queues and thread-locals settle
    let before = counting_alloc::total_allocations();
    run(2_000, 200);
    let during = counting_alloc::total_allocations() - before;

    assert_eq!(during, 0, "allocations in steady state");
    assert_eq!(pool.misses(), 0, "the pool never ran dry");
    drop(to_worker);
    worker.join().unwrap();
}
