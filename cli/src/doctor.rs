//! `minga doctor`: the things a newcomer gets wrong, each checked and, when wrong, said with
//! what to do. Exits 1 when something needs fixing.

use std::path::Path;

use minga_protocol::SecretKey;
use serde_json::Value;

use crate::Failure;
use crate::client::Client;
use crate::home::Home;

/// One finding.
enum Check {
    Ok(String),
    Warn(String, String),
}

fn mode_of(path: &Path) -> Option<u32> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path)
            .ok()
            .map(|m| m.permissions().mode() & 0o777)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        None
    }
}

fn files(home: &Home) -> Vec<Check> {
    let mut out = Vec::new();
    if !home.is_initialized() {
        out.push(Check::Warn(
            format!("{} holds no node", home.dir.display()),
            "run `minga init` (or `minga up`, which does it), or give --data-dir".into(),
        ));
        return out;
    }
    match mode_of(&home.dir) {
        Some(m) if m & 0o077 != 0 => out.push(Check::Warn(
            format!("the data directory is open to others (mode {m:o})"),
            format!("chmod 700 {}", home.dir.display()),
        )),
        _ => out.push(Check::Ok("the data directory is its owner's only".into())),
    }
    for name in [
        "node.key",
        "member.key",
        "api.token",
        "coop.key",
        "contact.json",
    ] {
        let path = home.path(name);
        if !path.exists() {
            continue;
        }
        match mode_of(&path) {
            Some(m) if m & 0o077 != 0 => out.push(Check::Warn(
                format!("{name} is readable by others (mode {m:o})"),
                format!("chmod 600 {}", path.display()),
            )),
            _ => out.push(Check::Ok(format!("{name} is readable by its owner only"))),
        }
    }
    if home.path("contact.json").exists() {
        out.push(Check::Ok(
            "contact details are set, for the other side of an accepted pledge".into(),
        ));
    } else {
        out.push(Check::Warn(
            "no contact details are set: the other side of an accepted pledge cannot reach this co-op".into(),
            "minga contact set --person … --phone … (only that side can read them)".into(),
        ));
    }
    if home.path("coop.key").exists() {
        match SecretKey::file_is_encrypted(&home.path("coop.key")) {
            Ok(true) => out.push(Check::Ok("coop.key is protected by a passphrase".into())),
            _ => out.push(Check::Warn(
                "coop.key is kept in clear".into(),
                "minga key protect coop; and keep a copy offline".into(),
            )),
        }
    }
    out
}

fn port_free(addr: &str) -> bool {
    std::net::TcpListener::bind(addr).is_ok()
}

async fn node(api: Option<&Client>, home: &Home) -> Vec<Check> {
    let mut out = Vec::new();
    let status = match api {
        Some(api) => api.get("/v1/status").await.ok(),
        None => None,
    };
    let Some(v) = status else {
        out.push(Check::Warn(
            "the node is not running (its API does not answer)".into(),
            "start it: minga up (or systemctl start minga)".into(),
        ));
        let api_addr = home.api_addr().unwrap_or_default();
        for (what, addr) in [("the API", api_addr.as_str()), ("the node", "0.0.0.0:7740")] {
            if !addr.is_empty() && !port_free(addr) {
                out.push(Check::Warn(
                    format!("{what}'s address {addr} is taken by another program"),
                    "stop it, or choose another with --api / --listen".into(),
                ));
            }
        }
        return out;
    };
    out.push(Check::Ok("the node is running".into()));
    let coops = v.get("coops").and_then(Value::as_array).map_or(0, Vec::len);
    let peers = v.get("peers").and_then(Value::as_u64).unwrap_or(0);
    if coops == 0 {
        out.push(Check::Warn(
            "the node replicates no co-op".into(),
            "found one (minga init --coop) or trust one: minga coop trust coop.json".into(),
        ));
    } else if peers == 0 {
        out.push(Check::Warn(
            format!("{coops} co-op(s) trusted, but no peer is connected"),
            "give a peer to dial: minga up --bootstrap /ip4/…/tcp/7740/p2p/<peer id>, or \
             [network] bootstrap in config.toml"
                .into(),
        ));
    } else {
        out.push(Check::Ok(format!("{peers} peer(s) connected")));
    }
    if v.get("disk_low").and_then(Value::as_bool) == Some(true) {
        out.push(Check::Warn(
            "the disk holding the store is nearly full".into(),
            "make space: the node refuses writes once it is full".into(),
        ));
    }
    let total = |field: &str| crate::show::coops_total(&v, field);
    // Entries stamped more than ten minutes ahead of this machine's clock wait until it
    // reaches them: when peers' entries do, this clock is behind.
    let ahead = total("waiting_ahead_of_clock");
    if ahead > 0 {
        out.push(Check::Warn(
            format!("{ahead} entries from peers are stamped more than ten minutes ahead of this machine's clock"),
            "this clock is probably behind: check it (timedatectl) and keep it set (an NTP client)"
                .into(),
        ));
    } else {
        out.push(Check::Ok(
            "no entry is waiting on this machine's clock".into(),
        ));
    }
    let waiting = total("waiting_entries");
    if waiting > ahead {
        out.push(Check::Warn(
            format!("{} entries wait for what they depend on", waiting - ahead),
            "usually catch-up fills them in; if they stay, give the node more peers".into(),
        ));
    }
    out
}

/// Runs `minga doctor`.
pub async fn doctor(home: &Home, api: Option<&str>) -> Result<(), Failure> {
    let mut checks = files(home);
    let client = if home.is_initialized() {
        Client::new(home, api).ok()
    } else {
        None
    };
    checks.extend(node(client.as_ref(), home).await);
    let mut problems = 0;
    for c in &checks {
        match c {
            Check::Ok(what) => outln!("ok    {what}"),
            Check::Warn(what, todo) => {
                problems += 1;
                outln!("fix   {what}");
                outln!("      → {todo}");
            }
        }
    }
    if problems > 0 {
        return Err(Failure::user(
            format!("{problems} thing(s) to fix"),
            "do what each `fix` line says, then run minga doctor again",
        ));
    }
    outln!("nothing to fix");
    Ok(())
}
