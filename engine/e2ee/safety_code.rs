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
/// secrets. Both people read it aloud (as six digits or as four words); if anyone sits in the
/// middle of the exchange, the two sides see different codes.
///
/// The six digits carry about 20 bits, the four words 32 bits. Because the offer commits to
/// the offerer's ephemeral key before the answer is sent, an attacker in the middle cannot
/// search for keys that make both codes match; each attempt succeeds with probability about
/// 2^-20 (digits) or 2^-32 (words).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SafetyCode {
    bytes: [u8; SAFETY_CODE_BYTES],
}

impl SafetyCode {
    pub(crate) fn from_bytes(bytes: [u8; SAFETY_CODE_BYTES]) -> Self {
        Self { bytes }
    }

    /// Six decimal digits, grouped as `"123 456"` for reading aloud.
    pub fn digits(&self) -> String {
        let number =
            u32::from_be_bytes([self.bytes[0], self.bytes[1], self.bytes[2], self.bytes[3]])
                % 1_000_000;
        format!("{:03} {:03}", number / 1000, number % 1000)
    }

    /// Four words from the built-in word list.
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
        let [a, b, c, d] = self.words();
        write!(f, "{} ({a} {b} {c} {d})", self.digits())
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
        assert_eq!(code.digits(), "012 345");
        assert_eq!(code.words(), ["acid", "affix", "spoon", "zebra"]);
        let other = SafetyCode::from_bytes([0, 0, 0x30, 0x3a, 0, 1, 254, 255]);
        assert_ne!(code, other);
        assert_eq!(other.digits(), "012 346");
    }
}
