//! The SRTP master keys this layer hands to the call layer.

use std::fmt;

use zeroize::Zeroizing;

/// The SRTP protection profile the master key and salt are made for.
///
/// Only AEAD profiles (RFC 7714) are offered: they authenticate and encrypt with one key and
/// take a 12-byte master salt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SrtpSuite {
    /// `AEAD_AES_256_GCM` (RFC 7714): 32-byte master key, 12-byte master salt. The default.
    #[default]
    AeadAes256Gcm,
    /// `AEAD_AES_128_GCM` (RFC 7714): 16-byte master key, 12-byte master salt.
    AeadAes128Gcm,
}

impl SrtpSuite {
    /// Length of the master key in bytes.
    pub const fn master_key_len(self) -> usize {
        match self {
            SrtpSuite::AeadAes256Gcm => 32,
            SrtpSuite::AeadAes128Gcm => 16,
        }
    }

    /// Length of the master salt in bytes (12 for both AEAD profiles).
    pub const fn master_salt_len(self) -> usize {
        12
    }

    /// The byte that names this suite in handshake messages.
    pub(crate) const fn wire_id(self) -> u8 {
        match self {
            SrtpSuite::AeadAes256Gcm => 1,
            SrtpSuite::AeadAes128Gcm => 2,
        }
    }

    /// Parses the suite byte of a handshake message.
    pub(crate) fn from_wire_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(SrtpSuite::AeadAes256Gcm),
            2 => Some(SrtpSuite::AeadAes128Gcm),
            _ => None,
        }
    }
}

/// An SRTP master key and master salt for one direction of a call, one key epoch.
///
/// Both are wiped from memory when the value is dropped; `Debug` shows only the suite.
/// For [`SrtpSuite::AeadAes128Gcm`] only the first 16 bytes of the key buffer are used, and
/// [`SrtpKeys::master_key`] returns exactly those.
/// It deliberately has no `PartialEq`: compare key bytes only in tests.
#[derive(Clone)]
pub struct SrtpKeys {
    suite: SrtpSuite,
    master_key: Zeroizing<[u8; 32]>,
    master_salt: Zeroizing<[u8; 12]>,
}

impl SrtpKeys {
    /// Wraps key material (used by the key schedule; also handy for tests and interop).
    ///
    /// For the 128-bit suite the last 16 bytes of `master_key` are ignored and zeroed.
    pub fn new(suite: SrtpSuite, master_key: [u8; 32], master_salt: [u8; 12]) -> Self {
        let mut master_key = Zeroizing::new(master_key);
        master_key[suite.master_key_len()..].fill(0);
        Self { suite, master_key, master_salt: Zeroizing::new(master_salt) }
    }

    /// Fills the key and salt in place, so no unwiped copy of them is left on the stack.
    pub(crate) fn derive_in_place(
        suite: SrtpSuite,
        fill: impl FnOnce(&mut [u8], &mut [u8; 12]),
    ) -> Self {
        let mut keys = Self {
            suite,
            master_key: Zeroizing::new([0u8; 32]),
            master_salt: Zeroizing::new([0u8; 12]),
        };
        fill(&mut keys.master_key[..suite.master_key_len()], &mut keys.master_salt);
        keys
    }

    /// The protection profile these keys are for.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// The master key, exactly [`SrtpSuite::master_key_len`] bytes long.
    pub fn master_key(&self) -> &[u8] {
        &self.master_key[..self.suite.master_key_len()]
    }

    /// The 12-byte master salt.
    pub fn master_salt(&self) -> &[u8; 12] {
        &self.master_salt
    }
}

impl fmt::Debug for SrtpKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpKeys")
            .field("suite", &self.suite)
            .field("master_key", &"<redacted>")
            .field("master_salt", &"<redacted>")
            .finish()
    }
}
