//! Adaptive audio jitter buffer for Opus (10 ms or longer packets), sans-IO.
//!
//! [`JitterBuffer::insert`] takes a received packet and its arrival instant;
//! [`JitterBuffer::pull`] is called once per 10 ms playout tick and returns a
//! [`PlayoutAction`]: what the caller's decoder must do to produce the audio for that tick
//! (decode a packet, recover it from the next packet's in-band FEC, conceal, play comfort
//! noise, or time-compress/stretch to move the delay toward its target). The buffer never
//! decodes audio itself, so it is cheap, deterministic and testable at simulation speed.
//!
//! # How the delay is chosen
//!
//! For every packet the *transit* `arrival - timestamp / clock_rate` is recorded over a
//! sliding window (128 packets). Its spread above the window minimum is the delay a packet
//! may suffer relative to the fastest one; the target buffer level is the 95th percentile
//! of that spread plus one packet duration (data arrives in whole packets), clamped to
//! `[min_delay, max_delay]` (this is NetEq's approach with a window instead of a forgetting
//! histogram). The target rises at once when a late packet widens the spread and decays at
//! most `target_decrease_per_second`, so a jitter spike is absorbed quickly and the delay
//! comes back down slowly, without oscillating.
//!
//! One exception, as in NetEq's peak detector: a packet delayed more than two packet
//! durations beyond the target is a *spike* (a stall of the network, the sender's capture
//! thread or a Wi-Fi scan releases its packets in a burst), and so is a later packet
//! delayed half as much as the spike (the spike's level recurring). While spikes recur
//! (two within [`SPIKE_MEMORY`]) the slow linear decay holds, since the next one is
//! likely; after an isolated spike the target's excess over the measured need halves
//! every `isolated_spike_half_life` (2 s) instead, so a one-off 400 ms stall costs a few
//! seconds of extra delay rather than twenty.
//!
//! The *buffer level* is the media between the playout position and the end of the newest
//! packet, plus decoded audio not yet played. On each decode the level is compared with the
//! target, and so is a low-pass filtered level (about 0.4 s, as NetEq's buffer-level filter;
//! time-scaling shifts it by what it adds or removes): when both are above
//! `target + max(packet, 20 ms)` and the target respectively, the buffer asks for
//! [`PlayoutAction::Accelerate`] (time-compress 20 ms into about 15 ms); when both are below
//! NetEq's low limit, `max(3/4 target, target - 85 ms)`, it asks for
//! [`PlayoutAction::Stretch`] (play 20 ms as about 30 ms). Deciding on the filtered level
//! keeps a single late or early packet from triggering an action the next one would undo. The caller's time-scaler
//! may change the length by whole pitch periods instead (as `audio::compress_speech` does)
//! and reports what it produced with [`JitterBuffer::report_time_scaled`]. Silence (DTX
//! gaps) is shortened first when the buffer is too deep. When the buffer runs dry the buffer conceals *without*
//! advancing the media position, which is what makes the delay grow on late packets; if the
//! awaited packet turns out lost, the concealment already played is credited against it.
//!
//! The RFC 3550 interarrival jitter estimate is kept too, for statistics.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use sottovoce::session::jitter::{AudioPacket, JitterBuffer, JitterConfig, PlayoutAction, TICK};
//!
//! let t0 = Instant::now();
//! let mut jb = JitterBuffer::new(JitterConfig::default())?;
//! // 20 ms Opus packets (960 ticks at 48 kHz); the payload type is the caller's choice.
//! for seq in 0..3u16 {
//!     let packet = AudioPacket {
//!         seq,
//!         timestamp: u32::from(seq) * 960,
//!         duration: 960,
//!         dtx: false,
//!         payload: vec![0u8; 60],
//!     };
//!     jb.insert(t0 + Duration::from_millis(20 * u64::from(seq)), packet)?;
//! }
//! // The playout loop, once per 10 ms:
//! let now = t0 + Duration::from_millis(40);
//! match jb.pull(now) {
//!     PlayoutAction::Decode { packet } => { /* opus.decode(&packet.payload) */ }
//!     PlayoutAction::DecodeFec { next, samples } => { /* opus.decode_fec(next, samples) */ }
//!     PlayoutAction::Conceal { samples } => { /* opus.decode_plc(samples) */ }
//!     PlayoutAction::Continue => { /* play the leftover decoded audio */ }
//!     _ => { /* accelerate, stretch, comfort noise, silence */ }
//! }
//! // The action borrows the buffer (for `DecodeFec`); read stats after handling it.
//! assert_eq!(jb.stats().received, 3);
//! # let _ = TICK;
//! # Ok::<(), sottovoce::session::jitter::JitterError>(())
//! ```

use std::time::{Duration, Instant};

use crate::rtp::{SeqUnwrapper, TimestampUnwrapper};

/// Length of one playout tick.
pub const TICK: Duration = Duration::from_millis(10);

/// A packet this far behind the playout position is a sequence restart, not a late
/// packet (RFC 3550's MAX_DROPOUT).
const RESTART_DISTANCE: i64 = 3000;

/// A received audio packet, as the jitter buffer needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct AudioPacket<T> {
    /// RTP sequence number.
    pub seq: u16,
    /// RTP timestamp (clock rate from [`JitterConfig::clock_rate`]).
    pub timestamp: u32,
    /// Audio duration of the packet in RTP clock ticks (960 for 20 ms Opus at 48 kHz; read
    /// it from the Opus TOC byte).
    pub duration: u32,
    /// Whether this is a DTX packet (Opus: payload of 2 bytes or less); after it, silence
    /// without packets is comfort noise, not loss.
    pub dtx: bool,
    /// The payload handed back to the decoder.
    pub payload: T,
}

