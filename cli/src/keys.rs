//! `minga key`: encrypting key files with a passphrase, and taking it off. No node is needed.

use clap::{Subcommand, ValueEnum};
use minga_protocol::SecretKey;

use crate::Failure;
use crate::home::Home;

/// Which key file.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Which {
    /// member.key: this node's member signs with it; `minga up` asks for its passphrase.
    Member,
    /// coop.key: the co-op key; the commands that need it ask for its passphrase.
    Coop,
}

impl Which {
    fn file(self) -> &'static str {
        match self {
            Which::Member => "member.key",
            Which::Coop => "coop.key",
        }
    }
}

/// `minga key …`.
#[derive(Subcommand)]
pub enum KeyCmd {
    /// Encrypt a key file with a passphrase (PKCS#8, scrypt and AES-256; openssl opens it).
    Protect {
        /// Which key.
        which: Which,
    },
    /// Take the passphrase off a key file (it is then kept in clear, owner-only).
    Unprotect {
        /// Which key.
        which: Which,
    },
}

/// Runs a `minga key` command.
pub fn run(home: &Home, cmd: KeyCmd) -> Result<(), Failure> {
    let (which, protect) = match cmd {
        KeyCmd::Protect { which } => (which, true),
        KeyCmd::Unprotect { which } => (which, false),
    };
    let name = which.file();
    let path = home.path(name);
    if !path.exists() {
        return Err(Failure::user(
            format!("{} does not exist", path.display()),
            "run it with --data-dir of the node that keeps the key",
        ));
    }
    let encrypted = SecretKey::file_is_encrypted(&path)
        .map_err(|e| Failure::user(e.to_string(), "check the file's permissions"))?;
    if encrypted == protect {
        let state = if protect { "already" } else { "not" };
        return Err(Failure::user(
            format!("{name} is {state} protected by a passphrase"),
            "nothing to do",
        ));
    }
    let key = crate::passphrase::load_key(&path, name)?;
    let phrase = if protect {
        Some(crate::passphrase::ask(
            &format!("new passphrase for {name}"),
            true,
        )?)
    } else {
        None
    };
    key.rewrite(&path, phrase.as_deref().map(str::as_bytes))
        .map_err(|e| Failure::user(e.to_string(), "check the data directory's permissions"))?;
    match (which, protect) {
        (Which::Member, true) => {
            outln!("member.key is encrypted; `minga up` asks for its passphrase.");
            outln!(
                "A service reads it from the file named by {} (systemd: LoadCredential).",
                crate::passphrase::PASSPHRASE_FILE
            );
        }
        (Which::Coop, true) => {
            outln!("coop.key is encrypted. A node no longer holds the co-op key while it runs:");
            outln!("the commands that need it (coop rotate, certifying or revoking an admin)");
            outln!("ask for the passphrase and bring it in for that command only.");
            outln!("Restart `minga up` if it is running, and keep a copy of coop.key offline.");
        }
        (_, false) => outln!("{name} is kept in clear (readable by its owner only)."),
    }
    Ok(())
}
