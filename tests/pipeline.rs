//! Pipeline core behaviour: ordering, queue policies under a stalled consumer, drain on
//! shutdown, and telemetry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sottovoce::audio::AudioFrame;
use sottovoce::pipeline::{BufferPool, FnStage, Pipeline, PushError, QueuePolicy, stage_fn};
use sottovoce::video::{PixelFormat, VideoFrame};

fn audio_frame(pool: &BufferPool<f32>, seq: u64) -> AudioFrame {
    let mut f = AudioFrame::silence(pool, 48_000, 1, Instant::now(), seq).unwrap();
    f.samples_mut()[0] = seq as f32;
    f
}

type Pass = fn(AudioFrame) -> sottovoce::Result<Option<AudioFrame>>;

fn passthrough(name: &'static str) -> FnStage<Pass, AudioFrame, AudioFrame> {
    stage_fn(name, (|f| Ok(Some(f))) as Pass)
}

#[test]
fn a_chain_of_stages_preserves_order_and_loses_nothing_under_normal_load() {
    let pool = BufferPool::new(64, 64, 480);
    let mut p = Pipeline::builder("order", QueuePolicy::audio(32))
        .stage(passthrough("a"))
        .stage(stage_fn("negate", |mut f: AudioFrame| {
            f.samples_mut()[1] = -f.samples()[0];
            Ok(Some(f))
        }))
        .stage(passthrough("c"))
        .stage(passthrough("d"))
        .build()
        .unwrap();

    let n = 2_000u64;
    let mut received = Vec::new();
    for seq in 0..n {
        // Pace like a real source would at 10x real time, taking output as it comes.
        let mut frame = audio_frame(&pool, seq);
        loop {
            match p.push(frame) {
                Ok(()) => break,
                Err(PushError::Full(f)) => {
                    frame = f;
                    received.extend(p.recv_timeout(Duration::from_millis(10)));
                }
                Err(PushError::Closed(_)) => panic!("closed"),
            }
        }
        while let Some(f) = p.try_recv() {
            received.push(f);
        }
    }
    while received.len() < n as usize {
        received.push(p.recv_timeout(Duration::from_secs(5)).expect("frame in time"));
    }
    let seqs: Vec<u64> = received.iter().map(|f| f.sequence()).collect();
    assert_eq!(seqs, (0..n).collect::<Vec<_>>());
    assert!(received.iter().all(|f| f.samples()[1] == -(f.sequence() as f32)));

    // Exact counts from the final telemetry: a live snapshot can miss the last frame's
    // processing time, which a stage records after handing the frame on (seen once:
    // 1999 of 2000).
    let report = p.shutdown();
    assert!(report.undelivered.is_empty());
    let stats = report.stats;
    assert_eq!(stats.stages.len(), 4);
    assert_eq!(stats.counters.frames_out, n);
    assert_eq!(stats.counters.dropped, 0);
    assert_eq!(stats.end_to_end.count, n);
    for s in &stats.stages {
        assert_eq!(s.counters.frames_in, n, "{}", s.name);
        assert_eq!(s.counters.frames_out, n, "{}", s.name);
        assert_eq!(s.processing.count, n);
        assert!(s.processing.p50 <= s.processing.p99);
    }
}

