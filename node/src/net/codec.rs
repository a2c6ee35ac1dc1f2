//! The catch-up protocol on a libp2p stream: one length-prefixed [`SyncMessage`] per request
//! and per response, bounded by [`MAX_REQUEST_BYTES`] and [`MAX_MESSAGE_BYTES`]. A message is
//! read as its bytes arrive: a peer that claims a large length and sends little makes this
//! node hold only what it sent.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use minga_protocol::{MAX_MESSAGE_BYTES, SyncMessage};

/// The largest request: a summary of the most co-ops, or a want of the most ranges, each
/// well under 1 MiB. Answers may take up to [`MAX_MESSAGE_BYTES`].
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// How much of a message is set aside before its bytes arrive.
const READ_CHUNK: usize = 64 * 1024;

/// The protocol name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/minga/sync/1");

/// Reads and writes sync messages.
#[derive(Clone, Default)]
pub struct SyncCodec;

async fn read_message<T: AsyncRead + Unpin + Send>(
    io: &mut T,
    limit: usize,
) -> io::Result<SyncMessage> {
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
    SyncMessage::decode(&buf).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_message<T: AsyncWrite + Unpin + Send>(
    io: &mut T,
    msg: SyncMessage,
) -> io::Result<()> {
    let bytes = msg.encode();
    let len = u32::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "sync message too large"))?;
    io.write_all(&len.to_be_bytes()).await?;
    io.write_all(&bytes).await?;
    io.close().await
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = SyncMessage;
    type Response = SyncMessage;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<SyncMessage> {
        read_message(io, MAX_REQUEST_BYTES).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<SyncMessage> {
        read_message(io, MAX_MESSAGE_BYTES).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: SyncMessage,
    ) -> io::Result<()> {
        write_message(io, req).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: SyncMessage,
    ) -> io::Result<()> {
        write_message(io, res).await
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

    #[tokio::test]
    async fn messages_round_trip_and_bounds_hold_per_kind() {
        let msg = SyncMessage::Summary(vec![(CoopId(Hash([3; 32])), Hash([4; 32]))]);
        let mut wire = Cursor::new(Vec::new());
        write_message(&mut wire, msg.clone())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let mut wire = Cursor::new(wire.into_inner());
        let back = read_message(&mut wire, MAX_REQUEST_BYTES).await;
        assert_eq!(back.ok(), Some(msg));

        // A request may not claim the room an answer may.
        let big = (MAX_REQUEST_BYTES + 1) as u32;
        let err = read_message(&mut framed(big, &[1]), MAX_REQUEST_BYTES).await;
        assert_eq!(
            err.err().map(|e| e.kind()),
            Some(io::ErrorKind::InvalidData)
        );
        // A length claimed and never sent ends the read with an error, holding only what came.
        let err = read_message(&mut framed(8 * 1024 * 1024, &[1, 0, 0]), MAX_MESSAGE_BYTES).await;
        assert_eq!(
            err.err().map(|e| e.kind()),
            Some(io::ErrorKind::UnexpectedEof)
        );
    }
}
