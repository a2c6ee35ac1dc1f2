//! Running the `minga` binary from tests: `minga up` processes with their own data
//! directories on 127.0.0.1, and commands against them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// How long a node may take to start, or a record to arrive.
pub const WAIT_SECS: u64 = 60;

pub fn minga_bin() -> PathBuf {
    // <target>/debug/deps/journey-<hash> → <target>/debug/minga
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join(format!("minga{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test --workspace` (or `cargo build -p minga-cli`) first",
        bin.display()
    );
    bin
}

/// A running `minga up`, stopped with SIGTERM when dropped.
pub struct Up {
    child: Child,
    pub dir: PathBuf,
    pub listen: String,
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

pub fn up(dir: &Path, bootstrap: Option<&str>) -> Up {
    up_in(None, dir, "/ip4/127.0.0.1/tcp/0", bootstrap)
}

/// A command that runs `minga`, inside network namespace `ns` when given.
fn minga_command(ns: Option<&str>) -> Command {
    match ns {
        None => Command::new(minga_bin()),
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns]).arg(minga_bin());
            cmd
        }
    }
}

/// `minga up` listening on `listen`, inside network namespace `ns` when given.
pub fn up_in(ns: Option<&str>, dir: &Path, listen: &str, bootstrap: Option<&str>) -> Up {
    let mut cmd = minga_command(ns);
    cmd.arg("--data-dir")
        .arg(dir)
        .args(["up", "--listen", listen, "--api", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(b) = bootstrap {
        cmd.args(["--bootstrap", b]);
    }
    let mut child = cmd.spawn().unwrap();
    let rx = lines_of(child.stdout.take().unwrap());
    let mut listen = None;
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(WAIT_SECS))
            .expect("minga up did not become ready");
        if let Some(a) = line.strip_prefix("listening   ") {
            listen.get_or_insert_with(|| a.to_string());
        }
        if line.starts_with("press Ctrl-C") {
            break;
        }
    }
    Up {
        child,
        dir: dir.to_path_buf(),
        listen: listen.expect("minga up printed no listen address"),
    }
}

/// Runs `minga --data-dir DIR ARGS…`.
pub fn minga(dir: &Path, args: &[&str]) -> Output {
    minga_in(None, dir, args)
}

/// Runs `minga --data-dir DIR ARGS…` inside network namespace `ns` when given.
pub fn minga_in(ns: Option<&str>, dir: &Path, args: &[&str]) -> Output {
    minga_command(ns)
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap()
}

/// Runs a command that must succeed and returns its stdout.
pub fn ok(dir: &Path, args: &[&str]) -> String {
    ok_in(None, dir, args)
}

/// Runs a command that must succeed, inside network namespace `ns` when given.
pub fn ok_in(ns: Option<&str>, dir: &Path, args: &[&str]) -> String {
    let out = minga_in(ns, dir, args);
    assert!(
        out.status.success(),
        "minga {args:?} failed ({:?}): {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs a command with `--json` that must succeed and returns its JSON.
pub fn json(dir: &Path, args: &[&str]) -> Value {
    json_in(None, dir, args)
}

/// Runs a command with `--json` that must succeed, inside network namespace `ns` when given.
pub fn json_in(ns: Option<&str>, dir: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let text = ok_in(ns, dir, &all);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}: {text}"))
}

/// The lines a child prints, as they come.
pub fn lines_of(out: impl std::io::Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::sync_channel(64);
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The id of the one open record of a kind.
pub fn needs_or_offers(dir: &Path, kind: &str) -> String {
    let list = json(dir, &[kind, "list"]);
    id_of(&list[0])
}

pub fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

/// The member key `init` printed.
pub fn member_key(init_output: &str) -> String {
    init_output
        .lines()
        .find_map(|l| l.strip_prefix("member key  "))
        .unwrap()
        .trim()
        .to_string()
}

/// Runs a command that writes a record, with `-q`, and returns the new record's id.
pub fn write(dir: &Path, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.push("-q");
    ok(dir, &all).trim().to_string()
}

/// Waits until every node holds the record (`show --wait`, a deadline that fails the test).
pub fn arrived(dirs: &[&Path], id: &str) {
    let wait = WAIT_SECS.to_string();
    for dir in dirs {
        ok(dir, &["show", id, "--wait", &wait]);
    }
}

/// Runs a command that must be refused (exit code 1) with a message containing `says`.
pub fn refused(dir: &Path, args: &[&str], says: &str) {
    let out = minga(dir, args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert!(err.contains(says), "{args:?}: {err}");
}

/// `minga init --coop NAME` in `dir`; returns the new co-op's id as `init` printed it.
pub fn found_coop(dir: &Path, name: &str) -> String {
    let said = ok(dir, &["init", "--coop", name]);
    let id = said.lines().find_map(|l| l.strip_prefix("co-op       "));
    let id = id.unwrap_or_else(|| panic!("init printed no co-op: {said}"));
    id.split(' ').next().unwrap().to_string()
}

/// Makes every node trust every other node's co-op, by its genesis file.
pub fn trust_each_other(dirs: &[&Path]) {
    for dir in dirs {
        for other in dirs {
            if dir != other {
                ok(
                    dir,
                    &["coop", "trust", other.join("coop.json").to_str().unwrap()],
                );
            }
        }
    }
}
