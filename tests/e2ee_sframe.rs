//! SFrame for group calls: RFC 9605 test vectors, an SFU that cannot read, rotation on
//! join and leave, late frames, and typed, counted rejections.

use sframe::header::SframeHeader;
use sottovoce::e2ee::*;

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap()).collect()
}

/// RFC 9605 Appendix C.5 (identical in the sframe-wg test vector JSON): both AES-GCM
/// suites, KID 0x123, CTR 0x4567, metadata "IETF SFrame WG", plaintext
/// "draft-ietf-sframe-enc". The expected ciphertexts are copied from the RFC.
const RFC_VECTORS: [(SframeSuite, &str); 2] = [
    (
        SframeSuite::AesGcm128Sha256,
        "9901234567b7412c2513a1b66dbb48841bbaf17f598751176ad847681a69c6d0b091c07018ce4adb34eb",
    ),
    (
        SframeSuite::AesGcm256Sha512,
        "990123456794f509d36e9beacb0e261d99c7d1e972f1fed787d4049f17ca21353c1cc24d56ceabced279",
    ),
];
const RFC_BASE_KEY: &str = "000102030405060708090a0b0c0d0e0f";
const RFC_METADATA: &str = "4945544620534672616d65205747";
const RFC_PLAINTEXT: &str = "64726166742d696574662d736672616d652d656e63";

#[test]
fn rfc_9605_encryption_vectors_pass_for_both_aes_gcm_suites() {
    for (suite, expected) in RFC_VECTORS {
        // KID 0x123 in our layout: sender 0, generation 1, ratchet step 0x23.
        let material =
            SframeKeyMaterial::from_parts(suite, 0, 0x01, 0x23, &unhex(RFC_BASE_KEY)).unwrap();
        assert_eq!(material.key_id(), 0x123);
        let mut sender = SframeSender::for_test_vectors(material.clone(), 0x4567).unwrap();
        let mut wire = Vec::new();
        sender.protect(&unhex(RFC_PLAINTEXT), &unhex(RFC_METADATA), &mut wire).unwrap();
        assert_eq!(wire, unhex(expected), "{suite:?} ciphertext");

        let mut receiver = SframeReceiver::new(2);
        receiver.install(material).unwrap();
        let mut plain = Vec::new();
        let opened =
            receiver.unprotect(&unhex(expected), &unhex(RFC_METADATA), &mut plain).unwrap();
        assert_eq!(opened, unhex(RFC_PLAINTEXT));
        // The metadata is authenticated: other metadata, and the frame does not open.
        let mut other = Vec::new();
        let mut fresh = SframeReceiver::new(2);
        fresh
            .install(
                SframeKeyMaterial::from_parts(suite, 0, 1, 0x23, &unhex(RFC_BASE_KEY)).unwrap(),
            )
            .unwrap();
        assert_eq!(
            fresh.unprotect(&unhex(expected), b"IETF SFrame WH", &mut other),
            Err(E2eeError::AuthenticationFailed(0x123))
        );
    }
}

/// A sample of RFC 9605 Appendix C.1 header vectors (KID, CTR, encoding), spread over all
/// field lengths, checked against the header codec our frames go through.
#[test]
fn rfc_9605_header_vectors_pass() {
    let vectors: [(u64, u64, &str); 24] = [
        (0, 0, "00"),
        (0, 281474976710656, "0e01000000000000"),
        (1, 4294967296, "1c0100000000"),
        (255, 65536, "8aff010000"),
        (256, 1, "910100"),
        (256, 72057594037927935, "9e0100ffffffffffffff"),
        (65535, 1099511627775, "9cffffffffffffff"),
        (65536, 16777215, "aa010000ffffff"),
        (16777215, 255, "a8ffffffff"),
        (16777215, 72057594037927936, "afffffff0100000000000000"),
        (16777216, 1099511627776, "bd01000000010000000000"),
        (4294967295, 16777216, "bbffffffff01000000"),
        (4294967296, 256, "c901000000000100"),
        (4294967296, 18446744073709551615, "cf0100000000ffffffffffffffff"),
        (1099511627775, 281474976710655, "cdffffffffffffffffffffff"),
        (1099511627776, 4294967295, "db010000000000ffffffff"),
        (281474976710655, 65535, "d9ffffffffffffffff"),
        (281474976710656, 0, "e001000000000000"),
        (281474976710656, 281474976710656, "ee0100000000000001000000000000"),
        (72057594037927935, 4294967296, "ecffffffffffffff0100000000"),
        (72057594037927936, 65536, "fa0100000000000000010000"),
        (18446744073709551615, 1, "f1ffffffffffffffff"),
        (18446744073709551615, 72057594037927935, "feffffffffffffffffffffffffffffff"),
        (18446744073709551615, 18446744073709551615, "ffffffffffffffffffffffffffffffffff"),
    ];
    for (kid, ctr, encoded) in vectors {
        let header = SframeHeader::new(kid, ctr);
        let mut bytes = vec![0u8; header.len()];
        header.serialize(&mut bytes).unwrap();
        assert_eq!(bytes, unhex(encoded), "kid {kid} ctr {ctr}");
        let parsed = SframeHeader::deserialize(unhex(encoded)).unwrap();
        assert_eq!((parsed.key_id(), parsed.counter()), (kid, ctr));
        // Our allocation-free reader (used on the receive path and by SFUs) agrees.
        let bytes = unhex(encoded);
        assert_eq!(
            peek_header(&bytes),
            Ok(FrameHeader { key_id: kid, counter: ctr, len: bytes.len() }),
            "kid {kid} ctr {ctr}"
        );
        for len in 0..bytes.len() {
            assert_eq!(peek_header(&bytes[..len]), Err(E2eeError::MalformedFrame));
        }
    }
}

