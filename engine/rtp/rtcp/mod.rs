//! RTCP (RFC 3550 section 6 and its feedback extensions): typed packets, compound parsing
//! and building.
//!
//! RTCP runs at a few packets per second, so parsed packets are small owned structs (the
//! same types are used to build packets); writing goes into a caller-provided buffer.
//!
//! ```
//! use sottovoce::rtp::rtcp::{self, PictureLossIndication, ReceiverReport, RtcpPacket};
//! let compound = [
//!     RtcpPacket::ReceiverReport(ReceiverReport { ssrc: 1, reports: vec![] }),
//!     RtcpPacket::PictureLossIndication(PictureLossIndication { sender_ssrc: 1, media_ssrc: 2 }),
//! ];
//! let mut buf = [0u8; 1200];
//! let len = rtcp::write_compound(&compound, &mut buf)?;
//! assert_eq!(rtcp::parse_compound(&buf[..len])?, compound);
//! # Ok::<(), sottovoce::rtp::RtpError>(())
//! ```

mod feedback;
mod report;
mod sdes;
mod twcc;

#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use feedback::{FirEntry, FullIntraRequest, Nack, NackPair, PictureLossIndication, Remb};
#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use report::{MAX_REPORT_BLOCKS, ReceiverReport, ReportBlock, SenderReport};
#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use sdes::{Goodbye, SDES_CNAME, SdesChunk, SdesItem, SourceDescription};
#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use twcc::{DELTA_TICK_US, PacketStatus, REFERENCE_TICK_US, TransportFeedback};

use super::bytes::Writer;
use super::error::{RtpError, need, room};

/// RTCP packet types (RFC 3550, RFC 4585).
pub mod packet_type {
    /// Sender report.
    pub const SR: u8 = 200;
    /// Receiver report.
    pub const RR: u8 = 201;
    /// Source description.
    pub const SDES: u8 = 202;
    /// Goodbye.
    pub const BYE: u8 = 203;
    /// Application-defined.
    #[cfg(any(test, feature = "testing"))]
    pub const APP: u8 = 204;
    /// Transport-layer feedback.
    pub const RTPFB: u8 = 205;
    /// Payload-specific feedback.
    pub const PSFB: u8 = 206;
}

const FMT_NACK: u8 = 1;
const FMT_TWCC: u8 = 15;
const FMT_PLI: u8 = 1;
const FMT_FIR: u8 = 4;
const FMT_AFB: u8 = 15;
const HEADER_LEN: usize = 4;

/// One RTCP packet of a compound packet.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RtcpPacket {
    /// Sender report.
    SenderReport(SenderReport),
    /// Receiver report.
    ReceiverReport(ReceiverReport),
    /// Source description (CNAME and friends).
    SourceDescription(SourceDescription),
    /// Goodbye.
    Goodbye(Goodbye),
    /// Generic NACK.
    Nack(Nack),
    /// Transport-wide congestion control feedback.
    TransportFeedback(TransportFeedback),
    /// Picture loss indication.
    PictureLossIndication(PictureLossIndication),
    /// Full intra request.
    FullIntraRequest(FullIntraRequest),
    /// Receiver estimated maximum bitrate.
    Remb(Remb),
    /// A well-formed packet of a type or format this crate does not interpret.
    Unknown(UnknownRtcp),
}

/// An RTCP packet kept as raw bytes because its type is not interpreted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UnknownRtcp {
    /// Packet type.
    pub packet_type: u8,
    /// The 5-bit count/format field.
    pub count: u8,
    /// Body after the 4-byte common header, without padding.
    pub body: Vec<u8>,
}

impl RtcpPacket {
    /// Parses one RTCP packet from the start of `bytes`; returns it and its length.
    #[cfg(any(test, feature = "testing"))]
    pub fn parse_one(bytes: &[u8]) -> Result<(Self, usize), RtpError> {
        let header = Header::parse(bytes)?;
        let mut packet = Self::empty(header.kind());
        packet.fill(&header)?;
        Ok((packet, header.len))
    }

    /// An empty packet of `kind`, to be filled by [`RtcpPacket::fill`]. Allocates nothing.
    fn empty(kind: Kind) -> Self {
        match kind {
            Kind::SenderReport => Self::SenderReport(SenderReport::default()),
            Kind::ReceiverReport => Self::ReceiverReport(ReceiverReport::default()),
            Kind::SourceDescription => Self::SourceDescription(SourceDescription::default()),
            Kind::Goodbye => Self::Goodbye(Goodbye::default()),
            Kind::Nack => Self::Nack(Nack::default()),
            Kind::TransportFeedback => Self::TransportFeedback(TransportFeedback::default()),
            Kind::PictureLossIndication => {
                Self::PictureLossIndication(PictureLossIndication::default())
            }
            Kind::FullIntraRequest => Self::FullIntraRequest(FullIntraRequest::default()),
            Kind::Remb => Self::Remb(Remb::default()),
            Kind::Unknown => Self::Unknown(UnknownRtcp::default()),
        }
    }

