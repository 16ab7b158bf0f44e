//! berth-store: the one key-value abstraction for berth's persistent state.
//!
//! Layers above (net IPAM, later the engine) keep their state here through the
//! [`Store`] trait; the embedded backend is [`RedbStore`] (one redb file, by
//! default [`DEFAULT_PATH`]), and [`MemStore`] serves unit tests. An etcd
//! backend for multi-host networks comes with the overlay driver; the trait is
//! shaped so it maps onto etcd's transactions (compare-and-swap, a read-modify-
//! write closure that may be retried).
//!
//! Keys are UTF-8 strings with `/`-separated segments (`ipam/<net>/...`);
//! values are opaque bytes, JSON by convention ([`get_json`], [`put_json`]).
//!
//! Concurrency: every backend makes [`Store::update`] serialisable, across
//! threads and across processes (CNI plugins are separate processes that each
//! open the store).

mod error;
mod mem;
mod redb_store;
mod txn;

pub use error::StoreError;
pub use mem::MemStore;
pub use redb_store::{RedbStore, DEFAULT_PATH};
pub use txn::{get_json, put_json, transact, Txn};

/// A key-value store. Implementations are cheap to share (`Arc<dyn Store>`).
pub trait Store: Send + Sync {
    /// The value at `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `key` to `value`, replacing any previous value.
    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key`; returns whether it existed.
    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let mut existed = false;
        self.update(&mut |t| {
            existed = t.delete(key)?;
            Ok(())
        })?;
        Ok(existed)
    }
    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    fn list_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
    /// Atomically: if the current value of `key` equals `expected` (`None` =
    /// absent), set it to `new` (`None` = delete) and return `true`;
    /// otherwise change nothing and return `false`.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let mut swapped = false;
        self.update(&mut |t| {
            swapped = t.get(key)?.as_deref() == expected;
            if swapped {
                match new {
                    Some(v) => t.put(key, v)?,
                    None => {
                        t.delete(key)?;
                    }
                }
            }
            Ok(())
        })?;
        Ok(swapped)
    }
    /// Runs `f` in one serialisable read-write transaction: every read and
    /// write `f` makes through the [`Txn`] commits together when `f` returns
    /// `Ok`, and nothing is written when it returns `Err`. Other writers
    /// (threads or processes) wait. `f` may be called more than once by a
    /// backend that retries on conflict, so it must not have side effects
    /// outside the transaction. Prefer the generic [`transact`] helper,
    /// which lets `f` return a value and its own error type.
    fn update(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError>;
}
