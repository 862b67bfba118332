//! The short authentication string two people read to each other.

use std::fmt;

/// 256 short English words; one byte of the code picks one word.
///
/// Most words come from the EFF Short Wordlist 1 (<https://www.eff.org/dice>, Electronic
/// Frontier Foundation, CC BY 3.0 US), picked to be short, distinct and easy to say; a few
/// were added by this project. The list is part of the protocol: changing it changes codes.
const WORD_LIST_TEXT: &str = include_str!("wordlist.txt");

/// Number of words in [`WORD_LIST_TEXT`]; checked by a unit test.
#[cfg(test)]
const WORD_COUNT: usize = 256;

/// How many bytes of key-schedule output a safety code consumes.
pub(crate) const SAFETY_CODE_BYTES: usize = 8;

/// A short authentication string derived from the whole handshake transcript and the shared
/// secrets, for one call. Both people read it aloud; if anyone sits in the middle of the
/// exchange, the two sides see different codes.
///
/// The default form, [`digits`](Self::digits) (and `Display`), is 16 digits carrying 52
/// bits. Because the offer commits to the offerer's ephemeral key before the answer is
/// sent, an attacker in the middle cannot search for keys that make both codes match: each
/// attempt succeeds with probability 2^-52. The 6-digit [`short_digits`](Self::short_digits)
/// (20 bits, 1 in a million) and the four [`words`](Self::words) (32 bits) are shorter
/// forms. A relaying service that plays the offerer learns the answerer's code before it
/// must commit, and can abandon the handshake and retry: with a short code an attacker who
/// can make a million attempts succeeds. Apps must rate-limit handshakes per contact and
/// show users abandoned ones (a call that rings and fails before it connects is exactly
/// what a failed attempt looks like) — and prefer the long form.
///
/// The code is new every call, so it cannot be verified "once per contact"; for that use
/// the stable [`IdentityFingerprint`](super::IdentityFingerprint).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SafetyCode {
    bytes: [u8; SAFETY_CODE_BYTES],
}

/// Bits of the default (16-digit) form.
pub const SAFETY_CODE_BITS: u32 = 52;

impl SafetyCode {
    pub(crate) fn from_bytes(bytes: [u8; SAFETY_CODE_BYTES]) -> Self {
        Self { bytes }
    }

    /// The default form: 52 bits as 16 decimal digits in four groups,
    /// `"1234 5678 9012 3456"`.
    pub fn digits(&self) -> String {
        let mut first = [0u8; 8];
        first[1..].copy_from_slice(&self.bytes[..7]);
        // The top 52 of the first 56 bits: below 2^52 < 10^16, so 16 digits hold it all.
        let number = u64::from_be_bytes(first) >> (56 - SAFETY_CODE_BITS);
        let text = format!("{number:016}");
        format!("{} {} {} {}", &text[..4], &text[4..8], &text[8..12], &text[12..])
    }

    /// The short form: six decimal digits (about 20 bits), grouped as `"123 456"`. Only
    /// where handshakes are rate-limited per contact (see the type's docs).
    pub fn short_digits(&self) -> String {
        let number =
            u32::from_be_bytes([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]])
                % 1_000_000;
        format!("{:03} {:03}", number / 1000, number % 1000)
    }

    /// Four words from the built-in word list (32 bits).
    pub fn words(&self) -> [&'static str; 4] {
        let mut words = [""; 4];
        for (word, &byte) in words.iter_mut().zip(&self.bytes[4..8]) {
            *word = word_at(byte);
        }
        words
    }
}

fn word_at(index: u8) -> &'static str {
    // The list is a compile-time constant with exactly WORD_COUNT words (unit-tested), so
    // every u8 index exists; the fallback only guards against a future edit of the file.
    WORD_LIST_TEXT.split_whitespace().nth(usize::from(index)).unwrap_or("?")
}

impl fmt::Display for SafetyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digits())
    }
}

impl fmt::Debug for SafetyCode {
    /// The code is shown to users anyway, so it is not redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SafetyCode({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_list_has_256_distinct_pronounceable_words() {
        let words: Vec<&str> = WORD_LIST_TEXT.split_whitespace().collect();
        assert_eq!(words.len(), WORD_COUNT);
        let mut sorted = words.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), WORD_COUNT, "duplicate words");
        assert!(words.iter().all(|w| w.chars().all(|c| c.is_ascii_lowercase())));
    }

    #[test]
    fn digits_and_words_follow_the_bytes() {
        let code = SafetyCode::from_bytes([0, 0, 0x30, 0x39, 0, 1, 254, 255]);
        assert_eq!(code.short_digits(), "012 345");
        assert_eq!(code.words(), ["acid", "affix", "spoon", "zebra"]);
        // The first 56 bits, 0x0000_3039_0001_fe, shifted right by 4: 12944670751.
        assert_eq!(code.digits(), "0000 0129 4467 0751");
        let other = SafetyCode::from_bytes([0, 0, 0x30, 0x3a, 0, 1, 254, 255]);
        assert_ne!(code, other);
        assert_eq!(other.short_digits(), "012 346");
    }

    /// Review finding 6: the default form carries 52 bits, so codes that differ anywhere in
    /// those bits (not only in the first 20) read differently.
    #[test]
    fn the_default_form_carries_52_bits() {
        let base = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0];
        let reference = SafetyCode::from_bytes(base).digits();
        assert_eq!(reference.chars().filter(char::is_ascii_digit).count(), 16);
        for bit in 0..SAFETY_CODE_BITS {
            let mut bytes = base;
            bytes[(bit / 8) as usize] ^= 0x80 >> (bit % 8);
            let flipped = SafetyCode::from_bytes(bytes);
            assert_ne!(flipped.digits(), reference, "bit {bit} does not show");
            assert_eq!(flipped.to_string(), flipped.digits());
        }
        // The largest value still fits 16 digits.
        assert_eq!(SafetyCode::from_bytes([0xff; 8]).digits(), "4503 5996 2737 0495");
    }
}
