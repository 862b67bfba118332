//! A network impairment model for tests and demos: loss (random or bursty), delay, jitter,
//! reordering, duplication and a bandwidth cap with a bounded queue.
//!
//! It is sans-IO: [`Impairment::send`] takes a packet and the current instant,
//! [`Impairment::poll`] hands back the packets whose delivery instant has come, and
//! [`Impairment::next_wakeup`] says when to poll next. Nothing reads the clock, so a test
//! can push minutes of traffic through it in milliseconds, and a seed makes every run
//! identical.
//!
//! Order of effects for one packet (as on a real path: the bottleneck queue, then the
//! propagation path):
//!
//! 1. loss: random (Bernoulli) or bursty (Gilbert-Elliott two-state chain);
//! 2. bottleneck: with a bandwidth cap the packet waits behind the bytes already queued and
//!    takes `bytes * 8 / rate` to serialise; if the queue is over its byte limit it is
//!    tail-dropped;
//! 3. propagation: fixed delay plus a random extra delay uniform in `[0, jitter]`; unless
//!    reordering is allowed the extra delay never lets a packet overtake an earlier one;
//! 4. explicit reordering: with a probability a packet is held back by `reorder_delay`
//!    so later ones overtake it;
//! 5. duplication: with a probability a copy is delivered too.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sottovoce::transport::impair::{Impairment, ImpairmentConfig};
//!
//! let mut config = ImpairmentConfig::default();
//! config.apply_flag("delay", "50ms")?;
//! config.apply_flag("loss", "0%")?;
//! let mut link = Impairment::new(config, 7);
//! let t0 = Instant::now();
//! link.send(t0, vec![1u8, 2, 3]);
//! assert!(link.poll(t0).is_none());
//! assert_eq!(link.next_wakeup(), Some(t0 + Duration::from_millis(50)));
//! assert_eq!(link.poll(t0 + Duration::from_millis(50)), Some(vec![1, 2, 3]));
//! # Ok::<(), sottovoce::transport::impair::ImpairmentParseError>(())
//! ```

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

/// A small, fast, seedable pseudo-random generator (xorshift64* seeded by splitmix64).
///
/// Not for cryptography: it only drives simulations, where the point is that a seed
/// reproduces a run exactly.
#[derive(Debug, Clone)]
pub struct SimRng {
    state: u64,
}

impl SimRng {
    /// A generator whose whole sequence is fixed by `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        // splitmix64 spreads close seeds apart and never yields the all-zero state.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self { state: if z == 0 { 0x2545_F491_4F6C_DD1D } else { z } }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A uniform value in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `true` with probability `p` (clamped to `[0, 1]`).
    pub fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.next_f64() < p
    }

    /// A uniform duration in `[0, max]`.
    pub fn duration_up_to(&mut self, max: Duration) -> Duration {
        max.mul_f64(self.next_f64())
    }
}

/// How packets are lost before they reach the bottleneck.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LossModel {
    /// No loss.
    None,
    /// Each packet is lost independently with this probability.
    Random(f64),
    /// Gilbert-Elliott: a Good and a Bad state; packets are lost with `loss_in_good` or
    /// `loss_in_bad`, and the state changes before each packet with the given probabilities.
    GilbertElliott {
        /// Probability of moving Good -> Bad before a packet.
        good_to_bad: f64,
        /// Probability of moving Bad -> Good before a packet.
        bad_to_good: f64,
        /// Loss probability while Good (usually 0).
        loss_in_good: f64,
        /// Loss probability while Bad (usually 1).
        loss_in_bad: f64,
    },
}

