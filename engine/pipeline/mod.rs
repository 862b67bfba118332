//! The pipeline core: stages on their own threads, linked by bounded lock-free queues.
//!
//! ```text
//!  push ──▶ [queue] ──▶ stage 1 ──▶ [queue] ──▶ stage 2 ──▶ … ──▶ [queue] ──▶ recv
//!           bounded      thread      bounded      thread            output
//! ```
//!
//! * Every queue has the pipeline's [`QueuePolicy`]. Audio ([`OnFull::Reject`]): the entry
//!   refuses a new frame when full, handing it back to the producer, which is never
//!   blocked, and counts an overflow; between stages a full queue makes the upstream stage
//!   wait, so a frame accepted into the pipeline is never lost inside it. Video
//!   ([`OnFull::DropOldest`]): every full queue drops its oldest frame and counts it;
//!   the newest frame wins.
//! * Every item is [`Timestamped`] with its capture instant. Each stage records its
//!   processing time, its input-queue wait and the capture-to-emit latency, in lock-free
//!   histograms readable at any time through [`Pipeline::stats`].
//! * [`Pipeline::shutdown`] closes the entry, lets every stage drain its queue and
//!   [`Stage::flush`], and hands back whatever reached the exit but was not received, so
//!   every accepted frame is delivered, dropped by policy, or failed, and counted.
//!
//! Placement: [`PipelineBuilder::stage`] gives a stage its own thread behind a queue;
//! [`PipelineBuilder::stage_inline`] runs it on the previous stage's thread with no queue
//! between (cheap audio stages belong together: a thread wake-up costs more than their
//! work). A stage can also be driven by the caller without a pipeline: call
//! [`Stage::process`] in your own loop.

mod pool;
mod queue;
mod stage;
mod stats;

pub use pool::{BufferPool, PoolStats, PooledBuffer};
pub use queue::{FrameReceiver, FrameSender, OnFull, PushError, QueuePolicy, frame_channel};
pub use stage::{FnStage, Stage, Timestamped, stage_fn};
pub use stats::{Counters, LatencyHistogram, LatencySummary, StageStats, Stats};

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam::sync::Parker;

use crate::{Error, Result};
use queue::FrameQueue;

/// Telemetry one stage writes and any thread reads.
struct StageTelemetry {
    name: &'static str,
    processing: LatencyHistogram,
    queue_wait: LatencyHistogram,
    since_capture: LatencyHistogram,
    frames_in: AtomicU64,
    frames_out: AtomicU64,
    errors: AtomicU64,
}

impl StageTelemetry {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            processing: LatencyHistogram::new(),
            queue_wait: LatencyHistogram::new(),
            since_capture: LatencyHistogram::new(),
            frames_in: AtomicU64::new(0),
            frames_out: AtomicU64::new(0),
            errors: AtomicU64::new(0),
        }
    }
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

/// Stages that run one after another on one thread, `X` in, `O` out.
trait StageGroup<X, O>: Send {
    fn process(&mut self, input: X, emit: &mut dyn FnMut(O));
    fn flush(&mut self, emit: &mut dyn FnMut(O));
}

/// One stage with its telemetry.
struct Instrumented<S> {
    stage: S,
    tel: Arc<StageTelemetry>,
}

impl<S: Stage> StageGroup<S::Input, S::Output> for Instrumented<S> {
    fn process(&mut self, input: S::Input, emit: &mut dyn FnMut(S::Output)) {
        let tel = &self.tel;
        let start = Instant::now();
        tel.frames_in.fetch_add(1, Ordering::Relaxed);
        let mut counted = |out: S::Output| {
            tel.since_capture.record(out.capture_time().elapsed());
            tel.frames_out.fetch_add(1, Ordering::Relaxed);
            emit(out);
        };
        if let Err(e) = self.stage.process(input, &mut counted) {
            tel.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(stage = tel.name, error = %e, "stage failed on a frame");
        }
        tel.processing.record(start.elapsed());
    }

