//! Sender and receiver reports (RFC 3550 sections 6.4.1 and 6.4.2).

use crate::rtp::bytes::{Reader, Writer};
use crate::rtp::error::RtpError;

/// Bytes per report block.
pub const REPORT_BLOCK_LEN: usize = 24;
/// Most report blocks one SR/RR can carry (5-bit count).
pub const MAX_REPORT_BLOCKS: usize = 31;

/// Reception statistics about one source (RFC 3550 section 6.4.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReportBlock {
    /// The source these statistics describe.
    pub ssrc: u32,
    /// Fraction of packets lost since the last report, in 1/256.
    pub fraction_lost: u8,
    /// Cumulative packets lost (24-bit signed: duplicates can make it negative).
    pub cumulative_lost: i32,
    /// Extended highest sequence number received.
    pub extended_highest_sequence: u32,
    /// Interarrival jitter in timestamp units.
    pub jitter: u32,
    /// Middle 32 bits of the NTP timestamp of the last SR received from the source.
    pub last_sender_report: u32,
    /// Delay since that SR, in 1/65536 s.
    pub delay_since_last_sender_report: u32,
}

impl ReportBlock {
    pub(crate) fn read(r: &mut Reader<'_>) -> Result<Self, RtpError> {
        let ssrc = r.u32()?;
        let fraction_lost = r.u8()?;
        let lost = r.u24()?;
        // Sign-extend the 24-bit two's complement value.
        let cumulative_lost = ((lost << 8) as i32) >> 8;
        Ok(Self {
            ssrc,
            fraction_lost,
            cumulative_lost,
            extended_highest_sequence: r.u32()?,
            jitter: r.u32()?,
            last_sender_report: r.u32()?,
            delay_since_last_sender_report: r.u32()?,
        })
    }

    pub(crate) fn write(&self, w: &mut Writer<'_>) -> Result<(), RtpError> {
        if !(-(1 << 23)..(1 << 23)).contains(&self.cumulative_lost) {
            return Err(RtpError::OutOfRange("cumulative lost does not fit 24 bits"));
        }
        w.u32(self.ssrc)?;
        w.u8(self.fraction_lost)?;
        w.u24((self.cumulative_lost as u32) & 0x00FF_FFFF)?;
        w.u32(self.extended_highest_sequence)?;
        w.u32(self.jitter)?;
        w.u32(self.last_sender_report)?;
        w.u32(self.delay_since_last_sender_report)
    }
}

/// Reads `count` blocks into `blocks` (cleared first; its capacity is reused).
fn read_blocks(
    r: &mut Reader<'_>,
    count: u8,
    blocks: &mut Vec<ReportBlock>,
) -> Result<(), RtpError> {
    let count = usize::from(count);
    if r.remaining() < count * REPORT_BLOCK_LEN {
        return Err(RtpError::BadRtcp("report count exceeds packet length"));
    }
    blocks.clear();
    for _ in 0..count {
        blocks.push(ReportBlock::read(r)?);
    }
    Ok(())
}

fn check_blocks(blocks: &[ReportBlock]) -> Result<(), RtpError> {
    if blocks.len() > MAX_REPORT_BLOCKS {
        Err(RtpError::OutOfRange("more than 31 report blocks"))
    } else {
        Ok(())
    }
}

/// A sender report: the sender's clocks and counters plus reception report blocks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderReport {
    /// The sender.
    pub ssrc: u32,
    /// 64-bit NTP timestamp (seconds since 1900 in 32.32 fixed point).
    pub ntp_time: u64,
    /// The RTP timestamp matching `ntp_time`.
    pub rtp_time: u32,
    /// Packets sent so far.
    pub packet_count: u32,
    /// Payload octets sent so far.
    pub octet_count: u32,
    /// Reception reports (at most 31).
    pub reports: Vec<ReportBlock>,
}

impl SenderReport {
    /// Parses into `self`, reusing its block list; on error `self` is unspecified.
    pub(crate) fn parse_into(&mut self, count: u8, body: &[u8]) -> Result<(), RtpError> {
        let mut r = Reader::new(body, "RTCP SR");
        self.ssrc = r.u32()?;
        self.ntp_time = r.u64()?;
        self.rtp_time = r.u32()?;
        self.packet_count = r.u32()?;
        self.octet_count = r.u32()?;
        // Bytes after the blocks are profile-specific extensions, which we ignore.
        read_blocks(&mut r, count, &mut self.reports)
    }

    pub(crate) fn body_len(&self) -> usize {
        24 + REPORT_BLOCK_LEN * self.reports.len()
    }

    pub(crate) fn count(&self) -> Result<u8, RtpError> {
        check_blocks(&self.reports)?;
        Ok(self.reports.len() as u8)
    }

    pub(crate) fn write_body(&self, w: &mut Writer<'_>) -> Result<(), RtpError> {
        w.u32(self.ssrc)?;
        w.u64(self.ntp_time)?;
        w.u32(self.rtp_time)?;
        w.u32(self.packet_count)?;
        w.u32(self.octet_count)?;
        self.reports.iter().try_for_each(|b| b.write(w))
    }
}

/// A receiver report: reception report blocks from a participant that is not sending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReceiverReport {
    /// The reporter.
    pub ssrc: u32,
    /// Reception reports (at most 31).
    pub reports: Vec<ReportBlock>,
}

impl ReceiverReport {
    /// Parses into `self`, reusing its block list; on error `self` is unspecified.
    pub(crate) fn parse_into(&mut self, count: u8, body: &[u8]) -> Result<(), RtpError> {
        let mut r = Reader::new(body, "RTCP RR");
        self.ssrc = r.u32()?;
        read_blocks(&mut r, count, &mut self.reports)
    }

    pub(crate) fn body_len(&self) -> usize {
        4 + REPORT_BLOCK_LEN * self.reports.len()
    }

    pub(crate) fn count(&self) -> Result<u8, RtpError> {
        check_blocks(&self.reports)?;
        Ok(self.reports.len() as u8)
    }

    pub(crate) fn write_body(&self, w: &mut Writer<'_>) -> Result<(), RtpError> {
        w.u32(self.ssrc)?;
        self.reports.iter().try_for_each(|b| b.write(w))
    }
}
