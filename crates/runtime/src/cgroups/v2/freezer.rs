//! v2 freezing: cgroup.freeze, with cgroup.events saying when it is done.

use std::path::Path;
use std::time::Duration;

use super::super::error::CgroupError;
use super::super::files;

const FREEZE_POLLS: u32 = 200;

fn events_frozen(dir: &Path) -> Result<bool, CgroupError> {
    let events = files::read_flat_keyed(dir, "cgroup.events")?;
    Ok(files::keyed(&events, "frozen") == Some(1))
}

pub(crate) fn freeze(dir: &Path) -> Result<(), CgroupError> {
    files::write(dir, "cgroup.freeze", "1")?;
    let mut delay = Duration::from_micros(100);
    for _ in 0..FREEZE_POLLS {
        if events_frozen(dir)? {
            return Ok(());
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(10));
    }
    files::write(dir, "cgroup.freeze", "0")?;
    Err(CgroupError::FreezeIncomplete {
        path: dir.join("cgroup.events"),
        state: "freezing".to_owned(),
    })
}

pub(crate) fn thaw(dir: &Path) -> Result<(), CgroupError> {
    files::write(dir, "cgroup.freeze", "0")
}

pub(crate) fn is_frozen(dir: &Path) -> Result<bool, CgroupError> {
    if files::read_opt(dir, "cgroup.freeze")?
        .as_deref()
        .map(str::trim)
        != Some("1")
    {
        return Ok(false);
    }
    events_frozen(dir)
}
