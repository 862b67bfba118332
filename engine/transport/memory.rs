//! An in-memory datagram link for tests: two endpoints joined by bounded channels, each
//! direction behaving like a socket buffer (a full buffer drops the datagram).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

use super::packet_io::{MAX_DATAGRAM, PacketRecv, PacketSend, TransportError};

/// Datagrams one direction buffers before dropping (like a socket receive buffer).
const LINK_BUFFER: usize = 4096;

/// One end of an in-memory link.
#[derive(Debug)]
pub struct MemoryEndpoint {
    /// Sends to the other end.
    pub sender: MemorySender,
    /// Receives from the other end.
    pub receiver: MemoryReceiver,
}

/// Two connected endpoints.
pub fn memory_link() -> (MemoryEndpoint, MemoryEndpoint) {
    let (a_tx, b_rx) = bounded(LINK_BUFFER);
    let (b_tx, a_rx) = bounded(LINK_BUFFER);
    let a_drops = Arc::new(AtomicU64::new(0));
    let b_drops = Arc::new(AtomicU64::new(0));
    (
        MemoryEndpoint {
            sender: MemorySender { tx: a_tx, dropped: Arc::clone(&a_drops) },
            receiver: MemoryReceiver { rx: a_rx },
        },
        MemoryEndpoint {
            sender: MemorySender { tx: b_tx, dropped: b_drops },
            receiver: MemoryReceiver { rx: b_rx },
        },
    )
}

/// Sending half of a [`MemoryEndpoint`].
#[derive(Debug, Clone)]
pub struct MemorySender {
    tx: Sender<Vec<u8>>,
    dropped: Arc<AtomicU64>,
}

impl MemorySender {
    /// Datagrams dropped because the other end's buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl PacketSend for MemorySender {
    fn send(&self, packet: &[u8]) -> Result<(), TransportError> {
        if packet.len() > MAX_DATAGRAM {
            return Err(TransportError::TooLarge { len: packet.len(), max: MAX_DATAGRAM });
        }
        match self.tx.try_send(packet.to_vec()) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Disconnected(_)) => Err(TransportError::Closed),
        }
    }
}

/// Receiving half of a [`MemoryEndpoint`].
#[derive(Debug)]
pub struct MemoryReceiver {
    rx: Receiver<Vec<u8>>,
}

impl PacketRecv for MemoryReceiver {
    fn recv(&mut self, buf: &mut [u8], timeout: Duration) -> Result<Option<usize>, TransportError> {
        match self.rx.recv_timeout(timeout) {
            Ok(packet) => {
                let n = packet.len().min(buf.len());
                buf[..n].copy_from_slice(&packet[..n]);
                Ok(Some(n))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(TransportError::Closed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_cross_in_order_and_a_dropped_peer_closes_the_link() {
        let (a, mut b) = memory_link();
        for i in 0..10u8 {
            a.sender.send(&[i; 3]).unwrap();
        }
        let mut buf = [0u8; 16];
        for i in 0..10u8 {
            let n = b.receiver.recv(&mut buf, Duration::from_secs(1)).unwrap().unwrap();
            assert_eq!(&buf[..n], &[i; 3]);
        }
        assert!(b.receiver.recv(&mut buf, Duration::from_millis(5)).unwrap().is_none());
        drop(a);
        assert!(matches!(
            b.receiver.recv(&mut buf, Duration::from_millis(5)),
            Err(TransportError::Closed)
        ));
        assert!(matches!(b.sender.send(b"x"), Err(TransportError::Closed)));
    }
}
