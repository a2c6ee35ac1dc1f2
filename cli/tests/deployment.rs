//! Running a node for real, as a co-op would: key files protected by a passphrase (`minga key
//! protect`, a node that starts with an encrypted member key, a co-op key brought in only for
//! the command that needs it), and a backup of a running node restored on another machine.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// `minga` with this data directory and passphrase file.
fn minga(dir: &Path, phrase_file: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_minga"));
    c.arg("--data-dir")
        .arg(dir)
        .env("MINGA_PASSPHRASE_FILE", phrase_file)
        .env_remove("MINGA_API")
        .env_remove("MINGA_DATA_DIR");
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Where a node listens in these tests: loopback, ports the system picks.
const LOOPBACK: [&str; 4] = ["--listen", "/ip4/127.0.0.1/tcp/0", "--api", "127.0.0.1:0"];

/// Spawns a `minga up` command line and waits until it says it is ready; returns the node and
/// the lines it printed until then. Stderr is left as the caller set it.
fn ready(cmd: &mut Command) -> (Child, Vec<String>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::sync_channel(64);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut said = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.starts_with("press Ctrl-C") => return (child, said),
            Ok(line) => said.push(line),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("minga up did not become ready: {e}; it said {said:?}");
            }
        }
    }
}

/// Starts `minga up` on loopback and waits until it is ready.
fn up(dir: &Path, phrase_file: &Path) -> Child {
    let mut cmd = minga(dir, phrase_file);
    cmd.arg("up").args(LOOPBACK).stderr(Stdio::null());
    ready(&mut cmd).0
}

/// Stops a node the way systemd does, with SIGTERM.
fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

fn stop(mut child: Child) {
    terminate(&child);
    let _ = child.wait();
}

#[test]
fn protected_keys_run_a_node_and_the_coop_key_comes_in_only_when_needed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let phrase = tmp.path().join("phrase");
    std::fs::write(&phrase, "ni un paso atras, compañeras\n").unwrap();
    let out = run(minga(&dir, &phrase).args(["init", "--coop", "Protegida"]));
    assert!(out.status.success(), "{}", text(&out));
    for which in ["member", "coop"] {
        let out = run(minga(&dir, &phrase).args(["key", "protect", which]));
        assert!(out.status.success(), "{}", text(&out));
        let file = std::fs::read_to_string(dir.join(format!("{which}.key"))).unwrap();
        assert!(file.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    }
    let again = run(minga(&dir, &phrase).args(["key", "protect", "coop"]));
    assert!(!again.status.success(), "already protected");

    // The node starts: the member key opens with the passphrase from the file.
    let node = up(&dir, &phrase);
    // Certifying an admin needs the co-op key, which the running node does not hold: the
    // CLI brings it in for that one command.
    let other = tmp.path().join("other");
    let out = run(minga(&other, &phrase).arg("init"));
    assert!(out.status.success(), "{}", text(&out));
    let member = text(&out)
        .lines()
        .find_map(|l| l.strip_prefix("member key  ").map(str::to_string))
        .expect("init names the member key");
    let wrong = tmp.path().join("wrong");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    let refused = run(minga(&dir, &wrong).args(["member", "add", &member, "--role", "admin"]));
    assert!(!refused.status.success());
    assert!(
        text(&refused).contains("passphrase does not open"),
        "{}",
        text(&refused)
    );
    let added = run(minga(&dir, &phrase).args(["member", "add", &member, "--role", "admin"]));
    assert!(added.status.success(), "{}", text(&added));
    assert!(text(&added).contains("co-op key"), "{}", text(&added));
    // And the node let go of it: the next such command asks for the passphrase again (and
    // with a wrong one, fails).
    let third = run(minga(tmp.path().join("third").as_path(), &phrase).arg("init"));
    let third_key = text(&third)
        .lines()
        .find_map(|l| l.strip_prefix("member key  ").map(str::to_string))
        .unwrap();
    let again = run(minga(&dir, &wrong).args(["member", "add", &third_key, "--role", "admin"]));
    assert!(
        text(&again).contains("passphrase does not open"),
        "{}",
        text(&again)
    );
    stop(node);
}

