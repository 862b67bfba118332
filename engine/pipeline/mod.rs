//! The pipeline core: stages on their own threads, linked by bounded lock-free queues.
//!
//! ```text
//!  push ──▶ [queue] ──▶ stage 1 ──▶ [queue] ──▶ stage 2 ──▶ … ──▶ [queue] ──▶ recv
//!           bounded      thread      bounded      thread            output
//! ```
//!
//! * Every queue has the pipeline's [`QueuePolicy`]: audio refuses new frames when full
//!   ([`OnFull::Reject`], the producer gets the frame back and is never blocked), video
//!   drops the oldest ([`OnFull::DropOldest`], newest wins). Both are counted.
//! * Every item is [`Timestamped`] with its capture instant. Each stage records its
//!   processing time, its input-queue wait and the capture-to-emit latency, in lock-free
//!   histograms readable at any time through [`Pipeline::stats`].
//! * [`Pipeline::shutdown`] closes the entry, lets every stage drain its queue and
//!   [`Stage::flush`], and hands back whatever reached the exit but was not received, so
//!   every accepted frame is delivered, dropped by policy, or failed, and counted.
//!
//! A stage can also be driven by the caller without a pipeline: call [`Stage::process`]
//! in your own loop.

mod pool;
mod queue;
mod stage;
mod stats;

pub use pool::{BufferPool, PoolStats, PooledBuffer};
pub use queue::{OnFull, PushError, QueuePolicy};
pub use stage::{FnStage, Stage, Timestamped, stage_fn};
pub use stats::{Counters, LatencyHistogram, LatencySummary, StageStats, Stats};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::sync::Parker;

use crate::{Error, Result};
use queue::FrameQueue;

/// Telemetry one stage thread writes and any thread reads.
struct StageTelemetry {
    name: &'static str,
    processing: LatencyHistogram,
    queue_wait: LatencyHistogram,
    since_capture: LatencyHistogram,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    errors: AtomicU64,
}

/// Counters of a queue, independent of the frame type it carries.
trait QueueView: Send + Sync {
    fn counters(&self) -> &queue::QueueCounters;
    fn len(&self) -> usize;
}

impl<T: Send> QueueView for FrameQueue<T> {
    fn counters(&self) -> &queue::QueueCounters {
        &self.counters
    }
    fn len(&self) -> usize {
        FrameQueue::len(self)
    }
}

type Spawner = Box<dyn FnOnce() -> std::io::Result<JoinHandle<()>>>;

/// Builds a [`Pipeline`] stage by stage; `O` is the output type of the last stage added.
pub struct PipelineBuilder<I, O> {
    name: &'static str,
    policy: QueuePolicy,
    spin: Duration,
    input: Arc<FrameQueue<I>>,
    tail: Arc<FrameQueue<O>>,
    tail_parker: Parker,
    spawners: Vec<Spawner>,
    telemetry: Vec<Arc<StageTelemetry>>,
    queues: Vec<Arc<dyn QueueView>>,
}

impl<I: Timestamped + Send + 'static> Pipeline<I, I> {
    /// Start building a pipeline whose queues all follow `policy`.
    pub fn builder(name: &'static str, policy: QueuePolicy) -> PipelineBuilder<I, I> {
        let (input, parker) = FrameQueue::new(policy);
        PipelineBuilder {
            name,
            policy,
            spin: Duration::ZERO,
            tail: Arc::clone(&input),
            input: Arc::clone(&input),
            tail_parker: parker,
            spawners: Vec::new(),
            telemetry: Vec::new(),
            queues: vec![input as Arc<dyn QueueView>],
        }
    }
}

