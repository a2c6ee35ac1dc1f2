//! Invites: the one line a co-op sends another so it can join a network.
//!
//! `minga-invite:` then the URL-safe base64 (no padding) of: a version byte (1), the network id
//! (32 bytes), the inviting co-op's id (32 bytes), a count of addresses (1 byte, at most
//! [`MAX_INVITE_ADDRS`]) and for each its length (1 byte) and its multiaddr text (UTF-8, at
//! most [`MAX_ADDR_BYTES`]), and last the first four bytes of the SHA-256 of everything
//! before them, so a code cut short in a chat is refused, not misread.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::NetworkId;
use crate::hash::Hash;
use crate::ids::CoopId;

/// The text every invite starts with.
pub const INVITE_PREFIX: &str = "minga-invite:";
/// The most bootstrap addresses one invite carries.
pub const MAX_INVITE_ADDRS: usize = 4;
/// The longest address an invite carries, in bytes.
pub const MAX_ADDR_BYTES: usize = 200;
const VERSION: u8 = 1;
const CHECK_BYTES: usize = 4;

/// An invite to a network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invite {
    /// The network.
    pub network: NetworkId,
    /// The co-op that invites.
    pub coop: CoopId,
    /// Where the inviting co-op's node (or another of the network) listens, as multiaddr text
    /// ending in `/p2p/<peer id>`.
    pub addrs: Vec<String>,
}

/// Why a line is not an invite.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteError {
    /// It does not start as an invite does.
    #[error("an invite starts with `{INVITE_PREFIX}`")]
    Prefix,
    /// Its body is not base64, or is cut short or damaged.
    #[error("the invite is damaged or cut short: {0}")]
    Damaged(&'static str),
    /// A newer minga wrote it.
    #[error("invite version {0} is newer than this minga reads")]
    Version(u8),
    /// It names no address, too many, or one too long or not text.
    #[error("the invite's addresses: {0}")]
    Addrs(&'static str),
}

impl Invite {
    /// The invite as one line of text. Addresses past [`MAX_INVITE_ADDRS`] or longer than
    /// [`MAX_ADDR_BYTES`] are left out.
    pub fn encode(&self) -> String {
        let addrs: Vec<&String> = self
            .addrs
            .iter()
            .filter(|a| !a.is_empty() && a.len() <= MAX_ADDR_BYTES)
            .take(MAX_INVITE_ADDRS)
            .collect();
        let mut out = vec![VERSION];
        out.extend_from_slice(self.network.as_bytes());
        out.extend_from_slice(self.coop.as_bytes());
        out.push(addrs.len() as u8);
        for a in addrs {
            out.push(a.len() as u8);
            out.extend_from_slice(a.as_bytes());
        }
        let check = Hash::of(&out);
        out.extend_from_slice(&check.as_bytes()[..CHECK_BYTES]);
        format!("{INVITE_PREFIX}{}", URL_SAFE_NO_PAD.encode(out))
    }

    /// Reads an invite, with or without spaces around it.
    pub fn decode(text: &str) -> Result<Invite, InviteError> {
        let body = text
            .trim()
            .strip_prefix(INVITE_PREFIX)
            .ok_or(InviteError::Prefix)?;
        // The longest invite is well under this; a longer body is not one.
        if body.len() > 2048 {
            return Err(InviteError::Damaged("too long"));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| InviteError::Damaged("not base64"))?;
        if bytes.len() < 1 + 64 + 1 + CHECK_BYTES {
            return Err(InviteError::Damaged("too short"));
        }
        let (data, check) = bytes.split_at(bytes.len() - CHECK_BYTES);
        if Hash::of(data).as_bytes()[..CHECK_BYTES] != *check {
            return Err(InviteError::Damaged("its check does not match"));
        }
        if data[0] != VERSION {
            return Err(InviteError::Version(data[0]));
        }
        let id = |at: usize| -> Result<Hash, InviteError> {
            let a: [u8; 32] = data
                .get(at..at + 32)
                .and_then(|s| s.try_into().ok())
                .ok_or(InviteError::Damaged("too short"))?;
            Ok(Hash(a))
        };
        let network = NetworkId(id(1)?);
        let coop = CoopId(id(33)?);
        let count = data[65] as usize;
        if count == 0 || count > MAX_INVITE_ADDRS {
            return Err(InviteError::Addrs("an invite names 1 to 4 addresses"));
        }
        let mut at = 66;
        let mut addrs = Vec::with_capacity(count);
        for _ in 0..count {
            let len = *data.get(at).ok_or(InviteError::Damaged("too short"))? as usize;
            let raw = data
                .get(at + 1..at + 1 + len)
                .ok_or(InviteError::Damaged("too short"))?;
            let addr = std::str::from_utf8(raw)
                .map_err(|_| InviteError::Addrs("an address is not text"))?;
            if addr.is_empty() || len > MAX_ADDR_BYTES || addr.chars().any(char::is_control) {
                return Err(InviteError::Addrs(
                    "an address is empty, too long or not text",
                ));
            }
            addrs.push(addr.to_string());
            at += 1 + len;
        }
        if at != data.len() {
            return Err(InviteError::Damaged("bytes after the last address"));
        }
        Ok(Invite {
            network,
            coop,
            addrs,
        })
    }
}
