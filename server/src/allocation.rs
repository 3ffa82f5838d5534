//! What one piece of work holds in the heap. A JSONata expression can build data far
//! larger than anything it was given (`$s & $s` doubles a string at each step), and no
//! check inside the evaluator sees the size of what it builds. So the process's
//! allocator counts, for the thread inside an open [`Budget`], the bytes allocated less
//! the bytes freed, and cancels the budget's evaluation when that passes the limit; the
//! evaluator stops at its next checkpoint.
//!
//! The count is kept in thread-locals without destructors, so reading it never
//! allocates; a thread with no open budget pays one thread-local read per allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use jsonata_core::evaluator::CancelToken;

/// The system allocator, counting what a thread inside a [`Budget`] holds.
pub struct CountingAllocator;

thread_local! {
    static OPEN: Cell<bool> = const { Cell::new(false) };
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
    static LIMIT: Cell<isize> = const { Cell::new(isize::MAX) };
    static EXCEEDED: Cell<bool> = const { Cell::new(false) };
    // The open budget's token, which lives on the stack of the code that opened it for
    // as long as the budget is open (see `Budget::open`).
    static TOKEN: Cell<*const CancelToken> = const { Cell::new(std::ptr::null()) };
}

fn count(delta: isize) {
    // `try_with`: during a thread's teardown its locals may be gone; nothing is open then.
    let open = OPEN.try_with(Cell::get).unwrap_or(false);
    if !open {
        return;
    }
    let _ = HELD.try_with(|held| {
        let now = held.get().saturating_add(delta);
        held.set(now);
        if delta > 0 {
            let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
            let limit = LIMIT.try_with(Cell::get).unwrap_or(isize::MAX);
            if now > limit && !EXCEEDED.try_with(|e| e.replace(true)).unwrap_or(true) {
                let token = TOKEN.try_with(Cell::get).unwrap_or(std::ptr::null());
                if !token.is_null() {
                    // SAFETY: `Budget` keeps the token alive while the pointer is set and
                    // clears it before the token can go (see `Budget::open` and `Drop`).
                    // `cancel` is one atomic store: it does not allocate.
                    unsafe { (*token).cancel() };
                }
            }
        }
    });
}

// SAFETY: every call is passed on to the system allocator unchanged; the counting only
// touches destructor-free thread-locals and never allocates.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            count(layout.size() as isize);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(ptr, layout, new_size) };
        if !moved.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        moved
    }
}

/// An open budget on this thread: from `open` until it is dropped, what the thread
/// allocates and frees is counted, and `token` is cancelled once it holds more than the
/// limit. Budgets do not nest: opening one inside another counts from zero again and
/// closes both.
pub struct Budget<'t> {
    _token: std::marker::PhantomData<&'t CancelToken>,
}

impl<'t> Budget<'t> {
    /// Opens a budget of `limit` bytes whose breach cancels `token`.
    pub fn open(limit: usize, token: &'t CancelToken) -> Budget<'t> {
        HELD.with(|h| h.set(0));
        PEAK.with(|p| p.set(0));
        EXCEEDED.with(|e| e.set(false));
        LIMIT.with(|l| l.set(isize::try_from(limit).unwrap_or(isize::MAX)));
        TOKEN.with(|t| t.set(token as *const CancelToken));
        OPEN.with(|o| o.set(true));
        Budget {
            _token: std::marker::PhantomData,
        }
    }

    /// Whether the thread held more than the limit at some point.
    pub fn exceeded(&self) -> bool {
        EXCEEDED.with(Cell::get)
    }

    /// The most the thread held at once since the budget opened, in bytes.
    pub fn peak(&self) -> usize {
        PEAK.with(Cell::get).max(0) as usize
    }
}

impl Drop for Budget<'_> {
    fn drop(&mut self) {
        OPEN.with(|o| o.set(false));
        TOKEN.with(|t| t.set(std::ptr::null()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_counts_what_its_thread_holds_and_cancels_past_the_limit() {
        let token = CancelToken::new();
        let budget = Budget::open(1 << 20, &token);
        let small = vec![0u8; 1000];
        assert!(!budget.exceeded());
        assert!(!token.is_cancelled());
        let big = vec![1u8; 2 << 20];
        assert!(budget.exceeded());
        assert!(token.is_cancelled());
        assert!(budget.peak() >= 2 << 20, "{}", budget.peak());
        drop((small, big));
        drop(budget);
        // Closed: nothing counts any more.
        let after = vec![0u8; 4 << 20];
        drop(after);
    }

    #[test]
    fn other_threads_are_not_counted() {
        let token = CancelToken::new();
        let _budget = Budget::open(1 << 20, &token);
        std::thread::spawn(|| drop(vec![0u8; 8 << 20]))
            .join()
            .unwrap();
        assert!(!token.is_cancelled());
    }
}
