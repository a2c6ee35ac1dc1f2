//! `minga backup FILE` and `minga restore FILE`: a running node's store and this data
//! directory's keys in one age file encrypted with a passphrase (scrypt), and back.
//!
//! Inside the age file is a [`minga_node::backup`] stream. Key files go in as they are (an
//! encrypted key stays encrypted under its own passphrase). Left out, and made anew on
//! restore: the device id (the restored node writes its own logs, never the old
//! installation's), the node key (a new peer id), and the API token.

use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use minga_node::backup::{self, BackupError, Item, Reader, Writer};
use serde_json::{Value, json};

use crate::Failure;
use crate::client::Client;
use crate::home::Home;

/// The data directory's files a backup carries.
const FILES: [&str; 5] = [
    "member.key",
    "coop.key",
    "coop.json",
    "config.toml",
    "contact.json",
];

fn failed(what: &str) -> impl Fn(BackupError) -> Failure + '_ {
    move |e| Failure::user(format!("{what}: {e}"), "check the file and the disk")
}

fn io_failed(what: &str) -> impl Fn(std::io::Error) -> Failure + '_ {
    move |e| Failure::user(format!("{what}: {e}"), "check the path and the disk")
}

/// A new file readable by its owner only.
fn create_private(path: &Path) -> Result<std::fs::File, Failure> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map_err(|e| {
        Failure::user(
            format!("cannot create {}: {e}", path.display()),
            "choose a path that does not exist yet",
        )
    })
}

/// Runs `minga backup FILE`.
pub async fn backup(api: &Client, home: &Home, file: &Path) -> Result<(), Failure> {
    if file.exists() {
        return Err(Failure::user(
            format!("{} exists", file.display()),
            "choose a new file name; a backup never overwrites",
        ));
    }
    let phrase = crate::passphrase::ask("passphrase for the backup", true)?;
    let v: Value = api.post("/v1/backup", &json!({})).await?;
    let snapshot = v
        .get("snapshot")
        .and_then(Value::as_str)
        .map(std::path::PathBuf::from)
        .ok_or_else(|| {
            Failure::user("the node did not say where its snapshot is", "report this")
        })?;
    let result = write_backup(home, &snapshot, file, phrase);
    let _ = std::fs::remove_file(&snapshot);
    if result.is_err() {
        let _ = std::fs::remove_file(file);
    }
    let (files, pairs) = result?;
    outln!("backup      {}", file.display());
    outln!("store       {pairs} entries of the store, as of the moment the node was asked");
    outln!("files       {}", files.join(", "));
    outln!(
        "restore it on a new machine with: minga restore {}",
        file.display()
    );
    Ok(())
}

fn write_backup(
    home: &Home,
    snapshot: &Path,
    file: &Path,
    phrase: String,
) -> Result<(Vec<String>, u64), Failure> {
    let input = std::fs::File::open(snapshot).map_err(|e| {
        Failure::user(
            format!(
                "cannot read the node's snapshot {}: {e}",
                snapshot.display()
            ),
            "run `minga backup` on the node's own machine, with its --data-dir",
        )
    })?;
    let mut reader = Reader::new(BufReader::new(input)).map_err(failed("the snapshot"))?;
    let out = create_private(file)?;
    let encryptor = age::Encryptor::with_user_passphrase(age::secrecy::SecretString::from(phrase));
    let sealed = encryptor
        .wrap_output(BufWriter::new(out))
        .map_err(io_failed("writing the backup"))?;
    let mut w = Writer::new(sealed).map_err(failed("writing the backup"))?;
    let mut files = Vec::new();
    for name in FILES {
        let path = home.path(name);
        if !path.exists() {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(io_failed(name))?;
        w.item(&Item::File {
            name: name.into(),
            bytes,
        })
        .map_err(failed("writing the backup"))?;
        files.push(name.to_string());
    }
    let mut pairs = 0;
    while let Some(item) = reader.next_item().map_err(failed("the snapshot"))? {
        w.item(&item).map_err(failed("writing the backup"))?;
        pairs += 1;
    }
    let sealed = w.finish().map_err(failed("writing the backup"))?;
    let mut out = sealed.finish().map_err(io_failed("writing the backup"))?;
    out.flush().map_err(io_failed("writing the backup"))?;
    out.get_ref()
        .sync_all()
        .map_err(io_failed("writing the backup"))?;
    Ok((files, pairs))
}

/// Runs `minga restore FILE` into `home`, which must not hold a node yet.
pub fn restore(home: &Home, file: &Path) -> Result<(), Failure> {
    if home.is_initialized() || home.path("store").exists() {
        return Err(Failure::user(
            format!("{} already holds a node", home.dir.display()),
            "restore into a new --data-dir; a restore never overwrites",
        ));
    }
    let input = std::fs::File::open(file).map_err(io_failed("reading the backup"))?;
    let decryptor = age::Decryptor::new_buffered(BufReader::new(input)).map_err(|e| {
        Failure::user(
            format!("{} is not a minga backup: {e}", file.display()),
            "give the file `minga backup` wrote",
        )
    })?;
    let phrase = crate::passphrase::ask("passphrase of the backup", false)?;
    let identity = age::scrypt::Identity::new(age::secrecy::SecretString::from(phrase));
    let plain = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| {
            Failure::user(
                format!("cannot open {}: {e}", file.display()),
                "the passphrase is the one given to `minga backup`",
            )
        })?;
    let reader = Reader::new(BufReader::new(plain)).map_err(failed("the backup"))?;
    std::fs::create_dir_all(&home.dir).map_err(io_failed("creating the data directory"))?;
    let result = restore_into(home, reader);
    if result.is_err() {
        // A cut or damaged backup leaves nothing half-restored behind.
        let _ = std::fs::remove_dir_all(home.path("store"));
        for name in FILES {
            let _ = std::fs::remove_file(home.path(name));
        }
    }
    let pairs = result?;
    let device = home.device()?;
    home.node_key()?;
    home.token(true)?;
    outln!(
        "restored    {} ({pairs} entries of the store)",
        home.dir.display()
    );
    outln!("device      {device} (new: this installation writes logs of its own)");
    outln!("node key    new: `minga up` prints the node's new id for peers to dial");
    outln!("Next: minga up");
    Ok(())
}

fn restore_into<R: std::io::Read>(home: &Home, reader: Reader<R>) -> Result<u64, Failure> {
    let store = minga_node::SledStore::open(&home.path("store"))
        .map_err(|e| Failure::user(format!("cannot create the store: {e}"), "check the disk"))?;
    backup::restore(reader, &store, |name, bytes| {
        if !FILES.contains(&name.as_str()) {
            return Err(BackupError::Format("it holds a file minga does not write"));
        }
        let mut f = create_private(&home.path(&name))
            .map_err(|f| BackupError::Io(std::io::Error::other(f.message)))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        Ok(())
    })
    .map_err(failed("restoring"))
}
