//! Transport-wide congestion control feedback (RTPFB, FMT 15), as specified in
//! draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1.
//!
//! The feedback lists, for a range of transport-wide sequence numbers, whether each packet
//! arrived and, if it did, its arrival time as a delta from the previous one in 250 µs
//! ticks. Statuses are packed in 16-bit chunks (run-length or status vector); the deltas
//! follow the chunks, one (small) or two (large or negative) bytes each.

use crate::rtp::bytes::{Reader, Writer};
use crate::rtp::error::RtpError;

/// Duration of one receive-delta tick, in microseconds.
pub const DELTA_TICK_US: i64 = 250;
/// Duration of one reference-time unit, in microseconds.
pub const REFERENCE_TICK_US: i64 = 64_000;
const MAX_RUN_LENGTH: usize = 0x1FFF;
const REFERENCE_TIME_MIN: i32 = -(1 << 23);
const REFERENCE_TIME_MAX: i32 = (1 << 23) - 1;

/// What the feedback says about one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketStatus {
    /// The packet has not arrived (yet).
    NotReceived,
    /// Arrived `ticks` × 250 µs after the previous arrival (or the reference time).
    SmallDelta(u8),
    /// Arrived with a delta that needs 16 signed bits (large, or negative on reordering).
    LargeDelta(i16),
}

impl PacketStatus {
    /// The status for a packet that arrived `ticks` × 250 µs after the previous one,
    /// choosing the small form when it fits; `None` if even 16 bits cannot hold it.
    pub fn received(ticks: i64) -> Option<Self> {
        if let Ok(small) = u8::try_from(ticks) {
            Some(Self::SmallDelta(small))
        } else {
            i16::try_from(ticks).ok().map(Self::LargeDelta)
        }
    }

    fn symbol(self) -> u8 {
        match self {
            Self::NotReceived => 0,
            Self::SmallDelta(_) => 1,
            Self::LargeDelta(_) => 2,
        }
    }

    fn delta_len(self) -> usize {
        usize::from(self.symbol())
    }
}

/// A transport-wide congestion control feedback packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransportFeedback {
    /// Who sends the feedback.
    pub sender_ssrc: u32,
    /// The media source (informational; the sequence numbers are transport-wide).
    pub media_ssrc: u32,
    /// Transport-wide sequence number of the first status.
    pub base_sequence: u16,
    /// Reference time in 64 ms units (24-bit signed), the origin of the first delta.
    pub reference_time: i32,
    /// Feedback packet counter, incremented per feedback sent (detects lost feedback).
    pub feedback_count: u8,
    /// One status per packet from `base_sequence` on (at most 65535).
    pub statuses: Vec<PacketStatus>,
}

impl TransportFeedback {
    /// Builds feedback from arrival times in microseconds (`None` = not received) for the
    /// packets `base_sequence`, `base_sequence + 1`, ... on the receiver's clock.
    ///
    /// The reference time is the first arrival rounded down to 64 ms; each delta is taken
    /// from the previous *quantised* arrival so rounding errors do not accumulate. Fails
    /// when a delta needs more than 16 bits (the caller should then split the feedback).
    #[cfg(any(test, feature = "testing"))]
    pub fn from_arrivals(
        sender_ssrc: u32,
        media_ssrc: u32,
        base_sequence: u16,
        feedback_count: u8,
        arrivals_us: &[Option<i64>],
    ) -> Result<Self, RtpError> {
        let mut feedback = Self::default();
        feedback.set_arrivals(
            sender_ssrc,
            media_ssrc,
            base_sequence,
            feedback_count,
            arrivals_us,
        )?;
        Ok(feedback)
    }

