//! RTP packets (RFC 3550 section 5.1): a zero-copy view for parsing and a header writer
//! that serialises into a caller-provided buffer.

use super::error::{RtpError, need, room};
use super::extension::{self, ExtensionForm, ExtensionIter, HeaderExtension};

/// Size of the fixed RTP header (no CSRCs, no extension).
pub const FIXED_HEADER_LEN: usize = 12;
/// The RTP version this crate speaks.
pub const RTP_VERSION: u8 = 2;

/// A validated RTP packet borrowed from a byte buffer; no field is copied until asked for.
///
/// Parsing checks the version, the CSRC list, the extension block (including every RFC 8285
/// element inside it) and the padding, so the accessors cannot fail.
///
/// ```
/// use sottovoce::rtp::RtpPacket;
/// let bytes = [0x80, 0x60, 0x12, 0x34, 0, 0, 0x03, 0xE8, 0xCA, 0xFE, 0xBA, 0xBE, 0xAA, 0xBB];
/// let packet = RtpPacket::parse(&bytes)?;
/// assert_eq!(packet.payload_type(), 96);
/// assert_eq!(packet.sequence_number(), 0x1234);
/// assert_eq!(packet.timestamp(), 1000);
/// assert_eq!(packet.ssrc(), 0xCAFE_BABE);
/// assert_eq!(packet.payload(), &[0xAA, 0xBB]);
/// # Ok::<(), sottovoce::rtp::RtpError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RtpPacket<'a> {
    bytes: &'a [u8],
    /// Offset of the extension block's data (after its 4-byte header), if any.
    extension_data: Option<(usize, usize)>,
    header_len: usize,
    payload_end: usize,
}

impl std::fmt::Debug for RtpPacket<'_> {
    // Payload bytes are media (possibly decrypted): keep them out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtpPacket")
            .field("pt", &self.payload_type())
            .field("seq", &self.sequence_number())
            .field("ts", &self.timestamp())
            .field("ssrc", &format_args!("{:#010x}", self.ssrc()))
            .field("marker", &self.marker())
            .field("csrcs", &self.csrc_count())
            .field("header_len", &self.header_len)
            .field("payload_len", &self.payload().len())
            .finish()
    }
}

#[inline]
fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline]
fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

