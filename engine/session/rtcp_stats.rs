//! RTCP bookkeeping, sans-IO: RFC 3550 receiver statistics for report blocks, RTT from a
//! returned report block, sender report contents, and audio/video synchronisation from
//! two streams' sender reports.
//!
//! Wall-clock time enters only through an [`NtpClock`] the caller builds once (from
//! `SystemTime` at call setup): it maps the monotonic `Instant`s given to every method to
//! NTP timestamps, so nothing here reads a clock.

use std::time::{Duration, Instant};

/// A 64-bit NTP timestamp: seconds since 1900 in the high 32 bits, fraction in the low.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NtpTime(pub u64);

impl NtpTime {
    /// The middle 32 bits ("NTP short format", 16.16 seconds) used by LSR and DLSR.
    pub fn compact(self) -> u32 {
        (self.0 >> 16) as u32
    }

    /// Seconds as a float (for offsets between two NTP times of one clock).
    pub fn as_secs_f64(self) -> f64 {
        (self.0 >> 32) as f64 + (self.0 & 0xFFFF_FFFF) as f64 / 4_294_967_296.0
    }

    /// From seconds since 1900.
    pub fn from_secs_f64(secs: f64) -> Self {
        let whole = secs.floor();
        let frac = ((secs - whole) * 4_294_967_296.0) as u64;
        Self(((whole as u64) << 32) | frac.min(0xFFFF_FFFF))
    }
}

/// Maps `Instant`s to NTP time from one reference pair taken by the caller.
#[derive(Debug, Clone, Copy)]
pub struct NtpClock {
    base_instant: Instant,
    base_ntp_secs: f64,
}

impl NtpClock {
    /// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
    pub const UNIX_OFFSET_SECS: u64 = 2_208_988_800;

    /// `base_instant` corresponds to `unix_time` (from `SystemTime::now()` read once by
    /// the caller at the same moment).
    pub fn new(base_instant: Instant, unix_time: Duration) -> Self {
        Self {
            base_instant,
            base_ntp_secs: Self::UNIX_OFFSET_SECS as f64 + unix_time.as_secs_f64(),
        }
    }

    /// The NTP time of `at`.
    pub fn ntp(&self, at: Instant) -> NtpTime {
        let offset = match at.checked_duration_since(self.base_instant) {
            Some(d) => d.as_secs_f64(),
            None => -self.base_instant.duration_since(at).as_secs_f64(),
        };
        NtpTime::from_secs_f64(self.base_ntp_secs + offset)
    }
}

/// One RTCP report block's fields (RFC 3550 6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportBlock {
    /// Fraction of packets lost since the previous report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed on the wire; clamped here).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received (cycles << 16 | max seq).
    pub extended_highest_seq: u32,
    /// Interarrival jitter in RTP timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the last SR's NTP timestamp (0 if none).
    pub last_sr: u32,
    /// Delay since that SR in 1/65536 s (0 if none).
    pub delay_since_last_sr: u32,
}

const RTP_SEQ_MOD: u32 = 1 << 16;
const MAX_DROPOUT: u16 = 3000;
const MAX_MISORDER: u16 = 100;
const MIN_SEQUENTIAL: u32 = 2;

/// Per-source receiver statistics, following RFC 3550 appendix A.1 (sequence validation),
/// A.3 (loss) and A.8 (jitter).
#[derive(Debug, Clone)]
pub struct ReceiverStats {
    clock_rate: u32,
    epoch: Option<Instant>,
    max_seq: u16,
    cycles: u32,
    base_seq: u32,
    bad_seq: u32,
    probation: u32,
    received: u32,
    expected_prior: u32,
    received_prior: u32,
    transit: Option<i64>,
    jitter: f64,
    last_sr: Option<(NtpTime, Instant)>,
    initialised: bool,
}

impl ReceiverStats {
    /// Statistics for a source with this RTP clock rate.
    pub fn new(clock_rate: u32) -> Self {
        Self {
            clock_rate: clock_rate.max(1),
            epoch: None,
            max_seq: 0,
            cycles: 0,
            base_seq: 0,
            bad_seq: RTP_SEQ_MOD + 1,
            probation: MIN_SEQUENTIAL,
            received: 0,
            expected_prior: 0,
            received_prior: 0,
            transit: None,
            jitter: 0.0,
            last_sr: None,
            initialised: false,
        }
    }

    fn init_seq(&mut self, seq: u16) {
        self.base_seq = u32::from(seq);
        self.max_seq = seq;
        self.bad_seq = RTP_SEQ_MOD + 1;
        self.cycles = 0;
        self.received = 0;
        self.received_prior = 0;
        self.expected_prior = 0;
    }

