//! The catch-up protocol on a libp2p stream: one length-prefixed [`SyncMessage`] per request
//! and per response, bounded by [`MAX_REQUEST_BYTES`] and [`MAX_MESSAGE_BYTES`]. A message is
//! read as its bytes arrive: a peer that claims a large length and sends little makes this
//! node hold only what it sent.
//!
//! Two versions, chosen per stream by libp2p's protocol negotiation (a node offers both,
//! [`SYNC_PROTOCOL_2`] first, so two nodes of this version speak 2 and an older peer 1):
//!
//! - `/minga/sync/1`: `u32` length (big-endian), then the message.
//! - `/minga/sync/2`: `u32` length of what follows, one byte naming the encoding, then the
//!   message: `0` as it is, `1` as one zstd frame (RFC 8878). A sender compresses messages of
//!   [`PACK_FROM`] bytes or more when that makes them smaller: in practice batches of
//!   entries, whose co-op ids, author keys, field names and categories repeat from entry to
//!   entry (signatures and hashes do not compress). A receiver holds the frame within the same
//!   limits as an unpacked message and decompresses it within them too, with a window of at
//!   most [`MAX_WINDOW_LOG`]: a small frame that would unpack to gigabytes (or ask for a
//!   huge window) is refused once it passes the limit, not after.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use minga_protocol::{MAX_MESSAGE_BYTES, SyncMessage};
use prometheus_client::metrics::counter::Counter;

/// The largest request: a summary of the most co-ops, or a want of the most ranges, each
/// well under 1 MiB. Answers may take up to [`MAX_MESSAGE_BYTES`].
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// How much of a message is set aside before its bytes arrive.
const READ_CHUNK: usize = 64 * 1024;

/// The first version: messages as they are.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/minga/sync/1");
/// The second: large messages compressed.
pub const SYNC_PROTOCOL_2: StreamProtocol = StreamProtocol::new("/minga/sync/2");

/// Messages this long or longer are compressed on `/minga/sync/2` (when it helps).
pub const PACK_FROM: usize = 512;
/// zstd's level: its default, which packs a batch of entries about as well as the highest
/// levels at a small fraction of the time.
const PACK_LEVEL: i32 = 3;
/// The largest zstd window a peer's frame may ask for: 8 MiB, the largest message.
pub const MAX_WINDOW_LOG: u32 = 23;

/// The byte after the length on `/minga/sync/2`.
const RAW: u8 = 0;
const ZSTD: u8 = 1;

/// Reads and writes sync messages, counting the bytes that cross the wire.
#[derive(Clone, Default)]
pub struct SyncCodec {
    read: Counter,
    written: Counter,
}

impl SyncCodec {
    /// A codec that adds the bytes it reads and writes (lengths and encoding bytes included)
    /// to these counters.
    pub fn counting(read: Counter, written: Counter) -> SyncCodec {
        SyncCodec { read, written }
    }
}

/// Reads one frame of `protocol`: the message, and the bytes it took on the wire.
async fn read_frame<T: AsyncRead + Unpin + Send>(
    protocol: &StreamProtocol,
    io: &mut T,
    limit: usize,
) -> io::Result<(SyncMessage, usize)> {
    if *protocol != SYNC_PROTOCOL_2 {
        let body = read_body(io, limit).await?;
        let message = SyncMessage::decode(&body).map_err(|e| invalid(e.to_string()))?;
        return Ok((message, 4 + body.len()));
    }
    // The encoding byte comes on top of the message's own limit.
    let body = read_body(io, limit + 1).await?;
    let wire = 4 + body.len();
    let (&encoding, data) = body
        .split_first()
        .ok_or_else(|| invalid("empty sync frame".into()))?;
    let message = match encoding {
        RAW => SyncMessage::decode(data).map_err(|e| invalid(e.to_string()))?,
        ZSTD => SyncMessage::decode(&unpack(data, limit)?).map_err(|e| invalid(e.to_string()))?,
        other => return Err(invalid(format!("unknown sync frame encoding {other}"))),
    };
    Ok((message, wire))
}

