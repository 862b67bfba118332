//! The two halves of a packet connection to the peer. A call sends from its media threads
//! and receives on its network thread, so the halves are separate objects.

use std::time::Duration;

/// Why a packet could not be sent or received.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The operating system refused (socket closed, network unreachable, ...).
    #[error("socket error: {0}")]
    Io(#[from] std::io::Error),
    /// The peer's port is closed (ICMP port unreachable on a connected socket): the peer
    /// process is gone.
    #[error("peer unreachable (port closed)")]
    PeerUnreachable,
    /// The other end of an in-memory link was dropped.
    #[error("link closed")]
    Closed,
    /// A packet larger than the link's maximum.
    #[error("packet of {len} bytes exceeds the {max}-byte maximum")]
    TooLarge {
        /// Size offered.
        len: usize,
        /// Largest allowed.
        max: usize,
    },
}

/// Largest datagram the transports carry (a full Ethernet MTU minus IP/UDP headers is
/// 1472; leave room for tunnels by keeping media packets at 1200, but accept up to this).
pub const MAX_DATAGRAM: usize = 1500;

/// Sends datagrams to the peer. Shared by the audio and video send paths.
pub trait PacketSend: Send + Sync {
    /// Send one datagram. Never blocks for long: a full socket buffer drops the packet
    /// (as the network would) rather than stalling a media thread.
    fn send(&self, packet: &[u8]) -> Result<(), TransportError>;
}

/// Receives datagrams from the peer, on one thread.
pub trait PacketRecv: Send {
    /// Wait up to `timeout` for a datagram and copy it into `buf`. `Ok(None)` on timeout.
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, TransportError>;
}