    fn flush(&mut self, emit: &mut dyn FnMut(S::Output)) {
        let tel = &self.tel;
        let mut counted = |out: S::Output| {
            tel.since_capture.record(out.capture_time().elapsed());
            tel.frames_out.fetch_add(1, Ordering::Relaxed);
            emit(out);
        };
        if let Err(e) = self.stage.flush(&mut counted) {
            tel.errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(stage = tel.name, error = %e, "stage failed to flush");
        }
    }
}

/// A group followed by one more stage on the same thread. The first part's outputs are
/// collected before the next stage runs, so each stage's processing time is its own.
struct Fused<X, M, O> {
    first: Box<dyn StageGroup<X, M>>,
    then: Box<dyn StageGroup<M, O>>,
    between: Vec<M>,
}

impl<X, M: Send, O> StageGroup<X, O> for Fused<X, M, O> {
    fn process(&mut self, input: X, emit: &mut dyn FnMut(O)) {
        let between = &mut self.between;
        self.first.process(input, &mut |m| between.push(m));
        for m in self.between.drain(..) {
            self.then.process(m, emit);
        }
    }

    fn flush(&mut self, emit: &mut dyn FnMut(O)) {
        let between = &mut self.between;
        self.first.flush(&mut |m| between.push(m));
        for m in self.between.drain(..) {
            self.then.process(m, emit);
        }
        self.then.flush(emit);
    }
}

/// A stage's telemetry, and the queue it writes to when it is the last on its thread.
type StageSlot = (Arc<StageTelemetry>, Option<Arc<dyn QueueView>>);

type Spawner = Box<dyn FnOnce() -> std::io::Result<JoinHandle<()>>>;

/// The stages added since the last thread boundary: they will share one thread, reading
/// from the queue that ends the previous thread.
struct OpenGroup<X, O> {
    group: Box<dyn StageGroup<X, O>>,
    head: Arc<StageTelemetry>,
    input: Arc<FrameQueue<X>>,
    parker: Parker,
}

/// The start of a pipeline: choose the first stage (see [`Pipeline::builder`]).
pub struct PipelineStart<I> {
    name: &'static str,
    policy: QueuePolicy,
    spin: Duration,
    input: Arc<FrameQueue<I>>,
    parker: Parker,
}

/// Builds a [`Pipeline`] stage by stage. `O` is the output type of the last stage added;
/// `X` is the input type of the thread that stage runs on.
pub struct PipelineBuilder<I, X, O> {
    name: &'static str,
    policy: QueuePolicy,
    spin: Duration,
    input: Arc<FrameQueue<I>>,
    open: OpenGroup<X, O>,
    spawners: Vec<Spawner>,
    /// Every stage in order, with the queue it writes to when it ends a thread.
    stages: Vec<StageSlot>,
}

impl<I: Timestamped + Send + 'static> Pipeline<I, I> {
    /// Start building a pipeline whose queues all follow `policy`.
    pub fn builder(name: &'static str, policy: QueuePolicy) -> PipelineStart<I> {
        let (input, parker) = FrameQueue::new(policy);
        PipelineStart { name, policy, spin: Duration::ZERO, input, parker }
    }
}

fn open_group<S: Stage>(
    stage: S,
    input: Arc<FrameQueue<S::Input>>,
    parker: Parker,
    stages: &mut Vec<StageSlot>,
) -> OpenGroup<S::Input, S::Output> {
    let tel = Arc::new(StageTelemetry::new(stage.name()));
    stages.push((Arc::clone(&tel), None));
    OpenGroup {
        group: Box::new(Instrumented { stage, tel: Arc::clone(&tel) }),
        head: tel,
        input,
        parker,
    }
}

