//! An in-memory store for unit tests and ephemeral state.

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::{Store, StoreError, Txn};

/// A [`Store`] kept in memory behind one mutex; lost when dropped.
#[derive(Debug, Default)]
pub struct MemStore {
    map: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic inside a closure leaves the map as it was before the
        // transaction (writes go to a copy), so a poisoned lock is safe to reuse.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn prefixed(map: &BTreeMap<String, Vec<u8>>, prefix: &str) -> Vec<(String, Vec<u8>)> {
    map.range(prefix.to_string()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

struct MemTxn<'a> {
    map: &'a mut BTreeMap<String, Vec<u8>>,
}

impl Txn for MemTxn<'_> {
    fn get(&mut self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.map.get(key).cloned())
    }
    fn put(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.map.insert(key.to_string(), value.to_vec());
        Ok(())
    }
    fn delete(&mut self, key: &str) -> Result<bool, StoreError> {
        Ok(self.map.remove(key).is_some())
    }
    fn list_prefix(&mut self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(prefixed(self.map, prefix))
    }
}

impl Store for MemStore {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock().get(key).cloned())
    }
    fn put(&self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.lock().insert(key.to_string(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<bool, StoreError> {
        Ok(self.lock().remove(key).is_some())
    }
    fn list_prefix(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        Ok(prefixed(&self.lock(), prefix))
    }
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: Option<&[u8]>,
    ) -> Result<bool, StoreError> {
        let mut map = self.lock();
        if map.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        match new {
            Some(v) => map.insert(key.to_string(), v.to_vec()),
            None => map.remove(key),
        };
        Ok(true)
    }
    fn update(
        &self,
        f: &mut dyn FnMut(&mut dyn Txn) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let mut map = self.lock();
        // Work on a copy so an Err (or a panic) leaves nothing half-written.
        let mut copy = map.clone();
        f(&mut MemTxn { map: &mut copy })?;
        *map = copy;
        Ok(())
    }
}