impl<'a> RtpPacket<'a> {
    /// Validates `bytes` as one RTP packet and returns a view over it.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RtpError> {
        need(bytes, FIXED_HEADER_LEN, "RTP header")?;
        let version = bytes[0] >> 6;
        if version != RTP_VERSION {
            return Err(RtpError::BadVersion(version));
        }
        let csrc_count = usize::from(bytes[0] & 0x0F);
        let mut header_len = FIXED_HEADER_LEN + 4 * csrc_count;
        need(bytes, header_len, "RTP CSRC list")?;
        let mut extension_data = None;
        if bytes[0] & 0x10 != 0 {
            need(bytes, header_len + 4, "RTP extension header")?;
            let profile = be16(bytes, header_len);
            let words = usize::from(be16(bytes, header_len + 2));
            let start = header_len + 4;
            let end = start + 4 * words;
            need(bytes, end, "RTP extension block")?;
            // Reject malformed RFC 8285 elements now so that accessors stay infallible.
            for element in
                ExtensionIter::new(ExtensionForm::from_profile(profile), &bytes[start..end])
            {
                element?;
            }
            extension_data = Some((start, end));
            header_len = end;
        }
        let mut payload_end = bytes.len();
        if bytes[0] & 0x20 != 0 {
            let available = bytes.len() - header_len;
            let padding = usize::from(bytes[bytes.len() - 1]);
            if available == 0 || padding == 0 || padding > available {
                return Err(RtpError::BadPadding { padding, available });
            }
            payload_end -= padding;
        }
        Ok(Self { bytes, extension_data, header_len, payload_end })
    }

    /// The whole packet as received.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Whether the P bit is set.
    #[cfg(any(test, feature = "testing"))]
    pub fn has_padding(&self) -> bool {
        self.bytes[0] & 0x20 != 0
    }

    /// Padding bytes at the end (including the count byte); 0 without the P bit.
    #[cfg(any(test, feature = "testing"))]
    pub fn padding_len(&self) -> usize {
        self.bytes.len() - self.payload_end
    }

    /// The marker bit (for video: last packet of a frame).
    pub fn marker(&self) -> bool {
        self.bytes[1] & 0x80 != 0
    }

    /// The 7-bit payload type.
    pub fn payload_type(&self) -> u8 {
        self.bytes[1] & 0x7F
    }

    /// The 16-bit sequence number.
    pub fn sequence_number(&self) -> u16 {
        be16(self.bytes, 2)
    }

    /// The 32-bit media timestamp.
    pub fn timestamp(&self) -> u32 {
        be32(self.bytes, 4)
    }

    /// The synchronisation source.
    pub fn ssrc(&self) -> u32 {
        be32(self.bytes, 8)
    }

    /// Number of contributing sources (0..=15).
    pub fn csrc_count(&self) -> usize {
        usize::from(self.bytes[0] & 0x0F)
    }

    /// The contributing sources, in order.
    #[cfg(any(test, feature = "testing"))]
    pub fn csrcs(&self) -> impl ExactSizeIterator<Item = u32> + 'a {
        let bytes = self.bytes;
        (0..self.csrc_count()).map(move |i| be32(bytes, FIXED_HEADER_LEN + 4 * i))
    }

    /// The extension block's 16-bit profile, if the X bit is set.
    #[cfg(any(test, feature = "testing"))]
    pub fn extension_profile(&self) -> Option<u16> {
        self.extension_data.map(|(start, _)| be16(self.bytes, start - 4))
    }

    /// The extension block's raw data (after its profile and length), if the X bit is set.
    #[cfg(any(test, feature = "testing"))]
    pub fn extension_data(&self) -> Option<&'a [u8]> {
        self.extension_data.map(|(start, end)| &self.bytes[start..end])
    }

    /// The RFC 8285 elements of the extension block (none for other profiles).
    pub fn extensions(&self) -> impl Iterator<Item = HeaderExtension<'a>> + 'a {
        let iter = match self.extension_data {
            Some((start, end)) => ExtensionIter::new(
                ExtensionForm::from_profile(be16(self.bytes, start - 4)),
                &self.bytes[start..end],
            ),
            None => ExtensionIter::empty(),
        };
        // Elements were validated in `parse`, so no error can appear here.
        iter.map_while(Result::ok)
    }

    /// The data of the first extension element with local identifier `id`.
    pub fn extension(&self, id: u8) -> Option<&'a [u8]> {
        self.extensions().find(|e| e.id == id).map(|e| e.data)
    }

    /// Length of the header: fixed part, CSRCs and extension block.
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    /// The payload, without header and padding.
    pub fn payload(&self) -> &'a [u8] {
        &self.bytes[self.header_len..self.payload_end]
    }
}

/// The fields of an RTP header to be written; borrows its CSRCs and extension elements so
/// that building a packet allocates nothing.
///
/// ```
/// use sottovoce::rtp::{HeaderExtension, RtpHeader, RtpPacket};
/// let header = RtpHeader {
///     payload_type: 111,
///     sequence_number: 7,
///     timestamp: 960,
///     ssrc: 0x1234_5678,
///     extensions: &[HeaderExtension { id: 1, data: &[0x30] }],
///     ..RtpHeader::default()
/// };
/// let mut buf = [0u8; 1500];
/// let len = header.write_packet(b"opus", 0, &mut buf)?;
/// let packet = RtpPacket::parse(&buf[..len])?;
/// assert_eq!(packet.extension(1), Some(&[0x30][..]));
/// assert_eq!(packet.payload(), b"opus");
/// # Ok::<(), sottovoce::rtp::RtpError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RtpHeader<'a> {
    /// Marker bit.
    pub marker: bool,
    /// Payload type (0..=127).
    pub payload_type: u8,
    /// Sequence number.
    pub sequence_number: u16,
    /// Media timestamp.
    pub timestamp: u32,
    /// Synchronisation source.
    pub ssrc: u32,
    /// Contributing sources (at most 15).
    pub csrcs: &'a [u32],
    /// RFC 8285 extension elements; an empty slice writes no extension block.
    pub extensions: &'a [HeaderExtension<'a>],
    /// Element form; `None` picks one-byte when every element fits it.
    pub extension_form: Option<ExtensionForm>,
}

