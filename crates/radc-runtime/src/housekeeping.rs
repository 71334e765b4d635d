//! Work the runtime does once a burst of activity is over, and never while
//! it is idle:
//!
//! - logging what the report-message limit dropped and no summary told
//!   yet (see [`radc_core::rate_limit`]);
//! - repacking the registry (see [`radc_core::registry::Registry::compact`]),
//!   so that what stays is not spread over pages the burst otherwise
//!   freed;
//! - giving freed memory back to the system. glibc's allocator keeps what
//!   the program frees for later, in every thread's arena, and returns only
//!   the top of each heap; after thousands of registrations come and go, or
//!   a flood of calls, most of the runtime's peak would stay resident.
//!   `malloc_trim(0)` releases the free pages in the middle of the heaps
//!   too. The `radc` binary allocates through jemalloc, which returns
//!   freed pages by itself; what still goes through glibc's allocator
//!   there (the C libraries: Kerberos, DNS) is trimmed all the same.
//!
//! Whatever frees much memory or is dropped by a limit calls [`poke`] (a
//! removal, the end of a probe); a
//! task wakes, waits until nothing has poked it for [`QUIET`], and then
//! does the above once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use radc_core::rate_limit::{BURST, DropSummary, PER_SECOND, Verdict};
use tokio::sync::Notify;

use crate::service::Shared;

/// How long nothing must have happened before a burst counts as over.
pub(crate) const QUIET: Duration = Duration::from_secs(2);

static WAKE: Notify = Notify::const_new();
static ACTIVITY: AtomicU64 = AtomicU64::new(0);

/// Something happened that leaves work for after the burst. Cheap: an
/// atomic add and, if the task sleeps, one wake-up per burst.
pub(crate) fn poke() {
    ACTIVITY.fetch_add(1, Ordering::Relaxed);
    WAKE.notify_one();
}

pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        WAKE.notified().await;
        loop {
            let seen = ACTIVITY.load(Ordering::Relaxed);
            tokio::time::sleep(QUIET).await;
            if ACTIVITY.load(Ordering::Relaxed) == seen {
                break;
            }
        }
        // Pokes during the wait are covered by this round.
        let _ = WAKE.notified().now_or_never();
        let summary = {
            let mut core = shared.core();
            core.compact();
            core.flush_report_summary(Instant::now())
        };
        if let Some(summary) = summary {
            log_dropped(&summary);
        }
        shared.client_calls.shrink();
        trim();
    }
}

/// Whether a report message from `client` is within its rate; one that is
/// not is to be answered and otherwise ignored.
pub(crate) fn report_allowed(shared: &Shared, client: &str) -> bool {
    let (verdict, summary) = shared.core().report_message(client, Instant::now());
    if let Some(summary) = summary {
        log_dropped(&summary);
    }
    match verdict {
        Verdict::Allow => true,
        Verdict::Drop => {
            poke();
            false
        }
    }
}

fn log_dropped(summary: &DropSummary) {
    tracing::warn!(
        dropped = summary.dropped,
        clients = summary.peers,
        most_from = %summary.worst.0,
        most = summary.worst.1,
        "report messages over the limit of {BURST} at once and {PER_SECOND}/s per client \
         were answered but not logged or stored"
    );
}

/// Returns the allocator's free memory to the system.
fn trim() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists under
    // its locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
