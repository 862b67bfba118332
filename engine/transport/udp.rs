//! UDP transport: one socket per call; audio, video and RTCP share it, told apart by SSRC
//! and payload type (RFC 5761-style multiplexing).

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use super::packet_io::{MAX_DATAGRAM, PacketRecv, PacketSend, TransportError};

/// A UDP socket bound locally and connected to the peer.
#[derive(Debug)]
pub struct UdpTransport {
    socket: UdpSocket,
}

impl UdpTransport {
    /// Bind to `local` (port 0 picks a free port).
    pub fn bind(local: SocketAddr) -> Result<Self, TransportError> {
        Ok(Self { socket: UdpSocket::bind(local)? })
    }

    /// The bound address (to tell the peer).
    pub fn local_addr(&self) -> Result<SocketAddr, TransportError> {
        Ok(self.socket.local_addr()?)
    }

    /// Send only to, and accept only from, `peer`.
    pub fn connect(&self, peer: SocketAddr) -> Result<(), TransportError> {
        Ok(self.socket.connect(peer)?)
    }

    /// Wait for the first datagram from anyone, connect to its sender and return the
    /// datagram's length (for a listening peer that learns its peer's address).
    pub fn accept_first(
        &self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<Option<(usize, SocketAddr)>, TransportError> {
        self.socket.set_read_timeout(Some(timeout.max(Duration::from_millis(1))))?;
        match self.socket.recv_from(buf) {
            Ok((len, from)) => {
                self.socket.connect(from)?;
                Ok(Some((len, from)))
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Split into a sender (shared by media threads) and a receiver (network thread).
    pub fn split(self) -> Result<(UdpSender, UdpReceiver), TransportError> {
        let recv = self.socket.try_clone()?;
        Ok((UdpSender { socket: self.socket }, UdpReceiver { socket: recv, timeout: None }))
    }
}

/// Sending half of a [`UdpTransport`].
#[derive(Debug)]
pub struct UdpSender {
    socket: UdpSocket,
}

impl PacketSend for UdpSender {
    fn send(&self, packet: &[u8]) -> Result<(), TransportError> {
        if packet.len() > MAX_DATAGRAM {
            return Err(TransportError::TooLarge { len: packet.len(), max: MAX_DATAGRAM });
        }
        match self.socket.send(packet) {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                Err(TransportError::PeerUnreachable)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Receiving half of a [`UdpTransport`].
#[derive(Debug)]
pub struct UdpReceiver {
    socket: UdpSocket,
    timeout: Option<Duration>,
}

impl PacketRecv for UdpReceiver {
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, TransportError> {
        let timeout = timeout.max(Duration::from_millis(1));
        if self.timeout != Some(timeout) {
            self.socket.set_read_timeout(Some(timeout))?;
            self.timeout = Some(timeout);
        }
        match self.socket.recv(buf) {
            Ok(len) => Ok(Some(len)),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(None),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                Err(TransportError::PeerUnreachable)
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn localhost() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[test]
    fn datagrams_cross_a_connected_pair_and_timeouts_return_none() {
        let a = UdpTransport::bind(localhost()).unwrap();
        let b = UdpTransport::bind(localhost()).unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        let (a_tx, mut a_rx) = a.split().unwrap();
        let (b_tx, mut b_rx) = b.split().unwrap();
        a_tx.send(b"hello").unwrap();
        let mut buf = [0u8; MAX_DATAGRAM];
        let n = b_rx.recv(&mut buf, Duration::from_secs(2)).unwrap().unwrap();
        assert_eq!(&buf[..n], b"hello");
        b_tx.send(b"back").unwrap();
        let n = a_rx.recv(&mut buf, Duration::from_secs(2)).unwrap().unwrap();
        assert_eq!(&buf[..n], b"back");
        assert!(a_rx.recv(&mut buf, Duration::from_millis(20)).unwrap().is_none());
        let too_big = vec![0u8; MAX_DATAGRAM + 1];
        assert!(matches!(a_tx.send(&too_big), Err(TransportError::TooLarge { .. })));
    }

    #[test]
    fn a_closed_peer_port_is_reported() {
        let a = UdpTransport::bind(localhost()).unwrap();
        let gone = UdpTransport::bind(localhost()).unwrap();
        a.connect(gone.local_addr().unwrap()).unwrap();
        drop(gone);
        let (tx, mut rx) = a.split().unwrap();
        let mut buf = [0u8; 64];
        // Linux reports the ICMP port-unreachable on the next call on the socket.
        let mut saw = false;
        for _ in 0..5 {
            let _ = tx.send(b"x");
            if matches!(
                rx.recv(&mut buf, Duration::from_millis(50)),
                Err(TransportError::PeerUnreachable)
            ) {
                saw = true;
                break;
            }
        }
        assert!(saw, "port unreachable surfaced as PeerUnreachable");
    }
}
