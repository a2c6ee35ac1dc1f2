//! An in-memory backend: for tests, and as the second backend the conformance suite runs
//! against, so the suite checks the contract rather than one implementation's accidents.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::{KeyValue, Pair, Pairs, StoreError};

type Map = BTreeMap<Vec<u8>, Vec<u8>>;

/// Everything in a map behind a lock. Not durable: a crash loses it all.
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<Map>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> MemoryStore {
        MemoryStore::default()
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Map>, StoreError> {
        self.map
            .lock()
            .map_err(|_| StoreError::Backend("a writer panicked while holding the store".into()))
    }
}

impl KeyValue for MemoryStore {
    fn apply(&self, pairs: Vec<Pair>, deletes: Vec<Vec<u8>>) -> Result<(), StoreError> {
        let mut map = self.lock()?;
        for k in deletes {
            map.remove(&k);
        }
        map.extend(pairs);
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.lock()?.get(key).cloned())
    }

    fn scan(&self, prefix: &[u8]) -> Pairs<'_> {
        match self.lock() {
            Ok(map) => {
                let found: Vec<_> = map
                    .range(prefix.to_vec()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .map(|(k, v)| Ok((k.clone(), v.clone())))
                    .collect();
                Box::new(found.into_iter())
            }
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    }
}
