//! 1:1 key agreement without DTLS: identity-bound triple Diffie-Hellman over three small
//! messages the application carries over its own (already end-to-end encrypted) channel.
//!
//! ```text
//!  offerer (A)                                              answerer (B)
//!  IK_a: identity, EK_a: fresh ephemeral                    IK_b, EK_b
//!
//!  Offer   = v1 | 1 | suite | IK_a | H("commit" | IK_a | EK_a)  ──▶  check IK_a == expected
//!                                    ◀──  Answer  = v1 | 2 | suite | IK_b | EK_b
//!  check IK_b == expected, suite
//!  derive keys                                                       
//!  Confirm = v1 | 3 | EK_a | tag                               ──▶  check commitment,
//!                                                                   derive keys, check tag
//!
//!  DH1 = X25519(IK_a, EK_b)   DH2 = X25519(EK_a, IK_b)   DH3 = X25519(EK_a, EK_b)
//!  TH  = SHA-256("sottovoce e2ee v1 transcript" | Offer | Answer | EK_a)
//!  PRK = HKDF-Extract(salt = TH, DH1 | DH2 | DH3)                      (HKDF-SHA256)
//!  chain A→B = Expand(PRK, "a->b chain")    chain B→A = Expand(PRK, "b->a chain")
//!  safety code = Expand(PRK, "safety code", 8)    tag = Expand(PRK, "confirm", 32)
//! ```
//!
//! Why this shape:
//! - **Static X25519 identities + triple DH** (rather than Ed25519 signatures over the
//!   ephemeral keys): one primitive, no signatures that prove to third parties who talked
//!   (deniability), and implicit authentication — only the holders of `IK_a` and `IK_b`
//!   can compute DH1 and DH2, so anyone who substitutes a key ends up with different keys.
//!   DH2 involves the answerer's identity and DH1 the offerer's, so a stolen key of one side
//!   does not let an attacker impersonate the *other* side to it.
//! - **Forward secrecy**: DH3 depends only on ephemeral secrets, which are erased once the
//!   keys are derived; a long-term key stolen later does not open recorded calls.
//! - **Commitment in the offer**: the offerer reveals `EK_a` only after it has seen `EK_b`,
//!   so an attacker in the middle cannot grind its own ephemeral keys until both people's
//!   safety codes match offline (the ZRTP hash-commitment trick): each attempt costs a whole
//!   handshake. An attacker playing the offerer can still abandon and retry online, which is
//!   why the code is 52 bits by default and apps must rate-limit handshakes (see
//!   [`SafetyCode`]).
//! - **Key confirmation**: the answerer learns at once (typed error) if the offerer derived
//!   different keys; the offerer learns it from the first media packet that fails to open.

use std::fmt;
use std::time::Instant;

use hkdf::Hkdf;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use x25519_dalek::{PublicKey, SharedSecret, StaticSecret};
use zeroize::Zeroizing;

use super::rekey::{ChainKey, InboundKeys, OutboundKeys, RekeyPolicy};
use super::safety_code::{SAFETY_CODE_BYTES, SafetyCode};
use super::{E2eeError, IdentityKeyPair, IdentityPublicKey, SrtpKeys, SrtpSuite};

/// Version byte of every handshake message this build sends and accepts.
pub const PROTOCOL_VERSION: u8 = 1;

const TYPE_OFFER: u8 = 1;
const TYPE_ANSWER: u8 = 2;
const TYPE_CONFIRM: u8 = 3;

const DOMAIN_COMMIT: &[u8] = b"sottovoce e2ee v1 commit";
const DOMAIN_TRANSCRIPT: &[u8] = b"sottovoce e2ee v1 transcript";
const LABEL_CHAIN_OFFERER_TO_ANSWERER: &[u8] = b"sottovoce e2ee v1 a->b chain";
const LABEL_CHAIN_ANSWERER_TO_OFFERER: &[u8] = b"sottovoce e2ee v1 b->a chain";
const LABEL_SAFETY_CODE: &[u8] = b"sottovoce e2ee v1 safety code";
const LABEL_CONFIRM: &[u8] = b"sottovoce e2ee v1 confirm";