/// Jitter buffer tuning.
#[derive(Debug, Clone, PartialEq)]
pub struct JitterConfig {
    /// RTP clock rate (48 000 for Opus).
    pub clock_rate: u32,
    /// Lowest target delay.
    pub min_delay: Duration,
    /// Highest target delay; also bounds how deep the buffer may get.
    pub max_delay: Duration,
    /// Packets the buffer can hold (a power of two is not required).
    pub capacity: usize,
    /// Packets in the sliding window of transit times.
    pub window: usize,
    /// Percentile of relative delay the target covers (0.95: 5 % of packets may need
    /// concealment-free stretching).
    pub percentile: f64,
    /// How fast the target may fall, per second of playout, while delay spikes recur.
    pub target_decrease_per_second: Duration,
    /// Half-life of the target's excess over the measured need after an *isolated* delay
    /// spike (a stall no other spike followed within 20 s); `None` keeps the
    /// linear decay always. A one-off 400 ms stall then costs seconds of extra delay, not
    /// the ~20 s that `target_decrease_per_second` alone would take.
    pub isolated_spike_half_life: Option<Duration>,
    /// Whether the codec carries in-band FEC (Opus LBRR) worth asking for.
    pub fec: bool,
    /// Timestamp jumps larger than this (or backwards) on consecutive sequence numbers are
    /// a sender restart: the buffer resynchronises instead of playing a huge gap.
    pub max_timestamp_jump: Duration,
    /// After this much uninterrupted concealment the stream is considered stopped: the
    /// buffer plays silence and rebuffers from the next packet.
    pub max_conceal: Duration,
}

impl Default for JitterConfig {
    fn default() -> Self {
        Self {
            clock_rate: 48_000,
            min_delay: Duration::ZERO,
            max_delay: Duration::from_millis(1000),
            capacity: 256,
            window: 128,
            percentile: 0.95,
            target_decrease_per_second: Duration::from_millis(20),
            isolated_spike_half_life: Some(Duration::from_secs(2)),
            fec: true,
            max_timestamp_jump: Duration::from_secs(3),
            max_conceal: Duration::from_millis(500),
        }
    }
}

/// How long a delay spike is remembered: a second spike within this time marks spikes
/// as recurring, and the target then falls only linearly (NetEq's peak detector keeps
/// its target up for recurring peaks for the same reason: the next one is likely).
pub const SPIKE_MEMORY: Duration = Duration::from_secs(20);
const SPIKE_MEMORY_MS: f64 = SPIKE_MEMORY.as_secs_f64() * 1e3;

/// A packet delayed this much beyond the current target (relative to the fastest packet
/// in the window) is a spike, in packet durations.
const SPIKE_PACKETS: f64 = 2.0;

/// Spike packets arriving within this time of a spike's first packet belong to it (a
/// stall releases its packets in a burst).
const SPIKE_GROUPING_MS: f64 = 500.0;

/// Weight of the previous value in the buffer-level filter, per decode decision (one per
/// packet): about 20 packets (0.4 s of 20 ms packets). Time-scaling is decided on the
/// filtered level, as NetEq does, so a single late or early packet does not trigger a
/// stretch or an accelerate that the next one would undo.
const LEVEL_FILTER: f64 = 0.95;

/// The buffer stretches only while its filtered level is below this share of the target
/// (or below the target minus [`MAX_LOW_OFFSET_MS`], if that is higher): NetEq's
/// low limit.
const LOW_LIMIT_SHARE: f64 = 0.75;
const MAX_LOW_OFFSET_MS: f64 = 85.0;

/// Packets after the last loss during which the target keeps room for FEC recovery
/// (10 s of 20 ms packets): a path that lost one packet is likely to lose more.
const FEC_MARGIN_PACKETS: i64 = 500;

/// Why a packet or configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JitterError {
    /// The packet's duration is outside 10..=120 ms (Opus frames shorter than a playout
    /// tick cannot be scheduled one per tick).
    #[error("packet duration {0} ticks is outside 10..=120 ms")]
    InvalidDuration(u32),
    /// A configuration value is unusable.
    #[error("invalid jitter buffer configuration: {0}")]
    InvalidConfig(&'static str),
}

/// What [`JitterBuffer::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InsertOutcome {
    /// Stored for playout.
    Accepted,
    /// Already stored or already played: dropped.
    Duplicate,
    /// Its playout slot has passed (it was concealed or recovered): dropped and counted.
    Late,
    /// So far ahead that the buffer was flushed and restarted from this packet.
    Resynchronised,
}

/// What to do for one 10 ms playout tick. Sample counts are at the RTP clock rate.
#[derive(Debug, PartialEq)]
pub enum PlayoutAction<'a, T> {
    /// Nothing buffered yet (or rebuffering after the stream stopped): play silence.
    Silence {
        /// Samples of silence.
        samples: u32,
    },
    /// Audio decoded by an earlier action still covers this tick.
    Continue,
    /// Decode this packet and play it as is.
    Decode {
        /// The packet.
        packet: T,
    },
    /// Decode `packet` (and `next`, the packet after it, when present) and time-compress
    /// the result to about `samples` (the buffer is too deep); report a different length
    /// with [`JitterBuffer::report_time_scaled`].
    Accelerate {
        /// First packet.
        packet: T,
        /// Following packet, taken along when one packet alone is too short to compress.
        next: Option<T>,
        /// Output length after compression.
        samples: u32,
    },
    /// Decode this packet and time-stretch it to about `samples` (the buffer is too
    /// shallow); report a different length with [`JitterBuffer::report_time_scaled`].
    Stretch {
        /// The packet.
        packet: T,
        /// Output length after stretching.
        samples: u32,
    },
    /// The expected packet is lost but the next one has arrived: decode the lost one from
    /// the next packet's in-band FEC (Opus `decode(next, fec = true)` for `samples`). The
    /// next packet stays buffered for its own turn.
    DecodeFec {
        /// Payload of the following packet.
        next: &'a T,
        /// Samples to recover.
        samples: u32,
    },
    /// Generate `samples` of packet-loss concealment.
    Conceal {
        /// Samples to conceal.
        samples: u32,
    },
    /// Discontinuous transmission: generate `samples` of comfort noise.
    ComfortNoise {
        /// Samples of comfort noise.
        samples: u32,
    },
}

