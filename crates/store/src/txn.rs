//! Transactions: the [`Txn`] view a closure gets, and typed helpers.

use serde::{de::DeserializeOwned, Serialize};

use crate::{Store, StoreError};

/// The view of the store inside one [`Store::update`] transaction.
pub trait Txn {
    /// The value at `key` as this transaction sees it (its own writes included).
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Sets `key` to `value`.
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError>;
    /// Removes `key`; returns whether it existed.
    fn delete(&mut self, key: &str) -> Result<bool, StoreError>;
    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    fn list_prefix(&mut self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError>;
}

/// Runs `f` in one transaction of `store` (see [`Store::update`]) and returns
/// its value. When `f` returns `Err(e)`, nothing is written and `e` is
/// returned unchanged, so callers keep their own error types (which must be
/// able to hold a [`StoreError`]).
pub fn transact<T, E, F>(store: &dyn Store, mut f: F) -> Result<T, E>
where
    E: From<StoreError>,
    F: FnMut(&mut dyn Txn) -> Result<T, E>,
{
    let mut out: Option<T> = None;
    let mut failure: Option<E> = None;
    let res = store.update(&mut |txn| match f(txn) {
        Ok(v) => {
            out = Some(v);
            failure = None;
            Ok(())
        }
        Err(e) => {
            out = None;
            failure = Some(e);
            Err(StoreError::Aborted)
        }
    });
    match (res, failure, out) {
        (Err(StoreError::Aborted), Some(e), _) => Err(e),
        (Err(e), _, _) => Err(E::from(e)),
        (Ok(()), _, Some(v)) => Ok(v),
        // update() returned Ok without running f to completion: a backend bug;
        // report it as an abort rather than panicking.
        (Ok(()), _, None) => Err(E::from(StoreError::Aborted)),
    }
}

/// Reads and decodes the JSON value at `key`.
pub fn get_json<T: DeserializeOwned>(
    txn: &mut dyn Txn,
    key: &str,
) -> Result<Option<T>, StoreError> {
    match txn.get(key)? {
        None => Ok(None),
        Some(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|source| StoreError::Decode {
                    key: key.to_string(),
                    source,
                })
        }
    }
}

/// Encodes `value` as JSON and writes it at `key`.
pub fn put_json<T: Serialize>(txn: &mut dyn Txn, key: &str, value: &T) -> Result<(), StoreError> {
    let bytes = serde_json::to_vec(value).map_err(|source| StoreError::Encode {
        key: key.to_string(),
        source,
    })?;
    txn.put(key, &bytes)
}
