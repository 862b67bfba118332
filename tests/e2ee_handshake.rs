//! 1:1 key agreement: agreement, safety codes, a real man in the middle, wrong identities,
//! strict message parsing and redacted `Debug` output.

use ring::aead::Aad;
use sottovoce::e2ee::*;

/// Seals one "packet" the way SRTP AEAD does in spirit: AES-GCM under the master key with a
/// nonce of salt XOR sequence number. Enough to show who can and cannot open whose media.
fn seal(keys: &SrtpKeys, seq: u64, plaintext: &[u8]) -> Vec<u8> {
    let mut buffer = plaintext.to_vec();
    aead_key(keys)
        .seal_in_place_append_tag(nonce(keys, seq), Aad::from(seq.to_be_bytes()), &mut buffer)
        .expect("seal");
    buffer
}

fn open(keys: &SrtpKeys, seq: u64, ciphertext: &[u8]) -> Option<Vec<u8>> {
    let mut buffer = ciphertext.to_vec();
    let plain = aead_key(keys)
        .open_in_place(nonce(keys, seq), Aad::from(seq.to_be_bytes()), &mut buffer)
        .ok()?;
    Some(plain.to_vec())
}

#[path = "support/gcm_under_keys.rs"]
mod gcm_under_keys;
use gcm_under_keys::{aead_key, nonce};

struct Completed {
    offerer: CallKeys,
    answerer: CallKeys,
}

/// Runs the three messages through their wire form, as the app would carry them.
fn handshake(
    offerer: &IdentityKeyPair,
    answerer: &IdentityKeyPair,
    suite: SrtpSuite,
) -> Result<Completed, E2eeError> {
    let (offering, offer) = OfferingHandshake::start(offerer, answerer.public_key(), suite)?;
    let offer = Offer::decode(&offer.encode())?;
    let (answering, answer) = AnsweringHandshake::respond(answerer, offerer.public_key(), &offer)?;
    let (offerer_keys, confirm) = offering.finish(&Answer::decode(&answer.encode())?)?;
    let answerer_keys = answering.finish(&Confirm::decode(&confirm.encode())?)?;
    Ok(Completed { offerer: offerer_keys, answerer: answerer_keys })
}

#[test]
fn both_sides_derive_identical_keys_and_the_same_safety_code() {
    let alice = IdentityKeyPair::generate().unwrap();
    let bob = IdentityKeyPair::generate().unwrap();
    for suite in [SrtpSuite::AeadAes256Gcm, SrtpSuite::AeadAes128Gcm] {
        let call = handshake(&alice, &bob, suite).unwrap();
        assert_eq!(call.offerer.role(), Role::Offerer);
        assert_eq!(call.answerer.role(), Role::Answerer);
        assert_eq!(call.offerer.suite(), suite);
        assert_eq!(call.offerer.safety_code(), call.answerer.safety_code());
        assert_eq!(call.offerer.safety_code().digits().len(), 19); // "1234 5678 9012 3456"
        assert_eq!(call.offerer.safety_code().short_digits().len(), 7); // "123 456"

        let a_to_b = (call.offerer.outbound(), call.answerer.inbound());
        let b_to_a = (call.answerer.outbound(), call.offerer.inbound());
        for (send, receive) in [&a_to_b, &b_to_a] {
            assert_eq!(send.master_key(), receive.master_key());
            assert_eq!(send.master_salt(), receive.master_salt());
            assert_eq!(send.master_key().len(), suite.master_key_len());
            assert_eq!(send.suite(), suite);
        }
        // The two directions use independent keys and salts.
        assert_ne!(a_to_b.0.master_key(), b_to_a.0.master_key());
        assert_ne!(a_to_b.0.master_salt(), b_to_a.0.master_salt());

        let packet = seal(&a_to_b.0, 7, b"hello bob");
        assert_eq!(open(&a_to_b.1, 7, &packet).as_deref(), Some(&b"hello bob"[..]));
        assert_eq!(open(&b_to_a.1, 7, &packet), None, "wrong direction must not open");
    }
}

#[test]
fn every_call_gets_fresh_keys_and_a_fresh_code() {
    // Fresh ephemerals per call: the same two people never reuse keys (forward secrecy
    // rests on this — nothing long-term determines the keys).
    let alice = IdentityKeyPair::generate().unwrap();
    let bob = IdentityKeyPair::generate().unwrap();
    let first = handshake(&alice, &bob, SrtpSuite::default()).unwrap();
    let second = handshake(&alice, &bob, SrtpSuite::default()).unwrap();
    assert_ne!(first.offerer.outbound().master_key(), second.offerer.outbound().master_key());
    assert_ne!(first.offerer.safety_code(), second.offerer.safety_code());
}