/// Encoded size of an [`Offer`].
pub const OFFER_LEN: usize = 3 + 32 + 32;
/// Encoded size of an [`Answer`].
pub const ANSWER_LEN: usize = 3 + 32 + 32;
/// Encoded size of a [`Confirm`].
pub const CONFIRM_LEN: usize = 2 + 32 + 32;

/// Checks version, type and exact length; returns the body after the two-byte prefix.
fn parse_prefix(bytes: &[u8], expected_type: u8, expected_len: usize) -> Result<&[u8], E2eeError> {
    let (&version, rest) = bytes
        .split_first()
        .ok_or(E2eeError::MessageLength { expected: expected_len, actual: 0 })?;
    if version != PROTOCOL_VERSION {
        return Err(E2eeError::UnsupportedVersion(version));
    }
    let (&message_type, body) = rest
        .split_first()
        .ok_or(E2eeError::MessageLength { expected: expected_len, actual: bytes.len() })?;
    if message_type != expected_type {
        return Err(E2eeError::UnexpectedMessage { expected: expected_type, found: message_type });
    }
    if bytes.len() != expected_len {
        return Err(E2eeError::MessageLength { expected: expected_len, actual: bytes.len() });
    }
    Ok(body)
}

fn array32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(&bytes[..32]);
    out
}

/// First message, offerer → answerer: the offerer's identity, the SRTP suite it wants and a
/// commitment to its ephemeral key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    suite: SrtpSuite,
    identity: IdentityPublicKey,
    commitment: [u8; 32],
}

impl Offer {
    /// The wire form (67 bytes).
    pub fn encode(&self) -> [u8; OFFER_LEN] {
        let mut out = [0u8; OFFER_LEN];
        out[0] = PROTOCOL_VERSION;
        out[1] = TYPE_OFFER;
        out[2] = self.suite.wire_id();
        out[3..35].copy_from_slice(self.identity.as_bytes());
        out[35..67].copy_from_slice(&self.commitment);
        out
    }

    /// Parses the wire form strictly: exact length, known version, type and suite.
    pub fn decode(bytes: &[u8]) -> Result<Self, E2eeError> {
        let body = parse_prefix(bytes, TYPE_OFFER, OFFER_LEN)?;
        let suite = SrtpSuite::from_wire_id(body[0]).ok_or(E2eeError::UnsupportedSuite(body[0]))?;
        Ok(Self {
            suite,
            identity: IdentityPublicKey::from_bytes(array32(&body[1..33])),
            commitment: array32(&body[33..65]),
        })
    }

    /// Whether the offer comes from `expected`, the identity the app holds for the contact
    /// its signalling says is calling (constant time).
    ///
    /// There is deliberately no accessor for the identity an offer claims: an app that
    /// passed it on as the "expected" identity would accept anyone. Look the contact's key
    /// up in the app's own directory, then ask this (or let
    /// [`AnsweringHandshake::respond`] check it).
    pub fn is_from(&self, expected: &IdentityPublicKey) -> bool {
        self.identity.ct_eq(expected)
    }

    /// The SRTP suite the offerer asks for.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }
}

/// Second message, answerer → offerer: the answerer's identity and ephemeral key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Answer {
    suite: SrtpSuite,
    identity: IdentityPublicKey,
    ephemeral: [u8; 32],
}

impl Answer {
    /// The wire form (67 bytes).
    pub fn encode(&self) -> [u8; ANSWER_LEN] {
        let mut out = [0u8; ANSWER_LEN];
        out[0] = PROTOCOL_VERSION;
        out[1] = TYPE_ANSWER;
        out[2] = self.suite.wire_id();
        out[3..35].copy_from_slice(self.identity.as_bytes());
        out[35..67].copy_from_slice(&self.ephemeral);
        out
    }

    /// Parses the wire form strictly: exact length, known version, type and suite.
    pub fn decode(bytes: &[u8]) -> Result<Self, E2eeError> {
        let body = parse_prefix(bytes, TYPE_ANSWER, ANSWER_LEN)?;
        let suite = SrtpSuite::from_wire_id(body[0]).ok_or(E2eeError::UnsupportedSuite(body[0]))?;
        Ok(Self {
            suite,
            identity: IdentityPublicKey::from_bytes(array32(&body[1..33])),
            ephemeral: array32(&body[33..65]),
        })
    }

