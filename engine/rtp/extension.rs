//! RTP header extensions (RFC 8285): the one-byte (`0xBEDE`) and two-byte (`0x100X`) forms.

use super::error::RtpError;

/// Profile value announcing one-byte extension elements (RFC 8285 section 4.2).
pub const ONE_BYTE_PROFILE: u16 = 0xBEDE;
/// Profile value (upper 12 bits) announcing two-byte elements (RFC 8285 section 4.3); the
/// low 4 bits are application bits.
pub const TWO_BYTE_PROFILE: u16 = 0x1000;
const TWO_BYTE_PROFILE_MASK: u16 = 0xFFF0;

/// Which RFC 8285 element form a header extension block uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtensionForm {
    /// One-byte headers: IDs 1..=14, 1..=16 bytes of data.
    OneByte,
    /// Two-byte headers: IDs 1..=255, 0..=255 bytes of data. The value is the 4
    /// application bits of the profile.
    TwoByte(u8),
}

impl ExtensionForm {
    /// The form announced by an extension block's profile, or `None` for a profile that
    /// RFC 8285 does not define (its data is then opaque).
    pub fn from_profile(profile: u16) -> Option<Self> {
        if profile == ONE_BYTE_PROFILE {
            Some(Self::OneByte)
        } else if profile & TWO_BYTE_PROFILE_MASK == TWO_BYTE_PROFILE {
            Some(Self::TwoByte((profile & 0x000F) as u8))
        } else {
            None
        }
    }

    /// The profile value written for this form.
    pub fn profile(self) -> u16 {
        match self {
            Self::OneByte => ONE_BYTE_PROFILE,
            Self::TwoByte(bits) => TWO_BYTE_PROFILE | u16::from(bits & 0x0F),
        }
    }

    /// The smallest form able to carry all `elements`.
    pub fn fitting(elements: &[HeaderExtension<'_>]) -> Self {
        if elements.iter().all(|e| (1..=14).contains(&e.id) && (1..=16).contains(&e.data.len())) {
            Self::OneByte
        } else {
            Self::TwoByte(0)
        }
    }
}

/// One header extension element: a local identifier and its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderExtension<'a> {
    /// Local identifier negotiated in SDP (`a=extmap`).
    pub id: u8,
    /// The element's data.
    pub data: &'a [u8],
}

/// Iterator over the elements of an RFC 8285 extension block; yields an error (once, then
/// stops) when an element runs past the block.
#[derive(Debug, Clone)]
pub struct ExtensionIter<'a> {
    data: &'a [u8],
    form: Option<ExtensionForm>,
}

impl<'a> ExtensionIter<'a> {
    pub(crate) fn new(form: Option<ExtensionForm>, data: &'a [u8]) -> Self {
        Self { data, form }
    }

    pub(crate) fn empty() -> Self {
        Self { data: &[], form: None }
    }

    fn fail(&mut self, why: &'static str) -> Option<Result<HeaderExtension<'a>, RtpError>> {
        self.data = &[];
        Some(Err(RtpError::BadExtension(why)))
    }
}

impl<'a> Iterator for ExtensionIter<'a> {
    type Item = Result<HeaderExtension<'a>, RtpError>;

    fn next(&mut self) -> Option<Self::Item> {
        let form = self.form?;
        loop {
            let (&first, rest) = self.data.split_first()?;
            if first == 0 {
                // Padding byte between or after elements (both forms).
                self.data = rest;
                continue;
            }
            return match form {
                ExtensionForm::OneByte => {
                    let id = first >> 4;
                    if id == 15 || id == 0 {
                        // RFC 8285 4.2: ID 15 stops processing of the whole block. ID 0 is
                        // only valid as a zero padding byte (handled above); with a length
                        // it is treated the same way, as libwebrtc does.
                        self.data = &[];
                        return None;
                    }
                    let len = usize::from(first & 0x0F) + 1;
                    if rest.len() < len {
                        return self.fail("one-byte element runs past the block");
                    }
                    let (data, tail) = rest.split_at(len);
                    self.data = tail;
                    Some(Ok(HeaderExtension { id, data }))
                }
                ExtensionForm::TwoByte(_) => {
                    let Some((&len, rest)) = rest.split_first() else {
                        return self.fail("two-byte element header truncated");
                    };
                    let len = usize::from(len);
                    if rest.len() < len {
                        return self.fail("two-byte element runs past the block");
                    }
                    let (data, tail) = rest.split_at(len);
                    self.data = tail;
                    Some(Ok(HeaderExtension { id: first, data }))
                }
            };
        }
    }
}

/// Bytes the elements take in `form`, before padding to a 32-bit boundary.
pub(crate) fn elements_len(form: ExtensionForm, elements: &[HeaderExtension<'_>]) -> usize {
    let per_element = match form {
        ExtensionForm::OneByte => 1,
        ExtensionForm::TwoByte(_) => 2,
    };
    elements.iter().map(|e| per_element + e.data.len()).sum()
}

/// Writes the elements (without the 4-byte block header) and zero padding to `out`, which
/// must be exactly the padded length.
pub(crate) fn write_elements(
    form: ExtensionForm,
    elements: &[HeaderExtension<'_>],
    out: &mut [u8],
) -> Result<(), RtpError> {
    let mut at = 0;
    for e in elements {
        match form {
            ExtensionForm::OneByte => {
                if !(1..=14).contains(&e.id) {
                    return Err(RtpError::OutOfRange("one-byte extension ID must be 1..=14"));
                }
                if !(1..=16).contains(&e.data.len()) {
                    return Err(RtpError::OutOfRange(
                        "one-byte extension data must be 1..=16 bytes",
                    ));
                }
                out[at] = (e.id << 4) | (e.data.len() as u8 - 1);
                at += 1;
            }
            ExtensionForm::TwoByte(_) => {
                if e.id == 0 {
                    return Err(RtpError::OutOfRange("two-byte extension ID must be 1..=255"));
                }
                let len = u8::try_from(e.data.len())
                    .map_err(|_| RtpError::OutOfRange("two-byte extension data over 255 bytes"))?;
                out[at] = e.id;
                out[at + 1] = len;
                at += 2;
            }
        }
        out[at..at + e.data.len()].copy_from_slice(e.data);
        at += e.data.len();
    }
    out[at..].fill(0);
    Ok(())
}
