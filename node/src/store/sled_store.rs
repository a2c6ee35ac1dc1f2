//! The sled backend: one tree, every commit one atomic batch followed by a flush (unless the
//! caller defers the flush and awaits [`SledStore::flushed`] itself before acknowledging).

use std::path::Path;

use super::{KeyValue, Pair, Pairs, StoreError};

/// sled's page cache. Its default (1 GiB) makes a node's resident memory grow with the data
/// it has read, on machines that are often small; views live in the node's own memory, so
/// the cache only speeds up reading entries and documents.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// Where the stamp of a views snapshot sits: a prefix no other key uses (see
/// [`SledStore::stamp`]).
const STAMP: &[u8] = b"S/views-snapshot";

/// A store in a sled database directory.
#[derive(Clone, Debug)]
pub struct SledStore {
    db: sled::Db,
    /// Where each commit's duration goes, once the node sets it.
    commits: std::sync::Arc<std::sync::OnceLock<prometheus_client::metrics::histogram::Histogram>>,
    /// Whether commits leave their flush to the caller (see [`SledStore::defer_flushes`]).
    deferred: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// Whether the store may hold a snapshot's stamp, which the next write deletes.
    stamped: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

/// While alive, commits through this store skip their flush: the caller must await
/// [`SledStore::flushed`] before it acknowledges anything they wrote.
pub struct Deferred<'a>(&'a SledStore);

impl Drop for Deferred<'_> {
    fn drop(&mut self) {
        self.0
            .deferred
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

impl SledStore {
    /// Opens (or creates) the store in `dir`.
    /// A store that was just closed in this process may hold its file lock for a moment
    /// while sled's background thread exits, so a locked directory is retried for up to 5 s;
    /// another process holding it is reported then.
    pub fn open(dir: &Path) -> Result<SledStore, StoreError> {
        SledStore::open_with_cache(dir, CACHE_BYTES)
    }

    /// [`SledStore::open`] with a page cache of `cache_bytes` instead of the node's 64 MiB
    /// (for measuring what the cache's size does).
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<SledStore, StoreError> {
        let mut attempts = 0;
        loop {
            let opened = sled::Config::new()
                .path(dir)
                .cache_capacity(cache_bytes)
                // sled's default flushes every 500 ms on its own; commits flush explicitly.
                .flush_every_ms(None)
                .open();
            match opened {
                Ok(db) => {
                    let stamped = db.contains_key(STAMP)?;
                    return Ok(SledStore {
                        db,
                        commits: Default::default(),
                        deferred: Default::default(),
                        stamped: std::sync::Arc::new(stamped.into()),
                    });
                }
                // sled 0.34 reports a held lock only as an `Other` error with this text.
                Err(sled::Error::Io(e)) if e.to_string().contains("could not acquire lock") => {
                    if attempts == 100 {
                        return Err(StoreError::Backend(format!(
                            "{} is in use by another minga process",
                            dir.display()
                        )));
                    }
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(50));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Records that a views snapshot was written with the store exactly as it is now: the
    /// stamp stays until the next write through this store, which deletes it in the same
    /// atomic batch, so a snapshot is never taken for a store that changed after it. Stamps
    /// never travel in a restore.
    pub fn stamp(&self, stamp: [u8; 16]) -> Result<(), StoreError> {
        self.db.insert(STAMP, &stamp)?;
        self.db.flush()?;
        self.stamped
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// The stamp of the snapshot written with the store as it is, if no write came since.
    pub fn stamp_of(&self) -> Result<Option<[u8; 16]>, StoreError> {
        Ok(self
            .db
            .get(STAMP)?
            .and_then(|v| <[u8; 16]>::try_from(v.as_ref()).ok()))
    }

    /// Observes every commit's duration (batch and flush), in seconds, from now on.
    pub fn observe_commits(&self, into: prometheus_client::metrics::histogram::Histogram) {
        let _ = self.commits.set(into);
    }

    /// Bytes on disk, as sled reports them.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Flushes everything written so far (commits already do; this is for shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    /// Commits made while the guard lives are applied (readable at once) but not flushed.
    /// Only the node's event loop writes, so the flag covers its commits alone.
    pub fn defer_flushes(&self) -> Deferred<'_> {
        self.deferred
            .store(true, std::sync::atomic::Ordering::SeqCst);
        Deferred(self)
    }

    /// Resolves once everything written before the call is on disk. The flush runs on one
    /// of tokio's blocking threads, so the caller's task goes on meanwhile. (Not sled's own
    /// `flush_async`: it runs on sled's global thread pool, which sled also needs for writing
    /// its log buffers, and with many stores flushing at once in one process it was seen to
    /// stall for good.)
    pub fn flushed(
        &self,
    ) -> impl std::future::Future<Output = Result<(), StoreError>> + Send + 'static {
        let db = self.db.clone();
        async move {
            match tokio::task::spawn_blocking(move || db.flush()).await {
                Ok(flushed) => flushed.map(|_| ()).map_err(StoreError::from),
                Err(e) => Err(StoreError::Backend(format!(
                    "the flush did not finish: {e}"
                ))),
            }
        }
    }
}

impl KeyValue for SledStore {
    fn apply(&self, pairs: Vec<Pair>, deletes: Vec<Vec<u8>>) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        // Any write makes a snapshot stale: its stamp goes in the same batch.
        let stamped = self.stamped.load(std::sync::atomic::Ordering::SeqCst);
        if stamped {
            batch.remove(STAMP);
        }
        // Later operations on a key win within a batch: deletes first, then writes.
        for k in deletes {
            batch.remove(k);
        }
        for (k, v) in pairs {
            if k != STAMP {
                batch.insert(k, v);
            }
        }
        let started = std::time::Instant::now();
        self.db.apply_batch(batch)?;
        if stamped {
            self.stamped
                .store(false, std::sync::atomic::Ordering::SeqCst);
        }
        // Durable before the caller acknowledges anything: here, or by the caller that
        // deferred the flush.
        if !self.deferred.load(std::sync::atomic::Ordering::SeqCst) {
            self.db.flush()?;
        }
        if let Some(h) = self.commits.get() {
            h.observe(started.elapsed().as_secs_f64());
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(key)?.map(|v| v.to_vec()))
    }

    fn scan(&self, prefix: &[u8]) -> Pairs<'_> {
        Box::new(self.db.scan_prefix(prefix).map(|r| {
            r.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(StoreError::from)
        }))
    }
}
