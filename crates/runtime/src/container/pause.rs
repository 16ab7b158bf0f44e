//! `pause` / `resume`: the freezer.

use super::status::current;
use super::Runtime;
use crate::state::{Lock, Status};
use crate::Error;

impl Runtime {
    /// `pause ID`: the container must be running.
    pub fn pause(&self, id: &str) -> Result<(), Error> {
        let dir = self.state_root().open(id, Lock::Exclusive)?;
        let mut rec = dir.read()?;
        let status = current(&dir, &rec);
        if status != Status::Running {
            return Err(Error::WrongState {
                op: "pause",
                id: id.to_owned(),
                status,
            });
        }
        rec.cgroup()?.freeze()?;
        rec.state.status = Status::Paused;
        dir.write(&rec)?;
        Ok(())
    }

    /// `resume ID`: the container must be paused.
    pub fn resume(&self, id: &str) -> Result<(), Error> {
        let dir = self.state_root().open(id, Lock::Exclusive)?;
        let mut rec = dir.read()?;
        let status = current(&dir, &rec);
        if status != Status::Paused {
            return Err(Error::WrongState {
                op: "resume",
                id: id.to_owned(),
                status,
            });
        }
        rec.cgroup()?.thaw()?;
        rec.state.status = Status::Running;
        dir.write(&rec)?;
        Ok(())
    }
}