/// Mallory sits between Alice and Bob. The service told Alice that Mallory's identity key is
/// Bob's and told Bob that Mallory's other key is Alice's, so both exchanges complete — the
/// strongest version of the attack. Only the safety code reveals it.
#[test]
fn man_in_the_middle_with_two_exchanges_gets_different_codes_and_unusable_media() {
    let alice = IdentityKeyPair::generate().unwrap();
    let bob = IdentityKeyPair::generate().unwrap();
    let mallory_as_bob = IdentityKeyPair::generate().unwrap();
    let mallory_as_alice = IdentityKeyPair::generate().unwrap();

    // Alice <-> Mallory (Alice believes mallory_as_bob is Bob).
    let (alice_hs, offer) =
        OfferingHandshake::start(&alice, mallory_as_bob.public_key(), SrtpSuite::default())
            .unwrap();
    let (mallory_answering, answer_to_alice) =
        AnsweringHandshake::respond(&mallory_as_bob, alice.public_key(), &offer).unwrap();

    // Mallory <-> Bob (Bob believes mallory_as_alice is Alice). Mallory completes this
    // side first, so she knows Bob's code before she answers Alice — the commitment in
    // Alice's offer is what stops her from searching for a matching code.
    let (mallory_offering, offer_to_bob) =
        OfferingHandshake::start(&mallory_as_alice, bob.public_key(), SrtpSuite::default())
            .unwrap();
    let (bob_hs, bob_answer) =
        AnsweringHandshake::respond(&bob, mallory_as_alice.public_key(), &offer_to_bob).unwrap();
    let (mallory_to_bob, confirm_to_bob) = mallory_offering.finish(&bob_answer).unwrap();
    let bob_keys = bob_hs.finish(&confirm_to_bob).unwrap();

    let (alice_keys, alice_confirm) = alice_hs.finish(&answer_to_alice).unwrap();
    let mallory_to_alice = mallory_answering.finish(&alice_confirm).unwrap();

    // Each leg agrees internally (Mallory really is in the middle)...
    assert_eq!(alice_keys.safety_code(), mallory_to_alice.safety_code());
    assert_eq!(bob_keys.safety_code(), mallory_to_bob.safety_code());
    // ...but Alice and Bob read different codes to each other.
    assert_ne!(alice_keys.safety_code(), bob_keys.safety_code());
    assert_ne!(alice_keys.safety_code().words(), bob_keys.safety_code().words());

    // Alice's media cannot be opened with Bob's keys and vice versa.
    let from_alice = seal(&alice_keys.outbound(), 1, b"secret from alice");
    assert_eq!(open(&bob_keys.inbound(), 1, &from_alice), None);
    let from_bob = seal(&bob_keys.outbound(), 1, b"secret from bob");
    assert_eq!(open(&alice_keys.inbound(), 1, &from_bob), None);
    // (Mallory can, which is exactly why the users compare codes.)
    assert!(open(&mallory_to_alice.inbound(), 1, &from_alice).is_some());
}

/// A relay that swaps the ephemeral key in Bob's answer for its own, without Bob's identity
/// secret, derives nothing useful: Bob refuses the confirm, and the keys on the two sides
/// differ so media cannot cross.
#[test]
fn substituted_ephemeral_key_is_detected_and_media_does_not_open() {
    let alice = IdentityKeyPair::generate().unwrap();
    let bob = IdentityKeyPair::generate().unwrap();
    let (alice_hs, offer) =
        OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::default()).unwrap();
    let (bob_hs, answer) = AnsweringHandshake::respond(&bob, alice.public_key(), &offer).unwrap();

    // The attacker's own ephemeral key pair.
    let attacker = IdentityKeyPair::generate().unwrap();
    let tampered = answer.with_ephemeral_public(*attacker.public_key().as_bytes());
    let (_alice_keys, confirm) = alice_hs.finish(&tampered).unwrap();

    match bob_hs.finish(&confirm) {
        Err(E2eeError::KeyConfirmationFailed) => {}
        other => panic!("expected KeyConfirmationFailed, got {other:?}"),
    }
    // Alice's side completed, but under keys nobody else holds: they mix X25519(EK_a, IK_b),
    // which needs Bob's identity secret, with the attacker's ephemeral, which Bob never saw.
    // Bob's refusal above is the typed signal.
}

