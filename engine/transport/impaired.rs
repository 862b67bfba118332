//! A real-time impaired sender for tests and demos: every datagram passes through an
//! [`Impairment`] (loss, delay, jitter, reordering, duplication, bandwidth cap) on a relay
//! thread before it reaches the wrapped sender, so two calls over UDP or the in-memory
//! link see a realistic network. The sans-IO model decides; this thread only keeps time.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

use super::impair::{Impairment, ImpairmentConfig, ImpairmentCounters};
use super::packet_io::{MAX_DATAGRAM, PacketSend, TransportError};

/// Datagrams waiting for the relay thread (beyond this they are dropped, like a full
/// socket buffer).
const RELAY_BUFFER: usize = 8192;

/// Longest the relay sleeps when nothing is in flight.
const IDLE_WAIT: Duration = Duration::from_millis(20);

#[derive(Default)]
struct RelayCounters {
    sent: AtomicU64,
    lost: AtomicU64,
    queue_drops: AtomicU64,
    duplicated: AtomicU64,
    reordered: AtomicU64,
    delivered: AtomicU64,
}

impl RelayCounters {
    fn store(&self, c: ImpairmentCounters) {
        self.sent.store(c.sent, Ordering::Relaxed);
        self.lost.store(c.lost, Ordering::Relaxed);
        self.queue_drops.store(c.queue_drops, Ordering::Relaxed);
        self.duplicated.store(c.duplicated, Ordering::Relaxed);
        self.reordered.store(c.reordered, Ordering::Relaxed);
        self.delivered.store(c.delivered, Ordering::Relaxed);
    }

    fn load(&self) -> ImpairmentCounters {
        ImpairmentCounters {
            sent: self.sent.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            queue_drops: self.queue_drops.load(Ordering::Relaxed),
            duplicated: self.duplicated.load(Ordering::Relaxed),
            reordered: self.reordered.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
        }
    }
}

/// A [`PacketSend`] that impairs what it sends. Cloning shares the relay; the relay thread
/// stops when the last clone is dropped (datagrams still in flight are lost, as on a
/// network).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use sottovoce::transport::impair::ImpairmentConfig;
/// use sottovoce::transport::{ImpairedSender, PacketRecv, PacketSend, memory_link};
///
/// let (a, mut b) = memory_link();
/// let mut config = ImpairmentConfig::default();
/// config.apply_flag("delay", "30ms")?;
/// let sender = ImpairedSender::new(Arc::new(a.sender), config, 1)?;
/// sender.send(b"hello")?;
/// let mut buf = [0u8; 16];
/// assert_eq!(b.receiver.recv(&mut buf, Duration::from_millis(5))?, None);
/// assert_eq!(b.receiver.recv(&mut buf, Duration::from_secs(1))?, Some(5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct ImpairedSender {
    tx: Sender<Vec<u8>>,
    counters: Arc<RelayCounters>,
    overflow: Arc<AtomicU64>,
}

impl std::fmt::Debug for ImpairedSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImpairedSender").field("counters", &self.counters()).finish()
    }
}

impl ImpairedSender {
    /// Wraps `inner`; `seed` fixes the impairment's random choices.
    pub fn new(
        inner: Arc<dyn PacketSend>,
        config: ImpairmentConfig,
        seed: u64,
    ) -> Result<Self, TransportError> {
        let (tx, rx) = bounded(RELAY_BUFFER);
        let counters = Arc::new(RelayCounters::default());
        let relay_counters = Arc::clone(&counters);
        let impairment = Impairment::new(config, seed);
        std::thread::Builder::new()
            .name("impaired-relay".into())
            .spawn(move || relay(rx, impairment, inner, relay_counters))?;
        Ok(Self { tx, counters, overflow: Arc::new(AtomicU64::new(0)) })
    }

    /// What the impairment did so far.
    pub fn counters(&self) -> ImpairmentCounters {
        self.counters.load()
    }

    /// Datagrams dropped because the relay thread fell behind.
    pub fn overflows(&self) -> u64 {
        self.overflow.load(Ordering::Relaxed)
    }
}

impl PacketSend for ImpairedSender {
    fn send(&self, packet: &[u8]) -> Result<(), TransportError> {
        if packet.len() > MAX_DATAGRAM {
            return Err(TransportError::TooLarge { len: packet.len(), max: MAX_DATAGRAM });
        }
        match self.tx.try_send(packet.to_vec()) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.overflow.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Disconnected(_)) => Err(TransportError::Closed),
        }
    }
}

fn relay(
    rx: Receiver<Vec<u8>>,
    mut impairment: Impairment<Vec<u8>>,
    inner: Arc<dyn PacketSend>,
    counters: Arc<RelayCounters>,
) {
    loop {
        let now = Instant::now();
        let wait = impairment
            .next_wakeup()
            .map_or(IDLE_WAIT, |at| at.saturating_duration_since(now).min(IDLE_WAIT));
        match rx.recv_timeout(wait) {
            Ok(packet) => impairment.send(Instant::now(), packet),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        while let Ok(packet) = rx.try_recv() {
            impairment.send(Instant::now(), packet);
        }
        while let Some(packet) = impairment.poll(Instant::now()) {
            // The far end's own errors (closed, full) are the far end's business.
            let _ = inner.send(&packet);
        }
        counters.store(impairment.counters());
    }
}