impl LossModel {
    /// A bursty model with the given long-run loss rate and mean burst length in packets
    /// (lossless Good state, always-lossy Bad state). The Bad state is left with
    /// probability `1 / mean_burst`, and entered with the probability that makes its
    /// stationary share equal to `loss_rate`: `p = loss * r / (1 - loss)`.
    pub fn bursty(loss_rate: f64, mean_burst: f64) -> Result<Self, ImpairmentParseError> {
        if !(0.0..1.0).contains(&loss_rate) {
            return Err(ImpairmentParseError::OutOfRange { what: "loss rate", value: loss_rate });
        }
        if mean_burst.is_nan() || mean_burst < 1.0 {
            return Err(ImpairmentParseError::OutOfRange {
                what: "burst length",
                value: mean_burst,
            });
        }
        let bad_to_good = 1.0 / mean_burst;
        let good_to_bad = (loss_rate * bad_to_good / (1.0 - loss_rate)).min(1.0);
        Ok(Self::GilbertElliott { good_to_bad, bad_to_good, loss_in_good: 0.0, loss_in_bad: 1.0 })
    }

    /// The long-run fraction of packets this model loses.
    pub fn mean_loss(&self) -> f64 {
        match *self {
            Self::None => 0.0,
            Self::Random(p) => p,
            Self::GilbertElliott { good_to_bad, bad_to_good, loss_in_good, loss_in_bad } => {
                let total = good_to_bad + bad_to_good;
                if total <= 0.0 {
                    return loss_in_good;
                }
                let bad_share = good_to_bad / total;
                bad_share * loss_in_bad + (1.0 - bad_share) * loss_in_good
            }
        }
    }
}

/// What an [`Impairment`] does to packets. `Default` is a perfect link.
#[derive(Debug, Clone, PartialEq)]
pub struct ImpairmentConfig {
    /// Loss before the bottleneck.
    pub loss: LossModel,
    /// Fixed one-way propagation delay.
    pub delay: Duration,
    /// Maximum random extra delay; each packet gets a uniform draw in `[0, jitter]`.
    pub jitter: Duration,
    /// Whether jitter may reorder packets (like netem). When `false` a packet is never
    /// delivered before one sent earlier, as on a single FIFO path with variable delay.
    pub jitter_reorders: bool,
    /// Probability that a packet is held back by `reorder_delay` (explicit reordering).
    pub reorder: f64,
    /// How long a reordered packet is held back.
    pub reorder_delay: Duration,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Bottleneck rate in bits per second; `None` is unlimited.
    pub bandwidth_bps: Option<u64>,
    /// Bottleneck queue limit in bytes (waiting, not yet serialised); beyond it new
    /// packets are tail-dropped.
    pub queue_limit_bytes: usize,
}

impl Default for ImpairmentConfig {
    fn default() -> Self {
        Self {
            loss: LossModel::None,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            jitter_reorders: false,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(20),
            duplicate: 0.0,
            bandwidth_bps: None,
            // 64 KiB: about 500 ms at 1 Mbit/s, a typical home-router buffer.
            queue_limit_bytes: 64 * 1024,
        }
    }
}

impl ImpairmentConfig {
    /// Sets one option from a command-line style flag: `loss` ("5%"), `burst` (mean burst
    /// length in packets, turns the loss bursty), `delay`, `jitter`, `reorder-delay`
    /// ("30ms"), `reorder`, `duplicate` ("1%"), `bandwidth` ("1mbit"), `queue` (bytes,
    /// "64kb"), `jitter-reorders` ("yes"/"no").
    pub fn apply_flag(&mut self, name: &str, value: &str) -> Result<(), ImpairmentParseError> {
        match name.trim_start_matches('-') {
            "loss" => {
                let rate = parse_percent(value)?;
                self.loss = match self.loss {
                    LossModel::GilbertElliott { bad_to_good, .. } if bad_to_good > 0.0 => {
                        LossModel::bursty(rate, 1.0 / bad_to_good)?
                    }
                    _ if rate == 0.0 => LossModel::None,
                    _ => LossModel::Random(rate),
                };
            }
            "burst" => {
                let burst = parse_number(value)?;
                self.loss = LossModel::bursty(self.loss.mean_loss(), burst)?;
            }
            "delay" => self.delay = parse_duration(value)?,
            "jitter" => self.jitter = parse_duration(value)?,
            "jitter-reorders" => {
                self.jitter_reorders = match value.to_ascii_lowercase().as_str() {
                    "yes" | "true" | "on" | "1" => true,
                    "no" | "false" | "off" | "0" => false,
                    _ => return Err(ImpairmentParseError::Malformed(value.to_owned())),
                }
            }
            "reorder" => self.reorder = parse_percent(value)?,
            "reorder-delay" => self.reorder_delay = parse_duration(value)?,
            "duplicate" => self.duplicate = parse_percent(value)?,
            "bandwidth" => self.bandwidth_bps = Some(parse_bitrate(value)?),
            "queue" => self.queue_limit_bytes = parse_bytes(value)?,
            other => return Err(ImpairmentParseError::UnknownOption(other.to_owned())),
        }
        Ok(())
    }
}

