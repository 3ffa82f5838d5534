//! Handing freed memory back to the operating system. glibc's allocator keeps the pages
//! of small freed allocations in its heap for reuse, so a burst of work (a large
//! execution shown on ten console pages) leaves the process that much larger until it
//! exits. After such a burst the server asks glibc to return what it can.

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
