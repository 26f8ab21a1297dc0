//! How a service's process holds memory: the C allocator told to give back
//! what it frees.
//!
//! glibc's malloc, left to itself, raises its mmap threshold to the size of
//! the largest block freed (up to 32 MiB) and keeps up to eight arenas per
//! core. A service that briefly needs a big block — an argon2 hash takes
//! ~19 MiB, a large report a few — then serves the next one from an arena's
//! heap, and the freed heap stays resident in every arena that held one:
//! identity idled at ~300 MB after a burst of logins. Fixing the threshold
//! (which also fixes the trim threshold) sends every block of 128 KiB or
//! more to its own mapping, returned to the system the moment it is freed;
//! two arenas per core bound what small blocks can scatter across threads.
//! The cost is a system call for each big block, nothing on the read path.

/// Blocks at least this big get a mapping of their own.
const MMAP_THRESHOLD: i32 = 128 * 1024;

/// Applies the settings above. Called first thing by
/// [`crate::lifecycle::service_main`]; elsewhere (musl, macOS) it does
/// nothing.
pub fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        let arenas = i32::try_from(cores.saturating_mul(2)).unwrap_or(i32::MAX);
        // SAFETY: mallopt only sets allocator parameters; it is called with
        // valid parameter numbers and in-range values, and glibc serialises
        // it against concurrent allocation.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}
