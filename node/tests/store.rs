//! The store conformance suite, run against every backend.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use minga_node::store::conformance;
use minga_node::{MemoryStore, SledStore};

#[test]
fn memory_store_meets_the_contract() {
    conformance::run_all(MemoryStore::new).unwrap();
}

#[test]
fn sled_store_meets_the_contract() {
    let dirs: std::cell::RefCell<Vec<tempfile::TempDir>> = Default::default();
    conformance::run_all(|| {
        let d = tempfile::tempdir().unwrap();
        let s = SledStore::open(d.path()).unwrap();
        dirs.borrow_mut().push(d);
        s
    })
    .unwrap();
}

#[test]
fn sled_store_survives_reopen() {
    let d = tempfile::tempdir().unwrap();
    conformance::survives_reopen(|| SledStore::open(d.path()).unwrap()).unwrap();
}