    /// Parses the body `header` describes into `self`, which must be of the header's
    /// kind; the lists `self` already holds are reused.
    fn fill(&mut self, header: &Header<'_>) -> Result<(), RtpError> {
        let (count, body) = (header.count, header.body);
        match self {
            Self::SenderReport(p) => p.parse_into(count, body),
            Self::ReceiverReport(p) => p.parse_into(count, body),
            Self::SourceDescription(p) => p.parse_into(count, body),
            Self::Goodbye(p) => p.parse_into(count, body),
            Self::Nack(p) => p.parse_into(body),
            Self::TransportFeedback(p) => p.parse_into(body),
            Self::PictureLossIndication(p) => p.parse_into(body),
            Self::FullIntraRequest(p) => p.parse_into(body),
            Self::Remb(p) => p.parse_into(body),
            Self::Unknown(p) => {
                p.packet_type = header.packet_type;
                p.count = count;
                p.body.clear();
                p.body.extend_from_slice(body);
                Ok(())
            }
        }
    }

    fn header_fields(&self) -> Result<(u8, u8), RtpError> {
        Ok(match self {
            Self::SenderReport(p) => (packet_type::SR, p.count()?),
            Self::ReceiverReport(p) => (packet_type::RR, p.count()?),
            Self::SourceDescription(p) => (packet_type::SDES, p.count()?),
            Self::Goodbye(p) => (packet_type::BYE, p.count()?),
            Self::Nack(_) => (packet_type::RTPFB, FMT_NACK),
            Self::TransportFeedback(_) => (packet_type::RTPFB, FMT_TWCC),
            Self::PictureLossIndication(_) => (packet_type::PSFB, FMT_PLI),
            Self::FullIntraRequest(_) => (packet_type::PSFB, FMT_FIR),
            Self::Remb(_) => (packet_type::PSFB, FMT_AFB),
            Self::Unknown(p) => {
                if p.count > 31 {
                    return Err(RtpError::OutOfRange("RTCP count over 31"));
                }
                (p.packet_type, p.count)
            }
        })
    }

    fn body_len(&self) -> usize {
        match self {
            Self::SenderReport(p) => p.body_len(),
            Self::ReceiverReport(p) => p.body_len(),
            Self::SourceDescription(p) => p.body_len(),
            Self::Goodbye(p) => p.body_len(),
            Self::Nack(p) => p.body_len(),
            Self::TransportFeedback(p) => p.body_len(),
            Self::PictureLossIndication(_) => 8,
            Self::FullIntraRequest(p) => p.body_len(),
            Self::Remb(p) => p.body_len(),
            Self::Unknown(p) => p.body.len(),
        }
    }

    /// Bytes this packet takes when written (a body that is not a multiple of 4 bytes,
    /// such as transport feedback, is padded with the P bit).
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body_len().next_multiple_of(4)
    }

    /// Writes this packet at the start of `out`; returns its length.
    pub fn write_to(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        let (packet_type, count) = self.header_fields()?;
        let body_len = self.body_len();
        let len = self.encoded_len();
        room(out, len)?;
        let words = u16::try_from(len / 4 - 1)
            .map_err(|_| RtpError::OutOfRange("RTCP packet over 65535 words"))?;
        let padding = len - HEADER_LEN - body_len;
        let mut w = Writer::new(&mut out[..len]);
        w.u8(0x80 | (u8::from(padding > 0) << 5) | count)?;
        w.u8(packet_type)?;
        w.u16(words)?;
        match self {
            Self::SenderReport(p) => p.write_body(&mut w)?,
            Self::ReceiverReport(p) => p.write_body(&mut w)?,
            Self::SourceDescription(p) => p.write_body(&mut w)?,
            Self::Goodbye(p) => p.write_body(&mut w)?,
            Self::Nack(p) => p.write_body(&mut w)?,
            Self::TransportFeedback(p) => p.write_body(&mut w)?,
            Self::PictureLossIndication(p) => p.write_body(&mut w)?,
            Self::FullIntraRequest(p) => p.write_body(&mut w)?,
            Self::Remb(p) => p.write_body(&mut w)?,
            Self::Unknown(p) => w.bytes(&p.body)?,
        }
        if w.position() != HEADER_LEN + body_len {
            return Err(RtpError::OutOfRange("RTCP body length mismatch"));
        }
        if padding > 0 {
            w.zeros(padding - 1)?;
            w.u8(padding as u8)?;
        }
        Ok(len)
    }
}

/// The common header of one RTCP packet and its body (padding removed).
struct Header<'a> {
    packet_type: u8,
    count: u8,
    body: &'a [u8],
    /// Length of the whole packet, header and padding included.
    len: usize,
}

