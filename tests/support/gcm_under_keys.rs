//! AES-GCM under derived SRTP keys, sealed and opened with ring directly, so the e2ee tests
//! can show which keys decrypt which traffic without depending on the SRTP layer.
//! Included by path: `#[path = "support/gcm_under_keys.rs"] mod gcm_under_keys;`.

use ring::aead::{AES_128_GCM, AES_256_GCM, LessSafeKey, Nonce, UnboundKey};
use sottovoce::e2ee::{SrtpKeys, SrtpSuite};

/// The AEAD key for `keys`' suite and master key.
pub fn aead_key(keys: &SrtpKeys) -> LessSafeKey {
    let algorithm = match keys.suite() {
        SrtpSuite::AeadAes128Gcm => &AES_128_GCM,
        _ => &AES_256_GCM,
    };
    LessSafeKey::new(UnboundKey::new(algorithm, keys.master_key()).expect("key length"))
}

/// The master salt XOR the packet's sequence number (as SRTP-GCM builds its IV).
pub fn nonce(keys: &SrtpKeys, seq: u64) -> Nonce {
    let mut nonce = *keys.master_salt();
    for (byte, seq_byte) in nonce[4..].iter_mut().zip(seq.to_be_bytes()) {
        *byte ^= seq_byte;
    }
    Nonce::assume_unique_for_key(nonce)
}
