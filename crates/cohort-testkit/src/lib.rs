//! Test support for cohort's crates (a dev-dependency only): a counting
//! allocator, and a hand-written HTTP client for the server's tests
//! ([`http`]).
//!
//! Resource bounds are tested by counting, not by timing: a test binary
//! installs [`Counting`] as its global allocator and measures the peak of
//! live heap bytes over an operation with [`peak_of`]. Tests that measure
//! take [`exclusive`] first, so that the other tests of the same binary do
//! not allocate in between.
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOC: cohort_testkit::Counting = cohort_testkit::Counting;
//!
//! let _only_me = cohort_testkit::exclusive();
//! let (value, peak_bytes) = cohort_testkit::peak_of(|| build_something());
//! assert!(peak_bytes < 1 << 20);
//! ```

// The one place in the workspace with `unsafe`: a global allocator is an
// unsafe trait. It forwards every call to the system allocator unchanged
// and only counts sizes.
#![allow(unsafe_code)]

pub mod http;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static EXCLUSIVE: Mutex<()> = Mutex::new(());

/// The system allocator, counting live bytes and their peak.
pub struct Counting;

fn added(n: usize) {
    let live = LIVE.fetch_add(n, Ordering::Relaxed) + n;
    PEAK.fetch_max(live, Ordering::Relaxed);
}

// SAFETY: every method forwards to `System` with the caller's arguments;
// the counters do not touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        added(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        added(layout.size());
        // SAFETY: forwarded unchanged.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            added(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Holds other measuring tests of this binary off while alive.
pub fn exclusive() -> MutexGuard<'static, ()> {
    EXCLUSIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs `f` and returns its result with the peak of live heap bytes during
/// it, above what was live when it started (Rust allocations only; memory
/// that RocksDB's C++ allocates is not counted).
pub fn peak_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let out = f();
    (out, PEAK.load(Ordering::Relaxed).saturating_sub(before))
}

/// Heap bytes live now.
pub fn live_bytes() -> usize {
    LIVE.load(Ordering::Relaxed)
}