impl<'a> Header<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self, RtpError> {
        need(bytes, HEADER_LEN, "RTCP header")?;
        let version = bytes[0] >> 6;
        if version != 2 {
            return Err(RtpError::BadVersion(version));
        }
        let has_padding = bytes[0] & 0x20 != 0;
        let count = bytes[0] & 0x1F;
        let packet_type = bytes[1];
        let len = (usize::from(u16::from_be_bytes([bytes[2], bytes[3]])) + 1) * 4;
        need(bytes, len, "RTCP packet")?;
        let mut body = &bytes[HEADER_LEN..len];
        if has_padding {
            let padding = usize::from(body.last().copied().unwrap_or(0));
            if padding == 0 || padding > body.len() {
                return Err(RtpError::BadPadding { padding, available: body.len() });
            }
            body = &body[..body.len() - padding];
        }
        Ok(Self { packet_type, count, body, len })
    }

    fn kind(&self) -> Kind {
        match (self.packet_type, self.count) {
            (packet_type::SR, _) => Kind::SenderReport,
            (packet_type::RR, _) => Kind::ReceiverReport,
            (packet_type::SDES, _) => Kind::SourceDescription,
            (packet_type::BYE, _) => Kind::Goodbye,
            (packet_type::RTPFB, FMT_NACK) => Kind::Nack,
            (packet_type::RTPFB, FMT_TWCC) => Kind::TransportFeedback,
            (packet_type::PSFB, FMT_PLI) => Kind::PictureLossIndication,
            (packet_type::PSFB, FMT_FIR) => Kind::FullIntraRequest,
            (packet_type::PSFB, FMT_AFB)
                if self.body.get(8..12) == Some(&feedback::REMB_IDENTIFIER[..]) =>
            {
                Kind::Remb
            }
            _ => Kind::Unknown,
        }
    }
}

/// Which [`RtcpPacket`] variant a header announces (the index of its slot in
/// [`RtcpParser`]).
#[derive(Clone, Copy)]
enum Kind {
    SenderReport,
    ReceiverReport,
    SourceDescription,
    Goodbye,
    Nack,
    TransportFeedback,
    PictureLossIndication,
    FullIntraRequest,
    Remb,
    Unknown,
}

const KINDS: usize = 10;

/// A reusable RTCP parser for the receive path: one packet of each kind is kept and
/// refilled, so once a peer's reports have been seen (their block, item and status lists
/// at their usual sizes) parsing allocates nothing. The same parsing code as
/// [`RtcpPacket::parse_one`].
#[derive(Debug)]
pub struct RtcpParser {
    slots: [RtcpPacket; KINDS],
}

impl Default for RtcpParser {
    fn default() -> Self {
        Self::new()
    }
}

impl RtcpParser {
    /// A parser holding empty packets (no allocation).
    pub fn new() -> Self {
        const ORDER: [Kind; KINDS] = [
            Kind::SenderReport,
            Kind::ReceiverReport,
            Kind::SourceDescription,
            Kind::Goodbye,
            Kind::Nack,
            Kind::TransportFeedback,
            Kind::PictureLossIndication,
            Kind::FullIntraRequest,
            Kind::Remb,
            Kind::Unknown,
        ];
        Self { slots: ORDER.map(RtcpPacket::empty) }
    }

    /// Parses one RTCP packet from the start of `bytes`; returns it (valid until the next
    /// call) and its length.
    pub fn parse_one(&mut self, bytes: &[u8]) -> Result<(&RtcpPacket, usize), RtpError> {
        let header = Header::parse(bytes)?;
        let slot = &mut self.slots[header.kind() as usize];
        slot.fill(&header)?;
        Ok((slot, header.len))
    }
}

/// Iterates over the packets of a compound RTCP packet without collecting them; stops
/// after the first error.
///
/// Reduced-size RTCP (RFC 5506) is accepted: the first packet need not be SR/RR.
#[derive(Debug, Clone)]
#[cfg(any(test, feature = "testing"))]
pub struct CompoundIter<'a> {
    rest: &'a [u8],
}

#[cfg(any(test, feature = "testing"))]
impl<'a> CompoundIter<'a> {
    /// Iterates over the packets in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { rest: bytes }
    }
}

#[cfg(any(test, feature = "testing"))]
impl Iterator for CompoundIter<'_> {
    type Item = Result<RtcpPacket, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match RtcpPacket::parse_one(self.rest) {
            Ok((packet, len)) => {
                self.rest = &self.rest[len..];
                Some(Ok(packet))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Parses a whole compound RTCP packet; fails if any packet in it is malformed or the
/// buffer is empty.
#[cfg(any(test, feature = "testing"))]
pub fn parse_compound(bytes: &[u8]) -> Result<Vec<RtcpPacket>, RtpError> {
    need(bytes, HEADER_LEN, "RTCP compound packet")?;
    CompoundIter::new(bytes).collect()
}

/// Bytes a compound of `packets` takes.
#[cfg(any(test, feature = "testing"))]
pub fn compound_len(packets: &[RtcpPacket]) -> usize {
    packets.iter().map(RtcpPacket::encoded_len).sum()
}

/// Writes `packets` back to back as one compound packet; returns its length.
#[cfg(any(test, feature = "testing"))]
pub fn write_compound(packets: &[RtcpPacket], out: &mut [u8]) -> Result<usize, RtpError> {
    room(out, compound_len(packets))?;
    let mut at = 0;
    for packet in packets {
        at += packet.write_to(&mut out[at..])?;
    }
    Ok(at)
}
