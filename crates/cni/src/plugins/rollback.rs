//! Undo for a plugin's ADD: each step that changed something registers how
//! to take it back; if ADD fails, the steps are undone newest first (all of
//! them, even when one fails) so nothing is left behind, and undo failures
//! are reported in the error's details.

use crate::types::CniError;

type Action<'a> = Box<dyn FnOnce() -> Result<(), CniError> + 'a>;

/// Pending undo actions; dropped without [`Rollback::commit`], they run.
#[derive(Default)]
pub struct Rollback<'a> {
    actions: Vec<(&'static str, Action<'a>)>,
}

impl<'a> Rollback<'a> {
    pub fn new() -> Self {
        Rollback {
            actions: Vec::new(),
        }
    }

    /// Registers how to undo a step that just succeeded.
    pub fn push(&mut self, name: &'static str, f: impl FnOnce() -> Result<(), CniError> + 'a) {
        self.actions.push((name, Box::new(f)));
    }

    /// ADD succeeded: forget the undo actions.
    pub fn commit(mut self) {
        self.actions.clear();
    }

    /// Undoes everything now and returns `err` with any undo failures added
    /// to its details.
    pub fn fail(mut self, mut err: CniError) -> CniError {
        let failures = self.run();
        if !failures.is_empty() {
            let mut d = err.details.take().unwrap_or_default();
            for f in failures {
                if !d.is_empty() {
                    d.push_str("; ");
                }
                d.push_str(&f);
            }
            err.details = Some(d);
        }
        err
    }

    fn run(&mut self) -> Vec<String> {
        let mut failures = Vec::new();
        while let Some((name, action)) = self.actions.pop() {
            if let Err(e) = action() {
                tracing::warn!(step = name, error = %e, "undo failed");
                failures.push(format!("undo {name} failed: {e}"));
            }
        }
        failures
    }
}

impl Drop for Rollback<'_> {
    fn drop(&mut self) {
        self.run();
    }
}
