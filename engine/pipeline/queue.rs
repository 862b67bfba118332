//! Bounded lock-free frame queues with an explicit full-queue policy.
//!
//! A queue links one producer to one consumer. It is a crossbeam [`ArrayQueue`] (lock-free,
//! fixed capacity, allocated once) of frames stamped with the instant they were enqueued, so
//! the consumer can record how long each frame waited. The consumer sleeps on a
//! [`Parker`] when the queue is empty; a push wakes it with an atomic store, and a
//! system call only if it was actually asleep.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;
use crossbeam::sync::{Parker, Unparker};

/// What a full queue does with a new frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFull {
    /// At the pipeline entry, refuse the new frame and hand it back to the producer,
    /// counting an overflow: the producer never blocks and the frames already queued keep
    /// their order. Between stages, the upstream stage waits for room instead, so nothing
    /// accepted is lost inside the pipeline. Audio uses this: a capture callback must never
    /// wait, and queued audio must stay contiguous.
    Reject,
    /// Discard the oldest queued frame to make room, counting a drop. Video uses this: a
    /// stale frame is worth less than the newest one ("newest wins").
    DropOldest,
}

/// Capacity and full-queue behaviour of every queue in a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueuePolicy {
    /// Frames a queue holds.
    pub capacity: usize,
    /// What happens when it is full.
    pub on_full: OnFull,
}

impl QueuePolicy {
    /// The audio policy: never block the producer, refuse and count on overflow.
    pub fn audio(capacity: usize) -> Self {
        Self { capacity, on_full: OnFull::Reject }
    }

    /// The video policy: drop the oldest frame, newest wins.
    pub fn video(capacity: usize) -> Self {
        Self { capacity, on_full: OnFull::DropOldest }
    }
}

/// Why a push did not enqueue the frame. The frame is handed back, never lost.
#[derive(Debug, PartialEq, Eq)]
pub enum PushError<T> {
    /// The queue was full under [`OnFull::Reject`]; counted as an overflow.
    Full(T),
    /// The queue is closed (the pipeline is shutting down).
    Closed(T),
}

impl<T> PushError<T> {
    /// The frame that was not enqueued.
    pub fn into_inner(self) -> T {
        match self {
            PushError::Full(t) | PushError::Closed(t) => t,
        }
    }
}

/// Counters of one queue.
#[derive(Debug, Default)]
pub(crate) struct QueueCounters {
    pub pushed: AtomicU64,
    pub popped: AtomicU64,
    pub dropped: AtomicU64,
    pub overflow: AtomicU64,
}

pub(crate) struct FrameQueue<T> {
    items: ArrayQueue<(Instant, T)>,
    on_full: OnFull,
    closed: AtomicBool,
    consumer: Unparker,
    pub counters: QueueCounters,
}

impl<T> FrameQueue<T> {
    /// A queue and the parker its consumer sleeps on.
    pub fn new(policy: QueuePolicy) -> (Arc<Self>, Parker) {
        let parker = Parker::new();
        let queue = Arc::new(Self {
            items: ArrayQueue::new(policy.capacity.max(1)),
            on_full: policy.on_full,
            closed: AtomicBool::new(false),
            consumer: parker.unparker().clone(),
            counters: QueueCounters::default(),
        });
        (queue, parker)
    }

    /// Enqueue under the queue's policy. `Ok(Some(old))` hands back a frame displaced by
    /// [`OnFull::DropOldest`] (already counted as dropped) so the caller decides when it is
    /// freed.
    pub fn push(&self, item: T) -> Result<Option<T>, PushError<T>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(PushError::Closed(item));
        }
        let stamped = (Instant::now(), item);
        let displaced = match self.on_full {
            OnFull::Reject => match self.items.push(stamped) {
                Ok(()) => None,
                Err((_, item)) => {
                    self.counters.overflow.fetch_add(1, Ordering::Relaxed);
                    return Err(PushError::Full(item));
                }
            },
            OnFull::DropOldest => self.items.force_push(stamped).map(|(_, old)| {
                self.counters.dropped.fetch_add(1, Ordering::Relaxed);
                old
            }),
        };
        self.counters.pushed.fetch_add(1, Ordering::Relaxed);
        self.consumer.unpark();
        Ok(displaced)
    }

    /// Dequeue one frame with the instant it was enqueued.
    pub fn try_pop(&self) -> Option<(Instant, T)> {
        let item = self.items.pop();
        if item.is_some() {
            self.counters.popped.fetch_add(1, Ordering::Relaxed);
        }
        item
    }

    /// Dequeue, waiting until `deadline` (spinning for `spin` first, then sleeping).
    /// `None` when the deadline passed, or the queue is closed and empty.
    pub fn pop_wait(
        &self,
        parker: &Parker,
        spin: Duration,
        deadline: Option<Instant>,
    ) -> Option<(Instant, T)> {
        let spin_until = Instant::now() + spin;
        loop {
            if let Some(item) = self.try_pop() {
                return Some(item);
            }
            if self.is_closed() {
                // A push may have landed between the pop and the close check.
                return self.try_pop();
            }
            let now = Instant::now();
            if let Some(d) = deadline
                && now >= d
            {
                return None;
            }
            if now < spin_until {
                std::hint::spin_loop();
                continue;
            }
            let nap = Duration::from_millis(50);
            match deadline {
                Some(d) => parker.park_timeout((d - now).min(nap)),
                None => parker.park_timeout(nap),
            }
        }
    }

    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.consumer.unpark();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }
}