    /// Whether the answer comes from `expected` (constant time); see [`Offer::is_from`].
    pub fn is_from(&self, expected: &IdentityPublicKey) -> bool {
        self.identity.ct_eq(expected)
    }

    /// The answerer's ephemeral public key (public; exposed for tests and diagnostics).
    pub fn ephemeral_public(&self) -> [u8; 32] {
        self.ephemeral
    }

    /// Replaces the ephemeral public key. Only useful to simulate an attacker in tests.
    #[cfg(any(test, feature = "testing"))]
    pub fn with_ephemeral_public(mut self, ephemeral: [u8; 32]) -> Self {
        self.ephemeral = ephemeral;
        self
    }
}

/// Third message, offerer → answerer: the offerer's ephemeral key (opening the commitment)
/// and a key-confirmation tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Confirm {
    ephemeral: [u8; 32],
    tag: [u8; 32],
}

impl Confirm {
    /// The wire form (66 bytes).
    pub fn encode(&self) -> [u8; CONFIRM_LEN] {
        let mut out = [0u8; CONFIRM_LEN];
        out[0] = PROTOCOL_VERSION;
        out[1] = TYPE_CONFIRM;
        out[2..34].copy_from_slice(&self.ephemeral);
        out[34..66].copy_from_slice(&self.tag);
        out
    }

    /// Parses the wire form strictly: exact length, known version and type.
    pub fn decode(bytes: &[u8]) -> Result<Self, E2eeError> {
        let body = parse_prefix(bytes, TYPE_CONFIRM, CONFIRM_LEN)?;
        Ok(Self { ephemeral: array32(&body[0..32]), tag: array32(&body[32..64]) })
    }
}

/// Which end of the handshake a side played; decides which chain it sends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Sent the offer.
    Offerer,
    /// Sent the answer.
    Answerer,
}

fn commitment(identity: &IdentityPublicKey, ephemeral: &PublicKey) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(DOMAIN_COMMIT);
    hash.update(identity.as_bytes());
    hash.update(ephemeral.as_bytes());
    hash.finalize().into()
}

fn contributory(shared: SharedSecret) -> Result<SharedSecret, E2eeError> {
    if shared.was_contributory() { Ok(shared) } else { Err(E2eeError::NonContributoryKey) }
}

fn new_ephemeral() -> Result<(StaticSecret, PublicKey), E2eeError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut_slice()).map_err(|_| E2eeError::Randomness)?;
    let secret = StaticSecret::from(*bytes);
    let public = PublicKey::from(&secret);
    Ok((secret, public))
}

/// Everything both sides derive from one handshake.
struct Derived {
    offerer_to_answerer: Zeroizing<[u8; 32]>,
    answerer_to_offerer: Zeroizing<[u8; 32]>,
    safety_code: SafetyCode,
    confirm_tag: Zeroizing<[u8; 32]>,
}

fn derive(
    offer: &Offer,
    answer: &Answer,
    offerer_ephemeral: &PublicKey,
    dh: [SharedSecret; 3],
) -> Result<Derived, E2eeError> {
    let mut ikm = Zeroizing::new([0u8; 96]);
    for (chunk, shared) in ikm.chunks_exact_mut(32).zip(dh) {
        chunk.copy_from_slice(contributory(shared)?.as_bytes());
    }
    let mut transcript = Sha256::new();
    transcript.update(DOMAIN_TRANSCRIPT);
    transcript.update(offer.encode());
    transcript.update(answer.encode());
    transcript.update(offerer_ephemeral.as_bytes());
    let transcript_hash = transcript.finalize();

    let hkdf = Hkdf::<Sha256>::new(Some(transcript_hash.as_slice()), ikm.as_slice());
    let mut derived = Derived {
        offerer_to_answerer: Zeroizing::new([0u8; 32]),
        answerer_to_offerer: Zeroizing::new([0u8; 32]),
        safety_code: SafetyCode::from_bytes([0; SAFETY_CODE_BYTES]),
        confirm_tag: Zeroizing::new([0u8; 32]),
    };
    let mut code = [0u8; SAFETY_CODE_BYTES];
    // All outputs are far below HKDF-SHA256's 8160-byte limit, so expansion cannot fail.
    let expansions: [(&[u8], &mut [u8]); 4] = [
        (LABEL_CHAIN_OFFERER_TO_ANSWERER, derived.offerer_to_answerer.as_mut_slice()),
        (LABEL_CHAIN_ANSWERER_TO_OFFERER, derived.answerer_to_offerer.as_mut_slice()),
        (LABEL_SAFETY_CODE, &mut code),
        (LABEL_CONFIRM, derived.confirm_tag.as_mut_slice()),
    ];
    for (label, out) in expansions {
        hkdf.expand(label, out).expect("short HKDF output");
    }
    derived.safety_code = SafetyCode::from_bytes(code);
    Ok(derived)
}