impl<I, O> PipelineBuilder<I, O>
where
    I: Timestamped + Send + 'static,
    O: Timestamped + Send + 'static,
{
    /// How long an idle stage thread spins before it sleeps. Spinning shortens the hop
    /// when frames arrive back to back but burns a core; the default (zero) suits
    /// machines with few cores, where sleeping costs a few microseconds per hop.
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// Append a stage, run on its own thread.
    pub fn stage<S: Stage<Input = O>>(self, mut stage: S) -> PipelineBuilder<I, S::Output> {
        let (out_queue, out_parker) = FrameQueue::<S::Output>::new(self.policy);
        let telemetry = Arc::new(StageTelemetry {
            name: stage.name(),
            processing: LatencyHistogram::new(),
            queue_wait: LatencyHistogram::new(),
            since_capture: LatencyHistogram::new(),
            frames_in: AtomicU64::new(0),
            frames_out: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        });
        let input = self.tail;
        let parker = self.tail_parker;
        let output = Arc::clone(&out_queue);
        let tel = Arc::clone(&telemetry);
        let spin = self.spin;
        let thread_name = format!("{}:{}", self.name, stage.name());
        let spawner: Spawner = Box::new(move || {
            std::thread::Builder::new().name(thread_name).spawn(move || {
                run_stage(&mut stage, &input, &parker, &output, &tel, spin);
            })
        });
        let mut spawners = self.spawners;
        spawners.push(spawner);
        let mut all_telemetry = self.telemetry;
        all_telemetry.push(telemetry);
        let mut queues = self.queues;
        queues.push(Arc::clone(&out_queue) as Arc<dyn QueueView>);
        PipelineBuilder {
            name: self.name,
            policy: self.policy,
            spin: self.spin,
            input: self.input,
            tail: out_queue,
            tail_parker: out_parker,
            spawners,
            telemetry: all_telemetry,
            queues,
        }
    }

    /// Start every stage thread.
    pub fn build(self) -> Result<Pipeline<I, O>> {
        if self.spawners.is_empty() {
            return Err(Error::InvalidConfig(format!("pipeline '{}' has no stages", self.name)));
        }
        let mut threads = Vec::with_capacity(self.spawners.len());
        for spawn in self.spawners {
            match spawn() {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    // Stop what already started so no thread is left behind.
                    self.input.close();
                    threads.into_iter().for_each(|t: JoinHandle<()>| {
                        let _ = t.join();
                    });
                    return Err(Error::Thread(e));
                }
            }
        }
        tracing::debug!(pipeline = self.name, stages = threads.len(), "pipeline started");
        Ok(Pipeline {
            input: PipelineInput { queue: self.input },
            output: self.tail,
            output_parker: self.tail_parker,
            threads,
            telemetry: self.telemetry,
            queues: self.queues,
        })
    }
}

