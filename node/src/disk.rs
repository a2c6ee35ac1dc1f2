//! Disk space: what the store takes and what is left on its file system, so a node warns
//! before the disk fills (sled cannot commit on a full disk, and the node then refuses every
//! write until space is made).

use std::path::Path;

/// Free space below which a node warns: 1 GiB, or 5 % of the file system if that is more.
const LOW_BYTES: u64 = 1 << 30;

/// The file system's space, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Space {
    /// Available to this (unprivileged) process.
    pub free: u64,
    /// The file system's size.
    pub total: u64,
}

impl Space {
    /// Whether free space is low enough to warn about.
    pub fn is_low(&self) -> bool {
        self.free < LOW_BYTES.max(self.total / 20)
    }
}

/// The space of the file system holding `path` (`None` where it cannot be read).
pub fn space(path: &Path) -> Option<Space> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(Space {
        free: s.f_bavail.saturating_mul(s.f_frsize),
        total: s.f_blocks.saturating_mul(s.f_frsize),
    })
}

/// The bytes of the files under `dir` (the store's directory holds a few files and one level
/// of subdirectories).
pub fn size_of(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => size_of(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_is_under_a_gibibyte_or_five_percent() {
        let gib = 1u64 << 30;
        assert!(
            Space {
                free: gib - 1,
                total: 10 * gib
            }
            .is_low()
        );
        assert!(
            !Space {
                free: 2 * gib,
                total: 10 * gib
            }
            .is_low()
        );
        assert!(
            Space {
                free: 4 * gib,
                total: 100 * gib
            }
            .is_low()
        );
    }

    #[test]
    fn a_directory_s_size_counts_its_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/b"), [0u8; 20]).unwrap();
        assert_eq!(size_of(dir.path()), 120);
        let s = space(dir.path()).unwrap();
        assert!(s.total >= s.free && s.total > 0);
    }
}