/// The offerer's half of a handshake, between sending the offer and receiving the answer.
pub struct OfferingHandshake {
    identity: IdentityKeyPair,
    expected_peer: IdentityPublicKey,
    ephemeral: StaticSecret,
    ephemeral_public: PublicKey,
    offer: Offer,
}

impl OfferingHandshake {
    /// Starts a call: makes a fresh ephemeral key and the [`Offer`] to send.
    ///
    /// `expected_peer` is the identity the application vouches for (from its contact
    /// directory, verified by the users through the [`IdentityFingerprint`]); an answer
    /// from any other identity is refused.
    ///
    /// A handshake that is started and never finished (the answer never comes, or the
    /// confirm fails) is what an attacker who grinds for a matching safety code produces.
    /// Apps should rate-limit handshakes per contact and show abandoned ones to the user.
    ///
    /// [`IdentityFingerprint`]: super::IdentityFingerprint
    pub fn start(
        identity: &IdentityKeyPair,
        expected_peer: IdentityPublicKey,
        suite: SrtpSuite,
    ) -> Result<(Self, Offer), E2eeError> {
        let (ephemeral, ephemeral_public) = new_ephemeral()?;
        let offer = Offer {
            suite,
            identity: identity.public_key(),
            commitment: commitment(&identity.public_key(), &ephemeral_public),
        };
        let handshake =
            Self { identity: identity.clone(), expected_peer, ephemeral, ephemeral_public, offer };
        Ok((handshake, offer))
    }

    /// Takes the answer, derives the call keys and returns the [`Confirm`] to send.
    ///
    /// The ephemeral secret is erased when this returns, whatever the outcome.
    pub fn finish(self, answer: &Answer) -> Result<(CallKeys, Confirm), E2eeError> {
        if !answer.identity.ct_eq(&self.expected_peer) {
            return Err(E2eeError::IdentityMismatch);
        }
        if answer.suite != self.offer.suite {
            return Err(E2eeError::SuiteMismatch);
        }
        let peer_identity = self.expected_peer.to_dalek();
        let peer_ephemeral = PublicKey::from(answer.ephemeral);
        let dh = [
            self.identity.secret().diffie_hellman(&peer_ephemeral),
            self.ephemeral.diffie_hellman(&peer_identity),
            self.ephemeral.diffie_hellman(&peer_ephemeral),
        ];
        let derived = derive(&self.offer, answer, &self.ephemeral_public, dh)?;
        let confirm =
            Confirm { ephemeral: self.ephemeral_public.to_bytes(), tag: *derived.confirm_tag };
        Ok((CallKeys::new(Role::Offerer, self.offer.suite, derived), confirm))
    }
}

impl fmt::Debug for OfferingHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OfferingHandshake")
            .field("identity", &self.identity.public_key())
            .field("expected_peer", &self.expected_peer)
            .finish_non_exhaustive()
    }
}

/// The answerer's half of a handshake, between sending the answer and receiving the confirm.
pub struct AnsweringHandshake {
    identity: IdentityKeyPair,
    ephemeral: StaticSecret,
    offer: Offer,
    answer: Answer,
}

