//! An impairing UDP relay between two local endpoints, so that two calls still talk real
//! UDP while the path between them loses, delays, jitters, reorders, duplicates or
//! throttles packets (`sottovoce::transport::impair::Impairment`, driven here with the
//! real clock: `send` on arrival, `poll` when due, sleeping until `next_wakeup`).
//!
//! ```text
//! alice socket <-> [relay socket A | thread A->B, thread B->A | relay socket B] <-> bob socket
//! ```

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use sottovoce::transport::MAX_DATAGRAM;
use sottovoce::transport::impair::{
    Impairment, ImpairmentConfig, ImpairmentCounters, parse_bitrate, parse_duration,
};

/// Longest the relay sleeps in one receive (it re-checks due packets at least this often).
const MAX_WAIT: Duration = Duration::from_millis(2);

/// Capacity changes over the call: (time from the relay's start, bits per second), in
/// time order; the first applies from the start.
pub type BandwidthSteps = Vec<(Duration, u64)>;

/// Parses `RATE[,RATE@TIME]...` (`2mbit,600kbit@20s,2mbit@40s`): a capacity from the
/// start, then each step at its time. Times must increase.
pub fn parse_bandwidth_steps(value: &str) -> Result<BandwidthSteps, String> {
    let mut steps: BandwidthSteps = Vec::new();
    for (index, part) in value.split(',').enumerate() {
        let (rate, at) = match part.split_once('@') {
            Some((rate, at)) => (rate, parse_duration(at).map_err(|e| e.to_string())?),
            None if index == 0 => (part, Duration::ZERO),
            None => return Err(format!("step {part:?} needs @TIME (e.g. 600kbit@20s)")),
        };
        let bps = parse_bitrate(rate).map_err(|e| e.to_string())?;
        if steps.last().is_some_and(|&(last, _)| at <= last) {
            return Err(format!("step {part:?} is not after the one before"));
        }
        steps.push((at, bps));
    }
    Ok(steps)
}

/// A running relay; [`Relay::stop`] joins its threads.
pub struct Relay {
    stop: Arc<AtomicBool>,
    a_to_b: JoinHandle<ImpairmentCounters>,
    b_to_a: JoinHandle<ImpairmentCounters>,
    /// Where alice must send (the relay's socket facing alice).
    pub alice_peer: SocketAddr,
    /// Where bob must send.
    pub bob_peer: SocketAddr,
}

impl Relay {
    /// Starts relaying between `alice` and `bob` (their socket addresses) with the same
    /// impairment both ways (independent random draws per direction); the capacity then
    /// follows `steps` (if any) in both directions.
    pub fn start(
        alice: SocketAddr,
        bob: SocketAddr,
        config: &ImpairmentConfig,
        steps: &[(Duration, u64)],
        seed: u64,
    ) -> std::io::Result<Self> {
        let facing_alice = UdpSocket::bind("127.0.0.1:0")?;
        let facing_bob = UdpSocket::bind("127.0.0.1:0")?;
        facing_alice.connect(alice)?;
        facing_bob.connect(bob)?;
        let stop = Arc::new(AtomicBool::new(false));
        let alice_peer = facing_alice.local_addr()?;
        let bob_peer = facing_bob.local_addr()?;
        let a_to_b = spawn(
            "relay-a-to-b",
            facing_alice.try_clone()?,
            facing_bob.try_clone()?,
            Impairment::new(config.clone(), seed),
            steps.to_vec(),
            Arc::clone(&stop),
        )?;
        let b_to_a = spawn(
            "relay-b-to-a",
            facing_bob,
            facing_alice,
            Impairment::new(config.clone(), seed ^ 0x5eed),
            steps.to_vec(),
            Arc::clone(&stop),
        )?;
        Ok(Self { stop, a_to_b, b_to_a, alice_peer, bob_peer })
    }

    /// Stops both directions; returns their counters (alice to bob, bob to alice).
    pub fn stop(self) -> (ImpairmentCounters, ImpairmentCounters) {
        self.stop.store(true, Ordering::Release);
        let a = self.a_to_b.join().unwrap_or_default();
        let b = self.b_to_a.join().unwrap_or_default();
        (a, b)
    }
}

fn spawn(
    name: &str,
    from: UdpSocket,
    to: UdpSocket,
    mut link: Impairment<Vec<u8>>,
    steps: BandwidthSteps,
    stop: Arc<AtomicBool>,
) -> std::io::Result<JoinHandle<ImpairmentCounters>> {
    // One direction announces the steps (they apply to both).
    let announce = name == "relay-a-to-b";
    std::thread::Builder::new().name(name.into()).spawn(move || {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut timeout = Duration::ZERO;
        let started = Instant::now();
        let mut next_step = 0;
        while !stop.load(Ordering::Acquire) {
            let now = Instant::now();
            while let Some(&(at, bps)) = steps.get(next_step)
                && now.saturating_duration_since(started) >= at
            {
                next_step += 1;
                link.set_config(ImpairmentConfig {
                    bandwidth_bps: Some(bps),
                    ..link.config().clone()
                });
                if announce {
                    println!("network: capacity now {} kbit/s each way", bps / 1000);
                }
            }
            while let Some(packet) = link.poll(now) {
                // A vanished peer is not the relay's problem: the calls notice it.
                let _ = to.send(&packet);
            }
            let wait = link
                .next_wakeup()
                .map_or(MAX_WAIT, |due| due.saturating_duration_since(now))
                .clamp(Duration::from_micros(100), MAX_WAIT);
            if wait != timeout {
                if from.set_read_timeout(Some(wait)).is_err() {
                    break;
                }
                timeout = wait;
            }
            match from.recv(&mut buf) {
                Ok(len) => link.send(Instant::now(), buf[..len].to_vec()),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                // ICMP from a peer that is not up yet or already gone: keep relaying.
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {}
                Err(_) => std::thread::sleep(MAX_WAIT),
            }
        }
        link.counters()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidth_steps_parse_and_refuse_what_makes_no_sense() {
        let steps = parse_bandwidth_steps("2mbit,600kbit@20s,2mbit@40s").unwrap();
        assert_eq!(
            steps,
            vec![
                (Duration::ZERO, 2_000_000),
                (Duration::from_secs(20), 600_000),
                (Duration::from_secs(40), 2_000_000)
            ]
        );
        assert_eq!(parse_bandwidth_steps("1mbit").unwrap(), vec![(Duration::ZERO, 1_000_000)]);
        assert!(parse_bandwidth_steps("2mbit,600kbit").is_err(), "a step needs its time");
        assert!(parse_bandwidth_steps("2mbit,1mbit@20s,3mbit@10s").is_err(), "out of order");
        assert!(parse_bandwidth_steps("fast").is_err());
    }
}