/// Why an impairment option could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImpairmentParseError {
    /// Not a number with a known unit.
    #[error("malformed value '{0}'")]
    Malformed(String),
    /// The unit is not one this option accepts.
    #[error("unknown unit '{unit}' in '{value}'")]
    UnknownUnit {
        /// The unit found.
        unit: String,
        /// The whole value.
        value: String,
    },
    /// The value is outside what makes sense (negative, a probability over 100 %, zero rate).
    #[error("{what} out of range: {value}")]
    OutOfRange {
        /// Which quantity.
        what: &'static str,
        /// The value found.
        value: f64,
    },
    /// No such option.
    #[error("unknown impairment option '{0}'")]
    UnknownOption(String),
}

/// Splits "30ms" into (30.0, "ms").
fn split_number(value: &str) -> Result<(f64, String), ImpairmentParseError> {
    let value = value.trim();
    let end = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(value.len());
    let (number, unit) = value.split_at(end);
    let number: f64 =
        number.parse().map_err(|_| ImpairmentParseError::Malformed(value.to_owned()))?;
    if !number.is_finite() {
        return Err(ImpairmentParseError::Malformed(value.to_owned()));
    }
    Ok((number, unit.trim().to_ascii_lowercase()))
}

fn unknown_unit(unit: &str, value: &str) -> ImpairmentParseError {
    ImpairmentParseError::UnknownUnit { unit: unit.to_owned(), value: value.to_owned() }
}

/// Parses a bare number ("3", "2.5").
pub fn parse_number(value: &str) -> Result<f64, ImpairmentParseError> {
    let (n, unit) = split_number(value)?;
    if !unit.is_empty() {
        return Err(unknown_unit(&unit, value));
    }
    Ok(n)
}

/// Parses a probability: "5%" or "5" (both 5 %), returned as a fraction (0.05).
pub fn parse_percent(value: &str) -> Result<f64, ImpairmentParseError> {
    let (n, unit) = split_number(value)?;
    if !(unit.is_empty() || unit == "%") {
        return Err(unknown_unit(&unit, value));
    }
    if !(0.0..=100.0).contains(&n) {
        return Err(ImpairmentParseError::OutOfRange { what: "percentage", value: n });
    }
    Ok(n / 100.0)
}