impl AnsweringHandshake {
    /// Takes an offer from the expected peer and returns the [`Answer`] to send.
    ///
    /// Fails with [`E2eeError::IdentityMismatch`] if the offer comes from another identity,
    /// and with [`E2eeError::UnsupportedSuite`] already at [`Offer::decode`].
    pub fn respond(
        identity: &IdentityKeyPair,
        expected_peer: IdentityPublicKey,
        offer: &Offer,
    ) -> Result<(Self, Answer), E2eeError> {
        if !offer.identity.ct_eq(&expected_peer) {
            return Err(E2eeError::IdentityMismatch);
        }
        let (ephemeral, ephemeral_public) = new_ephemeral()?;
        let answer = Answer {
            suite: offer.suite,
            identity: identity.public_key(),
            ephemeral: ephemeral_public.to_bytes(),
        };
        let handshake = Self { identity: identity.clone(), ephemeral, offer: *offer, answer };
        Ok((handshake, answer))
    }

    /// Takes the confirm, checks the commitment and the key-confirmation tag, and returns
    /// the call keys.
    pub fn finish(self, confirm: &Confirm) -> Result<CallKeys, E2eeError> {
        let offerer_ephemeral = PublicKey::from(confirm.ephemeral);
        let expected_commitment = commitment(&self.offer.identity, &offerer_ephemeral);
        if !bool::from(expected_commitment.ct_eq(&self.offer.commitment)) {
            return Err(E2eeError::CommitmentMismatch);
        }
        let offerer_identity = self.offer.identity.to_dalek();
        let dh = [
            self.ephemeral.diffie_hellman(&offerer_identity),
            self.identity.secret().diffie_hellman(&offerer_ephemeral),
            self.ephemeral.diffie_hellman(&offerer_ephemeral),
        ];
        let derived = derive(&self.offer, &self.answer, &offerer_ephemeral, dh)?;
        if !bool::from(derived.confirm_tag.ct_eq(&confirm.tag)) {
            return Err(E2eeError::KeyConfirmationFailed);
        }
        Ok(CallKeys::new(Role::Answerer, self.offer.suite, derived))
    }
}

impl fmt::Debug for AnsweringHandshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnsweringHandshake")
            .field("identity", &self.identity.public_key())
            .field("peer", &self.offer.identity)
            .finish_non_exhaustive()
    }
}

/// The outcome of a handshake: a chain key per direction and the safety code.
///
/// Hand the epoch-0 [`SrtpKeys`] to the SRTP session directly ([`CallKeys::outbound`],
/// [`CallKeys::inbound`]), or turn the chains into re-keying state with
/// [`CallKeys::into_ratchets`]. Chain keys are wiped on drop.
pub struct CallKeys {
    role: Role,
    suite: SrtpSuite,
    outbound: Zeroizing<[u8; 32]>,
    inbound: Zeroizing<[u8; 32]>,
    safety_code: SafetyCode,
}

impl CallKeys {
    fn new(role: Role, suite: SrtpSuite, derived: Derived) -> Self {
        let (outbound, inbound) = match role {
            Role::Offerer => (derived.offerer_to_answerer, derived.answerer_to_offerer),
            Role::Answerer => (derived.answerer_to_offerer, derived.offerer_to_answerer),
        };
        Self { role, suite, outbound, inbound, safety_code: derived.safety_code }
    }

    /// Which end of the handshake this side played.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The SRTP suite both sides agreed on.
    pub fn suite(&self) -> SrtpSuite {
        self.suite
    }

    /// The code both people read aloud to rule out a party in the middle.
    pub fn safety_code(&self) -> SafetyCode {
        self.safety_code
    }

    /// Epoch-0 SRTP keys for what this side sends.
    pub fn outbound(&self) -> SrtpKeys {
        ChainKey::new(self.suite, self.outbound.clone()).srtp_keys()
    }

    /// Epoch-0 SRTP keys for what this side receives.
    pub fn inbound(&self) -> SrtpKeys {
        ChainKey::new(self.suite, self.inbound.clone()).srtp_keys()
    }

    /// Re-keying state for both directions, starting at epoch 0 at `now`.
    pub fn into_ratchets(self, policy: RekeyPolicy, now: Instant) -> (OutboundKeys, InboundKeys) {
        (
            OutboundKeys::new(ChainKey::new(self.suite, self.outbound.clone()), policy, now),
            InboundKeys::new(ChainKey::new(self.suite, self.inbound.clone()), policy),
        )
    }
}

impl fmt::Debug for CallKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallKeys")
            .field("role", &self.role)
            .field("suite", &self.suite)
            .field("safety_code", &self.safety_code)
            .finish_non_exhaustive()
    }
}
