//! A lock-free pool of sample/pixel buffers, so steady-state processing does not allocate.
//!
//! Buffers are `Vec<T>` kept in a bounded [`ArrayQueue`]. [`BufferPool::acquire`] pops one
//! (allocating only when the pool is empty, which is counted as a miss) and the returned
//! [`PooledBuffer`] goes back to the pool when dropped. A buffer whose capacity is too small
//! for a request is grown once and then kept at the larger size.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam::queue::ArrayQueue;

struct PoolShared<T> {
    free: ArrayQueue<Vec<T>>,
    acquired: AtomicU64,
    misses: AtomicU64,
}

/// A shared, lock-free pool of reusable buffers. Cloning shares the same pool.
pub struct BufferPool<T> {
    shared: Arc<PoolShared<T>>,
}

impl<T> Clone for BufferPool<T> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<T> fmt::Debug for BufferPool<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BufferPool")
            .field("capacity", &self.shared.free.capacity())
            .field("available", &self.shared.free.len())
            .field("misses", &self.misses())
            .finish()
    }
}

/// Counters of a [`BufferPool`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolStats {
    /// Buffers handed out in total.
    pub acquired: u64,
    /// Handouts that had to allocate because the pool was empty.
    pub misses: u64,
    /// Buffers currently idle in the pool.
    pub available: usize,
}

impl<T: Copy + Default> BufferPool<T> {
    /// A pool holding up to `capacity` idle buffers, `prefill` of which are allocated now
    /// with room for `buffer_len` elements each.
    pub fn new(capacity: usize, prefill: usize, buffer_len: usize) -> Self {
        let capacity = capacity.max(1);
        let free = ArrayQueue::new(capacity);
        for _ in 0..prefill.min(capacity) {
            let _ = free.push(Vec::with_capacity(buffer_len));
        }
        Self {
            shared: Arc::new(PoolShared {
                free,
                acquired: AtomicU64::new(0),
                misses: AtomicU64::new(0),
            }),
        }
    }

    /// A buffer of exactly `len` elements, all set to `T::default()`.
    pub fn acquire(&self, len: usize) -> PooledBuffer<T> {
        let mut buf = self.take();
        buf.clear();
        buf.resize(len, T::default());
        self.wrap(buf)
    }

    /// A buffer holding a copy of `data`.
    pub fn acquire_copy(&self, data: &[T]) -> PooledBuffer<T> {
        let mut buf = self.take();
        buf.clear();
        buf.extend_from_slice(data);
        self.wrap(buf)
    }

    fn take(&self) -> Vec<T> {
        self.shared.acquired.fetch_add(1, Ordering::Relaxed);
        self.shared.free.pop().unwrap_or_else(|| {
            self.shared.misses.fetch_add(1, Ordering::Relaxed);
            Vec::new()
        })
    }

    fn wrap(&self, buf: Vec<T>) -> PooledBuffer<T> {
        PooledBuffer { buf, pool: Some(Arc::clone(&self.shared)) }
    }
}

impl<T> BufferPool<T> {
    /// Handouts that had to allocate because the pool was empty.
    pub fn misses(&self) -> u64 {
        self.shared.misses.load(Ordering::Relaxed)
    }

    /// A snapshot of the pool's counters.
    pub fn stats(&self) -> PoolStats {
        PoolStats {
            acquired: self.shared.acquired.load(Ordering::Relaxed),
            misses: self.misses(),
            available: self.shared.free.len(),
        }
    }
}

/// A buffer borrowed from a [`BufferPool`]; it returns there when dropped.
///
/// A buffer made with [`PooledBuffer::detached`] belongs to no pool and is simply freed.
pub struct PooledBuffer<T> {
    buf: Vec<T>,
    pool: Option<Arc<PoolShared<T>>>,
}

impl<T> PooledBuffer<T> {
    /// A buffer that belongs to no pool (for one-off frames, tests and examples).
    pub fn detached(buf: Vec<T>) -> Self {
        Self { buf, pool: None }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the buffer holds no elements.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Resize in place (allocates only if `len` exceeds the capacity).
    pub fn resize(&mut self, len: usize, value: T)
    where
        T: Clone,
    {
        self.buf.resize(len, value);
    }
}

impl<T> Deref for PooledBuffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.buf
    }
}

impl<T> DerefMut for PooledBuffer<T> {
    fn deref_mut(&mut self) -> &mut [T] {
        &mut self.buf
    }
}

impl<T> fmt::Debug for PooledBuffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PooledBuffer")
            .field("len", &self.buf.len())
            .field("pooled", &self.pool.is_some())
            .finish()
    }
}

impl<T> Drop for PooledBuffer<T> {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            // A full pool means more buffers are in flight than it keeps; free this one.
            let _ = pool.free.push(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_return_to_the_pool_and_are_reused() {
        let pool = BufferPool::<f32>::new(4, 2, 480);
        let a = pool.acquire(480);
        let b = pool.acquire(480);
        assert_eq!(pool.stats().available, 0);
        drop(a);
        drop(b);
        assert_eq!(pool.stats().available, 2);
        for _ in 0..100 {
            let c = pool.acquire(480);
            assert_eq!(c.len(), 480);
        }
        assert_eq!(pool.misses(), 0);
        let _x = pool.acquire(480);
        let _y = pool.acquire(480);
        let _z = pool.acquire(480);
        assert_eq!(pool.misses(), 1, "third concurrent buffer exceeds the prefill");
    }

    #[test]
    fn acquired_buffers_are_cleared() {
        let pool = BufferPool::<u8>::new(1, 1, 4);
        let mut a = pool.acquire(4);
        a.copy_from_slice(&[1, 2, 3, 4]);
        drop(a);
        assert_eq!(&*pool.acquire(4), &[0, 0, 0, 0]);
        assert_eq!(&*pool.acquire_copy(&[9, 8]), &[9, 8]);
    }
}