/// Parses a duration: "30ms", "1.5s", "500us"; a bare number is milliseconds.
pub fn parse_duration(value: &str) -> Result<Duration, ImpairmentParseError> {
    let (n, unit) = split_number(value)?;
    let seconds = match unit.as_str() {
        "" | "ms" => n / 1e3,
        "s" | "sec" => n,
        "us" | "µs" => n / 1e6,
        _ => return Err(unknown_unit(&unit, value)),
    };
    if !(0.0..=3600.0).contains(&seconds) {
        return Err(ImpairmentParseError::OutOfRange { what: "duration (s)", value: seconds });
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// Parses a bit rate in tc/netem units: "1mbit", "500kbit", "64000bit" or "bps", "kbps",
/// "mbps" (all decimal: 1 kbit = 1000 bit/s). A bare number is bit/s.
pub fn parse_bitrate(value: &str) -> Result<u64, ImpairmentParseError> {
    let (n, unit) = split_number(value)?;
    let scale = match unit.as_str() {
        "" | "bit" | "bps" => 1.0,
        "kbit" | "kbps" | "k" => 1e3,
        "mbit" | "mbps" | "m" => 1e6,
        "gbit" | "gbps" | "g" => 1e9,
        _ => return Err(unknown_unit(&unit, value)),
    };
    let bps = n * scale;
    if !(1.0..=1e12).contains(&bps) {
        return Err(ImpairmentParseError::OutOfRange { what: "bit rate", value: bps });
    }
    Ok(bps as u64)
}

/// Parses a size in bytes: "65536", "64kb", "1mb" (binary multiples).
pub fn parse_bytes(value: &str) -> Result<usize, ImpairmentParseError> {
    let (n, unit) = split_number(value)?;
    let scale = match unit.as_str() {
        "" | "b" => 1.0,
        "kb" | "k" | "kib" => 1024.0,
        "mb" | "m" | "mib" => 1024.0 * 1024.0,
        _ => return Err(unknown_unit(&unit, value)),
    };
    let bytes = n * scale;
    if !(0.0..=1e10).contains(&bytes) {
        return Err(ImpairmentParseError::OutOfRange { what: "queue size", value: bytes });
    }
    Ok(bytes as usize)
}

/// Anything that can cross an impaired link: it has a size on the wire and can be copied
/// for duplication.
pub trait WirePacket: Clone {
    /// Bytes on the wire (what the bandwidth cap charges).
    fn wire_len(&self) -> usize;
}

impl WirePacket for Vec<u8> {
    fn wire_len(&self) -> usize {
        self.len()
    }
}

impl WirePacket for Box<[u8]> {
    fn wire_len(&self) -> usize {
        self.len()
    }
}

/// What an [`Impairment`] did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImpairmentCounters {
    /// Packets given to [`Impairment::send`].
    pub sent: u64,
    /// Packets removed by the loss model.
    pub lost: u64,
    /// Packets tail-dropped at the full bottleneck queue.
    pub queue_drops: u64,
    /// Extra copies created.
    pub duplicated: u64,
    /// Packets held back by explicit reordering.
    pub reordered: u64,
    /// Packets (copies included) handed out by [`Impairment::poll`].
    pub delivered: u64,
}

struct InFlight<P> {
    deliver_at: Instant,
    order: u64,
    packet: P,
}

impl<P> PartialEq for InFlight<P> {
    fn eq(&self, other: &Self) -> bool {
        self.deliver_at == other.deliver_at && self.order == other.order
    }
}
impl<P> Eq for InFlight<P> {}
impl<P> PartialOrd for InFlight<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<P> Ord for InFlight<P> {
    // Reversed: BinaryHeap is a max-heap and the earliest delivery must come out first;
    // ties keep send order.
    fn cmp(&self, other: &Self) -> Ordering {
        other.deliver_at.cmp(&self.deliver_at).then_with(|| other.order.cmp(&self.order))
    }
}

/// One direction of an impaired link. See the [module docs](self).
pub struct Impairment<P> {
    config: ImpairmentConfig,
    rng: SimRng,
    in_bad_state: bool,
    /// When the bottleneck finishes serialising what is already queued.
    link_free_at: Option<Instant>,
    /// (serialisation end, bytes) of packets still waiting at the bottleneck.
    queued: VecDeque<(Instant, usize)>,
    queued_bytes: usize,
    /// Latest delivery instant handed out on the FIFO path (no-reorder jitter).
    last_fifo_delivery: Option<Instant>,
    in_flight: BinaryHeap<InFlight<P>>,
    next_order: u64,
    counters: ImpairmentCounters,
}

impl<P> std::fmt::Debug for Impairment<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Impairment")
            .field("config", &self.config)
            .field("in_flight", &self.in_flight.len())
            .field("queued_bytes", &self.queued_bytes)
            .field("counters", &self.counters)
            .finish()
    }
}

