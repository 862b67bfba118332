//! Loss recovery for video, sans-IO: NACK generation at the receiver (RFC 4585 generic
//! NACK), the retransmission history at the sender (RFC 4588 RTX), and keyframe request
//! throttling (PLI, escalating to FIR).
//!
//! Receiver side, [`NackGenerator`]:
//! * a gap in sequence numbers puts the missing packets on the NACK list;
//! * a missing packet is first NACKed after `reorder_wait` (a packet merely reordered
//!   arrives within a few milliseconds and must not trigger a retransmission);
//! * it is NACKed again every RTT (the retransmission had a full round trip to arrive), at
//!   most `max_retries` times;
//! * it is given up `max(min_deadline, rtt_deadline_factor * RTT)` after it was found
//!   missing, when retries run out, or when the list overflows; giving up means the frame
//!   cannot be repaired in time, so [`NackGenerator::keyframe_wanted`] turns true and the
//!   caller asks for a keyframe through [`KeyframeRequester`].
//!
//! Sender side, [`RetransmissionHistory`]: a bounded ring of sent packets looked up by
//! sequence number; the same packet is resent at most once per RTT, since a second copy
//! within one round trip can only duplicate the first.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sottovoce::session::nack::{NackConfig, NackGenerator};
//!
//! let t0 = Instant::now();
//! let mut nack = NackGenerator::new(NackConfig::default());
//! nack.on_packet(t0, 1, false);
//! nack.on_packet(t0, 4, false); // 2 and 3 are missing
//! let mut list = Vec::new();
//! nack.poll(t0, &mut list);
//! assert!(list.is_empty()); // still inside the reorder wait
//! nack.poll(t0 + Duration::from_millis(20), &mut list);
//! assert_eq!(list, [2, 3]);
//! ```

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::rtp::SeqUnwrapper;

/// Receiver NACK tuning.
#[derive(Debug, Clone, PartialEq)]
pub struct NackConfig {
    /// Time a missing packet may be merely reordered before it is NACKed.
    pub reorder_wait: Duration,
    /// Lower bound of the interval between NACKs of one packet (on top of the RTT).
    pub min_retry_interval: Duration,
    /// NACKs per packet before giving up.
    pub max_retries: u32,
    /// Give up on a packet this many RTTs after it was found missing...
    pub rtt_deadline_factor: f64,
    /// ...but never earlier than this...
    pub min_deadline: Duration,
    /// ...nor later than this.
    pub max_deadline: Duration,
    /// Largest NACK list; a bigger gap means a keyframe is cheaper than repair.
    pub max_list: usize,
    /// RTT assumed until the first measurement.
    pub initial_rtt: Duration,
}

