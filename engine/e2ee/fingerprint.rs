//! The identity fingerprint two people compare once per contact: a stable number over both
//! identity keys, the same on both phones, that changes only when one of the keys does.
//!
//! The per-call [`SafetyCode`](super::SafetyCode) proves that *this call* has no one in the
//! middle, but it is new every call, so it cannot be checked once and remembered. The
//! fingerprint can: it depends on the two identity keys alone (the idea of Signal's safety
//! numbers). Each key is hashed on its own — SHA-512 iterated
//! [`FINGERPRINT_ITERATIONS`] times, so that grinding for a key whose half looks alike
//! costs that many hashes per try — and turned into 30 decimal digits; the two halves are
//! shown in a fixed order (smaller first), so both people see the same 60 digits.
//!
//! A matching fingerprint means the app holds the right identity key for the contact, so
//! every later handshake with the contact is authenticated by it; a mismatch means the key
//! the app holds (or the peer's) is not the one the other person has.

use std::fmt;

use sha2::{Digest, Sha512};

use super::IdentityPublicKey;

/// Domain separation and format version of the fingerprint hash.
const DOMAIN: &[u8] = b"sottovoce identity fingerprint v1";
/// SHA-512 iterations per key (as many as Signal's safety numbers use).
pub const FINGERPRINT_ITERATIONS: u32 = 5200;
/// Decimal digits per identity key.
const DIGITS_PER_KEY: usize = 30;

/// A stable fingerprint of a pair of identity keys, for once-per-contact verification.
///
/// ```
/// use sottovoce::e2ee::{IdentityFingerprint, IdentityKeyPair};
/// let alice = IdentityKeyPair::generate()?;
/// let bob = IdentityKeyPair::generate()?;
/// let on_alices_phone = IdentityFingerprint::between(&alice.public_key(), &bob.public_key());
/// let on_bobs_phone = IdentityFingerprint::between(&bob.public_key(), &alice.public_key());
/// assert_eq!(on_alices_phone, on_bobs_phone);
/// assert_eq!(on_alices_phone.digits().len(), 60 + 11); // 12 groups of 5 digits
/// # Ok::<(), sottovoce::e2ee::E2eeError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct IdentityFingerprint {
    /// Both halves, the smaller first, as ASCII digits.
    digits: [u8; 2 * DIGITS_PER_KEY],
}

impl IdentityFingerprint {
    /// The fingerprint of `mine` and `theirs`; the same value whichever side computes it.
    /// Takes about a millisecond (the iterated hash): compute it when the contact is shown,
    /// not per call.
    pub fn between(mine: &IdentityPublicKey, theirs: &IdentityPublicKey) -> Self {
        let a = key_digits(mine);
        let b = key_digits(theirs);
        let (first, second) = if a <= b { (a, b) } else { (b, a) };
        let mut digits = [0u8; 2 * DIGITS_PER_KEY];
        digits[..DIGITS_PER_KEY].copy_from_slice(&first);
        digits[DIGITS_PER_KEY..].copy_from_slice(&second);
        Self { digits }
    }

    /// The 60 digits in twelve groups of five, for display (`"12345 67890 …"`).
    pub fn digits(&self) -> String {
        let mut text = String::with_capacity(72);
        for (i, group) in self.digits.chunks(5).enumerate() {
            if i > 0 {
                text.push(' ');
            }
            // ASCII digits by construction.
            text.extend(group.iter().map(|&d| char::from(d)));
        }
        text
    }

    /// Whether a fingerprint typed in or scanned from the other phone matches; spaces and
    /// other separators are ignored, so a code read aloud in groups compares as well.
    pub fn matches(&self, displayed: &str) -> bool {
        let typed: Vec<u8> = displayed.bytes().filter(u8::is_ascii_digit).collect();
        typed == self.digits
    }
}

/// The 30 digits of one key: the first 30 bytes of the iterated hash as six 5-byte
/// numbers, each reduced to five digits (mod 100000: 2^40 is so much larger that the bias
/// is below 10^-7).
fn key_digits(key: &IdentityPublicKey) -> [u8; DIGITS_PER_KEY] {
    let mut hash = Sha512::new().chain_update(DOMAIN).chain_update(key.as_bytes()).finalize();
    for _ in 1..FINGERPRINT_ITERATIONS {
        hash = Sha512::new().chain_update(hash).chain_update(key.as_bytes()).finalize();
    }
    let mut digits = [0u8; DIGITS_PER_KEY];
    for (chunk, out) in hash[..30].chunks(5).zip(digits.chunks_mut(5)) {
        let mut value = chunk.iter().fold(0u64, |v, &b| (v << 8) | u64::from(b)) % 100_000;
        for digit in out.iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    digits
}

impl fmt::Display for IdentityFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digits())
    }
}

impl fmt::Debug for IdentityFingerprint {
    /// Derived from public keys and shown to users: nothing to redact.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityFingerprint({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_stable_and_specific_to_the_pair() {
        let a = IdentityPublicKey::from_bytes([1; 32]);
        let b = IdentityPublicKey::from_bytes([2; 32]);
        let c = IdentityPublicKey::from_bytes([3; 32]);
        let ab = IdentityFingerprint::between(&a, &b);
        assert_eq!(ab, IdentityFingerprint::between(&b, &a));
        assert_ne!(ab, IdentityFingerprint::between(&a, &c));
        assert_ne!(ab, IdentityFingerprint::between(&c, &b));
        let text = ab.digits();
        assert_eq!(text.split(' ').count(), 12);
        assert!(text.split(' ').all(|g| g.len() == 5 && g.bytes().all(|d| d.is_ascii_digit())));
        assert!(ab.matches(&text));
        assert!(ab.matches(&text.replace(' ', "")));
        let mut wrong = text.into_bytes();
        wrong[0] = if wrong[0] == b'9' { b'0' } else { wrong[0] + 1 };
        assert!(!ab.matches(std::str::from_utf8(&wrong).unwrap()));
    }
}
