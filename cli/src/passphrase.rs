//! Passphrases for key files: from a file named by `MINGA_PASSPHRASE_FILE` (a service reads
//! it from systemd's credentials), else asked on the terminal without echo. Never taken from
//! the command line or the environment itself, where other users and logs can see it.

use std::path::Path;

use minga_protocol::{KeyError, SecretKey};

use crate::Failure;

/// The environment variable naming a file whose first line is the passphrase.
pub const PASSPHRASE_FILE: &str = "MINGA_PASSPHRASE_FILE";

/// The shortest passphrase accepted when encrypting.
const MIN_LEN: usize = 10;

/// A passphrase, asked as `prompt`; with `confirm`, asked twice and held to [`MIN_LEN`].
pub fn ask(prompt: &str, confirm: bool) -> Result<String, Failure> {
    let phrase = match std::env::var_os(PASSPHRASE_FILE) {
        Some(file) => {
            let text = std::fs::read_to_string(&file).map_err(|e| {
                Failure::user(
                    format!(
                        "cannot read {PASSPHRASE_FILE} ({}): {e}",
                        Path::new(&file).display()
                    ),
                    "point it at a file that holds the passphrase on its first line",
                )
            })?;
            text.lines().next().unwrap_or("").to_string()
        }
        None => {
            let first = rpassword::prompt_password(format!("{prompt}: ")).map_err(no_terminal)?;
            if confirm {
                let again = rpassword::prompt_password("the same again: ").map_err(no_terminal)?;
                if again != first {
                    return Err(Failure::user(
                        "the two passphrases differ",
                        "run the command again",
                    ));
                }
            }
            first
        }
    };
    if confirm && phrase.chars().count() < MIN_LEN {
        return Err(Failure::user(
            format!("a passphrase of fewer than {MIN_LEN} characters is too easy to guess"),
            "use a few words you will remember, and write them down with the offline copy",
        ));
    }
    Ok(phrase)
}

fn no_terminal(e: std::io::Error) -> Failure {
    Failure::user(
        format!("cannot ask for the passphrase: {e}"),
        format!("run it in a terminal, or set {PASSPHRASE_FILE} to a file that holds it"),
    )
}

/// Reads a key file, asking for its passphrase if it is encrypted.
pub fn load_key(path: &Path, what: &str) -> Result<SecretKey, Failure> {
    let fail = |e: KeyError| {
        Failure::user(
            format!("cannot read {what} {}: {e}", path.display()),
            match e {
                KeyError::WrongPassphrase { .. } => {
                    "try again: the passphrase is the one set with `minga key protect`"
                }
                _ => "check the file's permissions, or restore it from your offline copy",
            },
        )
    };
    if !SecretKey::file_is_encrypted(path).map_err(fail)? {
        return SecretKey::load(path).map_err(fail);
    }
    let phrase = ask(&format!("passphrase for {what}"), false)?;
    SecretKey::load_with(path, Some(phrase.as_bytes())).map_err(fail)
}