impl Default for NackConfig {
    fn default() -> Self {
        Self {
            reorder_wait: Duration::from_millis(10),
            min_retry_interval: Duration::from_millis(5),
            max_retries: 10,
            rtt_deadline_factor: 3.0,
            min_deadline: Duration::from_millis(200),
            max_deadline: Duration::from_millis(1000),
            max_list: 500,
            initial_rtt: Duration::from_millis(100),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Missing {
    seq: i64,
    found_at: Instant,
    last_sent: Option<Instant>,
    retries: u32,
}

/// Counters of a [`NackGenerator`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NackStats {
    /// Sequence numbers put on the list.
    pub missing: u64,
    /// NACK entries sent (one per sequence number per NACK).
    pub nacks_sent: u64,
    /// Missing packets that arrived later (reordered or retransmitted).
    pub recovered: u64,
    /// Packets given up on (deadline, retries or list overflow).
    pub given_up: u64,
}

/// Receiver-side NACK generation. See the [module docs](self).
#[derive(Debug)]
pub struct NackGenerator {
    config: NackConfig,
    rtt: Duration,
    unwrapper: SeqUnwrapper,
    highest: Option<i64>,
    list: VecDeque<Missing>,
    keyframe_wanted: bool,
    stats: NackStats,
}

impl NackGenerator {
    /// A generator with this tuning (the list is preallocated to `max_list`).
    pub fn new(config: NackConfig) -> Self {
        Self {
            rtt: config.initial_rtt,
            list: VecDeque::with_capacity(config.max_list),
            config,
            unwrapper: SeqUnwrapper::new(),
            highest: None,
            keyframe_wanted: false,
            stats: NackStats::default(),
        }
    }

    /// Updates the round-trip time (from RTCP, see [`super::rtcp_stats`]).
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// Counters.
    pub fn stats(&self) -> NackStats {
        self.stats
    }

    #[cfg(any(test, feature = "testing"))]
    /// Sequence numbers currently awaited.
    pub fn missing(&self) -> impl Iterator<Item = u16> + '_ {
        self.list.iter().map(|m| m.seq as u16)
    }

    #[cfg(any(test, feature = "testing"))]
    /// Whether recovery failed since the last [`take_keyframe_wanted`](Self::take_keyframe_wanted).
    pub fn keyframe_wanted(&self) -> bool {
        self.keyframe_wanted
    }

    /// Reads and clears the keyframe flag.
    pub fn take_keyframe_wanted(&mut self) -> bool {
        std::mem::take(&mut self.keyframe_wanted)
    }

    fn deadline(&self) -> Duration {
        self.rtt
            .mul_f64(self.config.rtt_deadline_factor)
            .clamp(self.config.min_deadline, self.config.max_deadline.max(self.config.min_deadline))
    }

    fn give_up_all(&mut self) {
        self.stats.given_up += self.list.len() as u64;
        self.list.clear();
        self.keyframe_wanted = true;
    }

    /// A media packet (original or retransmission, de-RTXed) arrived at `now`. A
    /// `keyframe` packet makes everything older irrelevant: it is dropped from the list.
    pub fn on_packet(&mut self, now: Instant, seq: u16, keyframe: bool) {
        let seq = self.unwrapper.unwrap(seq);
        let Some(highest) = self.highest else {
            self.highest = Some(seq);
            return;
        };
        if highest - seq > 3000 {
            // Far behind (RFC 3550 MAX_DROPOUT): the sender restarted its sequence.
            self.list.clear();
            self.highest = Some(seq);
            return;
        }
        if seq > highest {
            let gap = (seq - highest - 1) as usize;
            if gap > 0 && self.list.len() + gap > self.config.max_list {
                // Too much to repair: a keyframe is the cheaper way back.
                self.stats.missing += gap as u64;
                self.stats.given_up += gap as u64;
                self.give_up_all();
            } else {
                for missing in highest + 1..seq {
                    self.stats.missing += 1;
                    self.list.push_back(Missing {
                        seq: missing,
                        found_at: now,
                        last_sent: None,
                        retries: 0,
                    });
                }
            }
            self.highest = Some(seq);
        } else if let Ok(pos) = self.list.binary_search_by_key(&seq, |m| m.seq) {
            self.list.remove(pos);
            self.stats.recovered += 1;
        }
        if keyframe {
            while self.list.front().is_some_and(|m| m.seq < seq) {
                self.list.pop_front();
            }
        }
    }

    /// Sequence numbers to NACK now (appended to `out`, which the caller clears and
    /// reuses); gives up on expired entries. Call after every packet and on a timer
    /// ([`next_wakeup`](Self::next_wakeup)).
    pub fn poll(&mut self, now: Instant, out: &mut Vec<u16>) {
        let deadline = self.deadline();
        let retry = self.rtt.max(self.config.min_retry_interval);
        let before = self.list.len();
        let max_retries = self.config.max_retries;
        self.list.retain(|m| {
            now.saturating_duration_since(m.found_at) < deadline
                && !(m.retries >= max_retries
                    && m.last_sent.is_some_and(|s| now.saturating_duration_since(s) >= retry))
        });
        let dropped = before - self.list.len();
        if dropped > 0 {
            self.stats.given_up += dropped as u64;
            self.keyframe_wanted = true;
        }
        for m in &mut self.list {
            let due = match m.last_sent {
                None => now.saturating_duration_since(m.found_at) >= self.config.reorder_wait,
                Some(sent) => {
                    m.retries < max_retries && now.saturating_duration_since(sent) >= retry
                }
            };
            if due {
                m.last_sent = Some(now);
                m.retries += 1;
                self.stats.nacks_sent += 1;
                out.push(m.seq as u16);
            }
        }
    }

    /// The next instant at which [`poll`](Self::poll) has something to do.
    pub fn next_wakeup(&self) -> Option<Instant> {
        let deadline = self.deadline();
        let retry = self.rtt.max(self.config.min_retry_interval);
        self.list
            .iter()
            .map(|m| {
                let next_send = match m.last_sent {
                    None => m.found_at + self.config.reorder_wait,
                    Some(sent) => sent + retry,
                };
                next_send.min(m.found_at + deadline)
            })
            .min()
    }
}

/// Which keyframe request to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframeRequest {
    /// Picture Loss Indication (RFC 4585): the decoder lost sync.
    Pli,
    /// Full Intra Request (RFC 5104), with its command sequence number; sent when PLIs
    /// went unanswered, since some senders only honour FIR.
    Fir {
        /// Incremented for each new FIR.
        seq: u8,
    },
}

/// Keyframe request throttling tuning.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyframeRequestConfig {
    /// Never request more often than this...
    pub min_interval: Duration,
    /// ...nor more often than once per this many RTTs (the keyframe needs a round trip).
    pub rtt_factor: f64,
    /// Unanswered PLIs before escalating to FIR.
    pub pli_before_fir: u32,
}

impl Default for KeyframeRequestConfig {
    fn default() -> Self {
        Self { min_interval: Duration::from_millis(500), rtt_factor: 1.5, pli_before_fir: 3 }
    }
}

/// Decides when to send PLI/FIR so that a broken decoder gets a keyframe quickly without
/// flooding the sender (each keyframe costs several normal frames of bandwidth).
#[derive(Debug)]
pub struct KeyframeRequester {
    config: KeyframeRequestConfig,
    rtt: Duration,
    wanted: bool,
    last_sent: Option<Instant>,
    unanswered: u32,
    fir_seq: u8,
    sent: u64,
}