#[test]
fn a_confirm_that_does_not_open_the_commitment_is_refused() {
    let alice = IdentityKeyPair::generate().unwrap();
    let bob = IdentityKeyPair::generate().unwrap();
    let (_alice_hs, offer) =
        OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::default()).unwrap();
    let (bob_hs, answer) = AnsweringHandshake::respond(&bob, alice.public_key(), &offer).unwrap();

    // A second run by Alice produces a valid-looking confirm for a different ephemeral key.
    let (other_hs, _) =
        OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::default()).unwrap();
    let (_, other_confirm) = other_hs.finish(&answer).unwrap();
    assert!(matches!(bob_hs.finish(&other_confirm), Err(E2eeError::CommitmentMismatch)));
}

#[test]
fn a_wrong_identity_is_refused_on_either_side() {
    let alice = IdentityKeyPair::generate().unwrap();
    let bob = IdentityKeyPair::generate().unwrap();
    let eve = IdentityKeyPair::generate().unwrap();

    // Bob expects Alice, but Eve sends the offer.
    let (_, eve_offer) =
        OfferingHandshake::start(&eve, bob.public_key(), SrtpSuite::default()).unwrap();
    assert!(matches!(
        AnsweringHandshake::respond(&bob, alice.public_key(), &eve_offer),
        Err(E2eeError::IdentityMismatch)
    ));

    // Alice expects Bob, but Eve answers.
    let (alice_hs, offer) =
        OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::default()).unwrap();
    let (_, eve_answer) = AnsweringHandshake::respond(&eve, alice.public_key(), &offer).unwrap();
    assert!(matches!(alice_hs.finish(&eve_answer), Err(E2eeError::IdentityMismatch)));
}

#[test]
fn a_low_order_ephemeral_key_is_refused() {
    let alice = IdentityKeyPair::generate().unwrap();
    let bob = IdentityKeyPair::generate().unwrap();
    let (alice_hs, offer) =
        OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::default()).unwrap();
    let (_, answer) = AnsweringHandshake::respond(&bob, alice.public_key(), &offer).unwrap();
    // The all-zero point has small order: every DH result with it is zero.
    let tampered = answer.with_ephemeral_public([0u8; 32]);
    assert!(matches!(alice_hs.finish(&tampered), Err(E2eeError::NonContributoryKey)));
}

#[test]
fn the_answer_cannot_change_the_suite() {
    let alice = IdentityKeyPair::generate().unwrap();
    let bob = IdentityKeyPair::generate().unwrap();
    let (alice_hs, offer) =
        OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::AeadAes256Gcm).unwrap();
    let (_, answer) = AnsweringHandshake::respond(&bob, alice.public_key(), &offer).unwrap();
    let mut bytes = answer.encode();
    bytes[2] = 2; // AEAD_AES_128_GCM
    let downgraded = Answer::decode(&bytes).unwrap();
    assert!(matches!(alice_hs.finish(&downgraded), Err(E2eeError::SuiteMismatch)));
}