impl<T> PlayoutAction<'_, T> {
    #[cfg(any(test, feature = "testing"))]
    /// Audio samples this action produces (0 for [`PlayoutAction::Continue`]; for
    /// [`PlayoutAction::Decode`] the packet's duration, which the buffer already knows).
    pub fn output_samples(&self, packet_samples: impl Fn(&T) -> u32) -> u32 {
        match self {
            Self::Continue => 0,
            Self::Decode { packet } => packet_samples(packet),
            Self::Silence { samples }
            | Self::Accelerate { samples, .. }
            | Self::Stretch { samples, .. }
            | Self::DecodeFec { samples, .. }
            | Self::Conceal { samples }
            | Self::ComfortNoise { samples } => *samples,
        }
    }
}

/// Counters and gauges of an audio jitter buffer.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JitterStats {
    /// Current buffer level (media buffered ahead of the playout position).
    pub current_delay: Duration,
    /// Current target level.
    pub target_delay: Duration,
    /// RFC 3550 interarrival jitter estimate.
    pub jitter: Duration,
    /// Packets accepted.
    pub received: u64,
    /// Duplicates dropped.
    pub duplicates: u64,
    /// Packets that arrived after their playout slot.
    pub late: u64,
    /// Packets never received in time (concealed, FEC-recovered or skipped).
    pub lost: u64,
    /// Lost packets recovered from in-band FEC.
    pub fec_recovered: u64,
    /// Audio produced by concealment.
    pub concealed: Duration,
    /// Comfort noise played in DTX gaps (not concealment).
    pub comfort_noise: Duration,
    /// Times the buffer ran dry while playing.
    pub underflows: u64,
    /// Times a packet too far ahead forced a flush.
    pub overflows: u64,
    /// Accelerate actions (delay reduction).
    pub accelerated: u64,
    /// Stretch actions (delay increase).
    pub stretched: u64,
    /// Accelerate/stretch actions the caller's time-scaler declined (loud audio without a
    /// pitch to cut at).
    pub time_scale_declined: u64,
    /// Media skipped to shorten silence.
    pub silence_shortened: Duration,
    /// Resynchronisations after timestamp jumps.
    pub timestamp_jumps: u64,
    /// Restarts after a sequence number jump far backwards (sender restart).
    pub resets: u64,
}

struct Slot<T> {
    seq: i64,
    ts: i64,
    duration: i64,
    dtx: bool,
    payload: T,
}

/// Sliding-window relative delay statistics (the NetEq-style part) and the RFC 3550
/// jitter estimate.
struct DelayEstimator {
    transits_ms: Vec<f64>,
    filled: usize,
    next: usize,
    scratch: Vec<f64>,
    rfc_jitter_ticks: f64,
    last_transit_ticks: Option<f64>,
}

impl DelayEstimator {
    fn new(window: usize) -> Self {
        Self {
            transits_ms: vec![0.0; window],
            filled: 0,
            next: 0,
            scratch: Vec::with_capacity(window),
            rfc_jitter_ticks: 0.0,
            last_transit_ticks: None,
        }
    }

    fn reset(&mut self) {
        self.filled = 0;
        self.next = 0;
        self.last_transit_ticks = None;
    }

    fn push(&mut self, transit_ms: f64, clock_rate: u32) {
        let transit_ticks = transit_ms * f64::from(clock_rate) / 1000.0;
        if let Some(last) = self.last_transit_ticks {
            // RFC 3550 A.8: J += (|D| - J) / 16.
            let d = (transit_ticks - last).abs();
            self.rfc_jitter_ticks += (d - self.rfc_jitter_ticks) / 16.0;
        }
        self.last_transit_ticks = Some(transit_ticks);
        let window = self.transits_ms.len();
        self.transits_ms[self.next] = transit_ms;
        self.next = (self.next + 1) % window;
        self.filled = (self.filled + 1).min(window);
    }

    /// The smallest transit in the window, in ms.
    fn min_transit_ms(&self) -> f64 {
        self.transits_ms[..self.filled].iter().copied().fold(f64::INFINITY, f64::min)
    }

    /// The given percentile of (transit - minimum transit) over the window, in ms.
    fn relative_delay_percentile(&mut self, percentile: f64) -> f64 {
        if self.filled == 0 {
            return 0.0;
        }
        self.scratch.clear();
        self.scratch.extend_from_slice(&self.transits_ms[..self.filled]);
        let min = self.scratch.iter().copied().fold(f64::INFINITY, f64::min);
        let rank = ((self.filled - 1) as f64 * percentile).round() as usize;
        let (_, value, _) = self.scratch.select_nth_unstable_by(rank, f64::total_cmp);
        *value - min
    }
}

/// The adaptive jitter buffer. See the [module docs](self).
pub struct JitterBuffer<T> {
    config: JitterConfig,
    /// Ticks (RTP clock) per 10 ms playout tick.
    tick: i64,
    slots: Vec<Option<Slot<T>>>,
    seq_unwrap: SeqUnwrapper,
    ts_unwrap: TimestampUnwrapper,
    started: bool,
    /// Flush and restart from the next packet that arrives (the stream stopped).
    rebuffer: bool,
    next_seq: i64,
    next_ts: i64,
    highest_seq: Option<i64>,
    highest_end_ts: i64,
    /// Decoded output not yet played, in ticks.
    pending: i64,
    /// Output played while waiting (expansion, comfort noise) without advancing media.
    credit: i64,
    /// Bit `i` set: packet `next_seq - 1 - i` was played from its own payload.
    played: u128,
    last_duration: i64,
    last_was_dtx: bool,
    epoch: Option<Instant>,
    estimator: DelayEstimator,
    raw_target_ms: f64,
    target_ms: f64,
    last_pull: Option<Instant>,
    in_underflow: bool,
    /// Sequence number of the latest packet declared lost (for the FEC margin).
    last_loss_seq: Option<i64>,
    /// The buffer level at decode decisions, low-pass filtered ([`LEVEL_FILTER`]), in
    /// ticks; time-scaling actions shift it by what they add or remove.
    filtered_level: Option<f64>,
    /// Arrival (ms since `epoch`) of the first packet of the latest delay spike, and of
    /// the spike before it.
    last_spike_ms: Option<f64>,
    previous_spike_ms: Option<f64>,
    /// Highest relative delay of the spikes remembered, in ms.
    spike_height_ms: f64,
    /// The accelerate/stretch the latest `pull` asked for, until the caller reports what
    /// its time-scaler really produced.
    time_scale: Option<TimeScalePlan>,
    stats: JitterStats,
}

