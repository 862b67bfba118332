//! Source description (RFC 3550 section 6.5) and goodbye (section 6.6) packets.

use crate::rtp::bytes::{Reader, Writer};
use crate::rtp::error::RtpError;

/// SDES item type of the canonical name.
pub const SDES_CNAME: u8 = 1;
const SDES_END: u8 = 0;

/// One SDES item: its type (1 = CNAME, 2 = NAME, ...) and its text, kept as raw bytes
/// because hostile peers need not send UTF-8.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdesItem {
    /// Item type (1..=255; 0 is the list terminator and cannot be an item).
    pub kind: u8,
    /// Item text (at most 255 bytes).
    pub value: Vec<u8>,
}

/// The items describing one source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SdesChunk {
    /// The described source.
    pub ssrc: u32,
    /// Its items, in order.
    pub items: Vec<SdesItem>,
}

impl SdesChunk {
    /// A chunk carrying only a CNAME.
    pub fn cname(ssrc: u32, cname: &str) -> Self {
        Self { ssrc, items: vec![SdesItem { kind: SDES_CNAME, value: cname.as_bytes().to_vec() }] }
    }

    fn len(&self) -> usize {
        // Items, then at least one null octet, padded to a 32-bit boundary.
        let items: usize = self.items.iter().map(|i| 2 + i.value.len()).sum();
        (4 + items + 1).next_multiple_of(4)
    }
}

/// A source description packet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceDescription {
    /// One chunk per described source (at most 31).
    pub chunks: Vec<SdesChunk>,
}

impl SourceDescription {
    /// The CNAME of `ssrc`, if this packet carries one.
    #[cfg(any(test, feature = "testing"))]
    pub fn cname(&self, ssrc: u32) -> Option<&[u8]> {
        self.chunks
            .iter()
            .filter(|c| c.ssrc == ssrc)
            .flat_map(|c| c.items.iter())
            .find(|i| i.kind == SDES_CNAME)
            .map(|i| i.value.as_slice())
    }

    /// Parses into `self`. Chunks and items already held are overwritten in place, so a
    /// peer that keeps sending the same shape of SDES costs no allocation; on error `self`
    /// is unspecified.
    pub(crate) fn parse_into(&mut self, count: u8, body: &[u8]) -> Result<(), RtpError> {
        let mut r = Reader::new(body, "RTCP SDES");
        let count = usize::from(count);
        for index in 0..count {
            if index == self.chunks.len() {
                self.chunks.push(SdesChunk::default());
            }
            let chunk = &mut self.chunks[index];
            let chunk_start = body.len() - r.remaining();
            chunk.ssrc = r.u32()?;
            let mut items = 0;
            loop {
                let kind = r.u8()?;
                if kind == SDES_END {
                    break;
                }
                let len = usize::from(r.u8()?);
                if items == chunk.items.len() {
                    chunk.items.push(SdesItem::default());
                }
                let item = &mut chunk.items[items];
                item.kind = kind;
                item.value.clear();
                item.value.extend_from_slice(r.take(len)?);
                items += 1;
            }
            chunk.items.truncate(items);
            // The null octet(s) pad the chunk to a 32-bit boundary.
            let consumed = body.len() - r.remaining() - chunk_start;
            r.take(consumed.next_multiple_of(4) - consumed)?;
        }
        self.chunks.truncate(count);
        Ok(())
    }

    pub(crate) fn body_len(&self) -> usize {
        self.chunks.iter().map(SdesChunk::len).sum()
    }

    pub(crate) fn count(&self) -> Result<u8, RtpError> {
        u8::try_from(self.chunks.len())
            .ok()
            .filter(|&n| n <= 31)
            .ok_or(RtpError::OutOfRange("more than 31 SDES chunks"))
    }

    pub(crate) fn write_body(&self, w: &mut Writer<'_>) -> Result<(), RtpError> {
        for chunk in &self.chunks {
            let start = w.position();
            w.u32(chunk.ssrc)?;
            for item in &chunk.items {
                if item.kind == SDES_END {
                    return Err(RtpError::OutOfRange("SDES item type 0 is the terminator"));
                }
                let len = u8::try_from(item.value.len())
                    .map_err(|_| RtpError::OutOfRange("SDES item over 255 bytes"))?;
                w.u8(item.kind)?;
                w.u8(len)?;
                w.bytes(&item.value)?;
            }
            let end = start + chunk.len();
            w.zeros(end - w.position())?;
        }
        Ok(())
    }
}

/// A goodbye packet: the listed sources are leaving.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Goodbye {
    /// Departing sources (at most 31).
    pub sources: Vec<u32>,
    /// Optional reason text (empty for none; at most 255 bytes).
    pub reason: Vec<u8>,
}

impl Goodbye {
    /// Parses into `self`, reusing its lists; on error `self` is unspecified.
    pub(crate) fn parse_into(&mut self, count: u8, body: &[u8]) -> Result<(), RtpError> {
        let mut r = Reader::new(body, "RTCP BYE");
        let count = usize::from(count);
        if r.remaining() < 4 * count {
            return Err(RtpError::BadRtcp("BYE source count exceeds packet length"));
        }
        self.sources.clear();
        for _ in 0..count {
            self.sources.push(r.u32()?);
        }
        self.reason.clear();
        if r.remaining() > 0 {
            let len = usize::from(r.u8()?);
            self.reason.extend_from_slice(r.take(len)?);
        }
        Ok(())
    }

    pub(crate) fn body_len(&self) -> usize {
        let reason = if self.reason.is_empty() { 0 } else { 1 + self.reason.len() };
        (4 * self.sources.len() + reason).next_multiple_of(4)
    }

    pub(crate) fn count(&self) -> Result<u8, RtpError> {
        u8::try_from(self.sources.len())
            .ok()
            .filter(|&n| n <= 31)
            .ok_or(RtpError::OutOfRange("more than 31 BYE sources"))
    }

    pub(crate) fn write_body(&self, w: &mut Writer<'_>) -> Result<(), RtpError> {
        let start = w.position();
        for &ssrc in &self.sources {
            w.u32(ssrc)?;
        }
        if !self.reason.is_empty() {
            let len = u8::try_from(self.reason.len())
                .map_err(|_| RtpError::OutOfRange("BYE reason over 255 bytes"))?;
            w.u8(len)?;
            w.bytes(&self.reason)?;
        }
        let end = start + self.body_len();
        w.zeros(end - w.position())
    }
}