/// Our own frames carry the header the RFC prescribes for our KID and counter.
#[test]
fn protected_frames_start_with_the_rfc_header_for_kid_and_counter() {
    let material =
        SframeKeyMaterial::from_parts(SframeSuite::default(), 0x0102, 3, 4, &[7; 64]).unwrap();
    let mut sender = SframeSender::for_test_vectors(material, 300).unwrap();
    let mut wire = Vec::new();
    sender.protect(b"frame", &[], &mut wire).unwrap();
    let header = SframeHeader::deserialize(&wire).unwrap();
    assert_eq!((header.key_id(), header.counter()), (0x0102_0304, 300));
    assert_eq!(wire.len(), header.len() + 5 + 16);
    assert_eq!(sender.next_counter(), 301);
}

struct Member {
    sender: SframeSender,
    receiver: SframeReceiver,
}

impl Member {
    fn new(id: u64) -> Self {
        Self {
            sender: SframeSender::new(id, SframeSuite::default()).unwrap(),
            receiver: SframeReceiver::new(3),
        }
    }
}

/// A frame of recognisable "media": the plaintext repeats a marker the SFU could spot.
fn video_frame(tag: u8, len: usize) -> Vec<u8> {
    let mut frame = b"KEYFRAME-SECRET-".repeat(len / 16 + 1);
    frame.truncate(len);
    frame[0] = tag;
    frame
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// What an SFU sees and does: it reads the SFrame header (to route by KID), forwards bytes,
/// and holds no key. Its best attempts at reading fail.
#[test]
fn an_sfu_forwarding_frames_cannot_read_any_payload() {
    let mut alice = Member::new(1);
    let mut bob = Member::new(2);
    let mut carol = Member::new(3);
    // Keys travel over the members' 1:1 encrypted channels, never through the SFU.
    for (from, to) in [(1, 2), (1, 3), (2, 1), (2, 3), (3, 1), (3, 2)] {
        let material = [&alice, &bob, &carol][from as usize - 1].sender.key_material();
        [&mut alice, &mut bob, &mut carol][to as usize - 1].receiver.install(material).unwrap();
    }

    // The SFU's own receiver: it has guessed keys for every KID it sees — random ones.
    let mut plain = Vec::new();
    let mut wire = Vec::new();
    for (i, size) in [120usize, 1_200, 30_000].into_iter().enumerate() {
        let frame = video_frame(i as u8, size);
        let metadata = [0x80, 0x60, i as u8]; // e.g. RTP header bytes the SFU may read
        alice.sender.protect(&frame, &metadata, &mut wire).unwrap();

        // SFU view: header and sizes only.
        let header = SframeHeader::deserialize(&wire).unwrap();
        assert_eq!(header.key_id() >> 16, 1, "the SFU can route by sender");
        assert!(!contains(&wire, b"KEYFRAME-SECRET"), "plaintext visible to the SFU");
        assert!(!contains(&wire, &frame[1..17]));
        assert_eq!(wire.len(), header.len() + size + 16, "the SFU does learn the size");
        // A guessed key (a receiver holds one key per key id, so each guess needs its own).
        let guess =
            SframeKeyMaterial::from_parts(SframeSuite::default(), 1, 0, 0, &[i as u8; 64]).unwrap();
        let mut sfu = SframeReceiver::new(3);
        sfu.install(guess).unwrap();
        assert_eq!(
            sfu.unprotect(&wire, &metadata, &mut plain),
            Err(E2eeError::AuthenticationFailed(header.key_id()))
        );
        assert_eq!(sfu.stats().accepted, 0);
        assert_eq!(sfu.stats().authentication_failed, 1);

        // Members read it; forwarded bytes are unchanged.
        for member in [&mut bob, &mut carol] {
            assert_eq!(
                member.receiver.unprotect(&wire, &metadata, &mut plain).unwrap(),
                &frame[..]
            );
        }
    }
    assert_eq!(bob.receiver.stats().accepted, 3);

    // An SFU that tampers with a forwarded frame is caught, not decoded into garbage.
    let frame = video_frame(9, 500);
    alice.sender.protect(&frame, &[], &mut wire).unwrap();
    let mut tampered = wire.clone();
    let last = tampered.len() - 20;
    tampered[last] ^= 1;
    assert!(matches!(
        bob.receiver.unprotect(&tampered, &[], &mut plain),
        Err(E2eeError::AuthenticationFailed(_))
    ));
    assert_eq!(bob.receiver.unprotect(&wire, &[], &mut plain).unwrap(), &frame[..]);
}

#[test]
fn a_member_who_left_cannot_decrypt_frames_sent_after_the_rotation() {
    let mut alice = Member::new(1);
    let mut bob = Member::new(2);
    let mut carol = Member::new(3);
    bob.receiver.install(alice.sender.key_material()).unwrap();
    carol.receiver.install(alice.sender.key_material()).unwrap();

    let mut wire = Vec::new();
    let mut plain = Vec::new();
    alice.sender.protect(b"before carol left", &[], &mut wire).unwrap();
    assert_eq!(carol.receiver.unprotect(&wire, &[], &mut plain).unwrap(), b"before carol left");
    let before = wire.clone();

    // Carol leaves. Alice makes a fresh key, gives it to Bob only, then switches.
    let fresh = alice.sender.prepare_fresh_key().unwrap();
    assert_eq!(fresh.generation(), 1);
    bob.receiver.install(fresh).unwrap();
    assert!(alice.sender.activate_prepared_key().unwrap());
    bob.receiver.remove_sender(3);

    for i in 0..5u8 {
        let secret = [b'x', i, b'y'];
        alice.sender.protect(&secret, &[], &mut wire).unwrap();
        assert_eq!(bob.receiver.unprotect(&wire, &[], &mut plain).unwrap(), &secret[..]);
        // Carol has no key for the new generation...
        assert!(matches!(
            carol.receiver.unprotect(&wire, &[], &mut plain),
            Err(E2eeError::UnknownKeyId(_))
        ));
        assert!(plain.is_empty(), "nothing leaks into the output buffer");
        // ...and relabelling the frame with her old KID does not help: the key differs
        // (and the KID is authenticated).
        let mut relabelled = Vec::new();
        let old_header = SframeHeader::deserialize(&before).unwrap();
        let new_header = SframeHeader::deserialize(&wire).unwrap();
        let header = SframeHeader::new(old_header.key_id(), new_header.counter());
        relabelled.resize(header.len(), 0);
        header.serialize(&mut relabelled).unwrap();
        relabelled.extend_from_slice(&wire[new_header.len()..]);
        assert!(matches!(
            carol.receiver.unprotect(&relabelled, &[], &mut plain),
            Err(E2eeError::AuthenticationFailed(_))
        ));
    }
    assert_eq!(carol.receiver.stats().unknown_key_id, 5);
    assert_eq!(carol.receiver.stats().authentication_failed, 5);
    // A late frame from before the rotation still opens for Bob (previous keys are kept).
    assert_eq!(bob.receiver.unprotect(&before, &[], &mut plain).unwrap(), b"before carol left");
}

#[test]
fn a_join_ratchets_forward_without_a_key_message_and_the_newcomer_cannot_go_back() {
    let mut alice = Member::new(1);
    let mut bob = Member::new(2);
    bob.receiver.install(alice.sender.key_material()).unwrap();

    let mut wire = Vec::new();
    let mut plain = Vec::new();
    let mut old_frames = Vec::new();
    for i in 0..3u8 {
        alice.sender.protect(&[i; 10], &[], &mut wire).unwrap();
        old_frames.push(wire.clone());
    }
    assert_eq!(bob.receiver.unprotect(&old_frames[0], &[], &mut plain).unwrap(), &[0; 10]);

    // Dave joins: Alice ratchets and hands Dave the ratcheted key only.
    let mut dave = Member::new(4);
    let ratcheted = alice.sender.ratchet().unwrap();
    assert_eq!(ratcheted.ratchet_step(), 1);
    dave.receiver.install(ratcheted).unwrap();

    alice.sender.protect(b"after dave joined", &[], &mut wire).unwrap();
    // Bob derives the next step himself (no key message) once the frame authenticates.
    assert_eq!(bob.receiver.unprotect(&wire, &[], &mut plain).unwrap(), b"after dave joined");
    assert_eq!(dave.receiver.unprotect(&wire, &[], &mut plain).unwrap(), b"after dave joined");
    // Frames from before the join stay closed to Dave...
    for frame in &old_frames {
        assert!(matches!(
            dave.receiver.unprotect(frame, &[], &mut plain),
            Err(E2eeError::UnknownKeyId(_))
        ));
    }
    // ...while Bob still opens late frames under the previous step.
    assert_eq!(bob.receiver.unprotect(&old_frames[2], &[], &mut plain).unwrap(), &[2; 10]);
    assert_eq!(bob.receiver.unprotect(&old_frames[1], &[], &mut plain).unwrap(), &[1; 10]);
}

#[test]
fn receivers_keep_only_a_few_previous_keys() {
    let mut alice = Member::new(1);
    let mut bob = SframeReceiver::new(2); // newest + 2 previous
    bob.install(alice.sender.key_material()).unwrap();
    let mut wire = Vec::new();
    let mut plain = Vec::new();
    let mut frames = Vec::new();
    for generation in 0..4 {
        alice.sender.protect(&[generation; 4], &[], &mut wire).unwrap();
        frames.push(wire.clone());
        let fresh = alice.sender.prepare_fresh_key().unwrap();
        bob.install(fresh).unwrap();
        alice.sender.activate_prepared_key().unwrap();
    }
    // Keys of generations 2, 3 and 4 are held; generation 0 and 1 are gone.
    assert!(matches!(bob.unprotect(&frames[0], &[], &mut plain), Err(E2eeError::UnknownKeyId(_))));
    assert!(matches!(bob.unprotect(&frames[1], &[], &mut plain), Err(E2eeError::UnknownKeyId(_))));
    assert_eq!(bob.unprotect(&frames[2], &[], &mut plain).unwrap(), &[2; 4]);
    assert_eq!(bob.unprotect(&frames[3], &[], &mut plain).unwrap(), &[3; 4]);
}

#[test]
fn replayed_truncated_and_unknown_frames_are_rejected_counted_and_harmless() {
    let mut alice = Member::new(1);
    let mut bob = SframeReceiver::new(3);
    bob.install(alice.sender.key_material()).unwrap();
    let mut plain = Vec::new();
    let mut frames = Vec::new();
    let mut wire = Vec::new();
    for i in 0..10u8 {
        alice.sender.protect(&[i; 100], &[], &mut wire).unwrap();
        frames.push(wire.clone());
    }

    // Out of order is fine; each frame exactly once.
    for i in [3usize, 0, 9, 1, 2, 8, 4, 7, 5, 6] {
        assert_eq!(bob.unprotect(&frames[i], &[], &mut plain).unwrap(), &[i as u8; 100]);
    }
    for frame in &frames {
        assert!(
            matches!(bob.unprotect(frame, &[], &mut plain), Err(E2eeError::Replayed { kid, .. }) if kid == 1 << 16)
        );
    }
    assert_eq!(bob.stats().replayed, 10);

    // Every truncation of a fresh frame is refused (malformed when the tag cannot fit,
    // failed authentication otherwise), and none of them spends its counter.
    alice.sender.protect(&[42; 100], &[], &mut wire).unwrap();
    let fresh = wire.clone();
    let shortest = SframeHeader::deserialize(&fresh).unwrap().len() + 16;
    for len in 0..fresh.len() {
        match bob.unprotect(&fresh[..len], &[], &mut plain) {
            Err(E2eeError::MalformedFrame) => assert!(len < shortest, "length {len}"),
            Err(E2eeError::AuthenticationFailed(_)) => assert!(len >= shortest, "length {len}"),
            other => panic!("truncated to {len}: {other:?}"),
        }
    }
    assert_eq!(bob.unprotect(&fresh, &[], &mut plain).unwrap(), &[42; 100]);
    // Garbage of every short length, including lying headers.
    for len in 0..40 {
        let garbage: Vec<u8> =
            (0..len).map(|i| (i as u8).wrapping_mul(37).wrapping_add(0xf1)).collect();
        assert!(bob.unprotect(&garbage, &[], &mut plain).is_err());
    }

    // A frame from a sender nobody gave us a key for.
    let mut stranger = SframeSender::new(77, SframeSuite::default()).unwrap();
    stranger.protect(b"who am i", &[], &mut wire).unwrap();
    assert_eq!(bob.unprotect(&wire, &[], &mut plain), Err(E2eeError::UnknownKeyId(77 << 16)));

    // The same KID under a different key (a key that does not match).
    let mut impostor = SframeSender::new(1, SframeSuite::default()).unwrap();
    for _ in 0..100 {
        // Past Alice's counter, so the replay window does not refuse it first.
        impostor.protect(b"fake alice", &[], &mut wire).unwrap();
    }
    assert_eq!(
        bob.unprotect(&wire, &[], &mut plain),
        Err(E2eeError::AuthenticationFailed(1 << 16))
    );

    let stats = bob.stats();
    assert_eq!(stats.accepted, 11);
    assert!(stats.unknown_key_id >= 1, "the stranger (and garbage with made-up KIDs)");
    assert!(stats.authentication_failed >= 1);
    assert!(stats.malformed > 0);
    // None of the rejections disturbed the genuine stream.
    alice.sender.protect(b"still fine", &[], &mut wire).unwrap();
    assert_eq!(bob.unprotect(&wire, &[], &mut plain).unwrap(), b"still fine");
}

#[test]
fn debug_output_of_group_keys_is_redacted() {
    let alice = SframeSender::new(1, SframeSuite::default()).unwrap();
    let material = alice.key_material();
    let mut receiver = SframeReceiver::new(1);
    receiver.install(material.clone()).unwrap();
    let hex: String = material.base_key()[..8].iter().map(|b| format!("{b:02x}")).collect();
    let decimal = format!("{:?}", &material.base_key()[..4]);
    for text in [format!("{material:?}"), format!("{alice:?}"), format!("{receiver:?}")] {
        assert!(!text.contains(&hex), "{text}");
        assert!(!text.contains(&decimal[1..decimal.len() - 1]), "{text}");
    }
    assert!(format!("{material:?}").contains("redacted"));
}

mod arbitrary_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Any bytes at all: handshake decoders, the header reader and the SFrame receiver
        /// return typed errors (or, for valid-looking handshake bytes, a value) — never panic,
        /// and the receiver never accepts a frame nobody protected.
        #[test]
        fn arbitrary_bytes_never_panic_or_authenticate(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = Offer::decode(&bytes);
            let _ = Answer::decode(&bytes);
            let _ = Confirm::decode(&bytes);
            let _ = peek_header(&bytes);
            let material =
                SframeKeyMaterial::from_parts(SframeSuite::default(), 0, 0, 0, &[1; 64]).unwrap();
            let mut receiver = SframeReceiver::new(1);
            receiver.install(material).unwrap();
            let mut out = Vec::new();
            prop_assert!(receiver.unprotect(&bytes, &[], &mut out).is_err());
            prop_assert!(out.is_empty());
        }
    }
}

