//! berthd's use of glibc's allocator: few arenas, and free memory handed
//! back to the kernel once a burst of requests is over; and the code
//! pages a burst mapped, unmapped once the API falls quiet.
//!
//! glibc gives each thread that allocates its own arena (up to 8 per
//! core), and tokio's blocking pool grows to a dozen threads under a
//! burst of `run -d`: each arena keeps its free chunks after the burst,
//! so berthd's RSS stayed megabytes above its idle figure. berthd's work
//! is short requests, not allocation-heavy: two arenas are enough, and a
//! periodic `malloc_trim` returns the free pages.

use std::time::Duration;

use berth_monitor::resident;

/// Arenas glibc may create (one per tokio worker).
const ARENAS: i32 = 2;
/// How often the free memory is checked.
const CHECK_EVERY: Duration = Duration::from_secs(5);
/// Free bytes held by the allocator above which it is trimmed.
const TRIM_ABOVE: usize = 512 * 1024;

/// How long the API must receive and answer no request before berthd gives back the
/// heap's free memory and the code pages the last burst mapped.
const QUIET: Duration = Duration::from_millis(500);

/// Caps the arenas; call before any thread is started.
pub fn limit_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; no thread has
    // been started yet, so no arena exists beyond the main one.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, ARENAS);
    }
}

/// Trims the allocator whenever the free bytes held in it grew by more
/// than [`TRIM_ABOVE`] since the last trim (checked every
/// [`CHECK_EVERY`]; chunks too small to give back stay counted, so the
/// growth, not the total, decides); runs until the runtime stops.
pub async fn trim_when_idle() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let mut kept = 0usize;
        loop {
            tokio::time::sleep(CHECK_EVERY).await;
            // Both walk the arenas under their locks: well under a
            // millisecond for berthd's heap, on a blocking thread.
            let Ok(now_kept) = tokio::task::spawn_blocking(move || {
                // SAFETY: mallinfo2 and malloc_trim take no pointers and
                // may be called from any thread.
                let free = unsafe { libc::mallinfo2() }.fordblks;
                if free <= kept + TRIM_ABOVE {
                    return kept.min(free);
                }
                // SAFETY: as above.
                unsafe { libc::malloc_trim(0) };
                // SAFETY: as above.
                let after = unsafe { libc::mallinfo2() }.fordblks;
                tracing::debug!(free, after, "returned free heap memory to the kernel");
                after
            })
            .await
            else {
                continue;
            };
            kept = now_kept;
        }
    }
}

/// Once no request arrived or ended for [`QUIET`] (after start, and after
/// each burst): trims the heap and unmaps the code pages of the
/// executable and its libraries (see `berth_monitor::resident`: the
/// pages stay in the page cache; what runs next faults back in). Sleeps
/// on the API's next request in between, so an idle daemon never wakes.
pub async fn release_when_quiet() {
    let mut seen = berth_api::activity::events();
    loop {
        loop {
            tokio::time::sleep(QUIET).await;
            let now = berth_api::activity::events();
            if now == seen {
                break;
            }
            seen = now;
        }
        let released = tokio::task::spawn_blocking(|| {
            resident::trim_heap();
            resident::drop_clean_code()
        })
        .await;
        match released {
            Ok(Ok(d)) => tracing::debug!(
                mappings = d.mappings,
                kib = d.kib,
                "the API is quiet: unmapped code pages"
            ),
            Ok(Err(e)) => tracing::debug!("unmapping code pages: {e}"),
            Err(_) => {}
        }
        berth_api::activity::next_event(seen).await;
        seen = berth_api::activity::events();
    }
}
