//! Typed errors of the end-to-end key layer.

/// Everything that can go wrong while agreeing on, rotating or using end-to-end keys.
///
/// Variants carry identifiers (versions, key ids, epochs, counters) but never key material
/// or payload bytes, so they are safe to log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum E2eeError {
    /// A handshake message is shorter or longer than its type requires.
    #[error("handshake message has {actual} bytes, expected {expected}")]
    MessageLength {
        /// Bytes the message type requires.
        expected: usize,
        /// Bytes received.
        actual: usize,
    },
    /// A handshake message is empty or names a protocol version this build does not speak.
    #[error("unsupported handshake version {0}")]
    UnsupportedVersion(u8),
    /// A handshake message has a type byte other than the one expected at this point.
    #[error("unexpected handshake message type {found} (expected {expected})")]
    UnexpectedMessage {
        /// The type byte that was expected.
        expected: u8,
        /// The type byte that was found.
        found: u8,
    },
    /// The peer asked for an SRTP protection profile this side does not support.
    #[error("unsupported SRTP suite id {0}")]
    UnsupportedSuite(u8),
    /// The answer names a different SRTP suite than the offer asked for.
    #[error("answer changed the SRTP suite")]
    SuiteMismatch,
    /// The peer's identity key is not the one the application vouched for.
    #[error("peer identity key does not match the expected identity")]
    IdentityMismatch,
    /// The revealed ephemeral key does not match the commitment made in the offer.
    #[error("ephemeral key does not match the offer's commitment")]
    CommitmentMismatch,
    /// The key-confirmation tag did not verify: the two sides hold different keys
    /// (a substituted key or a party in the middle).
    #[error("key confirmation failed: the peers derived different keys")]
    KeyConfirmationFailed,
    /// A Diffie-Hellman result was all zeros (a low-order public key was sent).
    #[error("peer sent a low-order (non-contributory) public key")]
    NonContributoryKey,
    /// The operating system's random number generator failed.
    #[error("random number generator failed")]
    Randomness,
    /// A packet names a key epoch the receiver does not hold.
    #[error("unknown key epoch {0}")]
    UnknownEpoch(u8),
    /// A packet names a previous key epoch whose overlap has ended.
    #[error("key epoch {0} has expired")]
    EpochExpired(u8),
    /// An SFrame frame is too short to hold its header and tag, or its header is malformed.
    #[error("SFrame frame is truncated or malformed")]
    MalformedFrame,
    /// An SFrame frame names a key id the receiver has no key for.
    #[error("unknown SFrame key id {0}")]
    UnknownKeyId(u64),
    /// The frame did not authenticate under the key its key id names (wrong key or tampering).
    #[error("SFrame frame under key id {0} failed authentication")]
    AuthenticationFailed(u64),
    /// A frame with this key id and counter was already accepted, or is too old to tell.
    #[error("replayed or too old SFrame frame (key id {kid}, counter {counter})")]
    Replayed {
        /// Key id of the frame.
        kid: u64,
        /// Frame counter of the frame.
        counter: u64,
    },
    /// A frame under a superseded key with a counter at or above the first one the sender
    /// used under a newer key: the sender never goes back, so someone else holds the key.
    #[error("SFrame frame under superseded key id {kid} at counter {counter}")]
    SupersededKey {
        /// The key id of the frame.
        kid: u64,
        /// Its frame counter.
        counter: u64,
    },
    /// A different key offered under a key id already installed.
    #[error("another SFrame key is already installed under key id {0}")]
    KeyIdReused(u64),
    /// The sender's frame counter is exhausted; it must not encrypt again under this key.
    #[error("SFrame frame counter exhausted")]
    CounterExhausted,
    /// The output buffer cannot hold the protected or unprotected frame.
    #[error("output buffer too small: need {needed} bytes")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
    },
    /// A sender id or key generation does not fit the key id layout.
    #[error("invalid SFrame key layout: {0}")]
    InvalidKeyLayout(&'static str),
}
