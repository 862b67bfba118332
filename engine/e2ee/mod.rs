//! End-to-end keys: nobody between the people on a call — relays, SFUs, the service — can
//! decrypt it, because every key comes from the endpoints.
//!
//! - **1:1 calls** ([`OfferingHandshake`], [`AnsweringHandshake`]): an identity-bound triple
//!   Diffie-Hellman over three small messages the application carries on its own channel,
//!   yielding per-direction SRTP master keys ([`SrtpKeys`], `AEAD_AES_256_GCM` by default)
//!   and a per-call [`SafetyCode`] both people can read aloud; the
//!   [`IdentityFingerprint`] over both identity keys is the stable number to compare once
//!   per contact.
//! - **Re-keying** ([`OutboundKeys`], [`InboundKeys`]): a per-direction hash ratchet; the key
//!   epoch travels with each packet and the previous epoch stays valid for a bounded overlap,
//!   so the switch-over loses nothing. Sans-IO: time comes in as `now`.
//! - **Group calls** ([`SframeSender`], [`SframeReceiver`]): SFrame (RFC 9605, via the
//!   `sframe` crate, which passes the RFC's test vectors) on encoded frames before
//!   packetization, per-sender keys that ratchet on join and are replaced on leave, and a
//!   replay window per key.
//!
//! The threat model and key schedule are in `docs/security.md`.
//!
//! ```
//! use std::time::Instant;
//! use sottovoce::e2ee::*;
//!
//! let alice = IdentityKeyPair::generate()?;
//! let bob = IdentityKeyPair::generate()?;
//!
//! // Each message is a few dozen bytes, carried by the app over its own encrypted channel.
//! let (alice_hs, offer) = OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::default())?;
//! let offer = Offer::decode(&offer.encode())?;
//! let (bob_hs, answer) = AnsweringHandshake::respond(&bob, alice.public_key(), &offer)?;
//! let (alice_keys, confirm) = alice_hs.finish(&Answer::decode(&answer.encode())?)?;
//! let bob_keys = bob_hs.finish(&Confirm::decode(&confirm.encode())?)?;
//!
//! assert_eq!(alice_keys.safety_code(), bob_keys.safety_code()); // read aloud
//! assert_eq!(alice_keys.outbound().master_key(), bob_keys.inbound().master_key());
//!
//! let (mut send, _) = alice_keys.into_ratchets(RekeyPolicy::default(), Instant::now());
//! let (epoch, srtp_keys) = send.keys_for_next_packet(Instant::now());
//! assert_eq!((epoch, srtp_keys.suite()), (0, SrtpSuite::AeadAes256Gcm));
//! # Ok::<(), E2eeError>(())
//! ```

mod error;
mod fingerprint;
mod group;
mod handshake;
mod identity;
mod rekey;
mod safety_code;
mod srtp_keys;

pub use error::E2eeError;
pub use fingerprint::{FINGERPRINT_ITERATIONS, IdentityFingerprint};
pub use group::{
    FrameHeader, MAX_SENDER_ID, RETIRE_OLD_GENERATION_AFTER_FRAMES, SframeKeyMaterial,
    SframeReceiver, SframeSender, SframeStats, SframeSuite, key_id, peek_header,
};
pub use handshake::{
    ANSWER_LEN, Answer, AnsweringHandshake, CONFIRM_LEN, CallKeys, Confirm, OFFER_LEN, Offer,
    OfferingHandshake, PROTOCOL_VERSION, Role,
};
pub use identity::{IdentityKeyPair, IdentityPublicKey};
pub use rekey::{InboundKeys, OutboundKeys, RekeyPolicy};
pub use safety_code::{SAFETY_CODE_BITS, SafetyCode};
pub use srtp_keys::{SrtpKeys, SrtpSuite};