    /// Like [`TransportFeedback::from_arrivals`], into `self`, reusing its status list; on
    /// error `self` is unspecified.
    pub fn set_arrivals(
        &mut self,
        sender_ssrc: u32,
        media_ssrc: u32,
        base_sequence: u16,
        feedback_count: u8,
        arrivals_us: &[Option<i64>],
    ) -> Result<(), RtpError> {
        if arrivals_us.len() > usize::from(u16::MAX) {
            return Err(RtpError::OutOfRange("more than 65535 statuses"));
        }
        let first = arrivals_us.iter().flatten().next().copied().unwrap_or(0);
        let reference = first.div_euclid(REFERENCE_TICK_US);
        let reference_time = i32::try_from(reference)
            .ok()
            .filter(|r| (REFERENCE_TIME_MIN..=REFERENCE_TIME_MAX).contains(r))
            .ok_or(RtpError::OutOfRange("reference time does not fit 24 bits"))?;
        let mut previous_ticks = reference * (REFERENCE_TICK_US / DELTA_TICK_US);
        self.statuses.clear();
        for arrival in arrivals_us {
            self.statuses.push(match arrival {
                None => PacketStatus::NotReceived,
                Some(us) => {
                    let ticks = us.div_euclid(DELTA_TICK_US);
                    let status = PacketStatus::received(ticks - previous_ticks)
                        .ok_or(RtpError::OutOfRange("receive delta does not fit 16 bits"))?;
                    previous_ticks = ticks;
                    status
                }
            });
        }
        self.sender_ssrc = sender_ssrc;
        self.media_ssrc = media_ssrc;
        self.base_sequence = base_sequence;
        self.reference_time = reference_time;
        self.feedback_count = feedback_count;
        Ok(())
    }