impl<I: Timestamped + Send + 'static> PipelineStart<I> {
    /// How long an idle stage thread spins before it sleeps. Spinning shortens the hop
    /// when frames arrive back to back but burns a core; the default (zero) suits
    /// machines with few cores, where waking a sleeping thread costs a few microseconds.
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    /// The first stage, on a thread of its own fed by the pipeline's entry queue.
    pub fn stage<S: Stage<Input = I>>(self, stage: S) -> PipelineBuilder<I, I, S::Output> {
        let mut stages = Vec::new();
        let open = open_group(stage, Arc::clone(&self.input), self.parker, &mut stages);
        PipelineBuilder {
            name: self.name,
            policy: self.policy,
            spin: self.spin,
            input: self.input,
            open,
            spawners: Vec::new(),
            stages,
        }
    }
}

impl<I, X, O> PipelineBuilder<I, X, O>
where
    I: Timestamped + Send + 'static,
    X: Timestamped + Send + 'static,
    O: Timestamped + Send + 'static,
{
    /// Append a stage on a thread of its own, fed by a new queue.
    pub fn stage<S: Stage<Input = O>>(self, stage: S) -> PipelineBuilder<I, O, S::Output> {
        let Self { name, policy, spin, input, open, mut spawners, mut stages } = self;
        let (queue, parker) = seal(name, policy, spin, open, &mut spawners, &mut stages);
        let open = open_group(stage, queue, parker, &mut stages);
        PipelineBuilder { name, policy, spin, input, open, spawners, stages }
    }

    /// Append a stage on the same thread as the previous one: no queue and no thread
    /// wake-up between them. Cheap stages (most per-frame audio work) belong together,
    /// since a thread hop can cost more than their work.
    pub fn stage_inline<S: Stage<Input = O>>(self, stage: S) -> PipelineBuilder<I, X, S::Output> {
        let Self { name, policy, spin, input, open, spawners, mut stages } = self;
        let tel = Arc::new(StageTelemetry::new(stage.name()));
        stages.push((Arc::clone(&tel), None));
        let then: Box<dyn StageGroup<O, S::Output>> = Box::new(Instrumented { stage, tel });
        let open = OpenGroup {
            group: Box::new(Fused { first: open.group, then, between: Vec::with_capacity(8) }),
            head: open.head,
            input: open.input,
            parker: open.parker,
        };
        PipelineBuilder { name, policy, spin, input, open, spawners, stages }
    }

    /// Start every stage thread.
    pub fn build(self) -> Result<Pipeline<I, O>> {
        let Self { name, policy, spin, input, open, mut spawners, mut stages } = self;
        let (output, output_parker) = seal(name, policy, spin, open, &mut spawners, &mut stages);
        let mut threads = Vec::with_capacity(spawners.len());
        for spawn in spawners {
            match spawn() {
                Ok(handle) => threads.push(handle),
                Err(e) => {
                    // Stop what already started so no thread is left behind.
                    input.close();
                    threads.into_iter().for_each(|t: JoinHandle<()>| {
                        let _ = t.join();
                    });
                    return Err(Error::Thread(e));
                }
            }
        }
        tracing::debug!(pipeline = name, threads = threads.len(), "pipeline started");
        Ok(Pipeline {
            entry: Arc::clone(&input) as Arc<dyn QueueView>,
            input: FrameSender::new(input),
            output,
            output_parker,
            threads,
            stages,
        })
    }
}

/// Close an open group: it gets a thread, reading its queue and writing a new one.
fn seal<X, O>(
    name: &'static str,
    policy: QueuePolicy,
    spin: Duration,
    open: OpenGroup<X, O>,
    spawners: &mut Vec<Spawner>,
    stages: &mut [StageSlot],
) -> (Arc<FrameQueue<O>>, Parker)
where
    X: Send + 'static,
    O: Send + 'static,
{
    let (out_queue, out_parker) = FrameQueue::<O>::new(policy);
    if let Some(last) = stages.last_mut() {
        last.1 = Some(Arc::clone(&out_queue) as Arc<dyn QueueView>);
    }
    let output = Arc::clone(&out_queue);
    let thread_name = format!("{name}:{}", open.head.name);
    spawners.push(Box::new(move || {
        std::thread::Builder::new().name(thread_name).spawn(move || {
            let OpenGroup { mut group, head, input, parker } = open;
            run_group(group.as_mut(), &head, &input, &parker, &output, spin);
        })
    }));
    (out_queue, out_parker)
}

