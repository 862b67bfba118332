//! A counting global allocator for the "no allocation in steady state" tests. Each such
//! test file is its own binary and includes this module with
//! `#[path = "support/counting_alloc.rs"] mod counting_alloc;`, which installs it.
//!
//! Two counts: [`total_allocations`] over every thread (for a pipeline whose stages run on
//! threads of their own; only meaningful while no other test in the binary runs), and
//! [`thread_allocations`] for the calling thread alone (safe beside parallel tests).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

struct CountingAllocator;

static TOTAL: AtomicU64 = AtomicU64::new(0);
static LIVE_BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    TOTAL.fetch_add(1, Ordering::Relaxed);
    // `try_with`: the thread-local may already be gone while a thread shuts down.
    let _ = THREAD.try_with(|c| c.set(c.get() + 1));
}

unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        LIVE_BYTES.fetch_add(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        LIVE_BYTES.fetch_add(new_size as u64, Ordering::Relaxed);
        LIVE_BYTES.fetch_sub(layout.size() as u64, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

/// Allocations (and reallocations) by every thread since the process started.
#[allow(dead_code)]
pub fn total_allocations() -> u64 {
    TOTAL.load(Ordering::SeqCst)
}

/// Allocations (and reallocations) by the calling thread since it started.
#[allow(dead_code)]
pub fn thread_allocations() -> u64 {
    THREAD.with(Cell::get)
}

/// Bytes currently allocated through the Rust allocator by every thread (C libraries such
/// as libaom and dav1d allocate with `malloc` directly and are not counted).
#[allow(dead_code)]
pub fn live_bytes() -> u64 {
    LIVE_BYTES.load(Ordering::SeqCst)
}