impl KeyframeRequester {
    /// A requester with this tuning.
    pub fn new(config: KeyframeRequestConfig) -> Self {
        Self {
            config,
            rtt: Duration::from_millis(100),
            wanted: false,
            last_sent: None,
            unanswered: 0,
            fir_seq: 0,
            sent: 0,
        }
    }

    /// Updates the round-trip time.
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    /// The decoder needs a keyframe (frame unrecoverable, or the application asked).
    pub fn request(&mut self) {
        self.wanted = true;
    }

    /// A keyframe arrived: the need is satisfied.
    pub fn on_keyframe(&mut self) {
        self.wanted = false;
        self.unanswered = 0;
    }

    #[cfg(any(test, feature = "testing"))]
    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    fn interval(&self) -> Duration {
        self.config.min_interval.max(self.rtt.mul_f64(self.config.rtt_factor))
    }

    /// The request to send now, if one is wanted and the throttle allows it. A need that
    /// persists is repeated once per interval (the keyframe or the request may be lost).
    pub fn poll(&mut self, now: Instant) -> Option<KeyframeRequest> {
        if !self.wanted {
            return None;
        }
        if self.last_sent.is_some_and(|t| now.saturating_duration_since(t) < self.interval()) {
            return None;
        }
        self.last_sent = Some(now);
        self.sent += 1;
        self.unanswered += 1;
        if self.unanswered > self.config.pli_before_fir {
            self.fir_seq = self.fir_seq.wrapping_add(1);
            Some(KeyframeRequest::Fir { seq: self.fir_seq })
        } else {
            Some(KeyframeRequest::Pli)
        }
    }

    /// When [`poll`](Self::poll) may next return a request (`now` if at once).
    pub fn next_wakeup(&self, now: Instant) -> Option<Instant> {
        if !self.wanted {
            return None;
        }
        Some(self.last_sent.map_or(now, |t| (t + self.interval()).max(now)))
    }
}

struct Sent<T> {
    seq: i64,
    sent_at: Instant,
    last_resent: Option<Instant>,
    packet: T,
}

/// Counters of a [`RetransmissionHistory`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetransmissionStats {
    /// Packets retransmitted.
    pub retransmitted: u64,
    /// NACKs refused because the packet was resent less than one RTT ago.
    pub throttled: u64,
    /// NACKs for packets no longer (or never) in the history.
    pub missing: u64,
}

/// The sender's bounded history of sent packets for RTX (RFC 4588): the packetiser wraps
/// the returned packet in an RTX packet (RTX SSRC and payload type, original sequence
/// number in the first two payload bytes).
pub struct RetransmissionHistory<T> {
    slots: Vec<Option<Sent<T>>>,
    max_age: Duration,
    rtt: Duration,
    unwrapper: SeqUnwrapper,
    stats: RetransmissionStats,
}

impl<T> std::fmt::Debug for RetransmissionHistory<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetransmissionHistory")
            .field("capacity", &self.slots.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<T> RetransmissionHistory<T> {
    /// Keeps the last `capacity` packets (at least 1), none older than `max_age`.
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        let mut slots = Vec::with_capacity(capacity.max(1));
        slots.resize_with(capacity.max(1), || None);
        Self {
            slots,
            max_age,
            rtt: Duration::from_millis(100),
            unwrapper: SeqUnwrapper::new(),
            stats: RetransmissionStats::default(),
        }
    }

    /// Updates the round-trip time (the per-packet resend throttle).
    pub fn set_rtt(&mut self, rtt: Duration) {
        self.rtt = rtt;
    }

    #[cfg(any(test, feature = "testing"))]
    /// Counters.
    pub fn stats(&self) -> RetransmissionStats {
        self.stats
    }

    #[cfg(any(test, feature = "testing"))]
    /// Packets currently held.
    pub fn len(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    #[cfg(any(test, feature = "testing"))]
    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn index(&self, seq: i64) -> usize {
        seq.rem_euclid(self.slots.len() as i64) as usize
    }

    /// Records a packet sent at `now` (overwrites the oldest when full).
    pub fn store(&mut self, now: Instant, seq: u16, packet: T) {
        let seq = self.unwrapper.unwrap(seq);
        let index = self.index(seq);
        self.slots[index] = Some(Sent { seq, sent_at: now, last_resent: None, packet });
    }

    /// The packet to retransmit for a NACK of `seq`, or `None` when it is gone, too old, or
    /// was already resent within the last RTT.
    pub fn on_nack(&mut self, now: Instant, seq: u16) -> Option<&T> {
        let seq = self.unwrapper.peek(seq);
        let index = self.index(seq);
        let (rtt, max_age) = (self.rtt, self.max_age);
        let Some(sent) = self.slots[index].as_mut().filter(|s| s.seq == seq) else {
            self.stats.missing += 1;
            return None;
        };
        if now.saturating_duration_since(sent.sent_at) > max_age {
            self.stats.missing += 1;
            return None;
        }
        if sent.last_resent.is_some_and(|t| now.saturating_duration_since(t) < rtt) {
            self.stats.throttled += 1;
            return None;
        }
        sent.last_resent = Some(now);
        self.stats.retransmitted += 1;
        Some(&sent.packet)
    }
}