/// Review finding 4: after Carol leaves and Alice rotates to a fresh key, Carol still holds
/// Alice's old key. She must not be able to pass frames off as Alice's beyond what was
/// in flight: frames under the old key are refused at or above the first counter Bob saw
/// under the new key, and the old generation is wiped after a few new-key frames.
#[test]
fn a_member_who_left_cannot_forge_frames_under_the_senders_old_key() {
    let mut alice = Member::new(1);
    let mut bob = SframeReceiver::new(3);
    let old_key = alice.sender.key_material();
    bob.install(old_key.clone()).unwrap(); // Carol got the same key when she joined
    let (mut wire, mut plain) = (Vec::new(), Vec::new());
    for i in 0..5u8 {
        alice.sender.protect(&[i; 8], &[], &mut wire).unwrap();
        bob.unprotect(&wire, &[], &mut plain).unwrap();
    }
    // One genuine frame under the old key is still in flight at the rotation.
    alice.sender.protect(b"in flight", &[], &mut wire).unwrap();
    let in_flight = wire.clone();
    // Carol leaves: Alice rotates.
    let fresh = alice.sender.prepare_fresh_key().unwrap();
    bob.install(fresh).unwrap();
    alice.sender.activate_prepared_key().unwrap();
    alice.sender.protect(b"new key", &[], &mut wire).unwrap();
    let first_new_counter = peek_header(&wire).unwrap().counter;
    assert_eq!(bob.unprotect(&wire, &[], &mut plain).unwrap(), b"new key");

    // Carol forges "Alice" frames under the old key, at counters ahead of Alice's.
    for counter in [first_new_counter, first_new_counter + 1, first_new_counter + 1000] {
        let mut carol = SframeSender::for_test_vectors(old_key.clone(), counter).unwrap();
        carol.protect(b"forged by carol", &[], &mut wire).unwrap();
        assert_eq!(
            bob.unprotect(&wire, &[], &mut plain),
            Err(E2eeError::SupersededKey { kid: old_key.key_id(), counter }),
        );
    }
    assert_eq!(bob.stats().superseded_key, 3);
    // The genuine late frame under the old key still opens.
    assert_eq!(bob.unprotect(&in_flight, &[], &mut plain).unwrap(), b"in flight");

    // After enough frames under the new generation the old key is gone altogether.
    for i in 1..RETIRE_OLD_GENERATION_AFTER_FRAMES {
        alice.sender.protect(&[i as u8; 8], &[], &mut wire).unwrap();
        bob.unprotect(&wire, &[], &mut plain).unwrap();
    }
    assert_eq!(bob.stats().keys_retired, 1);
    let mut carol = SframeSender::for_test_vectors(old_key.clone(), 2).unwrap();
    carol.protect(b"forged below the switch", &[], &mut wire).unwrap();
    assert_eq!(
        bob.unprotect(&wire, &[], &mut plain),
        Err(E2eeError::UnknownKeyId(old_key.key_id()))
    );
}