#[test]
fn audio_policy_with_a_stalled_consumer_stays_bounded_and_counts_every_refusal() {
    let pool = BufferPool::new(64, 16, 480);
    let capacity = 4;
    let p = Pipeline::builder("stall-audio", QueuePolicy::audio(capacity))
        .stage(passthrough("a"))
        .stage(passthrough("b"))
        .build()
        .unwrap();

    // Nobody receives: frames pile up until every queue is full, then the producer is
    // refused (and keeps its frame) instead of blocking.
    let mut accepted = 0u64;
    let mut refused = 0u64;
    for seq in 0..500 {
        match p.push(audio_frame(&pool, seq)) {
            Ok(()) => accepted += 1,
            Err(PushError::Full(f)) => {
                assert_eq!(f.sequence(), seq, "the refused frame is handed back");
                refused += 1;
            }
            Err(PushError::Closed(_)) => panic!("closed"),
        }
        std::thread::sleep(Duration::from_micros(50));
    }
    // Each of the 3 queues is full and each stage thread holds one frame it waits to hand on.
    assert!(p.queued() <= 3 * capacity, "queues stay bounded: {}", p.queued());
    assert_eq!(accepted, 3 * capacity as u64 + 2, "nothing beyond the bound was accepted");
    let report = p.shutdown();
    let stats = &report.stats;
    assert_eq!(stats.counters.frames_in, accepted);
    assert_eq!(stats.counters.overflow, refused, "only the entry refuses; stages wait");
    // Every accepted frame comes out at shutdown, in order: nothing vanished inside.
    assert_eq!(report.undelivered.len() as u64, accepted);
    // Order is kept among the frames that made it.
    let seqs: Vec<u64> = report.undelivered.iter().map(|f| f.sequence()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn video_policy_drops_oldest_and_the_newest_frame_wins() {
    let pool = BufferPool::new(64, 16, 64 * 64 * 4);
    let capacity = 3;
    let release = Arc::new(AtomicBool::new(false));
    let gate = Arc::clone(&release);
    let mut p = Pipeline::builder("stall-video", QueuePolicy::video(capacity))
        .stage(stage_fn("slow", move |f: VideoFrame| {
            while !gate.load(Ordering::Acquire) {
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(Some(f))
        }))
        .build()
        .unwrap();
    let n = 50u64;
    for seq in 0..n {
        let f = VideoFrame::alloc(&pool, PixelFormat::Rgba, 64, 64, Instant::now(), seq).unwrap();
        p.push(f).expect("video push never refuses");
    }
    release.store(true, Ordering::Release);
    let mut got = Vec::new();
    while let Some(f) = p.recv_timeout(Duration::from_millis(300)) {
        got.push(f.sequence());
    }
    let report = p.shutdown();
    let stats = report.stats;
    assert_eq!(*got.last().unwrap(), n - 1, "the newest frame always arrives");
    assert!(got.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(stats.counters.frames_in, n);
    assert_eq!(stats.counters.overflow, 0);
    assert_eq!(got.len() as u64 + stats.counters.dropped, n, "delivered + dropped = pushed");
    assert!(stats.counters.dropped >= n - capacity as u64 - 1);
}

#[test]
fn shutdown_under_load_drains_every_accepted_frame() {
    let pool = BufferPool::new(256, 64, 480);
    let mut p = Pipeline::builder("drain", QueuePolicy::audio(64))
        .stage(stage_fn("work", |f: AudioFrame| {
            std::thread::sleep(Duration::from_micros(200));
            Ok(Some(f))
        }))
        .stage(passthrough("b"))
        .build()
        .unwrap();
    let input = p.input();
    let producer = std::thread::spawn(move || {
        let mut accepted = 0u64;
        let mut refused = 0u64;
        for seq in 0..400 {
            match input.push(audio_frame(&pool, seq)) {
                Ok(()) => accepted += 1,
                Err(PushError::Full(_)) => refused += 1,
                Err(PushError::Closed(_)) => break,
            }
        }
        (accepted, refused)
    });
    let mut received = 0u64;
    for _ in 0..20 {
        received += p.recv_timeout(Duration::from_millis(1)).map_or(0, |_| 1);
    }
    let (accepted, refused) = producer.join().unwrap();
    let report = p.shutdown();
    let stats = &report.stats;
    assert!(stats.stages.iter().all(|s| s.counters.overflow == 0));
    assert_eq!(stats.counters.frames_in, accepted);
    assert_eq!(stats.counters.overflow, refused);
    assert_eq!(stats.counters.errors, 0);
    assert_eq!(
        received + report.undelivered.len() as u64,
        accepted,
        "every accepted frame is delivered, waiting at the exit, or counted"
    );
}

#[test]
fn failing_frames_are_counted_and_the_stage_carries_on() {
    let mut p = Pipeline::builder("errors", QueuePolicy::audio(16))
        .stage(stage_fn("odd-fails", |f: AudioFrame| {
            if f.sequence() % 2 == 1 {
                return Err(sottovoce::Error::Stage { stage: "odd-fails", reason: "odd".into() });
            }
            Ok(Some(f))
        }))
        .build()
        .unwrap();
    let pool = BufferPool::new(16, 16, 480);
    for seq in 0..10 {
        p.push(audio_frame(&pool, seq)).unwrap();
    }
    let mut got = Vec::new();
    while got.len() < 5 {
        got.push(p.recv_timeout(Duration::from_secs(5)).expect("even frames").sequence());
    }
    assert_eq!(got, vec![0, 2, 4, 6, 8]);
    let report = p.shutdown();
    assert_eq!(report.stats.counters.errors, 5);
}

#[test]
fn end_to_end_latency_is_measured_from_the_capture_instant() {
    let mut p = Pipeline::builder("latency", QueuePolicy::audio(8))
        .stage(passthrough("a"))
        .build()
        .unwrap();
    let captured = Instant::now() - Duration::from_millis(30);
    let frame = AudioFrame::from_samples(&[0.0; 480], 48_000, 1, captured, 0).unwrap();
    p.push(frame).unwrap();
    p.recv_timeout(Duration::from_secs(5)).unwrap();
    let e2e = p.stats().end_to_end;
    assert_eq!(e2e.count, 1);
    assert!(e2e.max >= Duration::from_millis(30) && e2e.max < Duration::from_secs(5));
}

#[test]
fn inline_stages_share_a_thread_and_keep_their_own_telemetry() {
    let mut p = Pipeline::builder("inline", QueuePolicy::audio(8))
        .stage(passthrough("first"))
        .stage_inline(stage_fn("split", |f: AudioFrame| {
            // Emits nothing for odd frames: the next stage sees only even ones.
            Ok((f.sequence() % 2 == 0).then_some(f))
        }))
        .stage_inline(stage_fn("thread-check", |f: AudioFrame| {
            let name = std::thread::current().name().map(str::to_owned);
            assert_eq!(name.as_deref(), Some("inline:first"), "runs on the first stage's thread");
            Ok(Some(f))
        }))
        .stage(passthrough("own-thread"))
        .build()
        .unwrap();
    let pool = BufferPool::new(16, 16, 480);
    for seq in 0..20 {
        p.push(audio_frame(&pool, seq)).unwrap();
        std::thread::sleep(Duration::from_micros(100));
    }
    let mut got = Vec::new();
    while got.len() < 10 {
        got.push(p.recv_timeout(Duration::from_secs(5)).expect("even frames").sequence());
    }
    assert_eq!(got, (0..20).step_by(2).collect::<Vec<_>>());
    let report = p.shutdown();
    let s = &report.stats;
    let by_name = |n: &str| s.stages.iter().find(|x| x.name == n).unwrap().clone();
    assert_eq!(by_name("split").counters.frames_in, 20);
    assert_eq!(by_name("split").counters.frames_out, 10);
    assert_eq!(by_name("thread-check").counters.frames_in, 10);
    assert_eq!(by_name("thread-check").queue_wait.count, 0, "no queue in front of it");
    assert_eq!(by_name("own-thread").queue_wait.count, 10);
    assert_eq!(s.counters.errors, 0);
}
