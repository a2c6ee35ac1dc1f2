//! `minga service`: running the node as a systemd service under a user of its own, with the
//! data directory in the usual place (`/var/lib/minga`), restarted on failure and logging to
//! the journal.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::{Args, Subcommand};

use crate::Failure;

/// The unit's name.
pub const UNIT: &str = "minga.service";
/// The system user the service runs as.
const USER: &str = "minga";
/// Where the service keeps its data directory.
const DATA_DIR: &str = "/var/lib/minga";
/// Where the unit is installed.
const UNIT_DIR: &str = "/etc/systemd/system";

/// `minga service …`.
#[derive(Subcommand)]
pub enum ServiceCmd {
    /// Print the systemd unit (to review it, or to install it by other means).
    Unit(UnitArgs),
    /// Install and start the service (as root): a system user `minga`, the unit, enabled.
    Install(UnitArgs),
}

/// What the unit runs.
#[derive(Args, Clone)]
pub struct UnitArgs {
    /// The minga binary the unit runs [default: this one].
    #[arg(long, value_name = "PATH")]
    pub binary: Option<PathBuf>,
    /// The system user it runs as.
    #[arg(long, default_value = USER)]
    pub user: String,
    /// Its data directory (systemd creates it, owned by the user, mode 0700).
    #[arg(long, value_name = "DIR", default_value = DATA_DIR)]
    pub state: PathBuf,
}

/// The unit file's text.
pub fn unit(binary: &Path, user: &str, state: &Path) -> String {
    // StateDirectory= takes a path under /var/lib; any other directory is named as is.
    let state_dir = state
        .strip_prefix("/var/lib")
        .ok()
        .map(|rel| {
            format!(
                "StateDirectory={}\nStateDirectoryMode=0700\n",
                rel.display()
            )
        })
        .unwrap_or_else(|| format!("ReadWritePaths={}\n", state.display()));
    format!(
        "\
[Unit]
Description=minga, a peer-to-peer node for cooperatives
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User={user}
Group={user}
ExecStart={binary} --data-dir {state} up
Restart=on-failure
RestartSec=5
{state_dir}\
# With a protected member.key (minga key protect member), put its passphrase in a root-only
# file and uncomment both lines: systemd hands it to the node alone.
#   install -m 600 /dev/null /etc/minga/passphrase; editor /etc/minga/passphrase
#LoadCredential=passphrase:/etc/minga/passphrase
#Environment=MINGA_PASSPHRASE_FILE=%d/passphrase
# Logs go to the journal (journalctl -u minga); RUST_LOG=info for more.
Environment=RUST_LOG=warn
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectControlGroups=yes
RestrictSUIDSGID=yes
LockPersonality=yes

[Install]
WantedBy=multi-user.target
",
        binary = binary.display(),
        state = state.display(),
    )
}

fn resolve(args: &UnitArgs) -> Result<String, Failure> {
    let binary = match &args.binary {
        Some(b) => b.clone(),
        None => std::env::current_exe().map_err(|e| {
            Failure::user(
                format!("cannot tell where this minga is: {e}"),
                "give --binary /usr/bin/minga",
            )
        })?,
    };
    Ok(unit(&binary, &args.user, &args.state))
}

fn run(cmd: &mut Command) -> Result<bool, Failure> {
    cmd.status().map(|s| s.success()).map_err(|e| {
        Failure::user(
            format!("cannot run {:?}: {e}", cmd.get_program()),
            "is this a systemd machine?",
        )
    })
}

/// Runs a `minga service` command.
pub fn service(cmd: ServiceCmd) -> Result<(), Failure> {
    match cmd {
        ServiceCmd::Unit(args) => {
            outln!("{}", resolve(&args)?.trim_end());
            Ok(())
        }
        ServiceCmd::Install(args) => {
            let text = resolve(&args)?;
            let known = Command::new("id")
                .arg("-u")
                .arg(&args.user)
                .output()
                .is_ok_and(|o| o.status.success());
            if !known
                && !run(Command::new("useradd").args([
                    "--system",
                    "--home-dir",
                    &args.state.display().to_string(),
                    "--no-create-home",
                    "--shell",
                    "/usr/sbin/nologin",
                    &args.user,
                ]))?
            {
                return Err(Failure::user(
                    format!("cannot create the system user {}", args.user),
                    "run it as root (sudo minga service install)",
                ));
            }
            let path = Path::new(UNIT_DIR).join(UNIT);
            std::fs::write(&path, text).map_err(|e| {
                Failure::user(
                    format!("cannot write {}: {e}", path.display()),
                    "run it as root (sudo minga service install)",
                )
            })?;
            outln!("unit        {}", path.display());
            if !Path::new("/run/systemd/system").exists() {
                outln!("systemd is not running on this machine: start the node with");
                outln!(
                    "    {} --data-dir {} up",
                    resolve_binary(&args),
                    args.state.display()
                );
                return Ok(());
            }
            for step in [vec!["daemon-reload"], vec!["enable", "--now", UNIT]] {
                if !run(Command::new("systemctl").args(&step))? {
                    return Err(Failure::user(
                        format!("systemctl {} failed", step.join(" ")),
                        "see `journalctl -u minga`",
                    ));
                }
            }
            outln!("started     systemctl status minga; journalctl -u minga");
            Ok(())
        }
    }
}

fn resolve_binary(args: &UnitArgs) -> String {
    args.binary
        .clone()
        .or_else(|| std::env::current_exe().ok())
        .map_or_else(|| "minga".into(), |p| p.display().to_string())
}

/// Whether the service is running, when this is a systemd machine with the unit installed.
pub fn state() -> Option<String> {
    if !Path::new("/run/systemd/system").exists() {
        return None;
    }
    let out = Command::new("systemctl")
        .args(["is-active", UNIT])
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stdout).trim().to_string())
}
