//! v1 freezer controller: freezer.state FROZEN / THAWED.

use std::path::Path;
use std::time::Duration;

use super::super::error::CgroupError;
use super::super::files;

/// How many times to look for FROZEN before giving up. Freezing waits for
/// every task to reach the refrigerator; a task in an uninterruptible sleep
/// can delay that, and writing FROZEN again re-kicks the stragglers.
const FREEZE_POLLS: u32 = 200;

pub(crate) fn freeze(dir: &Path) -> Result<(), CgroupError> {
    let mut delay = Duration::from_micros(100);
    for attempt in 0..FREEZE_POLLS {
        if attempt % 10 == 0 {
            files::write(dir, "freezer.state", "FROZEN")?;
        }
        if files::read(dir, "freezer.state")?.trim() == "FROZEN" {
            return Ok(());
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(10));
    }
    let state = files::read(dir, "freezer.state")?;
    // Leave the container running rather than half-frozen.
    files::write(dir, "freezer.state", "THAWED")?;
    Err(CgroupError::FreezeIncomplete {
        path: dir.join("freezer.state"),
        state,
    })
}

pub(crate) fn thaw(dir: &Path) -> Result<(), CgroupError> {
    files::write(dir, "freezer.state", "THAWED")
}

pub(crate) fn is_frozen(dir: &Path) -> Result<bool, CgroupError> {
    Ok(files::read(dir, "freezer.state")?.trim() == "FROZEN")
}
