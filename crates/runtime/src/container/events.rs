//! `events --stats`: one sample of the container's cgroup statistics, in
//! runc's event shape (`{"type":"stats","id":...,"data":{...}}`).

use super::status::current;
use super::Runtime;
use crate::state::{Lock, Status};
use crate::Error;

impl Runtime {
    /// One stats event as JSON.
    pub fn stats_event(&self, id: &str) -> Result<serde_json::Value, Error> {
        let dir = self.state_root().open(id, Lock::Shared)?;
        let rec = dir.read()?;
        let status = current(&dir, &rec);
        if status == Status::Stopped {
            return Err(Error::WrongState {
                op: "get stats of",
                id: id.to_owned(),
                status,
            });
        }
        let stats = rec.cgroup()?.stats()?;
        Ok(serde_json::json!({
            "type": "stats",
            "id": id,
            "data": stats,
        }))
    }
}