    /// The received packets as (sequence number, arrival time in µs on the receiver's
    /// clock, quantised to 250 µs).
    pub fn arrivals(&self) -> impl Iterator<Item = (u16, i64)> + '_ {
        let mut time = i64::from(self.reference_time) * REFERENCE_TICK_US;
        self.statuses.iter().enumerate().filter_map(move |(i, status)| {
            let delta = match *status {
                PacketStatus::NotReceived => return None,
                PacketStatus::SmallDelta(t) => i64::from(t),
                PacketStatus::LargeDelta(t) => i64::from(t),
            };
            time += delta * DELTA_TICK_US;
            Some((self.base_sequence.wrapping_add(i as u16), time))
        })
    }

    /// Parses into `self`, reusing its status list; on error `self` is unspecified.
    pub(crate) fn parse_into(&mut self, body: &[u8]) -> Result<(), RtpError> {
        let mut r = Reader::new(body, "RTCP transport feedback");
        self.sender_ssrc = r.u32()?;
        self.media_ssrc = r.u32()?;
        self.base_sequence = r.u16()?;
        let status_count = usize::from(r.u16()?);
        let reference = r.u24()?;
        self.reference_time = ((reference << 8) as i32) >> 8;
        self.feedback_count = r.u8()?;

        // Every chunk covers at least one status and takes 2 bytes, so a count the body
        // cannot possibly describe is rejected before reserving room for it.
        if status_count > 0 && r.remaining() < 2 {
            return Err(RtpError::BadRtcp("transport feedback has no chunks"));
        }
        // First the chunks: one status per packet, its delta filled in below.
        let statuses = &mut self.statuses;
        statuses.clear();
        statuses.reserve(status_count.min(r.remaining() * 7));
        let placeholder = |symbol: u8| match symbol {
            0 => PacketStatus::NotReceived,
            1 => PacketStatus::SmallDelta(0),
            _ => PacketStatus::LargeDelta(0),
        };
        while statuses.len() < status_count {
            let chunk = r.u16()?;
            let left = status_count - statuses.len();
            if chunk & 0x8000 == 0 {
                // Run-length chunk: T=0 | S (2 bits) | run length (13 bits).
                let symbol = ((chunk >> 13) & 0x3) as u8;
                let run = usize::from(chunk & 0x1FFF);
                if symbol == 3 {
                    return Err(RtpError::BadRtcp("reserved packet status symbol"));
                }
                if run == 0 {
                    return Err(RtpError::BadRtcp("empty run-length chunk"));
                }
                statuses.extend(std::iter::repeat_n(placeholder(symbol), run.min(left)));
            } else if chunk & 0x4000 == 0 {
                // Status vector of 14 one-bit symbols; bits past the count are padding.
                for i in (0..14).take(left) {
                    statuses.push(placeholder(((chunk >> (13 - i)) & 1) as u8));
                }
            } else {
                // Status vector of 7 two-bit symbols.
                for i in (0..7).take(left) {
                    let symbol = ((chunk >> (12 - 2 * i)) & 0x3) as u8;
                    if symbol == 3 {
                        return Err(RtpError::BadRtcp("reserved packet status symbol"));
                    }
                    statuses.push(placeholder(symbol));
                }
            }
        }
        // Then the deltas, in status order.
        for status in statuses.iter_mut() {
            match status {
                PacketStatus::NotReceived => {}
                PacketStatus::SmallDelta(t) => *t = r.u8()?,
                PacketStatus::LargeDelta(t) => *t = r.u16()? as i16,
            }
        }
        if r.remaining() >= 4 {
            return Err(RtpError::BadRtcp("transport feedback has trailing data"));
        }
        Ok(())
    }

    /// Makes `self` a copy of `other`, reusing its status list (no allocation once it has
    /// held a report as long).
    pub fn copy_from(&mut self, other: &Self) {
        self.sender_ssrc = other.sender_ssrc;
        self.media_ssrc = other.media_ssrc;
        self.base_sequence = other.base_sequence;
        self.reference_time = other.reference_time;
        self.feedback_count = other.feedback_count;
        self.statuses.clear();
        self.statuses.extend_from_slice(&other.statuses);
    }

    /// Visits the 16-bit chunks that encode the statuses.
    fn for_each_chunk(
        &self,
        mut visit: impl FnMut(u16) -> Result<(), RtpError>,
    ) -> Result<(), RtpError> {
        let symbols = &self.statuses;
        let mut i = 0;
        while i < symbols.len() {
            let symbol = symbols[i].symbol();
            let run = symbols[i..]
                .iter()
                .take(MAX_RUN_LENGTH)
                .take_while(|s| s.symbol() == symbol)
                .count();
            let rest = symbols.len() - i;
            if run >= 14 || run == rest {
                // A run covers more than any vector could (or finishes the list).
                visit((u16::from(symbol) << 13) | run as u16)?;
                i += run;
                continue;
            }
            let window = &symbols[i..symbols.len().min(i + 14)];
            if window.iter().all(|s| s.symbol() <= 1) {
                let mut chunk = 0x8000u16;
                for (bit, s) in window.iter().enumerate() {
                    chunk |= u16::from(s.symbol()) << (13 - bit);
                }
                visit(chunk)?;
                i += window.len();
            } else {
                let window = &window[..window.len().min(7)];
                let mut chunk = 0xC000u16;
                for (slot, s) in window.iter().enumerate() {
                    chunk |= u16::from(s.symbol()) << (12 - 2 * slot);
                }
                visit(chunk)?;
                i += window.len();
            }
        }
        Ok(())
    }

    pub(crate) fn body_len(&self) -> usize {
        let mut chunks = 0;
        // Counting cannot fail: the visitor never errors.
        let _ = self.for_each_chunk(|_| {
            chunks += 1;
            Ok(())
        });
        let deltas: usize = self.statuses.iter().map(|s| s.delta_len()).sum();
        16 + 2 * chunks + deltas
    }

    pub(crate) fn write_body(&self, w: &mut Writer<'_>) -> Result<(), RtpError> {
        let count = u16::try_from(self.statuses.len())
            .map_err(|_| RtpError::OutOfRange("more than 65535 statuses"))?;
        if !(REFERENCE_TIME_MIN..=REFERENCE_TIME_MAX).contains(&self.reference_time) {
            return Err(RtpError::OutOfRange("reference time does not fit 24 bits"));
        }
        w.u32(self.sender_ssrc)?;
        w.u32(self.media_ssrc)?;
        w.u16(self.base_sequence)?;
        w.u16(count)?;
        w.u24((self.reference_time as u32) & 0x00FF_FFFF)?;
        w.u8(self.feedback_count)?;
        self.for_each_chunk(|chunk| w.u16(chunk))?;
        for status in &self.statuses {
            match *status {
                PacketStatus::NotReceived => {}
                PacketStatus::SmallDelta(t) => w.u8(t)?,
                PacketStatus::LargeDelta(t) => w.u16(t as u16)?,
            }
        }
        Ok(())
    }
}