    /// RFC 3550 A.1 `update_seq`: returns whether the packet is valid for statistics.
    fn update_seq(&mut self, seq: u16) -> bool {
        let udelta = seq.wrapping_sub(self.max_seq);
        if self.probation > 0 {
            if seq == self.max_seq.wrapping_add(1) {
                self.probation -= 1;
                self.max_seq = seq;
                if self.probation == 0 {
                    self.init_seq(seq);
                    self.received += 1;
                    return true;
                }
            } else {
                self.probation = MIN_SEQUENTIAL - 1;
                self.max_seq = seq;
            }
            return false;
        } else if udelta < MAX_DROPOUT {
            if seq < self.max_seq {
                self.cycles += RTP_SEQ_MOD;
            }
            self.max_seq = seq;
        } else if udelta <= (RTP_SEQ_MOD as u16).wrapping_sub(MAX_MISORDER) {
            // A very large jump: maybe the source restarted. Accept after two in a row.
            if u32::from(seq) == self.bad_seq {
                self.init_seq(seq);
            } else {
                self.bad_seq = (u32::from(seq) + 1) & (RTP_SEQ_MOD - 1);
                return false;
            }
        }
        // Otherwise a duplicate or reordered packet: counted as received.
        self.received += 1;
        true
    }

    /// A packet with this sequence number and RTP timestamp arrived at `arrival`.
    pub fn on_packet(&mut self, arrival: Instant, seq: u16, rtp_timestamp: u32) {
        if !self.initialised {
            self.initialised = true;
            self.init_seq(seq);
            self.max_seq = seq.wrapping_sub(1);
            self.probation = MIN_SEQUENTIAL;
        }
        if !self.update_seq(seq) {
            return;
        }
        // A.8: transit in RTP units; J += (|D| - J) / 16.
        let epoch = *self.epoch.get_or_insert(arrival);
        let arrival_units = (arrival.saturating_duration_since(epoch).as_secs_f64()
            * f64::from(self.clock_rate)) as i64;
        let transit = arrival_units - i64::from(rtp_timestamp);
        if let Some(previous) = self.transit {
            // RTP timestamps wrap: the difference is taken modulo 2^32.
            let d = (transit - previous) as i32;
            let d = f64::from(d.unsigned_abs());
            self.jitter += (d - self.jitter) / 16.0;
        }
        self.transit = Some(transit);
    }

    /// A sender report with this NTP timestamp arrived at `arrival` (for LSR/DLSR).
    pub fn on_sender_report(&mut self, arrival: Instant, ntp: NtpTime) {
        self.last_sr = Some((ntp, arrival));
    }

    /// Extended highest sequence number received.
    pub fn extended_highest_seq(&self) -> u32 {
        self.cycles.wrapping_add(u32::from(self.max_seq))
    }

    /// Packets expected so far (A.3).
    pub fn expected(&self) -> u32 {
        self.extended_highest_seq().wrapping_sub(self.base_seq).wrapping_add(1)
    }

    /// Interarrival jitter in RTP units.
    pub fn jitter(&self) -> u32 {
        self.jitter as u32
    }

    #[cfg(any(test, feature = "testing"))]
    /// Interarrival jitter as a duration.
    pub fn jitter_duration(&self) -> Duration {
        Duration::from_secs_f64(self.jitter / f64::from(self.clock_rate))
    }

    /// Cumulative lost (A.3), clamped to the 24-bit signed wire range.
    pub fn cumulative_lost(&self) -> i32 {
        if self.received == 0 {
            return 0;
        }
        let lost = i64::from(self.expected()) - i64::from(self.received);
        lost.clamp(-0x80_0000, 0x7F_FFFF) as i32
    }

    /// The report block at `now`; advances the "since previous report" interval.
    pub fn report_block(&mut self, now: Instant) -> ReportBlock {
        let expected = self.expected();
        let expected_interval = expected.wrapping_sub(self.expected_prior);
        self.expected_prior = expected;
        let received_interval = self.received.wrapping_sub(self.received_prior);
        self.received_prior = self.received;
        let lost_interval = i64::from(expected_interval) - i64::from(received_interval);
        let fraction_lost = if expected_interval == 0 || lost_interval <= 0 {
            0
        } else {
            ((lost_interval << 8) / i64::from(expected_interval)).min(255) as u8
        };
        let (last_sr, delay_since_last_sr) = match self.last_sr {
            None => (0, 0),
            Some((ntp, at)) => {
                let dlsr = now.saturating_duration_since(at).as_secs_f64() * 65_536.0;
                (ntp.compact(), dlsr.min(f64::from(u32::MAX)) as u32)
            }
        };
        ReportBlock {
            fraction_lost,
            cumulative_lost: self.cumulative_lost(),
            extended_highest_seq: self.extended_highest_seq(),
            jitter: self.jitter(),
            last_sr,
            delay_since_last_sr,
        }
    }
}

/// Round-trip time from a report block about our stream (RFC 3550 6.4.1):
/// `A - LSR - DLSR` in NTP short format, where `A` is the block's arrival. `None` when the
/// peer has not seen a sender report yet (LSR 0) or the result is negative (clock error).
pub fn round_trip_time(arrival: NtpTime, block: &ReportBlock) -> Option<Duration> {
    if block.last_sr == 0 {
        return None;
    }
    let rtt = arrival.compact().wrapping_sub(block.last_sr).wrapping_sub(block.delay_since_last_sr);
    // Negative results wrap to huge values: reject anything over a minute.
    if rtt > 60 << 16 {
        return None;
    }
    Some(Duration::from_secs_f64(f64::from(rtt) / 65_536.0))
}
