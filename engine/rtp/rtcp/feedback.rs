//! Feedback messages: generic NACK and PLI (RFC 4585 section 6), FIR (RFC 5104 section
//! 4.3.1) and REMB (draft-alvestrand-rmcat-remb).

use crate::rtp::bytes::{Reader, Writer};
use crate::rtp::error::RtpError;

/// One generic NACK item: a lost packet and a bitmask of up to 16 following lost packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NackPair {
    /// Packet ID: the first lost sequence number.
    pub packet_id: u16,
    /// Bit `i` set means `packet_id + i + 1` is lost too.
    pub lost_bitmask: u16,
}

/// A generic NACK (RTPFB, FMT 1): the media sender should retransmit these packets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nack {
    /// Who sends the feedback.
    pub sender_ssrc: u32,
    /// The media source whose packets were lost.
    pub media_ssrc: u32,
    /// The lost packets (at least one pair).
    pub pairs: Vec<NackPair>,
}

impl Nack {
    /// Builds a NACK for `lost` sequence numbers, given in increasing order (modulo the
    /// wrap); consecutive losses within 16 of a pair's first packet share that pair.
    #[cfg(any(test, feature = "testing"))]
    pub fn from_lost(
        sender_ssrc: u32,
        media_ssrc: u32,
        lost: impl IntoIterator<Item = u16>,
    ) -> Self {
        let mut nack = Self::default();
        nack.set_lost(sender_ssrc, media_ssrc, lost);
        nack
    }

    /// Like [`Nack::from_lost`], into `self`, reusing its pair list.
    pub fn set_lost(
        &mut self,
        sender_ssrc: u32,
        media_ssrc: u32,
        lost: impl IntoIterator<Item = u16>,
    ) {
        self.sender_ssrc = sender_ssrc;
        self.media_ssrc = media_ssrc;
        self.pairs.clear();
        for seq in lost {
            match self.pairs.last_mut() {
                Some(pair) if (1..=16).contains(&seq.wrapping_sub(pair.packet_id)) => {
                    pair.lost_bitmask |= 1 << (seq.wrapping_sub(pair.packet_id) - 1);
                }
                Some(pair) if pair.packet_id == seq => {}
                _ => self.pairs.push(NackPair { packet_id: seq, lost_bitmask: 0 }),
            }
        }
    }

    /// Every sequence number this NACK asks for, in packet order.
    pub fn lost_sequence_numbers(&self) -> impl Iterator<Item = u16> + '_ {
        self.pairs.iter().flat_map(|pair| {
            std::iter::once(pair.packet_id).chain(
                (0..16u16)
                    .filter(move |bit| pair.lost_bitmask & (1 << bit) != 0)
                    .map(move |bit| pair.packet_id.wrapping_add(bit + 1)),
            )
        })
    }

    /// Parses into `self`, reusing its pair list; on error `self` is unspecified.
    pub(crate) fn parse_into(&mut self, body: &[u8]) -> Result<(), RtpError> {
        let mut r = Reader::new(body, "RTCP NACK");
        self.sender_ssrc = r.u32()?;
        self.media_ssrc = r.u32()?;
        if r.remaining() < 4 {
            return Err(RtpError::BadRtcp("NACK without any FCI entry"));
        }
        self.pairs.clear();
        while r.remaining() >= 4 {
            self.pairs.push(NackPair { packet_id: r.u16()?, lost_bitmask: r.u16()? });
        }
        Ok(())
    }

    pub(crate) fn body_len(&self) -> usize {
        8 + 4 * self.pairs.len()
    }

    pub(crate) fn write_body(&self, w: &mut Writer<'_>) -> Result<(), RtpError> {
        if self.pairs.is_empty() {
            return Err(RtpError::OutOfRange("NACK needs at least one pair"));
        }
        w.u32(self.sender_ssrc)?;
        w.u32(self.media_ssrc)?;
        self.pairs.iter().try_for_each(|p| {
            w.u16(p.packet_id)?;
            w.u16(p.lost_bitmask)
        })
    }
}

/// A picture loss indication (PSFB, FMT 1): the receiver lost decoder state and needs a
/// key frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PictureLossIndication {
    /// Who sends the feedback.
    pub sender_ssrc: u32,
    /// The media source that should send a key frame.
    pub media_ssrc: u32,
}

impl PictureLossIndication {
    pub(crate) fn parse_into(&mut self, body: &[u8]) -> Result<(), RtpError> {
        let mut r = Reader::new(body, "RTCP PLI");
        self.sender_ssrc = r.u32()?;
        self.media_ssrc = r.u32()?;
        Ok(())
    }

    pub(crate) fn write_body(&self, w: &mut Writer<'_>) -> Result<(), RtpError> {
        w.u32(self.sender_ssrc)?;
        w.u32(self.media_ssrc)
    }
}

/// One full intra request entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirEntry {
    /// The media source that should send a decoder refresh point.
    pub ssrc: u32,
    /// Command sequence number, incremented for each new request.
    pub sequence_number: u8,
}