/// Review finding 4: installing a key again (a re-sent key message) must not reset its
/// replay window, and a different key under an installed key id is refused.
#[test]
fn reinstalling_a_key_keeps_its_replay_window() {
    let mut alice = Member::new(1);
    let mut bob = SframeReceiver::new(3);
    bob.install(alice.sender.key_material()).unwrap();
    let (mut wire, mut plain) = (Vec::new(), Vec::new());
    alice.sender.protect(b"once", &[], &mut wire).unwrap();
    bob.unprotect(&wire, &[], &mut plain).unwrap();
    bob.install(alice.sender.key_material()).unwrap();
    assert!(matches!(bob.unprotect(&wire, &[], &mut plain), Err(E2eeError::Replayed { .. })));
    let other =
        SframeKeyMaterial::from_parts(SframeSuite::default(), 1, 0, 0, &[0x55; 64]).unwrap();
    assert_eq!(bob.install(other), Err(E2eeError::KeyIdReused(1 << 16)));
    // Nothing changed: the next genuine frame opens, the replay is still refused.
    assert!(matches!(bob.unprotect(&wire, &[], &mut plain), Err(E2eeError::Replayed { .. })));
    alice.sender.protect(b"twice", &[], &mut wire).unwrap();
    assert_eq!(bob.unprotect(&wire, &[], &mut plain).unwrap(), b"twice");
}

/// Review finding 4: a sender's counter never goes back across ratchets and rotations, so
/// no (key, counter) nonce can repeat; senders cannot be built from outside key material
/// (only `SframeSender::new`, and the `testing`-only vector constructor).
#[test]
fn a_senders_counter_never_restarts() {
    let mut alice = SframeSender::new(1, SframeSuite::default()).unwrap();
    let mut wire = Vec::new();
    let mut last = None;
    for step in 0..6 {
        alice.protect(b"frame", &[], &mut wire).unwrap();
        let counter = peek_header(&wire).unwrap().counter;
        assert!(last.is_none_or(|l| counter > l), "step {step}");
        last = Some(counter);
        if step % 2 == 0 {
            alice.ratchet().unwrap();
        } else {
            alice.prepare_fresh_key().unwrap();
            alice.activate_prepared_key().unwrap();
        }
    }
}