impl RtpHeader<'_> {
    fn form(&self) -> ExtensionForm {
        self.extension_form.unwrap_or_else(|| ExtensionForm::fitting(self.extensions))
    }

    fn extension_block_len(&self) -> usize {
        if self.extensions.is_empty() {
            0
        } else {
            4 + extension::elements_len(self.form(), self.extensions).next_multiple_of(4)
        }
    }

    /// Bytes the header takes when written.
    pub fn len(&self) -> usize {
        FIXED_HEADER_LEN + 4 * self.csrcs.len() + self.extension_block_len()
    }

    /// Always false: a header has at least its 12 fixed bytes (present for clippy's sake).
    #[cfg(any(test, feature = "testing"))]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the header (no payload) at the start of `out`; returns its length.
    pub fn write(&self, out: &mut [u8]) -> Result<usize, RtpError> {
        self.write_with_padding_bit(out, false)
    }

    fn write_with_padding_bit(&self, out: &mut [u8], padding: bool) -> Result<usize, RtpError> {
        if self.csrcs.len() > 15 {
            return Err(RtpError::OutOfRange("more than 15 CSRCs"));
        }
        if self.payload_type > 127 {
            return Err(RtpError::OutOfRange("payload type over 127"));
        }
        let len = self.len();
        room(out, len)?;
        let has_extension = !self.extensions.is_empty();
        out[0] = (RTP_VERSION << 6)
            | (u8::from(padding) << 5)
            | (u8::from(has_extension) << 4)
            | self.csrcs.len() as u8;
        out[1] = (u8::from(self.marker) << 7) | self.payload_type;
        out[2..4].copy_from_slice(&self.sequence_number.to_be_bytes());
        out[4..8].copy_from_slice(&self.timestamp.to_be_bytes());
        out[8..12].copy_from_slice(&self.ssrc.to_be_bytes());
        let mut at = FIXED_HEADER_LEN;
        for csrc in self.csrcs {
            out[at..at + 4].copy_from_slice(&csrc.to_be_bytes());
            at += 4;
        }
        if has_extension {
            let form = self.form();
            let block = self.extension_block_len() - 4;
            let words = u16::try_from(block / 4)
                .map_err(|_| RtpError::OutOfRange("extension block over 65535 words"))?;
            out[at..at + 2].copy_from_slice(&form.profile().to_be_bytes());
            out[at + 2..at + 4].copy_from_slice(&words.to_be_bytes());
            at += 4;
            extension::write_elements(form, self.extensions, &mut out[at..at + block])?;
        }
        Ok(len)
    }

    /// Writes a whole packet: header, `payload` and `padding` bytes of padding (0 for
    /// none; otherwise the last byte holds the count, as RFC 3550 requires). Returns the
    /// packet length.
    pub fn write_packet(
        &self,
        payload: &[u8],
        padding: u8,
        out: &mut [u8],
    ) -> Result<usize, RtpError> {
        let header_len = self.len();
        let total = header_len + payload.len() + usize::from(padding);
        room(out, total)?;
        self.write_with_padding_bit(out, padding > 0)?;
        out[header_len..header_len + payload.len()].copy_from_slice(payload);
        if padding > 0 {
            let pad = &mut out[header_len + payload.len()..total];
            pad.fill(0);
            pad[pad.len() - 1] = padding;
        }
        Ok(total)
    }
}
