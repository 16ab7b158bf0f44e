//! `list` and `state`: what is under the root, with live statuses.

use super::status::live_state;
use super::Runtime;
use crate::state::{Lock, State};
use crate::Error;

impl Runtime {
    /// `state ID`.
    pub fn state(&self, id: &str) -> Result<State, Error> {
        let dir = self.state_root().open(id, Lock::Shared)?;
        let rec = dir.read()?;
        Ok(live_state(&dir, &rec))
    }

    /// `list`: every container whose state can be read, sorted by id.
    pub fn list(&self) -> Result<Vec<State>, Error> {
        let mut out = Vec::new();
        for id in self.state_root().ids()? {
            // A container being created or deleted right now is skipped.
            if let Ok(s) = self.state(&id) {
                out.push(s);
            }
        }
        Ok(out)
    }
}
