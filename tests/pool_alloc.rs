//! Steady-state processing through the pipeline does not allocate: a counting global
//! allocator watches every thread while warmed-up frames flow through a chain of stages.
//! (Its own test binary, so no other test's allocations are counted.)

use std::time::{Duration, Instant};

use sottovoce::audio::AudioFrame;
use sottovoce::pipeline::{BufferPool, Pipeline, QueuePolicy, stage_fn};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

#[test]
fn frames_flow_through_a_warm_pipeline_without_allocating() {
    let pool = BufferPool::<f32>::new(32, 32, 480);
    let mut pipeline = Pipeline::builder("no-alloc", QueuePolicy::audio(16))
        .stage(stage_fn("gain", |mut f: AudioFrame| {
            f.samples_mut().iter_mut().for_each(|s| *s *= 0.5);
            Ok(Some(f))
        }))
        .stage(stage_fn("clip", |mut f: AudioFrame| {
            f.samples_mut().iter_mut().for_each(|s| *s = s.clamp(-0.25, 0.25));
            Ok(Some(f))
        }))
        .build()
        .unwrap();

    let mut run = |frames: u64, start_seq: u64| {
        for seq in start_seq..start_seq + frames {
            let mut frame = AudioFrame::silence(&pool, 48_000, 1, Instant::now(), seq).unwrap();
            frame.samples_mut()[0] = 1.0;
            pipeline.push(frame).expect("room in the queue");
            let out = pipeline.recv_timeout(Duration::from_secs(5)).expect("frame out");
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
    let stats = pipeline.stats();
    assert_eq!(stats.counters.frames_out, 2_200);
}