/// An accelerate or stretch in flight: media decoded and output planned, in ticks.
#[derive(Debug, Clone, Copy)]
struct TimeScalePlan {
    accelerate: bool,
    media: i64,
    planned: i64,
}

impl<T> std::fmt::Debug for JitterBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JitterBuffer").field("stats", &self.stats).finish_non_exhaustive()
    }
}

impl<T> JitterBuffer<T> {
    /// A buffer with this tuning; all storage is allocated here.
    pub fn new(config: JitterConfig) -> Result<Self, JitterError> {
        if config.clock_rate < 8000 || config.clock_rate % 100 != 0 {
            return Err(JitterError::InvalidConfig(
                "clock rate must be >= 8000 and a multiple of 100",
            ));
        }
        if config.capacity < 8 || config.window < 8 {
            return Err(JitterError::InvalidConfig("capacity and window must be >= 8"));
        }
        if !(0.5..=1.0).contains(&config.percentile) {
            return Err(JitterError::InvalidConfig("percentile must be in [0.5, 1]"));
        }
        if config.min_delay > config.max_delay {
            return Err(JitterError::InvalidConfig("min_delay exceeds max_delay"));
        }
        let tick = i64::from(config.clock_rate / 100);
        let mut slots = Vec::with_capacity(config.capacity);
        slots.resize_with(config.capacity, || None);
        let min_ms = config.min_delay.as_secs_f64() * 1e3;
        Ok(Self {
            tick,
            slots,
            seq_unwrap: SeqUnwrapper::new(),
            ts_unwrap: TimestampUnwrapper::new(),
            started: false,
            rebuffer: false,
            next_seq: 0,
            next_ts: 0,
            highest_seq: None,
            highest_end_ts: 0,
            pending: 0,
            credit: 0,
            played: 0,
            last_duration: 2 * tick,
            last_was_dtx: false,
            epoch: None,
            estimator: DelayEstimator::new(config.window),
            raw_target_ms: min_ms,
            target_ms: min_ms,
            last_pull: None,
            in_underflow: false,
            last_loss_seq: None,
            filtered_level: None,
            last_spike_ms: None,
            previous_spike_ms: None,
            spike_height_ms: 0.0,
            time_scale: None,
            stats: JitterStats::default(),
            config,
        })
    }

    /// Counters and gauges.
    pub fn stats(&self) -> JitterStats {
        let mut stats = self.stats;
        stats.current_delay = self.ticks_to_duration(self.level());
        stats.target_delay = Duration::from_secs_f64(self.target_ms.max(0.0) / 1e3);
        stats.jitter = Duration::from_secs_f64(
            self.estimator.rfc_jitter_ticks / f64::from(self.config.clock_rate),
        );
        stats
    }

    /// The RTP timestamp of the first sample played by the latest [`pull`](Self::pull)
    /// (time-scaling aside), or `None` before playout has started. Lip sync maps it to the
    /// sender's clock through the sender reports.
    pub fn playout_timestamp(&self) -> Option<u32> {
        (self.started && !self.rebuffer && self.highest_seq.is_some())
            .then(|| (self.next_ts - self.pending - self.tick) as u32)
    }

    /// Tells the buffer how many samples the caller's time-scaler really produced for the
    /// [`PlayoutAction::Accelerate`] or [`PlayoutAction::Stretch`] the latest
    /// [`pull`](Self::pull) returned. A pitch-synchronous time-scaler removes or inserts
    /// whole pitch periods, so its length change differs from the action's `samples`; it
    /// may also decline (produce the decoded length unchanged), which is counted in
    /// [`JitterStats::time_scale_declined`] instead of `accelerated`/`stretched`. Without
    /// this call the buffer assumes `samples` was produced exactly. Any other call is
    /// ignored, and `produced` counts as at most twice the decoded length.
    pub fn report_time_scaled(&mut self, produced: u32) {
        let Some(plan) = self.time_scale.take() else {
            return;
        };
        // A time-scaler changes the length by at most the decoded length; anything
        // beyond that is a caller bug, bounded so the buffer's accounting stays sane.
        let produced = i64::from(produced).min(2 * plan.media);
        self.pending = (self.pending + produced - plan.planned).max(0);
        self.shift_filtered_level(produced - plan.planned);
        if produced == plan.media {
            self.stats.time_scale_declined += 1;
            let counter = if plan.accelerate {
                &mut self.stats.accelerated
            } else {
                &mut self.stats.stretched
            };
            *counter = counter.saturating_sub(1);
        }
    }

