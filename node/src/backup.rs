//! The backup container: what a node's data directory holds, in one stream that
//! `minga backup` encrypts (age, with a passphrase) and `minga restore` reads back.
//!
//! Layout (integers big-endian):
//!
//! | part | bytes |
//! |---|---|
//! | magic | `minga-backup/1\n` |
//! | items | each: kind u8 (1 file, 2 store pair), u32 name length, name, u64 value length, value |
//! | end | kind 0, then u64: how many items came before |
//!
//! A file item is one file of the data directory by name (`member.key`, `coop.key`,
//! `coop.json`, `config.toml`, `contact.json`; key files as they are, so an encrypted key stays encrypted);
//! a store pair is one key and value of the store. The count at the end tells a whole backup
//! from a cut one.

use std::io::{self, Read, Write};

use crate::store::{Pair, Store, StoreError};

/// The first bytes of every backup stream.
pub const MAGIC: &[u8] = b"minga-backup/1\n";
/// The longest name (a file name or a store key).
const MAX_NAME: usize = 64 * 1024;
/// The largest value (a file or a store value).
const MAX_VALUE: u64 = 256 * 1024 * 1024;

/// Why a backup could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The file could not be read or written.
    #[error(transparent)]
    Io(#[from] io::Error),
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Not a minga backup, or one cut short or damaged.
    #[error("not a whole minga backup: {0}")]
    Format(&'static str),
}

/// One part of a backup.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    /// A file of the data directory.
    File {
        /// Its name in the data directory.
        name: String,
        /// Its bytes.
        bytes: Vec<u8>,
    },
    /// A key and value of the store.
    Pair(Pair),
}

/// Writes backup items to a stream, counting them.
pub struct Writer<W: Write> {
    out: W,
    items: u64,
}

impl<W: Write> Writer<W> {
    /// Starts a backup stream.
    pub fn new(mut out: W) -> Result<Writer<W>, BackupError> {
        out.write_all(MAGIC)?;
        Ok(Writer { out, items: 0 })
    }

    /// Writes one item.
    pub fn item(&mut self, item: &Item) -> Result<(), BackupError> {
        let (kind, name, value) = match item {
            Item::File { name, bytes } => (1u8, name.as_bytes(), bytes.as_slice()),
            Item::Pair((k, v)) => (2u8, k.as_slice(), v.as_slice()),
        };
        if name.len() > MAX_NAME || value.len() as u64 > MAX_VALUE {
            return Err(BackupError::Format("an item is over its size limit"));
        }
        self.out.write_all(&[kind])?;
        self.out.write_all(&(name.len() as u32).to_be_bytes())?;
        self.out.write_all(name)?;
        self.out.write_all(&(value.len() as u64).to_be_bytes())?;
        self.out.write_all(value)?;
        self.items += 1;
        Ok(())
    }

    /// Writes every pair of `store`, in key order.
    pub fn store(&mut self, store: &dyn Store) -> Result<u64, BackupError> {
        let mut n = 0;
        for pair in store.dump() {
            self.item(&Item::Pair(pair?))?;
            n += 1;
        }
        Ok(n)
    }