/// Writes one frame of `protocol`; returns the bytes it took on the wire.
async fn write_frame<T: AsyncWrite + Unpin + Send>(
    protocol: &StreamProtocol,
    io: &mut T,
    message: SyncMessage,
) -> io::Result<usize> {
    let bytes = message.encode();
    let body = if *protocol == SYNC_PROTOCOL_2 {
        pack(bytes)
    } else {
        bytes
    };
    let len = u32::try_from(body.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "sync message too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(&body).await?;
    io.close().await?;
    Ok(4 + body.len())
}

/// The body of a `/minga/sync/2` frame for an encoded message: compressed when that makes it
/// smaller.
fn pack(message: Vec<u8>) -> Vec<u8> {
    if message.len() >= PACK_FROM
        && let Ok(packed) = zstd::bulk::compress(&message, PACK_LEVEL)
        && packed.len() < message.len()
    {
        let mut body = Vec::with_capacity(1 + packed.len());
        body.push(ZSTD);
        body.extend_from_slice(&packed);
        return body;
    }
    let mut body = Vec::with_capacity(1 + message.len());
    body.push(RAW);
    body.extend_from_slice(&message);
    body
}

/// Decompresses one zstd frame to at most `limit` bytes.
fn unpack(data: &[u8], limit: usize) -> io::Result<Vec<u8>> {
    let mut decoder = zstd::stream::read::Decoder::with_buffer(data)?;
    decoder.window_log_max(MAX_WINDOW_LOG)?;
    let mut out = Vec::new();
    io::Read::read_to_end(&mut io::Read::take(decoder, limit as u64 + 1), &mut out)
        .map_err(|e| invalid(format!("sync frame does not decompress: {e}")))?;
    if out.len() > limit {
        return Err(invalid(format!(
            "sync frame decompresses past the limit of {limit} bytes"
        )));
    }
    Ok(out)
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

/// Reads a length and that many bytes, refusing a length over `limit`.
async fn read_body<T: AsyncRead + Unpin + Send>(io: &mut T, limit: usize) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sync message of {len} bytes is over the limit of {limit}"),
        ));
    }
    let mut buf = Vec::with_capacity(len.min(READ_CHUNK));
    io.take(len as u64).read_to_end(&mut buf).await?;
    if buf.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("sync message ended after {} of {len} bytes", buf.len()),
        ));
    }
    Ok(buf)
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncMessage;
    type Response = SyncMessage;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<SyncMessage> {
        let (message, wire) = read_frame(protocol, io, MAX_REQUEST_BYTES).await?;
        self.read.inc_by(wire as u64);
        Ok(message)
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<SyncMessage> {
        let (message, wire) = read_frame(protocol, io, MAX_MESSAGE_BYTES).await?;
        self.read.inc_by(wire as u64);
        Ok(message)
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
        req: SyncMessage,
    ) -> io::Result<()> {
        let wire = write_frame(protocol, io, req).await?;
        self.written.inc_by(wire as u64);
        Ok(())
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        protocol: &StreamProtocol,
        io: &mut T,
        res: SyncMessage,
    ) -> io::Result<()> {
        let wire = write_frame(protocol, io, res).await?;
        self.written.inc_by(wire as u64);
        Ok(())
    }
}

/// The body of the `sync_frame` fuzz target (see `crate::fuzzing`): a fuzz target reports a
/// broken property by panicking.
#[cfg(feature = "fuzzing")]
#[allow(clippy::panic)]
pub(crate) fn fuzz_frame(data: &[u8]) {
    use futures::executor::block_on;
    for limit in [MAX_REQUEST_BYTES, MAX_MESSAGE_BYTES] {
        let mut wire = futures::io::Cursor::new(data);
        let Ok((message, wire_len)) = block_on(read_frame(&SYNC_PROTOCOL_2, &mut wire, limit))
        else {
            continue;
        };
        if wire_len > data.len() {
            panic!("read {wire_len} bytes from {} given", data.len());
        }
        let again = frame_bytes(message.clone());
        let mut wire = futures::io::Cursor::new(again.as_slice());
        match block_on(read_frame(&SYNC_PROTOCOL_2, &mut wire, MAX_MESSAGE_BYTES)) {
            Ok((back, _)) if back == message => {}
            other => panic!("a frame read does not survive writing: {:?}", other.err()),
        }
    }
}