fn run_stage<S: Stage>(
    stage: &mut S,
    input: &FrameQueue<S::Input>,
    parker: &Parker,
    output: &FrameQueue<S::Output>,
    tel: &StageTelemetry,
    spin: Duration,
) {
    let mut emit = |out: S::Output| {
        tel.since_capture.record(out.capture_time().elapsed());
        tel.frames_out.fetch_add(1, Ordering::Relaxed);
        match output.push(out) {
            // A displaced frame is already counted as dropped by the queue.
            Ok(_displaced) => {}
            // Counted as overflow by the queue; audio never blocks on a slow consumer.
            Err(PushError::Full(_)) => {}
            Err(PushError::Closed(_)) => {
                tel.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    };
    while let Some((enqueued, item)) = input.pop_wait(parker, spin, None) {
        let start = Instant::now();
        tel.queue_wait.record(start.saturating_duration_since(enqueued));
        tel.frames_in.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = stage.process(item, &mut emit) {
            tel.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(stage = tel.name, error = %e, "stage failed on a frame");
        }
        tel.processing.record(start.elapsed());
    }
    if let Err(e) = stage.flush(&mut emit) {
        tel.errors.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(stage = tel.name, error = %e, "stage failed to flush");
    }
    output.close();
}

/// The producer side of a pipeline; cheap to clone and share with a capture thread.
pub struct PipelineInput<I> {
    queue: Arc<FrameQueue<I>>,
}

impl<I> Clone for PipelineInput<I> {
    fn clone(&self) -> Self {
        Self { queue: Arc::clone(&self.queue) }
    }
}

impl<I> PipelineInput<I> {
    /// Offer a frame. Never blocks. Under the audio policy a full queue hands the frame
    /// back ([`PushError::Full`], counted as overflow); under the video policy the oldest
    /// queued frame is dropped instead.
    pub fn push(&self, frame: I) -> Result<(), PushError<I>> {
        self.queue.push(frame).map(drop)
    }
}

/// A running chain of stages. Dropping it shuts it down (see [`Pipeline::shutdown`]).
pub struct Pipeline<I, O> {
    input: PipelineInput<I>,
    output: Arc<FrameQueue<O>>,
    output_parker: Parker,
    threads: Vec<JoinHandle<()>>,
    telemetry: Vec<Arc<StageTelemetry>>,
    queues: Vec<Arc<dyn QueueView>>,
}

/// What [`Pipeline::shutdown`] leaves behind.
#[derive(Debug)]
pub struct ShutdownReport<O> {
    /// Final telemetry.
    pub stats: Stats,
    /// Frames that reached the exit but were never received, in order.
    pub undelivered: Vec<O>,
}

impl<I: Send + 'static, O: Send + 'static> Pipeline<I, O> {
    /// A producer handle for another thread.
    pub fn input(&self) -> PipelineInput<I> {
        self.input.clone()
    }

    /// Offer a frame; see [`PipelineInput::push`].
    pub fn push(&self, frame: I) -> Result<(), PushError<I>> {
        self.input.push(frame)
    }

    /// Take an output frame if one is ready.
    pub fn try_recv(&self) -> Option<O> {
        self.output.try_pop().map(|(_, o)| o)
    }

    /// Wait up to `timeout` for an output frame.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<O> {
        let deadline = Instant::now() + timeout;
        self.output.pop_wait(&self.output_parker, Duration::ZERO, Some(deadline)).map(|(_, o)| o)
    }

    /// A snapshot of per-stage and end-to-end telemetry; the pipeline keeps running.
    pub fn stats(&self) -> Stats {
        let mut stages = Vec::with_capacity(self.telemetry.len());
        let mut total = Counters::default();
        for (i, tel) in self.telemetry.iter().enumerate() {
            let in_q = self.queues[i].counters();
            let out_q = self.queues[i + 1].counters();
            let counters = Counters {
                frames_in: tel.frames_in.load(Ordering::Relaxed),
                frames_out: tel.frames_out.load(Ordering::Relaxed),
                dropped: out_q.dropped.load(Ordering::Relaxed),
                overflow: out_q.overflow.load(Ordering::Relaxed),
                errors: tel.errors.load(Ordering::Relaxed),
            };
            if i == 0 {
                total.frames_in = in_q.pushed.load(Ordering::Relaxed);
                total.dropped += in_q.dropped.load(Ordering::Relaxed);
                total.overflow += in_q.overflow.load(Ordering::Relaxed);
            }
            total.dropped += counters.dropped;
            total.overflow += counters.overflow;
            total.errors += counters.errors;
            stages.push(StageStats {
                name: tel.name,
                processing: tel.processing.summary(),
                queue_wait: tel.queue_wait.summary(),
                counters,
            });
        }
        let last = self.queues.last().expect("a built pipeline has an output queue");
        total.frames_out = last.counters().pushed.load(Ordering::Relaxed);
        let end_to_end =
            self.telemetry.last().map(|t| t.since_capture.summary()).unwrap_or_default();
        Stats { stages, end_to_end, counters: total }
    }

    /// Frames currently waiting in the pipeline's queues (not counting the ones inside
    /// a stage's `process`).
    pub fn queued(&self) -> usize {
        self.queues.iter().map(|q| q.len()).sum()
    }

    /// Close the entry, let every stage drain and flush, join the threads, and return
    /// the final stats with the frames that reached the exit but were not received.
    pub fn shutdown(mut self) -> ShutdownReport<O> {
        self.stop_threads();
        let mut undelivered = Vec::with_capacity(self.output.len());
        while let Some((_, frame)) = self.output.try_pop() {
            undelivered.push(frame);
        }
        ShutdownReport { stats: self.stats(), undelivered }
    }

    fn stop_threads(&mut self) {
        self.input.queue.close();
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                tracing::error!("a stage thread panicked");
            }
        }
    }
}

impl<I, O> Drop for Pipeline<I, O> {
    fn drop(&mut self) {
        self.input.queue.close();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}