    /// Ends the stream and returns the writer.
    pub fn finish(mut self) -> Result<W, BackupError> {
        self.out.write_all(&[0])?;
        self.out.write_all(&self.items.to_be_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Reads backup items from a stream; the last call returns `None` once the end marker and
/// its count check out.
pub struct Reader<R: Read> {
    input: R,
    items: u64,
    done: bool,
}

impl<R: Read> Reader<R> {
    /// Checks the magic.
    pub fn new(mut input: R) -> Result<Reader<R>, BackupError> {
        let mut magic = [0u8; MAGIC.len()];
        read_exact(&mut input, &mut magic)?;
        if magic != MAGIC {
            return Err(BackupError::Format("it does not start as a minga backup"));
        }
        Ok(Reader {
            input,
            items: 0,
            done: false,
        })
    }

    /// The next item, or `None` at a well-formed end.
    pub fn next_item(&mut self) -> Result<Option<Item>, BackupError> {
        if self.done {
            return Ok(None);
        }
        let mut kind = [0u8; 1];
        read_exact(&mut self.input, &mut kind)?;
        if kind[0] == 0 {
            let mut count = [0u8; 8];
            read_exact(&mut self.input, &mut count)?;
            if u64::from_be_bytes(count) != self.items {
                return Err(BackupError::Format("its item count does not match"));
            }
            self.done = true;
            return Ok(None);
        }
        let mut len = [0u8; 4];
        read_exact(&mut self.input, &mut len)?;
        let name_len = u32::from_be_bytes(len) as usize;
        if name_len > MAX_NAME {
            return Err(BackupError::Format("a name is over its size limit"));
        }
        let mut name = vec![0u8; name_len];
        read_exact(&mut self.input, &mut name)?;
        let mut len = [0u8; 8];
        read_exact(&mut self.input, &mut len)?;
        let value_len = u64::from_be_bytes(len);
        if value_len > MAX_VALUE {
            return Err(BackupError::Format("a value is over its size limit"));
        }
        let mut value = Vec::new();
        (&mut self.input).take(value_len).read_to_end(&mut value)?;
        if value.len() as u64 != value_len {
            return Err(BackupError::Format("it ends in the middle of an item"));
        }
        self.items += 1;
        match kind[0] {
            1 => Ok(Some(Item::File {
                name: String::from_utf8(name)
                    .map_err(|_| BackupError::Format("a file name is not UTF-8"))?,
                bytes: value,
            })),
            2 => Ok(Some(Item::Pair((name, value)))),
            _ => Err(BackupError::Format("an item of an unknown kind")),
        }
    }
}

/// Pairs restored per commit: bounded memory, whatever the backup's size.
const RESTORE_CHUNK: usize = 10_000;

/// Reads a whole backup into `store`, which must be empty, handing each file to `file`.
/// Returns the pairs restored. A backup that turns out cut or damaged stops with an error;
/// what was restored of it is then incomplete, so the caller discards the directory.
pub fn restore<R: Read>(
    mut reader: Reader<R>,
    store: &dyn Store,
    mut file: impl FnMut(String, Vec<u8>) -> Result<(), BackupError>,
) -> Result<u64, BackupError> {
    if store.dump().next().is_some() {
        return Err(BackupError::Format(
            "the store to restore into is not empty",
        ));
    }
    let mut chunk = Vec::new();
    let mut pairs = 0;
    while let Some(item) = reader.next_item()? {
        match item {
            Item::File { name, bytes } => file(name, bytes)?,
            Item::Pair(p) => {
                chunk.push(p);
                pairs += 1;
                if chunk.len() >= RESTORE_CHUNK {
                    store.restore(std::mem::take(&mut chunk))?;
                }
            }
        }
    }
    store.restore(chunk)?;
    Ok(pairs)
}

/// `read_exact`, with a cut stream reported as a cut backup.
fn read_exact(r: &mut impl Read, buf: &mut [u8]) -> Result<(), BackupError> {
    r.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => BackupError::Format("it is cut short"),
        _ => BackupError::Io(e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn items_round_trip_and_a_cut_stream_is_refused() {
        let mut w = Writer::new(Vec::new()).unwrap();
        let items = [
            Item::File {
                name: "coop.json".into(),
                bytes: b"{}".to_vec(),
            },
            Item::Pair((b"k".to_vec(), b"v".to_vec())),
        ];
        for i in &items {
            w.item(i).unwrap();
        }
        let bytes = w.finish().unwrap();
        let mut r = Reader::new(bytes.as_slice()).unwrap();
        for i in &items {
            assert_eq!(r.next_item().unwrap().as_ref(), Some(i));
        }
        assert_eq!(r.next_item().unwrap(), None);
        for cut in [bytes.len() - 1, bytes.len() - 9, 20, 3] {
            let mut r = match Reader::new(&bytes[..cut]) {
                Ok(r) => r,
                Err(e) => {
                    assert!(matches!(e, BackupError::Format(_)), "{e}");
                    continue;
                }
            };
            let mut result = Ok(Some(Item::Pair((Vec::new(), Vec::new()))));
            while let Ok(Some(_)) = result {
                result = r.next_item();
            }
            assert!(
                matches!(result, Err(BackupError::Format(_))),
                "cut at {cut}"
            );
        }
    }
}
