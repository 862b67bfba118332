//! The 1:1 key handshake with hostile messages: `Offer::decode`, `Answer::decode` and
//! `Confirm::decode` on arbitrary bytes, and a full handshake between two fixed identities
//! in which each of the three messages on the wire is the genuine one, the genuine one
//! with a bit flipped, or bytes from the input.
//!
//! Asserted: nothing panics (every refusal is a typed `E2eeError`); a message that decodes
//! encodes back to the same bytes; with all three messages genuine both sides finish with
//! matching keys and safety codes; and whenever the answerer finishes, every message both
//! sides read was the genuine one and the keys match (tampering is always detected by the
//! answerer's commitment or key-confirmation check).
//!
//! Input: byte 0 picks the mode (bits 0-1: decode only; bits 2-7: what happens to each
//! message) and the suite; the rest is the message bytes / bit positions.

#[path = "input.rs"]
mod input;

use input::Input;
use sottovoce::e2ee::{
    ANSWER_LEN, Answer, AnsweringHandshake, CONFIRM_LEN, Confirm, IdentityKeyPair, OFFER_LEN,
    Offer, OfferingHandshake, SrtpSuite,
};

/// The bytes a peer receives for one message: genuine, one bit flipped, or input bytes.
fn on_the_wire(genuine: &[u8], how: u8, len: usize, input: &mut Input<'_>) -> Vec<u8> {
    match how & 3 {
        0 | 1 => genuine.to_vec(),
        2 => {
            let mut bytes = genuine.to_vec();
            let bit = usize::from(input.u16().unwrap_or(0)) % (bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            bytes
        }
        _ => input.bytes(len).to_vec(),
    }
}

fn decode_only(bytes: &[u8]) {
    if let Ok(offer) = Offer::decode(bytes) {
        assert_eq!(&offer.encode()[..], bytes, "offer re-encodes");
    }
    if let Ok(answer) = Answer::decode(bytes) {
        assert_eq!(&answer.encode()[..], bytes, "answer re-encodes");
    }
    if let Ok(confirm) = Confirm::decode(bytes) {
        assert_eq!(&confirm.encode()[..], bytes, "confirm re-encodes");
    }
}

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let Some(mode) = input.u8() else { return };
    if mode & 3 == 0 {
        decode_only(input.rest());
        return;
    }
    let suite = if mode & 0x80 != 0 { SrtpSuite::AeadAes128Gcm } else { SrtpSuite::AeadAes256Gcm };
    let alice = IdentityKeyPair::from_secret_bytes(&[0xa1; 32]);
    let bob = IdentityKeyPair::from_secret_bytes(&[0xb0; 32]);

    let (alice_hs, offer) =
        OfferingHandshake::start(&alice, bob.public_key(), suite).expect("start");
    let offer_wire = on_the_wire(&offer.encode(), mode >> 2, OFFER_LEN, &mut input);
    let Ok(bob_offer) = Offer::decode(&offer_wire) else { return };
    assert_eq!(&bob_offer.encode()[..], &offer_wire[..], "offer re-encodes");
    let Ok((bob_hs, answer)) = AnsweringHandshake::respond(&bob, alice.public_key(), &bob_offer)
    else {
        assert_ne!(bob_offer, offer, "the genuine offer was refused");
        return;
    };
    let answer_wire = on_the_wire(&answer.encode(), mode >> 4, ANSWER_LEN, &mut input);
    let Ok(alice_answer) = Answer::decode(&answer_wire) else { return };
    let Ok((alice_keys, confirm)) = alice_hs.finish(&alice_answer) else {
        assert!(
            bob_offer != offer || alice_answer != answer,
            "the genuine answer to the genuine offer was refused"
        );
        return;
    };
    let confirm_wire = on_the_wire(&confirm.encode(), mode >> 6, CONFIRM_LEN, &mut input);
    let Ok(bob_confirm) = Confirm::decode(&confirm_wire) else { return };
    let all_genuine = bob_offer == offer && alice_answer == answer && bob_confirm == confirm;
    match bob_hs.finish(&bob_confirm) {
        Ok(bob_keys) => {
            assert!(all_genuine, "the answerer finished on a tampered handshake");
            assert_eq!(alice_keys.safety_code(), bob_keys.safety_code());
            assert_eq!(alice_keys.outbound().master_key(), bob_keys.inbound().master_key());
            assert_eq!(alice_keys.inbound().master_key(), bob_keys.outbound().master_key());
        }
        Err(error) => assert!(!all_genuine, "genuine handshake failed: {error}"),
    }
}
