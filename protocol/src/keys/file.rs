//! Key files: a secret key as PKCS#8 PEM, in clear or encrypted with a passphrase, written
//! readable by its owner only and refused when others can read it.

use std::fs;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::{KeyError, PKCS8_PREFIX, SecretKey};

impl SecretKey {
    /// The key as PKCS#8 v1 PEM, the form `openssl genpkey` writes.
    pub fn to_pkcs8_pem(&self) -> String {
        let mut der = PKCS8_PREFIX.to_vec();
        der.extend_from_slice(&self.0.to_bytes());
        pem("PRIVATE KEY", &der)
    }

    /// The key as an encrypted PKCS#8 PEM (`ENCRYPTED PRIVATE KEY`): PBES2 with scrypt and
    /// AES-256-CBC, a fresh salt and IV each time.
    pub fn to_encrypted_pem(&self, passphrase: &[u8]) -> Result<String, KeyError> {
        use pkcs8::der::Decode;
        let mut der = PKCS8_PREFIX.to_vec();
        der.extend_from_slice(&self.0.to_bytes());
        let der = pkcs8::der::zeroize::Zeroizing::new(der);
        let failed = || KeyError::BadKeyFile {
            path: "(encrypting)".into(),
        };
        let info = pkcs8::PrivateKeyInfoRef::from_der(&der).map_err(|_| failed())?;
        let encrypted = info.encrypt(passphrase).map_err(|_| failed())?;
        let pem = encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
            .map_err(|_| failed())?;
        Ok(pem.to_string())
    }

    /// Whether a key file's text is an encrypted PKCS#8 PEM.
    pub fn is_encrypted_pem(text: &str) -> bool {
        text.lines()
            .any(|l| l.trim() == "-----BEGIN ENCRYPTED PRIVATE KEY-----")
    }

    /// Reads an encrypted PKCS#8 PEM ed25519 key with its passphrase.
    pub fn from_encrypted_pem(
        text: &str,
        passphrase: &[u8],
        path: &str,
    ) -> Result<SecretKey, KeyError> {
        let bad = || KeyError::BadKeyFile {
            path: path.to_string(),
        };
        let (label, doc) = pkcs8::der::SecretDocument::from_pem(text).map_err(|_| bad())?;
        if label != "ENCRYPTED PRIVATE KEY" {
            return Err(bad());
        }
        let info =
            pkcs8::EncryptedPrivateKeyInfoRef::try_from(doc.as_bytes()).map_err(|_| bad())?;
        let plain = info
            .decrypt(passphrase)
            .map_err(|_| KeyError::WrongPassphrase {
                path: path.to_string(),
            })?;
        let seed: [u8; 32] = plain
            .as_bytes()
            .strip_prefix(&PKCS8_PREFIX[..])
            .and_then(|s| s.try_into().ok())
            .ok_or_else(bad)?;
        Ok(SecretKey::from_seed(&seed))
    }

    /// Reads a PKCS#8 PEM ed25519 key (v1, as openssl writes it).
    pub fn from_pkcs8_pem(text: &str, path: &str) -> Result<SecretKey, KeyError> {
        if SecretKey::is_encrypted_pem(text) {
            return Err(KeyError::Encrypted {
                path: path.to_string(),
            });
        }
        let err = || KeyError::BadKeyFile {
            path: path.to_string(),
        };
        let body: String = text
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != "-----BEGIN PRIVATE KEY-----")
            .skip(1)
            .take_while(|l| *l != "-----END PRIVATE KEY-----")
            .collect();
        let der = B64.decode(body).map_err(|_| err())?;
        let seed: [u8; 32] = der
            .strip_prefix(&PKCS8_PREFIX[..])
            .and_then(|s| s.try_into().ok())
            .ok_or_else(err)?;
        Ok(SecretKey::from_seed(&seed))
    }

    /// Writes the key to a new file readable by its owner only. Refuses to overwrite: a key is
    /// an identity, and replacing one by accident loses it.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        self.save_with(path, None)
    }

    /// [`SecretKey::save`], encrypted with `passphrase` when one is given: the key is never
    /// on disk in clear.
    pub fn save_with(&self, path: &Path, passphrase: Option<&[u8]>) -> Result<(), KeyError> {
        let text = match passphrase {
            Some(p) => self.to_encrypted_pem(p)?,
            None => self.to_pkcs8_pem(),
        };
        write_owner_only(path, text.as_bytes())
    }

    /// Rewrites this key's file (which holds this key) encrypted with `passphrase`, or in
    /// clear when `None`: a new file beside it, synced, then renamed over the old one, so a
    /// crash leaves one or the other whole.
    pub fn rewrite(&self, path: &Path, passphrase: Option<&[u8]>) -> Result<(), KeyError> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".new");
        let tmp = std::path::PathBuf::from(tmp);
        let _ = fs::remove_file(&tmp);
        self.save_with(&tmp, passphrase)?;
        fs::rename(&tmp, path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })
    }

    /// Reads a key file, refusing one that others can read (as ssh does); an encrypted one is
    /// [`KeyError::Encrypted`] (see [`SecretKey::load_with`]).
    pub fn load(path: &Path) -> Result<SecretKey, KeyError> {
        SecretKey::load_with(path, None)
    }

    /// Whether a key file is encrypted with a passphrase.
    pub fn file_is_encrypted(path: &Path) -> Result<bool, KeyError> {
        Ok(SecretKey::is_encrypted_pem(&read_key_file(path)?))
    }

    /// Reads a key file, opening an encrypted one with `passphrase`.
    pub fn load_with(path: &Path, passphrase: Option<&[u8]>) -> Result<SecretKey, KeyError> {
        let text = read_key_file(path)?;
        let shown = path.display().to_string();
        match passphrase {
            Some(p) if SecretKey::is_encrypted_pem(&text) => {
                SecretKey::from_encrypted_pem(&text, p, &shown)
            }
            _ => SecretKey::from_pkcs8_pem(&text, &shown),
        }
    }
}

/// Writes a new file (never over another) readable by its owner only, synced.
fn write_owner_only(path: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut opts = fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)
}

/// A key file's text, refusing one that others can read (as ssh does) or that is too large
/// to be a key.
fn read_key_file(path: &Path) -> Result<String, KeyError> {
    let shown = path.display().to_string();
    let io = |source| KeyError::Io {
        path: shown.clone(),
        source,
    };
    let meta = fs::metadata(path).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::KeyFileExposed {
                path: shown.clone(),
                mode,
            });
        }
    }
    if meta.len() > 4096 {
        return Err(KeyError::BadKeyFile { path: shown });
    }
    fs::read_to_string(path).map_err(io)
}

pub(super) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}
