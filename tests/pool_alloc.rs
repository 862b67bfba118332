//! Steady-state processing through the pipeline does not allocate: a counting global
//! allocator watches every thread while warmed-up frames flow through a chain of stages.
//! (Its own test binary, so no other test's allocations are counted.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sottovoce::audio::AudioFrame;
use sottovoce::pipeline::{BufferPool, Pipeline, QueuePolicy, stage_fn};

struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

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
    COUNTING.store(true, Ordering::SeqCst);
    run(2_000, 200);
    COUNTING.store(false, Ordering::SeqCst);

    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 0, "allocations in steady state");
    assert_eq!(pool.misses(), 0, "the pool never ran dry");
    let stats = pipeline.stats();
    assert_eq!(stats.counters.frames_out, 2_200);
}