    #[cfg(any(test, feature = "testing"))]
    /// Packets stored and not yet played.
    pub fn buffered_packets(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    fn ticks_to_duration(&self, ticks: i64) -> Duration {
        Duration::from_secs_f64(ticks.max(0) as f64 / f64::from(self.config.clock_rate))
    }

    fn ticks_to_ms(&self, ticks: i64) -> f64 {
        ticks as f64 * 1000.0 / f64::from(self.config.clock_rate)
    }

    fn index(&self, seq: i64) -> usize {
        seq.rem_euclid(self.slots.len() as i64) as usize
    }

    fn slot(&self, seq: i64) -> Option<&Slot<T>> {
        self.slots[self.index(seq)].as_ref().filter(|s| s.seq == seq)
    }

    fn take(&mut self, seq: i64) -> Option<Slot<T>> {
        let index = self.index(seq);
        if self.slots[index].as_ref().is_some_and(|s| s.seq == seq) {
            self.slots[index].take()
        } else {
            None
        }
    }

    /// Buffered media ahead of the playout position plus decoded audio not yet played.
    fn level(&self) -> i64 {
        if self.highest_seq.is_none() {
            return self.pending.max(0);
        }
        (self.highest_end_ts - self.next_ts).max(0) + self.pending.max(0)
    }

    fn flush(&mut self) {
        for slot in &mut self.slots {
            *slot = None;
        }
        self.highest_seq = None;
        self.started = false;
        // `pending` stays: that audio is already decoded on the caller's side.
        self.credit = 0;
        self.played = 0;
        self.filtered_level = None;
    }

    /// Stores a packet that arrived at `now`.
    pub fn insert(
        &mut self,
        now: Instant,
        packet: AudioPacket<T>,
    ) -> Result<InsertOutcome, JitterError> {
        let ms10 = self.tick as u32;
        if packet.duration < ms10 || packet.duration > 12 * ms10 {
            return Err(JitterError::InvalidDuration(packet.duration));
        }
        let seq = self.seq_unwrap.unwrap(packet.seq);
        let ts = self.ts_unwrap.unwrap(packet.timestamp);
        let duration = i64::from(packet.duration);
        let mut outcome = InsertOutcome::Accepted;

        if self.rebuffer {
            // The stream stopped and restarted: everything before is history.
            self.rebuffer = false;
            self.flush();
            self.estimator.reset();
        }
        if self.highest_seq.is_some() && self.next_seq - seq > RESTART_DISTANCE {
            // Far behind: not a late packet but a sender that restarted its sequence.
            self.stats.resets += 1;
            self.flush();
            self.estimator.reset();
            outcome = InsertOutcome::Resynchronised;
        }

        if self.started && seq < self.next_seq {
            let behind = self.next_seq - 1 - seq;
            if behind < 128 && self.played & (1u128 << behind) != 0 {
                self.stats.duplicates += 1;
                return Ok(InsertOutcome::Duplicate);
            }
            self.stats.late += 1;
            // A late packet is the best evidence that the delay is too small: the target
            // covers it at once, whatever the percentile says (it decays slowly later).
            let relative_ms = self.observe_transit(now, ts, duration);
            let covering = (relative_ms + self.ticks_to_ms(duration))
                .min(self.config.max_delay.as_secs_f64() * 1e3);
            self.target_ms = self.target_ms.max(covering);
            return Ok(InsertOutcome::Late);
        }
        if self.slot(seq).is_some() {
            self.stats.duplicates += 1;
            return Ok(InsertOutcome::Duplicate);
        }

        let capacity = self.slots.len() as i64;
        match self.highest_seq {
            None => {
                self.next_seq = seq;
                self.next_ts = ts;
                self.highest_end_ts = ts + duration;
            }
            Some(_) if !self.started && seq < self.next_seq => {
                if self.next_seq - seq >= capacity / 2 {
                    self.stats.late += 1;
                    return Ok(InsertOutcome::Late);
                }
                // Reordered before playout started: begin from the earliest packet.
                self.next_seq = seq;
                self.next_ts = ts;
            }
            Some(_) => {}
        }
        if seq - self.next_seq >= capacity {
            self.stats.overflows += 1;
            self.flush();
            self.estimator.reset();
            self.next_seq = seq;
            self.next_ts = ts;
            self.highest_end_ts = ts + duration;
            outcome = InsertOutcome::Resynchronised;
        }

        self.highest_seq = Some(self.highest_seq.map_or(seq, |h| h.max(seq)));
        if seq == self.highest_seq.unwrap_or(seq) {
            self.highest_end_ts = self.highest_end_ts.max(ts + duration);
        }
        let index = self.index(seq);
        self.slots[index] =
            Some(Slot { seq, ts, duration, dtx: packet.dtx, payload: packet.payload });
        self.stats.received += 1;
        self.observe_transit(now, ts, duration);
        Ok(outcome)
    }

    /// Records the packet's transit; returns its delay relative to the window minimum.
    fn observe_transit(&mut self, now: Instant, ts: i64, duration: i64) -> f64 {
        self.epoch.get_or_insert(now);
        let arrival_ms = self.ms_since_epoch(now).unwrap_or(0.0);
        let transit = arrival_ms - self.ticks_to_ms(ts);
        self.estimator.push(transit, self.config.clock_rate);
        let spread = self.estimator.relative_delay_percentile(self.config.percentile);
        // On a lossy path keep one more packet buffered: a lost packet's FEC copy travels
        // in the next packet, which must have arrived when the lost one is due, or the
        // loss is concealed instead of recovered (measured on 5 % loss: 0 of 33 losses
        // recovered without the margin in one playout phase, nearly all with it). The
        // margin holds for FEC_MARGIN_PACKETS packets after the last loss.
        let fec_margin = match self.last_loss_seq {
            Some(lost) if self.config.fec && self.next_seq - lost < FEC_MARGIN_PACKETS => {
                self.ticks_to_ms(duration)
            }
            _ => 0.0,
        };
        let raw = (spread + self.ticks_to_ms(duration) + fec_margin).clamp(
            self.config.min_delay.as_secs_f64() * 1e3,
            self.config.max_delay.as_secs_f64() * 1e3,
        );
        self.raw_target_ms = raw;
        let relative = transit - self.estimator.min_transit_ms();
        let beyond_target = relative > self.target_ms + SPIKE_PACKETS * self.ticks_to_ms(duration);
        // A delay as high as half the latest spike's, seen again later, means the spike
        // level recurs (sustained heavy jitter) even if the raised target now covers it.
        let spike_level_again =
            self.last_spike_ms.is_some() && relative >= 0.5 * self.spike_height_ms;
        if beyond_target || spike_level_again {
            self.record_spike(arrival_ms, relative);
        }
        // Up at once, down slowly (in `pull`).
        if raw > self.target_ms {
            self.target_ms = raw;
        }
        relative
    }

    /// Milliseconds since the first packet (negative before it, which `Instant`s allow).
    fn ms_since_epoch(&self, now: Instant) -> Option<f64> {
        let epoch = self.epoch?;
        Some(match now.checked_duration_since(epoch) {
            Some(d) => d.as_secs_f64() * 1e3,
            None => -(epoch.duration_since(now).as_secs_f64() * 1e3),
        })
    }

    fn record_spike(&mut self, arrival_ms: f64, relative_ms: f64) {
        // Grouped from the spike's first packet, not sliding: a stall's burst is one
        // spike, a sustained stretch of heavy jitter a new spike every grouping interval
        // (so it counts as recurring).
        if self.last_spike_ms.is_some_and(|start| arrival_ms - start <= SPIKE_GROUPING_MS) {
            self.spike_height_ms = self.spike_height_ms.max(relative_ms);
            return;
        }
        if self.last_spike_ms.is_some_and(|last| arrival_ms - last > SPIKE_MEMORY_MS) {
            self.spike_height_ms = 0.0; // forgotten: this one sets the level afresh
        }
        self.spike_height_ms = self.spike_height_ms.max(relative_ms);
        self.previous_spike_ms = self.last_spike_ms;
        self.last_spike_ms = Some(arrival_ms);
    }

    /// Whether the target's excess comes from one isolated spike: a spike within
    /// [`SPIKE_MEMORY`] of `now_ms`, and no second one within it (two mean spikes recur).
    fn after_isolated_spike(&self, now_ms: f64) -> bool {
        let recent = |at: Option<f64>| at.is_some_and(|at| now_ms - at <= SPIKE_MEMORY_MS);
        recent(self.last_spike_ms) && !recent(self.previous_spike_ms)
    }

    fn decay_target(&mut self, now: Instant) {
        if let Some(last) = self.last_pull {
            let elapsed = now.saturating_duration_since(last).as_secs_f64();
            let step = self.config.target_decrease_per_second.as_secs_f64() * 1e3 * elapsed;
            let mut target = self.target_ms - step;
            let isolated =
                self.ms_since_epoch(now).is_some_and(|now_ms| self.after_isolated_spike(now_ms));
            if let Some(half_life) = self.config.isolated_spike_half_life.filter(|_| isolated) {
                // The excess over the current need halves every `half_life` (NetEq lets a
                // one-off peak go the same way), never slower than the linear decay.
                let excess = self.target_ms - self.raw_target_ms;
                if excess > 0.0 {
                    let factor = 0.5f64.powf(elapsed / half_life.as_secs_f64().max(1e-3));
                    target = target.min(self.raw_target_ms + excess * factor);
                }
            }
            self.target_ms = self.raw_target_ms.max(target);
        }
        self.last_pull = Some(now);
    }

    /// Feeds the level at a decode decision into the filter; returns the filtered level.
    fn filter_level(&mut self, level: i64) -> f64 {
        let level = level as f64;
        let filtered =
            self.filtered_level.map_or(level, |f| LEVEL_FILTER * f + (1.0 - LEVEL_FILTER) * level);
        self.filtered_level = Some(filtered);
        filtered
    }

    /// A time-scaling action changed the delay by `ticks`: the filtered level follows at
    /// once, so the filter does not ask for the same action again while it catches up.
    fn shift_filtered_level(&mut self, ticks: i64) {
        if let Some(f) = self.filtered_level.as_mut() {
            *f = (*f + ticks as f64).max(0.0);
        }
    }

    fn advance(&mut self, media: i64, played: bool) {
        self.next_seq += 1;
        self.next_ts += media;
        self.played = (self.played << 1) | u128::from(played);
    }

    fn samples(ticks: i64) -> u32 {
        ticks.clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Produces the action for the next 10 ms playout tick.
    pub fn pull(&mut self, now: Instant) -> PlayoutAction<'_, T> {
        self.decay_target(now);
        self.time_scale = None;
        let tick = self.tick;
        if self.pending >= tick {
            self.pending -= tick;
            return PlayoutAction::Continue;
        }
        if self.rebuffer || self.highest_seq.is_none() {
            return PlayoutAction::Silence { samples: Self::samples(tick) };
        }
        let target_ticks = (self.target_ms * f64::from(self.config.clock_rate) / 1e3) as i64;
        if !self.started {
            if self.level() < target_ticks {
                return PlayoutAction::Silence { samples: Self::samples(tick) };
            }
            self.started = true;
        }

        // Skip packets already concealed while we waited for them (credit) — except the
        // one just before a packet that has arrived: its FEC copy is here, and recovering
        // it beats the concealment already played. The delay then grows by that
        // concealment, which is exactly the room the next loss needs for its own FEC copy
        // (a buffer at one packet on a jitter-free link otherwise never recovers any).
        let mut skipped = 0;
        while self.slot(self.next_seq).is_none()
            && self.highest_seq.is_some_and(|h| h > self.next_seq)
            && self.credit >= self.last_duration
            && skipped < self.slots.len()
            && !(self.config.fec && self.slot(self.next_seq + 1).is_some())
        {
            self.credit -= self.last_duration;
            self.stats.lost += 1;
            self.last_loss_seq = Some(self.next_seq);
            let media = self.last_duration;
            self.advance(media, false);
            skipped += 1;
        }

        let level = self.level();
        let next_seq = self.next_seq;
        if let Some(head) = self.slot(next_seq) {
            let (head_ts, head_duration) = (head.ts, head.duration);
            let mut gap = head_ts - self.next_ts;
            let max_jump = (self.config.max_timestamp_jump.as_secs_f64()
                * f64::from(self.config.clock_rate)) as i64;
            if gap < 0 || gap > max_jump {
                // Sender restarted its timestamps: follow them, forget old transit times.
                self.stats.timestamp_jumps += 1;
                self.highest_end_ts += head_ts - self.next_ts;
                self.next_ts = head_ts;
                self.estimator.reset();
                gap = 0;
            }
            if gap > 0 {
                // Same sequence, later timestamp: a DTX pause. Waiting time already played
                // counts against it; the rest is comfort noise, shortened when too deep.
                let credited = self.credit.min(gap);
                self.next_ts += credited;
                self.credit = 0;
                let gap = gap - credited;
                if gap > 0 {
                    let deep = level > target_ticks + head_duration;
                    let consume = if deep { gap.min(2 * tick) } else { gap.min(tick) };
                    if consume > tick {
                        self.stats.silence_shortened += self.ticks_to_duration(consume - tick);
                    }
                    self.next_ts += consume;
                    self.stats.comfort_noise += TICK;
                    return PlayoutAction::ComfortNoise { samples: Self::samples(tick) };
                }
            }
            self.credit = 0;
            self.in_underflow = false;
            // The level counted the pause just credited away.
            let level = self.level();
            let filtered = self.filter_level(level);
            let Some(head) = self.take(next_seq) else {
                return PlayoutAction::Conceal { samples: Self::samples(tick) };
            };
            self.last_duration = head.duration;
            self.last_was_dtx = head.dtx;
            self.advance(head.duration, true);

            // Too deep now and on average: compress. (The instant level must allow taking
            // 20 ms out; the filtered one keeps a passing burst from triggering it.)
            if level > target_ticks + head.duration.max(2 * tick)
                && filtered >= target_ticks as f64
                && !head.dtx
            {
                // Too deep: compress at least 20 ms into three quarters of it.
                let mut media = head.duration;
                let mut next = None;
                if media < 2 * tick {
                    let follower = self.next_seq;
                    if self.slot(follower).is_some_and(|s| s.ts == self.next_ts && !s.dtx) {
                        if let Some(slot) = self.take(follower) {
                            media += slot.duration;
                            self.advance(slot.duration, true);
                            next = Some(slot.payload);
                        }
                    }
                }
                if media >= 2 * tick {
                    let output = media * 3 / 4;
                    self.shift_filtered_level(output - media);
                    self.pending += output - tick;
                    self.stats.accelerated += 1;
                    self.time_scale =
                        Some(TimeScalePlan { accelerate: true, media, planned: output });
                    return PlayoutAction::Accelerate {
                        packet: head.payload,
                        next,
                        samples: Self::samples(output),
                    };
                }
                self.pending += media - tick;
                return PlayoutAction::Decode { packet: head.payload };
            }
            // Too shallow now and on average: stretch.
            let target_ms = self.target_ms;
            let low = (LOW_LIMIT_SHARE * target_ms).max(target_ms - MAX_LOW_OFFSET_MS);
            let low_ticks = low * f64::from(self.config.clock_rate) / 1e3;
            if (level as f64) < low_ticks && filtered < low_ticks && !head.dtx {
                let output = head.duration * 3 / 2;
                self.shift_filtered_level(output - head.duration);
                self.pending += output - tick;
                self.stats.stretched += 1;
                self.time_scale = Some(TimeScalePlan {
                    accelerate: false,
                    media: head.duration,
                    planned: output,
                });
                return PlayoutAction::Stretch {
                    packet: head.payload,
                    samples: Self::samples(output),
                };
            }
            self.pending += head.duration - tick;
            return PlayoutAction::Decode { packet: head.payload };
        }

        let later_exists = self.highest_seq.is_some_and(|h| h > next_seq);
        if later_exists {
            // The head is missing but later packets are here: it is lost (if it still
            // arrives it will be late). Recover it from the next packet's FEC if possible.
            self.credit = 0;
            self.in_underflow = false;
            let media = self.last_duration;
            self.stats.lost += 1;
            self.last_loss_seq = Some(self.next_seq);
            self.advance(media, false);
            self.pending += media - tick;
            let follower = self.next_seq;
            if self.config.fec && self.slot(follower).is_some() {
                self.stats.fec_recovered += 1;
                let index = self.index(follower);
                if let Some(slot) = self.slots[index].as_ref() {
                    return PlayoutAction::DecodeFec {
                        next: &slot.payload,
                        samples: Self::samples(media),
                    };
                }
            }
            self.stats.concealed += self.ticks_to_duration(media);
            return PlayoutAction::Conceal { samples: Self::samples(media) };
        }

        // Nothing to play: wait for the packet while producing audio, without advancing
        // the media position (the delay grows by this much unless the packet is lost).
        let max_conceal =
            (self.config.max_conceal.as_secs_f64() * f64::from(self.config.clock_rate)) as i64;
        if self.credit >= max_conceal {
            self.rebuffer = true;
            self.in_underflow = false;
            return PlayoutAction::Silence { samples: Self::samples(tick) };
        }
        self.credit += tick;
        if self.last_was_dtx {
            self.stats.comfort_noise += TICK;
            return PlayoutAction::ComfortNoise { samples: Self::samples(tick) };
        }
        if !self.in_underflow {
            self.in_underflow = true;
            self.stats.underflows += 1;
        }
        self.stats.concealed += TICK;
        PlayoutAction::Conceal { samples: Self::samples(tick) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(seq: u16, ts: u32) -> AudioPacket<u16> {
        AudioPacket { seq, timestamp: ts, duration: 960, dtx: false, payload: seq }
    }

    #[test]
    fn shallow_buffer_stretches_and_deep_buffer_accelerates() {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        jb.insert(t0, packet(0, 0)).unwrap();
        assert_eq!(jb.pull(t0), PlayoutAction::Decode { packet: 0 });
        for m in (10..100).step_by(10) {
            assert!(!matches!(jb.pull(ms(m)), PlayoutAction::Decode { .. }));
        }
        // Packet 1 is 80 ms later than packet 0 relative to their timestamps: target 100 ms,
        // and only 20 ms is buffered.
        jb.insert(ms(100), packet(1, 960)).unwrap();
        assert_eq!(jb.stats().target_delay, Duration::from_millis(100));
        assert_eq!(jb.pull(ms(100)), PlayoutAction::Stretch { packet: 1, samples: 1440 });
        assert_eq!(jb.stats().stretched, 1);
        // Deep buffer: ten packets on a target of 20 ms accelerates.
        let mut jb3 = JitterBuffer::new(JitterConfig::default()).unwrap();
        for seq in 0..10 {
            jb3.insert(ms(20 * u64::from(seq)), packet(seq, u32::from(seq) * 960)).unwrap();
        }
        assert!(matches!(
            jb3.pull(ms(180)),
            PlayoutAction::Accelerate { packet: 0, next: None, samples: 720 }
        ));
        assert_eq!(jb3.stats().accelerated, 1);
    }

    #[test]
    fn reported_time_scale_lengths_set_the_decoded_audio_left() {
        let t0 = Instant::now();
        let ms = |m: u64| t0 + Duration::from_millis(m);
        let deep = || {
            let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
            for seq in 0..10 {
                jb.insert(ms(20 * u64::from(seq)), packet(seq, u32::from(seq) * 960)).unwrap();
            }
            jb
        };
        // Planned 720 of 960; a pitch period of 350 removed instead leaves 610 - 480 = 130
        // samples after this tick, less than a tick: the next pull decodes again.
        let mut jb = deep();
        assert!(matches!(jb.pull(ms(180)), PlayoutAction::Accelerate { samples: 720, .. }));
        jb.report_time_scaled(610);
        assert_eq!(jb.stats().accelerated, 1);
        assert!(matches!(
            jb.pull(ms(190)),
            PlayoutAction::Accelerate { .. } | PlayoutAction::Decode { .. }
        ));
        // Unreported, 720 leaves 240 < one tick too; with 960 reported (declined) the
        // next tick plays leftover audio and the action is not counted as an acceleration.
        let mut jb = deep();
        assert!(matches!(jb.pull(ms(180)), PlayoutAction::Accelerate { .. }));
        jb.report_time_scaled(960);
        assert_eq!((jb.stats().accelerated, jb.stats().time_scale_declined), (0, 1));
        assert_eq!(jb.pull(ms(190)), PlayoutAction::Continue);
        // An absurd report counts as at most twice the decoded length (1920 - 720 + 240
        // = 1440 samples left: three ticks of leftover audio, then a decode).
        let mut jb2 = deep();
        assert!(matches!(jb2.pull(ms(180)), PlayoutAction::Accelerate { .. }));
        jb2.report_time_scaled(u32::MAX);
        for m in [190, 200, 210] {
            assert_eq!(jb2.pull(ms(m)), PlayoutAction::Continue);
        }
        assert!(!matches!(jb2.pull(ms(220)), PlayoutAction::Continue));
        // A report with no time-scaling action pending changes nothing.
        jb.report_time_scaled(5000);
        assert_eq!(jb.stats().time_scale_declined, 1);
        assert!(!matches!(jb.pull(ms(200)), PlayoutAction::Continue));
    }

    #[test]
    fn sequence_restart_far_behind_resynchronises() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        jb.insert(t0, packet(40_000, 0)).unwrap();
        assert_eq!(jb.pull(t0), PlayoutAction::Decode { packet: 40_000 });
        // A late packet just behind is late; one 30 000 behind is a restart.
        assert_eq!(jb.insert(t0, packet(39_999, 0)), Ok(InsertOutcome::Late));
        assert_eq!(jb.insert(t0, packet(10_000, 77)), Ok(InsertOutcome::Resynchronised));
        assert_eq!(jb.pull(t0 + TICK), PlayoutAction::Continue);
        assert_eq!(jb.pull(t0 + 2 * TICK), PlayoutAction::Decode { packet: 10_000 });
        assert_eq!(jb.stats().resets, 1);
    }

    #[test]
    fn rejects_bad_durations_and_configs() {
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        let mut p = packet(1, 0);
        p.duration = 120;
        assert_eq!(jb.insert(Instant::now(), p), Err(JitterError::InvalidDuration(120)));
        let bad = JitterConfig { clock_rate: 44_123, ..JitterConfig::default() };
        assert!(JitterBuffer::<u16>::new(bad).is_err());
    }

    #[test]
    fn plays_in_order_and_detects_duplicates() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        assert_eq!(jb.insert(t0, packet(10, 0)), Ok(InsertOutcome::Accepted));
        assert_eq!(jb.insert(t0, packet(10, 0)), Ok(InsertOutcome::Duplicate));
        assert_eq!(jb.pull(t0), PlayoutAction::Decode { packet: 10 });
        assert_eq!(jb.pull(t0 + TICK), PlayoutAction::Continue);
        assert_eq!(jb.insert(t0 + TICK, packet(10, 0)), Ok(InsertOutcome::Duplicate));
        assert_eq!(jb.stats().duplicates, 2);
    }

    #[test]
    fn lost_packet_recovered_from_fec_of_next() {
        let t0 = Instant::now();
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        jb.insert(t0, packet(0, 0)).unwrap();
        assert_eq!(jb.pull(t0), PlayoutAction::Decode { packet: 0 });
        assert_eq!(jb.pull(t0 + TICK), PlayoutAction::Continue);
        // Packet 2 arrives 20 ms early relative to packet 0: the target grows to 40 ms.
        jb.insert(t0 + 2 * TICK, packet(2, 1920)).unwrap();
        assert_eq!(jb.pull(t0 + 2 * TICK), PlayoutAction::DecodeFec { next: &2, samples: 960 });
        assert_eq!(jb.pull(t0 + 3 * TICK), PlayoutAction::Continue);
        // 20 ms left against a 40 ms target (FEC room after the loss): below the low limit
        // (30 ms), now and on average, so the buffer stretches towards its target.
        assert_eq!(jb.pull(t0 + 4 * TICK), PlayoutAction::Stretch { packet: 2, samples: 1440 });
        // The original of the recovered packet arrives too late.
        assert_eq!(jb.insert(t0 + 4 * TICK, packet(1, 960)), Ok(InsertOutcome::Late));
        let stats = jb.stats();
        assert_eq!((stats.lost, stats.fec_recovered, stats.late), (1, 1, 1));
    }
}
