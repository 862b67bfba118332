//! The call's network thread: the runtime edge of the sans-IO [`Session`]. It owns the
//! receiving socket and the real clock: every datagram goes into the session with its
//! arrival instant, the session's timers run when due, and whatever the session queued
//! (RTCP) goes out through the transport. All decisions are the session's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::session::core::Session;
use crate::session::shared::{CallEnded, Shared};
use crate::transport::{MAX_DATAGRAM, PacketRecv, PacketSend, TransportError};

/// Longest one receive blocks before the session's timers are looked at. Short, because
/// NACKs asked for by the video receive thread wait up to this long before leaving.
const RECEIVE_POLL: Duration = Duration::from_millis(5);

/// Consecutive transport I/O errors after which the network thread gives up.
const MAX_CONSECUTIVE_IO_ERRORS: u32 = 100;

pub(crate) struct NetworkThread {
    pub receiver: Box<dyn PacketRecv>,
    pub sender: Arc<dyn PacketSend>,
    pub session: Session,
    pub shared: Arc<Shared>,
}

impl NetworkThread {
    pub fn run(mut self) {
        let mut buf = vec![0u8; MAX_DATAGRAM].into_boxed_slice();
        let mut io_errors = 0u32;
        while !self.shared.stopping() {
            let wait = self
                .session
                .poll_timeout()
                .saturating_duration_since(Instant::now())
                .clamp(Duration::from_micros(100), RECEIVE_POLL);
            match self.receiver.recv(&mut buf, wait) {
                Ok(Some(len)) => {
                    io_errors = 0;
                    let arrival = Instant::now();
                    self.session.handle_receive(arrival, &mut buf[..len]);
                    self.shared.unprotect.record(arrival.elapsed());
                }
                Ok(None) => io_errors = 0,
                Err(TransportError::PeerUnreachable) => {
                    self.shared.end(CallEnded::PeerUnreachable);
                    return;
                }
                Err(TransportError::Closed) => {
                    self.shared.end(CallEnded::TransportFailed);
                    return;
                }
                Err(_) => {
                    io_errors += 1;
                    if io_errors >= MAX_CONSECUTIVE_IO_ERRORS {
                        self.shared.end(CallEnded::TransportFailed);
                        return;
                    }
                }
            }
            let now = Instant::now();
            if now >= self.session.poll_timeout() {
                self.session.handle_timeout(now);
            }
            if !self.transmit() || self.shared.ended().is_some() {
                return;
            }
        }
    }

    /// Sends what the session queued; false once the peer is unreachable.
    fn transmit(&mut self) -> bool {
        while let Some(datagram) = self.session.poll_transmit() {
            match self.sender.send(datagram) {
                Ok(()) => {}
                Err(TransportError::PeerUnreachable) => {
                    self.shared.end(CallEnded::PeerUnreachable);
                    return false;
                }
                Err(_) => {
                    self.shared.send_errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        true
    }
}
