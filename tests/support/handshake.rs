//! Call keys for both ends, agreed through the real three-message handshake (fresh
//! identities each time). Included by path:
//! `#[path = "support/handshake.rs"] mod handshake;`.

use sottovoce::e2ee::{
    AnsweringHandshake, CallKeys, IdentityKeyPair, OfferingHandshake, SrtpSuite,
};

/// (offerer's keys, answerer's keys) for the default suite.
pub fn agreed_call_keys() -> (CallKeys, CallKeys) {
    let alice = IdentityKeyPair::generate().expect("identity");
    let bob = IdentityKeyPair::generate().expect("identity");
    let (offering, offer) =
        OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::default()).expect("offer");
    let (answering, answer) =
        AnsweringHandshake::respond(&bob, alice.public_key(), &offer).expect("answer");
    let (alice_keys, confirm) = offering.finish(&answer).expect("finish");
    let bob_keys = answering.finish(&confirm).expect("confirm");
    (alice_keys, bob_keys)
}
