//! `minga up` as a co-op would run it: it prints its identity and addresses, keeps its node key
//! across restarts, and stops cleanly on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Runs `minga up` on loopback until it is ready, stops it with SIGTERM, and returns its
/// stdout lines and whether it exited successfully.
fn up_once(dir: &std::path::Path) -> (Vec<String>, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minga"))
        .args([
            "up",
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--api",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::sync_channel(64);
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("minga up did not become ready");
        let ready = line.starts_with("press Ctrl-C");
        lines.push(line);
        if ready {
            break;
        }
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    reader.join().unwrap();
    lines.extend(rx.try_iter());
    (lines, exit.success())
}

#[test]
fn up_prints_its_identity_keeps_it_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (first, ok) = up_once(dir.path());
    assert!(ok, "{first:?}");
    let node_line = |lines: &[String]| {
        lines
            .iter()
            .find(|l| l.starts_with("minga node "))
            .cloned()
            .expect("a line names the node")
    };
    assert!(
        first[0].starts_with("initialized "),
        "a fresh data directory is initialized first: {first:?}"
    );
    let id = node_line(&first)["minga node ".len()..].to_string();
    assert!(id.starts_with("12D3KooW"), "{id}");
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("listening   /ip4/127.0.0.1/tcp/") && l.ends_with(&id))
    );
    assert!(
        first
            .iter()
            .any(|l| l.starts_with("api         http://127.0.0.1:")),
        "{first:?}"
    );
    assert_eq!(first.last().map(String::as_str), Some("stopped"));
    assert!(
        !dir.path().join("api.addr").exists(),
        "a stopped node leaves no API address behind"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for secret in ["node.key", "member.key", "api.token"] {
            let mode = std::fs::metadata(dir.path().join(secret))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{secret}");
        }
    }
    let (second, ok) = up_once(dir.path());
    assert!(ok);
    assert_eq!(
        node_line(&second),
        node_line(&first),
        "the node key is kept across restarts"
    );
    assert!(!second[0].starts_with("initialized "), "{second:?}");
}

#[test]
fn a_bad_listen_address_is_a_user_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_minga"))
        .args(["up", "--listen", "not-an-address", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a multiaddr") && err.contains("hint:"),
        "{err}"
    );
}

#[test]
fn output_into_a_closed_pipe_ends_quietly() {
    // `minga init | head -0`: the reader is gone before minga writes a line. Rust ignores
    // SIGPIPE, so a plain `println!` would panic here (exit 101).
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_minga"))
        .args(["init", "--coop", "Closed pipe co-op", "--data-dir"])
        .arg(dir.path().join("node"))
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(dir.path().join("node/coop.json").exists());
}
