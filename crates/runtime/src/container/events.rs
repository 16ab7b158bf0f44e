//! `events`: runc's event stream for one container: a stats sample every
//! interval and an `oom` event each time the OOM killer kills in its
//! cgroup, as JSON lines in runc's shape (`{"type":..,"id":..,"data":..}`,
//! keys in that order); or one stats sample (`--stats`).

use std::time::{Duration, Instant};

use serde::Serialize;

use super::status::current;
use super::Runtime;
use crate::cgroups::{CgroupManager, Stats};
use crate::state::{Lock, Status};
use crate::Error;

/// One event, serialized with runc's key order (a struct, not a map, so
/// the order is the field order).
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    /// "stats" or "oom".
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Stats>,
}

/// How often the OOM counter is read between stats samples: OOM events
/// come out at most this late.
const OOM_POLL: Duration = Duration::from_millis(100);

impl Runtime {
    /// The cgroup of a container that is not stopped.
    fn live_cgroup(&self, id: &str) -> Result<CgroupManager, Error> {
        let dir = self.state_root().open(id, Lock::Shared)?;
        let rec = dir.read()?;
        let status = current(&dir, &rec);
        if status == Status::Stopped {
            return Err(Error::WrongState {
                op: "get events of",
                id: id.to_owned(),
                status,
            });
        }
        Ok(rec.cgroup()?)
    }

    /// One stats event (`events --stats`).
    pub fn stats_event<'a>(&self, id: &'a str) -> Result<Event<'a>, Error> {
        let stats = self.live_cgroup(id)?.stats()?;
        Ok(Event {
            kind: "stats",
            id,
            data: Some(stats),
        })
    }

    /// The event stream: `emit` gets a stats event every `interval` and an
    /// oom event per OOM kill, until the container's cgroup is gone
    /// (deleted), as runc's stream ends, or `emit` fails (the reader went
    /// away). No lock is held while streaming.
    pub fn events(
        &self,
        id: &str,
        interval: Duration,
        mut emit: impl FnMut(&Event<'_>) -> std::io::Result<()>,
    ) -> Result<(), Error> {
        if interval.is_zero() {
            return Err(Error::Invalid(
                "duration interval must be greater than 0".into(),
            ));
        }
        let cg = self.live_cgroup(id)?;
        let mut ooms = cg.oom_kills().unwrap_or(0);
        let mut next = Instant::now() + interval;
        loop {
            let now = Instant::now();
            std::thread::sleep(OOM_POLL.min(next.saturating_duration_since(now)));
            if !cg.exists() {
                return Ok(());
            }
            let kills = cg.oom_kills().unwrap_or(ooms);
            for _ in ooms..kills {
                let ev = Event {
                    kind: "oom",
                    id,
                    data: None,
                };
                if emit(&ev).is_err() {
                    return Ok(());
                }
            }
            ooms = ooms.max(kills);
            if Instant::now() >= next {
                next += interval;
                let stats = match cg.stats() {
                    Ok(s) => s,
                    // Removed between the check and the read: the end.
                    Err(_) if !cg.exists() => return Ok(()),
                    Err(e) => {
                        tracing::error!("events: stats of {id}: {e}");
                        continue;
                    }
                };
                let ev = Event {
                    kind: "stats",
                    id,
                    data: Some(stats),
                };
                if emit(&ev).is_err() {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_in_runcs_order() -> Result<(), serde_json::Error> {
        let ev = Event {
            kind: "stats",
            id: "c1",
            data: Some(Stats::default()),
        };
        let s = serde_json::to_string(&ev)?;
        assert!(
            s.starts_with(r#"{"type":"stats","id":"c1","data":{"#),
            "{s}"
        );
        let oom = Event {
            kind: "oom",
            id: "c1",
            data: None,
        };
        assert_eq!(serde_json::to_string(&oom)?, r#"{"type":"oom","id":"c1"}"#);
        Ok(())
    }
}