fn run_group<X: Send, O: Send>(
    group: &mut dyn StageGroup<X, O>,
    head: &StageTelemetry,
    input: &FrameQueue<X>,
    parker: &Parker,
    output: &FrameQueue<O>,
    spin: Duration,
) {
    // Audio waits for room (backpressure up to the entry); video drops the oldest, which
    // the queue counts. Only this thread closes its output queue, so a push error here
    // cannot happen; count it as an error of the group's head if it ever does.
    let mut emit = |out: O| {
        if output.push_wait(out).is_err() {
            head.errors.fetch_add(1, Ordering::Relaxed);
        }
    };
    while let Some((enqueued, item)) = input.pop_wait(parker, spin, None) {
        head.queue_wait.record(enqueued.elapsed());
        group.process(item, &mut emit);
    }
    group.flush(&mut emit);
    output.close();
}

/// A running chain of stages. Dropping it shuts it down (see [`Pipeline::shutdown`]).
pub struct Pipeline<I, O> {
    input: FrameSender<I>,
    output: Arc<FrameQueue<O>>,
    output_parker: Parker,
    threads: Vec<JoinHandle<()>>,
    entry: Arc<dyn QueueView>,
    stages: Vec<StageSlot>,
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
    /// A producer handle for another thread (e.g. the capture callback).
    pub fn input(&self) -> FrameSender<I> {
        self.input.clone()
    }

    /// Offer a frame; never blocks. See [`FrameSender::push`] for the full-queue policy.
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
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let entry = self.entry.counters();
        let mut total = Counters {
            frames_in: load(&entry.pushed),
            dropped: load(&entry.dropped),
            overflow: load(&entry.overflow),
            ..Counters::default()
        };
        let mut stages = Vec::with_capacity(self.stages.len());
        for (tel, out_queue) in &self.stages {
            let (dropped, overflow) = out_queue
                .as_ref()
                .map_or((0, 0), |q| (load(&q.counters().dropped), load(&q.counters().overflow)));
            let counters = Counters {
                frames_in: load(&tel.frames_in),
                frames_out: load(&tel.frames_out),
                dropped,
                overflow,
                errors: load(&tel.errors),
            };
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
        total.frames_out = load(&self.output.counters.pushed);
        let end_to_end =
            self.stages.last().map(|(t, _)| t.since_capture.summary()).unwrap_or_default();
        Stats { stages, end_to_end, counters: total }
    }

    /// Frames currently waiting in the pipeline's queues (not counting the ones inside
    /// a stage's `process`).
    pub fn queued(&self) -> usize {
        self.entry.len()
            + self.stages.iter().filter_map(|(_, q)| q.as_ref()).map(|q| q.len()).sum::<usize>()
    }

    /// Close the entry, let every stage drain and flush, join the threads, and return
    /// the final stats with the frames that reached the exit but were not received.
    pub fn shutdown(mut self) -> ShutdownReport<O> {
        let mut undelivered = Vec::new();
        self.stop_threads(&mut undelivered);
        ShutdownReport { stats: self.stats(), undelivered }
    }
}

impl<I, O> Pipeline<I, O> {
    /// Close the entry and wait for every stage to drain, taking frames off the exit
    /// meanwhile so a stage waiting for room there can finish.
    fn stop_threads(&mut self, undelivered: &mut Vec<O>) {
        self.input.close();
        while self.threads.iter().any(|t| !t.is_finished()) {
            match self.output.try_pop() {
                Some((_, frame)) => undelivered.push(frame),
                None => std::thread::sleep(Duration::from_micros(200)),
            }
        }
        for t in self.threads.drain(..) {
            if t.join().is_err() {
                tracing::error!("a stage thread panicked");
            }
        }
        while let Some((_, frame)) = self.output.try_pop() {
            undelivered.push(frame);
        }
    }
}

impl<I, O> Drop for Pipeline<I, O> {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop_threads(&mut Vec::new());
        }
    }
}