/// A full intra request (PSFB, FMT 4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FullIntraRequest {
    /// Who sends the feedback.
    pub sender_ssrc: u32,
    /// The requests (at least one).
    pub entries: Vec<FirEntry>,
}

impl FullIntraRequest {
    /// Parses into `self`, reusing its entry list; on error `self` is unspecified.
    pub(crate) fn parse_into(&mut self, body: &[u8]) -> Result<(), RtpError> {
        let mut r = Reader::new(body, "RTCP FIR");
        self.sender_ssrc = r.u32()?;
        let _media_ssrc_unused = r.u32()?; // RFC 5104: SHALL be 0, ignored.
        if r.remaining() < 8 {
            return Err(RtpError::BadRtcp("FIR without any FCI entry"));
        }
        self.entries.clear();
        while r.remaining() >= 8 {
            let ssrc = r.u32()?;
            let sequence_number = r.u8()?;
            r.take(3)?;
            self.entries.push(FirEntry { ssrc, sequence_number });
        }
        Ok(())
    }

    pub(crate) fn body_len(&self) -> usize {
        8 + 8 * self.entries.len()
    }

    pub(crate) fn write_body(&self, w: &mut Writer<'_>) -> Result<(), RtpError> {
        if self.entries.is_empty() {
            return Err(RtpError::OutOfRange("FIR needs at least one entry"));
        }
        w.u32(self.sender_ssrc)?;
        w.u32(0)?;
        self.entries.iter().try_for_each(|e| {
            w.u32(e.ssrc)?;
            w.u8(e.sequence_number)?;
            w.zeros(3)
        })
    }
}

/// Receiver estimated maximum bitrate (PSFB, FMT 15, "REMB").
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Remb {
    /// Who sends the estimate.
    pub sender_ssrc: u32,
    /// Estimated available bitrate, in bits per second. On the wire it is an 18-bit
    /// mantissa with a 6-bit exponent, so writing rounds it down to 18 significant bits;
    /// parsing saturates values beyond `u64::MAX` to `wire_bitrate(u64::MAX)`.
    pub bitrate_bps: u64,
    /// The media sources the estimate applies to (at most 255).
    pub ssrcs: Vec<u32>,
}

pub(crate) const REMB_IDENTIFIER: &[u8; 4] = b"REMB";

impl Remb {
    /// The bitrate exactly as it will be sent (rounded down to an 18-bit mantissa).
    pub fn wire_bitrate(bitrate_bps: u64) -> u64 {
        let (mantissa, exponent) = Self::split(bitrate_bps);
        u64::from(mantissa) << exponent
    }

    fn split(bitrate_bps: u64) -> (u32, u8) {
        let significant = 64 - bitrate_bps.leading_zeros();
        let exponent = significant.saturating_sub(18);
        ((bitrate_bps >> exponent) as u32, exponent as u8)
    }

    /// Parses the FCI after the sender and media SSRCs (which starts with "REMB").
    /// On error `self` is unspecified.
    pub(crate) fn parse_into(&mut self, body: &[u8]) -> Result<(), RtpError> {
        let mut r = Reader::new(body, "RTCP REMB");
        self.sender_ssrc = r.u32()?;
        let _media_ssrc_unused = r.u32()?;
        if r.take(4)? != REMB_IDENTIFIER {
            return Err(RtpError::BadRtcp("REMB identifier missing"));
        }
        let count = usize::from(r.u8()?);
        let packed = r.u24()?;
        let exponent = packed >> 18;
        let mantissa = u64::from(packed & 0x3_FFFF);
        self.bitrate_bps = if mantissa == 0 {
            0
        } else if mantissa.leading_zeros() < exponent {
            // Saturate to the largest value the field can express, so that writing the
            // parsed packet again gives the same value back.
            Self::wire_bitrate(u64::MAX)
        } else {
            mantissa << exponent
        };
        if r.remaining() < 4 * count {
            return Err(RtpError::BadRtcp("REMB SSRC count exceeds packet length"));
        }
        self.ssrcs.clear();
        for _ in 0..count {
            self.ssrcs.push(r.u32()?);
        }
        Ok(())
    }

    pub(crate) fn body_len(&self) -> usize {
        16 + 4 * self.ssrcs.len()
    }

    pub(crate) fn write_body(&self, w: &mut Writer<'_>) -> Result<(), RtpError> {
        let count = u8::try_from(self.ssrcs.len())
            .map_err(|_| RtpError::OutOfRange("REMB lists more than 255 SSRCs"))?;
        let (mantissa, exponent) = Self::split(self.bitrate_bps);
        w.u32(self.sender_ssrc)?;
        w.u32(0)?;
        w.bytes(REMB_IDENTIFIER)?;
        w.u8(count)?;
        w.u24((u32::from(exponent) << 18) | mantissa)?;
        self.ssrcs.iter().try_for_each(|&s| w.u32(s))
    }
}
