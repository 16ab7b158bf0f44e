//! Whether the API is busy: a count of the requests it received and
//! answered, and a wake-up for whoever waits for the next change
//! (berthd's memory upkeep runs once requests pause, without a timer
//! ticking while the daemon is idle).

use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tokio::sync::Notify;

static EVENTS: AtomicU64 = AtomicU64::new(0);
static NEXT: Notify = Notify::const_new();

fn note() {
    EVENTS.fetch_add(1, Ordering::Relaxed);
    NEXT.notify_one();
}

/// Middleware: counts each request as it arrives and when its handler
/// has answered (a long request that ends is activity too; one that
/// stays open, a `wait` or a stream, keeps nothing busy).
pub async fn track(req: Request, next: Next) -> Response {
    note();
    let res = next.run(req).await;
    note();
    res
}

/// Requests received plus requests answered, so far.
pub fn events() -> u64 {
    EVENTS.load(Ordering::Relaxed)
}

/// Resolves once [`events`] has passed `seen`. One waiter at a time (a
/// wake-up that finds nobody waiting is kept for it).
pub async fn next_event(seen: u64) {
    while events() <= seen {
        NEXT.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_request_wakes_the_waiter() {
        let seen = events();
        let waiter = tokio::spawn(next_event(seen));
        tokio::task::yield_now().await;
        note();
        waiter.await.expect("the waiter ends");
        assert!(events() > seen);
        // Already past: resolves at once.
        next_event(seen).await;
    }
}
