//! Byte cursor shared by the fuzz logic files: reads fields from the front of the input
//! and answers `None` (or a short slice) once the input runs out.
#![allow(dead_code)]

/// The unread part of a fuzz input.
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// A cursor over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    /// Whether everything has been read.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        let (&first, rest) = self.data.split_first()?;
        self.data = rest;
        Some(first)
    }

    /// A big-endian 16-bit value.
    pub fn u16(&mut self) -> Option<u16> {
        let bytes = self.array::<2>()?;
        Some(u16::from_be_bytes(bytes))
    }

    /// A big-endian 32-bit value.
    pub fn u32(&mut self) -> Option<u32> {
        let bytes = self.array::<4>()?;
        Some(u32::from_be_bytes(bytes))
    }

    /// A big-endian 64-bit value.
    pub fn u64(&mut self) -> Option<u64> {
        let bytes = self.array::<8>()?;
        Some(u64::from_be_bytes(bytes))
    }

    /// `N` bytes, or `None` if fewer are left (nothing is consumed then).
    pub fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.data.split_first_chunk::<N>()?;
        self.data = rest;
        Some(*head)
    }

    /// Up to `n` bytes (fewer when the input ends first).
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }

    /// A record with a 16-bit big-endian length prefix: up to that many bytes.
    pub fn len16_bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(self.u16()?);
        Some(self.bytes(len))
    }

    /// A record with an 8-bit length prefix.
    pub fn len8_bytes(&mut self) -> Option<&'a [u8]> {
        let len = usize::from(self.u8()?);
        Some(self.bytes(len))
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}
