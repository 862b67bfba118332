//! Moving packets between peers: UDP for real calls, an in-memory link for tests, and the
//! network impairment model used to test both.

#[cfg(any(test, feature = "testing"))]
pub mod impair;
#[cfg(any(test, feature = "testing"))]
mod impaired;
mod memory;
mod packet_io;
mod udp;

#[cfg(any(test, feature = "testing"))]
pub use impaired::ImpairedSender;
pub use memory::{MemoryEndpoint, MemoryReceiver, MemorySender, memory_link};
pub use packet_io::{MAX_DATAGRAM, PacketRecv, PacketSend, TransportError};
pub use udp::{UdpReceiver, UdpSender, UdpTransport};
