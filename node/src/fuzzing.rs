//! The bodies of the fuzz targets in `node/fuzz`, one function per target, shared with the
//! test that replays every input kept from fuzzing (`tests/fuzz_regressions.rs`). Each takes
//! arbitrary bytes and must return without panicking. Not API: built only with the `fuzzing`
//! feature.

#![allow(clippy::panic)]

use crate::views::RecordView;

/// A fuzz target's body.
pub type Target = fn(&[u8]);

/// The fuzz targets, by name, as `cargo fuzz run NAME` knows them.
pub const TARGETS: [(&str, Target); 4] = [
    ("view_layout", view_layout),
    ("csv_import", csv_import),
    ("sync_frame", sync_frame),
    ("views_snapshot", views_snapshot),
];

/// A stored view either fails to decode or decodes to a view whose encoding decodes to the
/// same view.
pub fn view_layout(data: &[u8]) {
    let Some(view) = crate::view_codec::decode(data) else {
        return;
    };
    let again = crate::view_codec::decode(&crate::view_codec::encode(&view));
    if again.as_ref() != Some(&view) {
        panic!("a decoded view does not survive encoding: {view:?} became {again:?}");
    }
}

/// Any bytes, as a CSV file to import, give listings or a typed error.
pub fn csv_import(data: &[u8]) {
    let _ = crate::api::read_listings_csv(data, |_| {});
}

/// Any bytes, as a catch-up frame on `/minga/sync/2` (compressed or not), read as a request
/// and as an answer: a message within the limit, or an error; never a panic, and never more
/// than the limit held. A message read writes back to a frame that reads as the same message.
pub fn sync_frame(data: &[u8]) {
    crate::net::codec::fuzz_frame(data);
}

/// Any bytes, as the body of a views snapshot file (what its checksum covers), read as views
/// or as an error, never a panic; views read write back to a snapshot that reads as the same
/// views.
pub fn views_snapshot(data: &[u8]) {
    crate::views::snapshot::fuzz(data);
}

/// A views snapshot's body holding these views (for seeding the corpus).
pub fn encode_views_snapshot(views: Vec<RecordView>) -> Vec<u8> {
    crate::views::snapshot::fuzz_seed(views)
}

/// A `/minga/sync/2` frame holding `message` (for seeding the corpus).
pub fn encode_sync_frame(message: minga_protocol::SyncMessage) -> Vec<u8> {
    crate::net::codec::frame_bytes(message)
}

/// A view's stored bytes (for seeding the corpus).
pub fn encode_view(view: &RecordView) -> Vec<u8> {
    crate::view_codec::encode(view)
}
