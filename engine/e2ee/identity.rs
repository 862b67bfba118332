//! Long-term identity keys: X25519 static key pairs the application owns and vouches for.

use std::fmt;

use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use super::E2eeError;

/// A long-term X25519 identity key pair.
///
/// The application creates it once per device, stores the secret in its key store and
/// publishes the public half through its messaging layer, which is also where users
/// verify each other. The secret is wiped on drop and never printed.
#[derive(Clone)]
pub struct IdentityKeyPair {
    secret: StaticSecret,
    public: IdentityPublicKey,
}

impl IdentityKeyPair {
    /// Generates a new identity key pair from the operating system's random source.
    pub fn generate() -> Result<Self, E2eeError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|_| E2eeError::Randomness)?;
        Ok(Self::from_secret_bytes(&bytes))
    }

    /// Restores a key pair from its 32 secret bytes (as kept in the application's key store).
    pub fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        let secret = StaticSecret::from(*secret);
        let public = IdentityPublicKey(PublicKey::from(&secret).to_bytes());
        Self { secret, public }
    }

    /// The 32 secret bytes, for the application's key store. Wiped when the result drops.
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The public half, to publish and to give to peers as their expected identity.
    pub fn public_key(&self) -> IdentityPublicKey {
        self.public
    }

    pub(crate) fn secret(&self) -> &StaticSecret {
        &self.secret
    }
}

impl fmt::Debug for IdentityKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdentityKeyPair")
            .field("public", &self.public)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The public half of an [`IdentityKeyPair`]: 32 bytes, safe to publish.
#[derive(Clone, Copy)]
pub struct IdentityPublicKey([u8; 32]);

impl IdentityPublicKey {
    /// Wraps 32 public key bytes received from the application's directory.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 public key bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time equality, used when checking a peer against the expected identity.
    pub fn ct_eq(&self, other: &IdentityPublicKey) -> bool {
        self.0.ct_eq(&other.0).into()
    }

    pub(crate) fn to_dalek(self) -> PublicKey {
        PublicKey::from(self.0)
    }
}

impl PartialEq for IdentityPublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other)
    }
}

impl Eq for IdentityPublicKey {}

impl fmt::Debug for IdentityPublicKey {
    /// Public keys are not secret; the first 8 bytes are enough to tell them apart in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityPublicKey(")?;
        for byte in &self.0[..8] {
            write!(f, "{byte:02x}")?;
        }
        write!(f, "…)")
    }
}
