//! Handing freed memory back to the operating system. glibc's allocator keeps the pages
//! of small freed allocations in its heap for reuse, so a burst of work (a large
//! execution shown on ten console pages) leaves the process that much larger until it
//! exits. After such a burst the server asks glibc to return what it can, once at once
//! and once a moment later (the connections that carried the burst close after it).

/// Returns free heap pages to the OS where the allocator allows it (glibc's
/// `malloc_trim`); elsewhere does nothing.
pub fn return_free_pages() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases memory the allocator holds free; it takes no
    // pointers and is safe to call from any thread.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// [`return_free_pages`] now and again a second later, when what is still in flight
/// (the answers' buffers, their connections) has been freed too. Calls that come while
/// one is pending share it.
pub fn return_free_pages_soon() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static PENDING: AtomicBool = AtomicBool::new(false);
    return_free_pages();
    if PENDING.swap(true, Ordering::AcqRel) {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn(async {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                PENDING.store(false, Ordering::Release);
                return_free_pages();
            });
        }
        Err(_) => PENDING.store(false, Ordering::Release),
    }
}