/// A bounded lock-free channel for frames between two threads, with the full-queue
/// `policy` (see [`OnFull`]), e.g. camera frames from the app to the call's video send
/// thread.
///
/// ```
/// use sottovoce::pipeline::{frame_channel, QueuePolicy, PushError};
/// let (tx, mut rx) = frame_channel::<u32>(QueuePolicy::audio(2));
/// tx.push(1).unwrap();
/// tx.push(2).unwrap();
/// assert_eq!(tx.push(3), Err(PushError::Full(3)));
/// assert_eq!(rx.try_recv(), Some(1));
/// drop(tx);
/// assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(1)), Some(2));
/// assert_eq!(rx.recv_timeout(std::time::Duration::from_secs(1)), None);
/// ```
pub fn frame_channel<T>(policy: QueuePolicy) -> (FrameSender<T>, FrameReceiver<T>) {
    let (queue, parker) = FrameQueue::new(policy);
    let sender = FrameSender::new(Arc::clone(&queue));
    (sender, FrameReceiver { queue, parker })
}

/// Closes the queue when the last clone of a [`FrameSender`] goes away.
struct CloseOnDrop<T>(Arc<FrameQueue<T>>);

impl<T> Drop for CloseOnDrop<T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// The producer end of a frame queue; clones share it. Never blocks.
pub struct FrameSender<T> {
    queue: Arc<FrameQueue<T>>,
    _close: Arc<CloseOnDrop<T>>,
}

impl<T> Clone for FrameSender<T> {
    fn clone(&self) -> Self {
        Self { queue: Arc::clone(&self.queue), _close: Arc::clone(&self._close) }
    }
}

impl<T> FrameSender<T> {
    pub(crate) fn new(queue: Arc<FrameQueue<T>>) -> Self {
        let close = Arc::new(CloseOnDrop(Arc::clone(&queue)));
        Self { queue, _close: close }
    }

    /// Offer a frame. Under [`OnFull::Reject`] a full queue hands it back
    /// ([`PushError::Full`], counted as overflow); under [`OnFull::DropOldest`] the oldest
    /// queued frame is discarded (counted as dropped) to make room.
    pub fn push(&self, frame: T) -> Result<(), PushError<T>> {
        self.queue.push(frame).map(drop)
    }

    /// Frames refused because the queue was full.
    pub fn overflow_count(&self) -> u64 {
        self.queue.counters.overflow.load(Ordering::Relaxed)
    }

    /// Frames discarded to make room for newer ones.
    pub fn dropped_count(&self) -> u64 {
        self.queue.counters.dropped.load(Ordering::Relaxed)
    }
}

/// The consumer end of a frame queue.
pub struct FrameReceiver<T> {
    queue: Arc<FrameQueue<T>>,
    parker: Parker,
}

impl<T> FrameReceiver<T> {
    /// Take a frame if one is queued.
    pub fn try_recv(&self) -> Option<T> {
        self.queue.try_pop().map(|(_, f)| f)
    }

    /// Wait up to `timeout` for a frame; `None` on timeout or once every sender is gone
    /// and the queue is empty.
    pub fn recv_timeout(&mut self, timeout: Duration) -> Option<T> {
        self.recv_spin(Duration::ZERO, timeout)
    }

    /// Like [`recv_timeout`](Self::recv_timeout), but spin for up to `spin` before
    /// sleeping: shorter wake-up when frames come back to back, at the cost of a core.
    pub fn recv_spin(&mut self, spin: Duration, timeout: Duration) -> Option<T> {
        let deadline = Instant::now() + timeout;
        self.queue.pop_wait(&self.parker, spin, Some(deadline)).map(|(_, f)| f)
    }

    /// Frames waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether no frame is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_policy_hands_the_new_frame_back_and_keeps_the_old_ones() {
        let (q, _p) = FrameQueue::new(QueuePolicy::audio(2));
        assert!(q.push(1).unwrap().is_none());
        assert!(q.push(2).unwrap().is_none());
        assert_eq!(q.push(3), Err(PushError::Full(3)));
        assert_eq!(q.counters.overflow.load(Ordering::Relaxed), 1);
        assert_eq!(q.try_pop().map(|x| x.1), Some(1));
        assert_eq!(q.try_pop().map(|x| x.1), Some(2));
        assert!(q.try_pop().is_none());
    }

    #[test]
    fn drop_oldest_policy_keeps_the_newest_frames() {
        let (q, _p) = FrameQueue::new(QueuePolicy::video(2));
        for i in 1..=5 {
            let displaced = q.push(i).unwrap();
            assert_eq!(displaced, if i > 2 { Some(i - 2) } else { None });
        }
        assert_eq!(q.counters.dropped.load(Ordering::Relaxed), 3);
        assert_eq!(q.try_pop().map(|x| x.1), Some(4));
        assert_eq!(q.try_pop().map(|x| x.1), Some(5));
    }

    #[test]
    fn closed_queue_refuses_pushes_but_drains() {
        let (q, p) = FrameQueue::new(QueuePolicy::audio(4));
        q.push(7).unwrap();
        q.close();
        assert_eq!(q.push(8), Err(PushError::Closed(8)));
        assert_eq!(q.pop_wait(&p, Duration::ZERO, None).map(|x| x.1), Some(7));
        assert!(q.pop_wait(&p, Duration::ZERO, None).is_none());
    }

    #[test]
    fn pop_wait_wakes_on_push_from_another_thread() {
        let (q, p) = FrameQueue::new(QueuePolicy::audio(4));
        let producer = Arc::clone(&q);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            producer.push(42).unwrap();
        });
        let got = q.pop_wait(&p, Duration::ZERO, Some(Instant::now() + Duration::from_secs(5)));
        assert_eq!(got.map(|x| x.1), Some(42));
        t.join().unwrap();
    }
}