#[test]
fn a_backup_of_a_running_node_restores_elsewhere_with_a_new_device() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let phrase = tmp.path().join("phrase");
    std::fs::write(&phrase, "la tierra para quien la trabaja\n").unwrap();
    let out = run(minga(&dir, &phrase).args(["init", "--coop", "Respaldada"]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        run(minga(&dir, &phrase).args(["key", "protect", "coop"]))
            .status
            .success()
    );
    let node = up(&dir, &phrase);
    let titles = ["Tables", "Chairs", "Sacks of rice"];
    for t in titles {
        let out = run(minga(&dir, &phrase).args([
            "offer",
            "add",
            "--title",
            t,
            "--category",
            "food/grain/rice",
            "--quantity",
            "3 kg",
            "-q",
        ]));
        assert!(out.status.success(), "{}", text(&out));
    }
    // The node reports what its store takes and what its disk has left.
    let status = run(minga(&dir, &phrase).args(["status", "--json"]));
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert!(status["store_bytes"].as_u64().unwrap() > 0, "{status}");
    assert!(status["disk_free_bytes"].as_u64().is_some(), "{status}");
    let file = tmp.path().join("respaldo.age");
    let out = run(minga(&dir, &phrase).arg("backup").arg(&file));
    assert!(out.status.success(), "{}", text(&out));
    stop(node);
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.starts_with(b"age-encryption.org/v1"));
    assert!(
        !bytes.windows(6).any(|w| w == b"Chairs"),
        "nothing readable without the passphrase"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("snapshot-"))
        .collect();
    assert!(leftovers.is_empty(), "the snapshot is deleted");

    // Another machine: a wrong passphrase restores nothing.
    let wrong = tmp.path().join("wrong");
    std::fs::write(&wrong, "otra cosa\n").unwrap();
    let elsewhere = tmp.path().join("elsewhere");
    let refused = run(minga(&elsewhere, &wrong).arg("restore").arg(&file));
    assert!(!refused.status.success());
    assert!(!elsewhere.join("store").exists());
    let restored = run(minga(&elsewhere, &phrase).arg("restore").arg(&file));
    assert!(restored.status.success(), "{}", text(&restored));
    let old_device = std::fs::read_to_string(dir.join("device")).unwrap();
    let new_device = std::fs::read_to_string(elsewhere.join("device")).unwrap();
    assert_ne!(
        old_device, new_device,
        "a new device id: never the old logs"
    );
    assert_eq!(
        std::fs::read(dir.join("coop.key")).unwrap(),
        std::fs::read(elsewhere.join("coop.key")).unwrap(),
        "the co-op key comes back as it was, still encrypted"
    );
    let node = up(&elsewhere, &phrase);
    let listed = run(minga(&elsewhere, &phrase).args(["list", "--json"]));
    let listed = text(&listed);
    for t in titles {
        assert!(listed.contains(t), "{t} missing: {listed}");
    }
    // The restored node writes, as its new device.
    let out = run(minga(&elsewhere, &phrase).args([
        "offer",
        "add",
        "--title",
        "After the move",
        "--category",
        "food/grain/rice",
        "--quantity",
        "1 kg",
        "-q",
    ]));
    assert!(out.status.success(), "{}", text(&out));
    stop(node);
    // A restore never overwrites a node.
    let again = run(minga(&elsewhere, &phrase).arg("restore").arg(&file));
    assert!(!again.status.success());
}

/// The unit `minga service unit` prints for this machine's user and a state directory.
fn unit_for(state: &Path) -> String {
    let user = Command::new("id").arg("-un").output().unwrap();
    let user = String::from_utf8(user.stdout).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_minga"))
        .args(["service", "unit", "--user", user.trim(), "--state"])
        .arg(state)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8(out.stdout).unwrap()
}

/// Checks a unit file with systemd's analyzer, then runs its `ExecStart=` command line the way
/// systemd would, as its `User=` when `as_user` (root only), and stops it with SIGTERM: twice,
/// since a restart must keep the node's identity and data. Returns the unit's text.
fn verify_and_run_twice(unit_file: &Path, as_user: bool) -> String {
    let unit = std::fs::read_to_string(unit_file).unwrap();
    // These machines do not run systemd as init; its analyzer still checks the unit.
    let verify = Command::new("systemd-analyze")
        .arg("verify")
        .arg(unit_file)
        .output()
        .expect("systemd-analyze is needed for this test (apt install systemd)");
    assert!(verify.status.success(), "{}", text(&verify));
    assert!(unit.contains("Restart=on-failure"));
    let setting = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .unwrap_or_else(|| panic!("the unit sets {key}"))
            .to_string()
    };
    let exec = setting("ExecStart");
    let argv: Vec<&str> = exec.split_whitespace().collect();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut cmd = if as_user {
            // setpriv execs the binary itself (runuser would stay as its parent), so the signal
            // reaches the node as systemd's would.
            let user = setting("User");
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={user}"))
                .arg(format!("--regid={}", setting("Group")))
                .arg("--init-groups")
                .args(&argv);
            c
        } else {
            let mut c = Command::new(argv[0]);
            c.args(&argv[1..]);
            c
        };
        cmd.args(LOOPBACK)
            .env_remove("MINGA_DATA_DIR")
            .env_remove("MINGA_API")
            .stderr(Stdio::null());
        let (mut child, said) = ready(&mut cmd);
        terminate(&child);
        assert!(child.wait().unwrap().success(), "stops cleanly on SIGTERM");
        let id = said.iter().find_map(|l| l.strip_prefix("minga node "));
        ids.push(id.expect("the node printed its id").to_string());
    }
    assert_eq!(ids[0], ids[1], "a restart keeps the node's identity");
    unit
}

#[test]
fn the_service_unit_verifies_and_its_command_line_runs_the_node_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let state = tmp.path().join("state");
    let path = tmp.path().join("minga.service");
    std::fs::write(&path, unit_for(&state)).unwrap();
    verify_and_run_twice(&path, false);
    assert!(state.join("store").exists());
}

