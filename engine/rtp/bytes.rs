//! Bounds-checked big-endian reader and writer used by the RTCP and payload parsers, so
//! that no parser indexes raw input directly.

use super::error::RtpError;

/// Reads big-endian fields from a borrowed buffer; every read checks the remaining length.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, what }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], RtpError> {
        if self.buf.len() < n {
            return Err(RtpError::Truncated {
                what: self.what,
                needed: n,
                available: self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, RtpError> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, RtpError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(crate) fn u24(&mut self) -> Result<u32, RtpError> {
        let b = self.take(3)?;
        Ok(u32::from_be_bytes([0, b[0], b[1], b[2]]))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, RtpError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, RtpError> {
        Ok((u64::from(self.u32()?) << 32) | u64::from(self.u32()?))
    }
}

/// Writes big-endian fields into a caller-provided buffer whose size was checked up front.
/// Writing past the end is a bug in the caller's length computation; it reports
/// `BufferTooSmall` instead of panicking.
#[derive(Debug)]
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn bytes(&mut self, data: &[u8]) -> Result<(), RtpError> {
        let end = self.pos + data.len();
        let available = self.buf.len();
        let slot = self
            .buf
            .get_mut(self.pos..end)
            .ok_or(RtpError::BufferTooSmall { needed: end, available })?;
        slot.copy_from_slice(data);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn zeros(&mut self, n: usize) -> Result<(), RtpError> {
        let end = self.pos + n;
        let available = self.buf.len();
        self.buf
            .get_mut(self.pos..end)
            .ok_or(RtpError::BufferTooSmall { needed: end, available })?
            .fill(0);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<(), RtpError> {
        self.bytes(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), RtpError> {
        self.bytes(&v.to_be_bytes())
    }

    pub(crate) fn u24(&mut self, v: u32) -> Result<(), RtpError> {
        self.bytes(&v.to_be_bytes()[1..])
    }

    pub(crate) fn u32(&mut self, v: u32) -> Result<(), RtpError> {
        self.bytes(&v.to_be_bytes())
    }

    pub(crate) fn u64(&mut self, v: u64) -> Result<(), RtpError> {
        self.bytes(&v.to_be_bytes())
    }
}