#[test]
fn messages_parse_strictly_with_typed_errors() {
    let alice = IdentityKeyPair::generate().unwrap();
    let bob = IdentityKeyPair::generate().unwrap();
    let (alice_hs, offer) =
        OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::default()).unwrap();
    let (_, answer) = AnsweringHandshake::respond(&bob, alice.public_key(), &offer).unwrap();
    let (_, confirm) = alice_hs.finish(&answer).unwrap();

    let offer_bytes = offer.encode();
    assert_eq!(offer_bytes.len(), OFFER_LEN);
    assert_eq!(Offer::decode(&offer_bytes).unwrap(), offer);
    assert!(Offer::decode(&offer_bytes).unwrap().is_from(&alice.public_key()));
    assert!(!Offer::decode(&offer_bytes).unwrap().is_from(&bob.public_key()));
    assert!(Answer::decode(&answer.encode()).unwrap().is_from(&bob.public_key()));
    assert_eq!(Answer::decode(&answer.encode()).unwrap(), answer);
    assert_eq!(Confirm::decode(&confirm.encode()).unwrap(), confirm);

    // Every truncation and one extra byte are refused, never a panic.
    for len in 0..OFFER_LEN {
        assert!(Offer::decode(&offer_bytes[..len]).is_err(), "length {len}");
    }
    let mut long = offer_bytes.to_vec();
    long.push(0);
    assert_eq!(
        Offer::decode(&long),
        Err(E2eeError::MessageLength { expected: OFFER_LEN, actual: OFFER_LEN + 1 })
    );
    assert_eq!(
        Offer::decode(&[]),
        Err(E2eeError::MessageLength { expected: OFFER_LEN, actual: 0 })
    );

    let mut bad_version = offer_bytes;
    bad_version[0] = 2;
    assert_eq!(Offer::decode(&bad_version), Err(E2eeError::UnsupportedVersion(2)));

    let mut bad_suite = offer_bytes;
    bad_suite[2] = 9;
    assert_eq!(Offer::decode(&bad_suite), Err(E2eeError::UnsupportedSuite(9)));

    // An answer is not an offer, a confirm is not an answer.
    assert_eq!(
        Offer::decode(&answer.encode()),
        Err(E2eeError::UnexpectedMessage { expected: 1, found: 2 })
    );
    assert!(matches!(Answer::decode(&confirm.encode()), Err(E2eeError::UnexpectedMessage { .. })));
    for len in 0..CONFIRM_LEN {
        assert!(Confirm::decode(&confirm.encode()[..len]).is_err());
    }
    for len in 0..ANSWER_LEN {
        assert!(Answer::decode(&answer.encode()[..len]).is_err());
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn debug_output_never_contains_key_material() {
    let alice = IdentityKeyPair::generate().unwrap();
    let bob = IdentityKeyPair::generate().unwrap();
    let (alice_hs, offer) =
        OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::default()).unwrap();
    let alice_hs_debug = format!("{alice_hs:?}");
    let (bob_hs, answer) = AnsweringHandshake::respond(&bob, alice.public_key(), &offer).unwrap();
    let bob_hs_debug = format!("{bob_hs:?}");
    let (keys, confirm) = alice_hs.finish(&answer).unwrap();
    let bob_keys = bob_hs.finish(&confirm).unwrap();
    let (outbound, inbound) =
        bob_keys.into_ratchets(RekeyPolicy::default(), std::time::Instant::now());

    let secrets = [
        alice.secret_bytes().to_vec(),
        bob.secret_bytes().to_vec(),
        keys.outbound().master_key().to_vec(),
        keys.outbound().master_salt().to_vec(),
        keys.inbound().master_key().to_vec(),
    ];
    let printed = [
        format!("{alice:?}"),
        format!("{keys:?}"),
        format!("{:?}", keys.outbound()),
        format!("{outbound:?}"),
        format!("{inbound:?}"),
        alice_hs_debug,
        bob_hs_debug,
        format!("{}", E2eeError::KeyConfirmationFailed),
    ];
    for text in &printed {
        for secret in &secrets {
            assert!(!text.contains(&hex(secret)), "hex key material in {text}");
            assert!(!text.contains(&hex(&secret[..8])), "partial key material in {text}");
        }
    }
    assert!(format!("{:?}", keys.outbound()).contains("redacted"));
}

#[test]
fn identity_keys_round_trip_through_their_secret_bytes() {
    let alice = IdentityKeyPair::generate().unwrap();
    let restored = IdentityKeyPair::from_secret_bytes(&alice.secret_bytes());
    assert_eq!(restored.public_key(), alice.public_key());
    let bob = IdentityKeyPair::generate().unwrap();
    assert_ne!(bob.public_key(), alice.public_key());
    // A restored key pair completes a handshake the original started the relationship with.
    let call = handshake(&restored, &bob, SrtpSuite::default()).unwrap();
    assert_eq!(call.offerer.safety_code(), call.answerer.safety_code());
}

/// Review finding 6: the per-call safety code changes every call, so "compare once per
/// contact" needs a stable number: the identity fingerprint is the same on both phones,
/// the same for every call between the two, and different for any other pair of keys.
#[test]
fn the_identity_fingerprint_is_stable_across_calls_and_the_safety_code_is_not() {
    let alice = IdentityKeyPair::generate().unwrap();
    let bob = IdentityKeyPair::generate().unwrap();
    let mallory = IdentityKeyPair::generate().unwrap();
    let first = handshake(&alice, &bob, SrtpSuite::default()).unwrap();
    let second = handshake(&bob, &alice, SrtpSuite::default()).unwrap();
    assert_ne!(first.offerer.safety_code(), second.offerer.safety_code());
    let on_alice = IdentityFingerprint::between(&alice.public_key(), &bob.public_key());
    let on_bob = IdentityFingerprint::between(&bob.public_key(), &alice.public_key());
    assert_eq!(on_alice, on_bob);
    assert!(on_bob.matches(&on_alice.digits()));
    let with_mallory = IdentityFingerprint::between(&alice.public_key(), &mallory.public_key());
    assert_ne!(on_alice, with_mallory);
    assert!(!with_mallory.matches(&on_alice.to_string()));
}