/// The Debian package as installed on this machine (`.ci/package install` builds and installs it):
/// its user exists, its unit verifies, and the unit's command line runs `/usr/bin/minga` as that
/// user on the state directory systemd would make, twice.
#[test]
#[ignore = "needs root and the minga package installed (.ci/package install); .ci/run runs it"]
fn the_installed_package_runs_its_unit_as_its_own_user() {
    let unit_file = Path::new("/usr/lib/systemd/system/minga.service");
    assert!(
        unit_file.exists(),
        "install the package first: .ci/package install builds and installs it"
    );
    let user = run(Command::new("getent").args(["passwd", "minga"]));
    assert!(user.status.success(), "the package made no minga user");
    assert!(
        text(&user).contains("nologin"),
        "the minga user cannot log in: {}",
        text(&user)
    );
    // What systemd's StateDirectory= does before the first start.
    let state = Path::new("/var/lib/minga");
    let made = run(Command::new("install")
        .args(["-d", "-o", "minga", "-g", "minga", "-m", "700"])
        .arg(state));
    assert!(made.status.success(), "{}", text(&made));
    let unit = verify_and_run_twice(unit_file, true);
    assert!(unit.contains("ExecStart=/usr/bin/minga --data-dir /var/lib/minga up"));
    // Everything the node wrote belongs to its user, the directory and the keys to it alone.
    let foreign = run(Command::new("find")
        .arg(state)
        .args(["-not", "-user", "minga"]));
    assert!(foreign.status.success());
    assert_eq!(
        text(&foreign),
        "",
        "files the node wrote that minga does not own"
    );
    use std::os::unix::fs::PermissionsExt;
    for private in [
        state.to_path_buf(),
        state.join("member.key"),
        state.join("coop.key"),
    ] {
        let Ok(meta) = std::fs::metadata(&private) else {
            continue;
        };
        let mode = meta.permissions().mode();
        assert_eq!(mode & 0o077, 0, "{} is open to others", private.display());
    }
    assert!(state.join("store").exists() && state.join("member.key").exists());
}

#[test]
fn the_packaged_unit_is_the_one_minga_prints() {
    let out = Command::new(env!("CARGO_BIN_EXE_minga"))
        .args(["service", "unit", "--binary", "/usr/bin/minga"])
        .output()
        .unwrap();
    let packaged =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("debian/minga.service"))
            .unwrap();
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        packaged,
        "regenerate cli/debian/minga.service with `minga service unit --binary /usr/bin/minga`"
    );
}

#[test]
fn log_verbosity_comes_from_the_config_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let phrase = tmp.path().join("phrase");
    std::fs::write(&phrase, "unused\n").unwrap();
    assert!(run(minga(&dir, &phrase).arg("init")).status.success());
    let config = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    std::fs::write(dir.join("config.toml"), format!("log = \"info\"\n{config}")).unwrap();
    let mut cmd = minga(&dir, &phrase);
    cmd.arg("up")
        .args(LOOPBACK)
        .env_remove("RUST_LOG")
        .stderr(Stdio::piped());
    let (child, _) = ready(&mut cmd);
    terminate(&child);
    let out = child.wait_with_output().unwrap();
    let logged = String::from_utf8_lossy(&out.stderr);
    assert!(
        logged.contains("INFO") && logged.contains("node started"),
        "{logged}"
    );
}

#[test]
fn doctor_names_what_is_wrong_and_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let phrase = tmp.path().join("phrase");
    std::fs::write(&phrase, "la asamblea decide\n").unwrap();
    // Nothing here yet.
    let empty = run(minga(&dir, &phrase).arg("doctor"));
    assert_eq!(empty.status.code(), Some(1));
    assert!(text(&empty).contains("holds no node"), "{}", text(&empty));
    assert!(
        run(minga(&dir, &phrase).args(["init", "--coop", "Revisada"]))
            .status
            .success()
    );
    // A founded co-op, its key in clear, the node stopped.
    let stopped = run(minga(&dir, &phrase).arg("doctor"));
    let said = text(&stopped);
    assert_eq!(stopped.status.code(), Some(1), "{said}");
    assert!(said.contains("coop.key is kept in clear"), "{said}");
    assert!(said.contains("minga key protect coop"), "{said}");
    assert!(said.contains("the node is not running"), "{said}");
    assert!(said.contains("no contact details are set"), "{said}");
    // Fixed: the key protected, the node up. A co-op with no peer is still worth saying.
    assert!(
        run(minga(&dir, &phrase).args(["key", "protect", "coop"]))
            .status
            .success()
    );
    let node = up(&dir, &phrase);
    let running = run(minga(&dir, &phrase).arg("doctor"));
    let said = text(&running);
    assert!(said.contains("ok    coop.key is protected"), "{said}");
    assert!(said.contains("ok    the node is running"), "{said}");
    assert!(
        said.contains("ok    no entry is waiting on this machine's clock"),
        "{said}"
    );
    assert!(said.contains("no peer is connected"), "{said}");
    stop(node);
}
