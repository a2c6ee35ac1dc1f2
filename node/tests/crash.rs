//! Crash safety: a child process commits batches to a sled store and acknowledges each one on
//! stdout; the parent kills it with SIGKILL at arbitrary points, many times, and checks that
//! the store reopens, that nothing acknowledged is missing, and that no batch is half-written.
//!
//! The child is this same test binary, started with `MINGA_CRASH_DIR` set.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use minga_node::{EntryPos, SledStore, Store, StoredEntry, WriteBatch};
use minga_protocol::{CoopId, DeviceId, EntryHash, Hash, LogId, MemberSecret};

const DIR_VAR: &str = "MINGA_CRASH_DIR";

fn log() -> LogId {
    LogId {
        author: MemberSecret::from_seed(&[1; 32]).public(),
        device: DeviceId(1),
    }
}

fn coop() -> CoopId {
    CoopId(Hash::of(b"crash"))
}

/// The bytes of entry `seq`: recognisable, and long enough that a batch spans many pages.
fn bytes_of(seq: u64) -> Vec<u8> {
    let mut b = format!("entry {seq} ").into_bytes();
    b.resize(300 + (seq % 200) as usize, (seq % 251) as u8);
    b
}

fn stored(seq: u64) -> StoredEntry {
    let bytes = bytes_of(seq);
    StoredEntry {
        pos: EntryPos {
            coop: coop(),
            log: log(),
            seq,
        },
        hash: EntryHash(Hash::of(&bytes)),
        record: minga_protocol::RecordId(Hash::of(b"one record")),
        bytes,
    }
}

/// Child: commit batches of 1 to 40 entries forever, acknowledging each after `commit`.
fn child(dir: &str) -> ! {
    let store = SledStore::open(std::path::Path::new(dir)).unwrap();
    let mut next = store.version_vector(&coop()).unwrap().get(&log()) + 1;
    let mut out = std::io::stdout().lock();
    loop {
        let n = 1 + next % 40;
        let batch = WriteBatch {
            entries: (next..next + n).map(stored).collect(),
            ..WriteBatch::default()
        };
        store.commit(&batch).unwrap();
        next += n;
        writeln!(out, "ack {}", next - 1).unwrap();
        out.flush().unwrap();
    }
}

/// A small deterministic generator, so a failure replays the same kill points.
fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn killed_writers_lose_nothing_acknowledged() {
    if let Ok(dir) = std::env::var(DIR_VAR) {
        child(&dir);
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut acked = 0u64;
    for round in 0..25 {
        let mut proc = Command::new(&exe)
            .args([
                "--exact",
                "killed_writers_lose_nothing_acknowledged",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = proc.stdout.take().unwrap();
        let kill_after = 1 + xorshift(&mut rng) % 30;
        let mut seen = 0;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(n) = line.strip_prefix("ack ") {
                acked = n.parse().unwrap();
                seen += 1;
                if seen >= kill_after {
                    break;
                }
            }
        }
        // SIGKILL: no destructor, no flush, mid-write as often as not.
        proc.kill().unwrap();
        proc.wait().unwrap();

        let store = SledStore::open(dir.path()).unwrap();
        let head = store.version_vector(&coop()).unwrap().get(&log());
        assert!(
            head >= acked,
            "round {round}: acknowledged {acked}, store has {head}"
        );
        // A batch is all or nothing: every entry up to the head is there, intact, and none
        // beyond it.
        for seq in 1..=head {
            let got = store.entry(&coop(), &log(), seq).unwrap();
            assert_eq!(
                got,
                Some(bytes_of(seq)),
                "round {round}: entry {seq} of {head}"
            );
        }
        assert!(store.entry(&coop(), &log(), head + 1).unwrap().is_none());
    }
    assert!(acked > 25, "the writers acknowledged only {acked} entries");
}
