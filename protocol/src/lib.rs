//! The pure core of minga: keys, co-op identity, membership, records, signed logs, commitments
//! and the sync messages. No async runtime, network or storage: everything here is plain
//! functions over values, tested with unit and property tests.
//!
//! ```
//! use minga_protocol::{CoopSecret, MemberSecret, Timestamp, found_coop};
//!
//! let coop_key = CoopSecret::from_seed(&[1; 32]);
//! let founder = MemberSecret::from_seed(&[2; 32]);
//! let genesis = found_coop(&coop_key, "La Esperanza", &founder, Timestamp(0)).unwrap();
//! // The co-op's id is the hash of its signed genesis, not its key.
//! assert_eq!(genesis.coop_id().0, genesis.hash());
//! ```

mod canonical;
pub mod contact;
mod coop;
mod entry;
pub mod fund;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod hash;
mod ids;
mod keys;
mod ledger;
mod membership;
pub mod network;
mod quantity;
mod record;
mod record_doc;
mod resource;
mod statement;
mod status;
mod sync;
mod sync_session;
mod time;
mod validate;
mod wire;

pub use canonical::{
    Canon, CanonError, Fields, MAX_STATEMENT_BYTES, MAX_VALUE_BYTES, Signed, Statement,
};
pub use coop::{Genesis, Rotation, found_coop};
pub use entry::{
    DecodeError, Entry, EntryKind, Equivocation, HEADER_BYTES, Header, MAX_ENTRY_BYTES,
    MAX_PAYLOAD_BYTES,
};
pub use hash::{Hash, HashParseError};
pub use ids::{CoopId, DeviceId, EntryHash, LogId, RecordId, RecordRef};
pub use keys::{
    AuthorKey, CoopSecret, KeyError, LogAuthor, MemberSecret, NodeSecret, PublicKey, SecretKey,
    Signature, verify_batch,
};
pub use ledger::{
    Ingested, Ledger, LedgerStore, MAX_DORMANT, MAX_EQUIVOCATIONS, MAX_PENDING, MAX_PENDING_BYTES,
    MAX_PENDING_PER_AUTHOR, MAX_PENDING_UNKNOWN, MemoryLedger, MemoryLedgerStore, PENDING_TTL_MS,
    membership_from,
};
pub use membership::{
    Carrier, Certificate, Cutoff, Device, Membership, MembershipError, Revocation, Role,
};
pub use quantity::{Dimension, Quantity, QuantityError, Unit};
pub use record::{
    ExpelRecord, MAX_TEXT_BYTES, MAX_TITLE_BYTES, Need, Offer, Profile, Record, RecordError,
    RecordKind, SealedContact, VouchRecord,
};
pub use resource::{Category, Location, Point, TimeWindow, Urgency, haversine_km};
pub use statement::{
    Acceptance, Bundle, BundleError, Cancellation, Commitment, Decision, Delivery,
    MAX_BUNDLE_BYTES, Pledge, SignedPart, Verified,
};
pub use status::{
    Answer, NeedStatus, OfferStatus, PledgeState, PledgeStatus, Received, need_status,
    need_status_from, offer_status, offer_status_from, pledge_status, pledge_status_from,
    pledge_totals,
};
pub use sync::{
    MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_COOPS, MAX_FORKS, MAX_LOGS, MAX_MESSAGE_BYTES,
    MAX_NOTE_BYTES, MAX_PAYLOAD_WANTS, MAX_VECTORS_BYTES, MAX_WANTS, SignedBytes, SyncError,
    SyncMessage, VersionVector, Want, differing_vectors, plan_wants, serve_wants,
};
pub use sync_session::{
    Known, MAX_IN_FLIGHT, MAX_PROBES, MAX_PROOF_WANTS, REQUEST_TIMEOUT, RequestTag, SyncAction,
    SyncSession, SyncViolation,
};
pub use time::{Clock, MAX_CLOCK_SKEW_MS, ManualClock, SystemClock, Timestamp};
pub use validate::{
    EntryError, LedgerView, Outcome, RecordState, author_change, check_edit, validate,
};
pub use wire::WireError;
