//! Work spread over a few threads (layer transfers and unpacks), stopping
//! at the first error.

use std::sync::Mutex;

use crate::error::{ImageError, Result};

/// Runs `work` on every item with up to `n` threads; the first error wins.
pub(crate) fn for_each<T: Sync>(
    items: &[T],
    n: usize,
    work: impl Fn(&T) -> Result<()> + Sync,
) -> Result<()> {
    let next = Mutex::new(0usize);
    let failed: Mutex<Option<ImageError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..n.clamp(1, items.len().max(1)) {
            s.spawn(|| loop {
                let i = {
                    let Ok(mut g) = next.lock() else { return };
                    let stop = failed.lock().map(|f| f.is_some()).unwrap_or(true);
                    if *g >= items.len() || stop {
                        return;
                    }
                    *g += 1;
                    *g - 1
                };
                if let Err(e) = work(&items[i]) {
                    if let Ok(mut f) = failed.lock() {
                        f.get_or_insert(e);
                    }
                    return;
                }
            });
        }
    });
    match failed.into_inner() {
        Ok(Some(e)) => Err(e),
        _ => Ok(()),
    }
}