impl<P: WirePacket> Impairment<P> {
    /// A link with this behaviour; `seed` fixes every random draw.
    pub fn new(config: ImpairmentConfig, seed: u64) -> Self {
        Self {
            config,
            rng: SimRng::new(seed),
            in_bad_state: false,
            link_free_at: None,
            queued: VecDeque::with_capacity(1024),
            queued_bytes: 0,
            last_fifo_delivery: None,
            in_flight: BinaryHeap::with_capacity(1024),
            next_order: 0,
            counters: ImpairmentCounters::default(),
        }
    }

    /// The behaviour in force.
    pub fn config(&self) -> &ImpairmentConfig {
        &self.config
    }

    /// Changes the behaviour for packets sent from now on (e.g. the bottleneck rate drops
    /// mid-call); packets already in flight keep their delivery instants.
    pub fn set_config(&mut self, config: ImpairmentConfig) {
        self.config = config;
    }

    /// What happened so far.
    pub fn counters(&self) -> ImpairmentCounters {
        self.counters
    }

    /// Bytes waiting at the bottleneck at `now` (not yet serialised).
    pub fn queued_bytes(&mut self, now: Instant) -> usize {
        self.drain_queue(now);
        self.queued_bytes
    }

    /// Packets accepted and not yet delivered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    fn drain_queue(&mut self, now: Instant) {
        while let Some(&(done_at, bytes)) = self.queued.front() {
            if done_at > now {
                break;
            }
            self.queued.pop_front();
            self.queued_bytes -= bytes;
        }
    }

    fn is_lost(&mut self) -> bool {
        match self.config.loss {
            LossModel::None => false,
            LossModel::Random(p) => self.rng.chance(p),
            LossModel::GilbertElliott { good_to_bad, bad_to_good, loss_in_good, loss_in_bad } => {
                let flip = if self.in_bad_state { bad_to_good } else { good_to_bad };
                if self.rng.chance(flip) {
                    self.in_bad_state = !self.in_bad_state;
                }
                self.rng.chance(if self.in_bad_state { loss_in_bad } else { loss_in_good })
            }
        }
    }

    /// Puts a packet on the link at `now`.
    pub fn send(&mut self, now: Instant, packet: P) {
        drop(self.send_or_return(now, packet));
    }

    /// Like [`Impairment::send`], but a packet the link drops (loss, full queue) is handed
    /// back, so a caller that recycles buffers keeps them.
    pub fn send_or_return(&mut self, now: Instant, packet: P) -> Option<P> {
        self.counters.sent += 1;
        if self.is_lost() {
            self.counters.lost += 1;
            return Some(packet);
        }

        // Bottleneck: FIFO serialisation behind what is already queued.
        let mut leave_at = now;
        if let Some(rate) = self.config.bandwidth_bps {
            self.drain_queue(now);
            let bytes = packet.wire_len();
            // The packet on the wire is not "waiting": only tail-drop when bytes are queued
            // beyond the limit, so a single packet larger than the queue still passes.
            if self.queued_bytes > 0 && self.queued_bytes + bytes > self.config.queue_limit_bytes {
                self.counters.queue_drops += 1;
                return Some(packet);
            }
            let start = self.link_free_at.map_or(now, |free| free.max(now));
            let serialise = Duration::from_secs_f64(bytes as f64 * 8.0 / rate.max(1) as f64);
            leave_at = start + serialise;
            self.link_free_at = Some(leave_at);
            self.queued.push_back((leave_at, bytes));
            self.queued_bytes += bytes;
        }

        // Propagation with jitter.
        let mut deliver_at = leave_at + self.config.delay;
        if !self.config.jitter.is_zero() {
            deliver_at += self.rng.duration_up_to(self.config.jitter);
        }
        if !self.config.jitter_reorders {
            if let Some(last) = self.last_fifo_delivery {
                deliver_at = deliver_at.max(last);
            }
            self.last_fifo_delivery = Some(deliver_at);
        }
        if self.rng.chance(self.config.reorder) {
            self.counters.reordered += 1;
            deliver_at += self.config.reorder_delay;
        }
        if self.rng.chance(self.config.duplicate) {
            self.counters.duplicated += 1;
            self.push_in_flight(deliver_at, packet.clone());
        }
        self.push_in_flight(deliver_at, packet);
        None
    }

    fn push_in_flight(&mut self, deliver_at: Instant, packet: P) {
        let order = self.next_order;
        self.next_order += 1;
        self.in_flight.push(InFlight { deliver_at, order, packet });
    }

    /// The next packet whose delivery instant is at or before `now`, earliest first.
    pub fn poll(&mut self, now: Instant) -> Option<P> {
        if self.in_flight.peek()?.deliver_at > now {
            return None;
        }
        let item = self.in_flight.pop()?;
        self.counters.delivered += 1;
        Some(item.packet)
    }

    /// Like [`poll`](Self::poll) but also says when the packet was due (for simulations
    /// that step in coarse increments and need exact arrival instants).
    pub fn poll_timed(&mut self, now: Instant) -> Option<(Instant, P)> {
        if self.in_flight.peek()?.deliver_at > now {
            return None;
        }
        let item = self.in_flight.pop()?;
        self.counters.delivered += 1;
        Some((item.deliver_at, item.packet))
    }

    /// When the next packet is due, if any is in flight.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.in_flight.peek().map(|p| p.deliver_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse_percent("5%"), Ok(0.05));
        assert_eq!(parse_percent("12.5"), Ok(0.125));
        assert!(matches!(parse_percent("120%"), Err(ImpairmentParseError::OutOfRange { .. })));
        assert!(matches!(parse_percent("5x"), Err(ImpairmentParseError::UnknownUnit { .. })));
        assert_eq!(parse_duration("30ms"), Ok(Duration::from_millis(30)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
        assert!(matches!(parse_duration("-3ms"), Err(ImpairmentParseError::OutOfRange { .. })));
        assert!(matches!(parse_duration("ms"), Err(ImpairmentParseError::Malformed(_))));
        assert_eq!(parse_bitrate("1mbit"), Ok(1_000_000));
        assert_eq!(parse_bitrate("500kbit"), Ok(500_000));
        assert_eq!(parse_bitrate("2.5Mbps"), Ok(2_500_000));
        assert!(matches!(parse_bitrate("0bit"), Err(ImpairmentParseError::OutOfRange { .. })));
        assert!(matches!(parse_bitrate("1furlong"), Err(ImpairmentParseError::UnknownUnit { .. })));
        assert_eq!(parse_bytes("64kb"), Ok(65536));
    }

    #[test]
    fn flags_build_a_config() {
        let mut c = ImpairmentConfig::default();
        c.apply_flag("--loss", "5%").unwrap();
        c.apply_flag("--jitter", "30ms").unwrap();
        c.apply_flag("--delay", "50ms").unwrap();
        c.apply_flag("--bandwidth", "1mbit").unwrap();
        assert_eq!(c.loss, LossModel::Random(0.05));
        assert_eq!(c.jitter, Duration::from_millis(30));
        assert_eq!(c.delay, Duration::from_millis(50));
        assert_eq!(c.bandwidth_bps, Some(1_000_000));
        c.apply_flag("burst", "4").unwrap();
        assert!((c.loss.mean_loss() - 0.05).abs() < 1e-9);
        assert!(matches!(
            c.apply_flag("colour", "red"),
            Err(ImpairmentParseError::UnknownOption(_))
        ));
    }

    #[test]
    fn rng_is_reproducible_and_uniform() {
        let mut a = SimRng::new(1);
        let mut b = SimRng::new(1);
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let x = a.next_f64();
            assert_eq!(x, b.next_f64());
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        assert!((sum / 10_000.0 - 0.5).abs() < 0.02);
        assert_ne!(SimRng::new(2).next_u64(), SimRng::new(3).next_u64());
    }
}
