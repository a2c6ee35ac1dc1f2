//! The catch-up protocol on a libp2p stream: one length-prefixed [`SyncMessage`] per request
//! and per response, bounded by [`MAX_MESSAGE_BYTES`].

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use minga_protocol::{MAX_MESSAGE_BYTES, SyncMessage};

/// The protocol name.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/minga/sync/1");

/// Reads and writes sync messages.
#[derive(Clone, Default)]
pub struct SyncCodec;

async fn read_message<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<SyncMessage> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_MESSAGE_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("sync message of {len} bytes is over the limit"),
        ));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
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
        read_message(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> io::Result<SyncMessage> {
        read_message(io).await
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