/// A `/minga/sync/2` frame holding `message`, as it goes on the wire.
#[cfg(feature = "fuzzing")]
#[allow(clippy::panic)]
pub(crate) fn frame_bytes(message: SyncMessage) -> Vec<u8> {
    let mut wire = futures::io::Cursor::new(Vec::new());
    match futures::executor::block_on(write_frame(&SYNC_PROTOCOL_2, &mut wire, message)) {
        Ok(_) => wire.into_inner(),
        Err(e) => panic!("writing to memory failed: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;
    use minga_protocol::{CoopId, Hash};

    fn framed(len: u32, body: &[u8]) -> Cursor<Vec<u8>> {
        let mut bytes = len.to_be_bytes().to_vec();
        bytes.extend_from_slice(body);
        Cursor::new(bytes)
    }

    async fn read(
        protocol: &StreamProtocol,
        wire: &mut Cursor<Vec<u8>>,
        limit: usize,
    ) -> io::Result<SyncMessage> {
        read_frame(protocol, wire, limit).await.map(|(m, _)| m)
    }

    /// A batch like catch-up sends: entries of one co-op whose bytes repeat in part.
    fn batch() -> SyncMessage {
        let entries = (0..200u32)
            .map(|i| {
                let mut e = vec![7u8; 300];
                e[..4].copy_from_slice(&i.to_be_bytes());
                e
            })
            .collect();
        SyncMessage::Entries {
            coop: CoopId(Hash([3; 32])),
            entries,
            more: false,
        }
    }

    #[tokio::test]
    async fn messages_round_trip_on_both_versions_and_large_ones_shrink_on_2() {
        let small = SyncMessage::Summary(vec![(CoopId(Hash([3; 32])), Hash([4; 32]))]);
        for protocol in [SYNC_PROTOCOL, SYNC_PROTOCOL_2] {
            for msg in [small.clone(), batch()] {
                let mut wire = Cursor::new(Vec::new());
                let written = write_frame(&protocol, &mut wire, msg.clone())
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut wire = Cursor::new(wire.into_inner());
                let (back, read) = read_frame(&protocol, &mut wire, MAX_MESSAGE_BYTES)
                    .await
                    .unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(back, msg);
                assert_eq!(read, written);
                assert_eq!(written, wire.get_ref().len());
                let plain = 4 + msg.encode().len();
                if protocol == SYNC_PROTOCOL {
                    assert_eq!(written, plain);
                } else if msg == small {
                    // Under PACK_FROM: sent as it is, one byte longer.
                    assert_eq!(written, plain + 1);
                } else {
                    assert!(written * 10 < plain, "{written} of {plain}");
                }
            }
        }
    }

    #[tokio::test]
    async fn bounds_hold_per_kind() {
        for protocol in [SYNC_PROTOCOL, SYNC_PROTOCOL_2] {
            // A request may not claim the room an answer may.
            let big = (MAX_REQUEST_BYTES + 2) as u32;
            let err = read(&protocol, &mut framed(big, &[0, 1]), MAX_REQUEST_BYTES).await;
            assert_eq!(
                err.err().map(|e| e.kind()),
                Some(io::ErrorKind::InvalidData)
            );
            // A length claimed and never sent ends the read with an error, holding only what
            // came.
            let err = read(
                &protocol,
                &mut framed(8 * 1024 * 1024, &[0, 1, 0, 0]),
                MAX_MESSAGE_BYTES,
            )
            .await;
            assert_eq!(
                err.err().map(|e| e.kind()),
                Some(io::ErrorKind::UnexpectedEof)
            );
        }
    }

    #[tokio::test]
    async fn broken_and_oversized_frames_are_refused_on_2() {
        let refused = |body: Vec<u8>, limit: usize| async move {
            let mut wire = framed(body.len() as u32, &body);
            read(&SYNC_PROTOCOL_2, &mut wire, limit)
                .await
                .err()
                .map(|e| e.kind())
        };
        let invalid = Some(io::ErrorKind::InvalidData);
        // No encoding byte, an unknown one, and a zstd frame that is not one.
        assert_eq!(refused(Vec::new(), MAX_MESSAGE_BYTES).await, invalid);
        assert_eq!(refused(vec![9, 1], MAX_MESSAGE_BYTES).await, invalid);
        assert_eq!(
            refused(vec![ZSTD, 1, 2, 3, 4], MAX_MESSAGE_BYTES).await,
            invalid
        );
        // A bomb: 64 MiB of zeros pack into a few kilobytes, and unpack only to the limit.
        let bomb = zstd::bulk::compress(&vec![0u8; 64 << 20], 19).unwrap_or_default();
        assert!(bomb.len() < MAX_REQUEST_BYTES);
        let mut body = vec![ZSTD];
        body.extend_from_slice(&bomb);
        assert_eq!(refused(body, MAX_MESSAGE_BYTES).await, invalid);
        // A packed message that unpacks to just over a request's limit is refused as one,
        // though its frame is small.
        let over = SyncMessage::Entries {
            coop: CoopId(Hash([3; 32])),
            entries: vec![vec![1u8; 10_000]; MAX_REQUEST_BYTES / 10_000 + 1],
            more: false,
        };
        let packed = pack(over.encode());
        assert_eq!(packed[0], ZSTD);
        assert_eq!(refused(packed.clone(), MAX_REQUEST_BYTES).await, invalid);
        let mut wire = framed(packed.len() as u32, &packed);
        let back = read(&SYNC_PROTOCOL_2, &mut wire, MAX_MESSAGE_BYTES).await;
        assert!(back.ok() == Some(over), "an answer may be that large");
    }
}
