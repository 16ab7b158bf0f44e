//! An undo stack for multi-step operations.
//!
//! Each step that changed something pushes how to take it back; on failure
//! the stack runs those in reverse order (all of them, even if one fails),
//! and the error names the step that failed. On success, [`Undo::commit`]
//! forgets them.
//!
//! ```
//! use berth_net::undo::{Undo, StepError};
//! let mut undo = Undo::new();
//! let r: Result<(), StepError<std::io::Error>> = (|| {
//!     undo.step("create thing", || Ok::<_, std::io::Error>(()))?;
//!     undo.push("remove thing", || Ok::<_, std::io::Error>(()));
//!     Ok(())
//! })();
//! assert!(r.is_ok());
//! undo.commit();
//! ```

use std::fmt;

type Action = Box<dyn FnOnce() -> Result<(), Box<dyn std::error::Error + Send + Sync>> + Send>;

/// A stack of undo actions; dropping it without [`Undo::commit`] runs them.
#[derive(Default)]
pub struct Undo {
    actions: Vec<(String, Action)>,
}

impl fmt::Debug for Undo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.actions.iter().map(|(n, _)| n))
            .finish()
    }
}

/// A step failed: which one, why, and whatever went wrong while undoing.
#[derive(Debug)]
pub struct StepError<E> {
    /// The failed step's name (as given to [`Undo::step`]).
    pub step: String,
    /// Why it failed.
    pub source: E,
    /// Undo actions that themselves failed: `(name, error)`.
    pub undo_failures: Vec<(String, String)>,
}

impl<E: fmt::Display> fmt::Display for StepError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.step, self.source)?;
        for (name, err) in &self.undo_failures {
            write!(f, "; undo {name} also failed: {err}")?;
        }
        Ok(())
    }
}

impl<E: std::error::Error + 'static> std::error::Error for StepError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl Undo {
    /// An empty stack.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers how to undo something that just succeeded.
    pub fn push<F, E>(&mut self, name: impl Into<String>, f: F)
    where
        F: FnOnce() -> Result<(), E> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        self.actions.push((
            name.into(),
            Box::new(move || f().map_err(|e| Box::new(e) as _)),
        ));
    }

    /// Runs step `name`; if it fails, undoes everything pushed so far (in
    /// reverse) and returns a [`StepError`] naming the step.
    pub fn step<T, E, F>(&mut self, name: &str, f: F) -> Result<T, StepError<E>>
    where
        F: FnOnce() -> Result<T, E>,
    {
        match f() {
            Ok(v) => Ok(v),
            Err(source) => {
                let undo_failures = self.rollback();
                Err(StepError {
                    step: name.to_string(),
                    source,
                    undo_failures,
                })
            }
        }
    }

    /// Undoes everything now, newest first; returns the actions that failed.
    pub fn rollback(&mut self) -> Vec<(String, String)> {
        let mut failures = Vec::new();
        while let Some((name, action)) = self.actions.pop() {
            if let Err(e) = action() {
                tracing::warn!(step = %name, error = %e, "undo failed");
                failures.push((name, e.to_string()));
            }
        }
        failures
    }

    /// The operation succeeded: forget the undo actions.
    pub fn commit(mut self) {
        self.actions.clear();
    }

    /// How many undo actions are pending.
    pub fn len(&self) -> usize {
        self.actions.len()
    }

    /// Whether no undo action is pending.
    pub fn is_empty(&self) -> bool {
        self.actions.is_empty()
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        // An early return (`?` on something other than a step) or a panic
        // must not leave half an operation behind.
        if !self.actions.is_empty() {
            self.rollback();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Debug, thiserror::Error)]
    #[error("boom {0}")]
    struct Boom(u32);

    #[test]
    fn failure_undoes_earlier_steps_in_reverse_and_names_the_step() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut undo = Undo::new();
        for i in 0..3u32 {
            undo.step(&format!("step {i}"), || Ok::<_, Boom>(()))
                .expect("step");
            let l = Arc::clone(&log);
            undo.push(format!("undo {i}"), move || {
                l.lock().expect("lock").push(i);
                if i == 1 {
                    Err(Boom(i))
                } else {
                    Ok(())
                }
            });
        }
        let err = undo
            .step("step 3", || Err::<(), _>(Boom(3)))
            .expect_err("must fail");
        assert_eq!(err.step, "step 3");
        assert_eq!(*log.lock().expect("lock"), vec![2, 1, 0]);
        assert_eq!(
            err.undo_failures,
            vec![("undo 1".to_string(), "boom 1".to_string())]
        );
        assert_eq!(
            err.to_string(),
            "step 3: boom 3; undo undo 1 also failed: boom 1"
        );
        assert!(undo.is_empty());
    }

    #[test]
    fn commit_keeps_everything_and_drop_rolls_back() {
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut undo = Undo::new();
        let l = Arc::clone(&log);
        undo.push("a", move || {
            l.lock().expect("lock").push("a");
            Ok::<_, Boom>(())
        });
        undo.commit();
        assert!(log.lock().expect("lock").is_empty());

        let mut undo = Undo::new();
        let l = Arc::clone(&log);
        undo.push("b", move || {
            l.lock().expect("lock").push("b");
            Ok::<_, Boom>(())
        });
        drop(undo);
        assert_eq!(*log.lock().expect("lock"), vec!["b"]);
    }
}
