//! Published test vectors: RFC 3711 appendix B.2 and B.3, RFC 7714 sections 16 and 17,
//! and the libsrtp reference packet. The expected bytes are copied from the documents,
//! grouped as they print them.

use super::keys::{CmKeys, GcmKeys, Label, SessionKeys, derive};
use super::{SrtpConfig, SrtpError, SrtpProfile, SrtpSession};

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits in {s:?}");
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// RFC 3711 B.2: AES-CM keystream with the session salt F0F1..FD, SSRC 0, index 0.
#[test]
fn rfc3711_b2_aes_cm_keystream() {
    let keys = CmKeys::new(
        &hex("2B7E151628AED2A6ABF7158809CF4F3C"),
        &hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"),
        &[0; 20],
    )
    .unwrap();
    // Keystream blocks for counters 0000 ..= FF01 (the RFC prints the first three and
    // the last three).
    let mut stream = vec![0u8; 0xff02 * 16];
    keys.apply_keystream(0, 0, &mut stream);
    let block = |counter: usize| &stream[counter * 16..counter * 16 + 16];
    assert_eq!(block(0x0000), hex("E03EAD0935C95E80E166B16DD92B4EB4"));
    assert_eq!(block(0x0001), hex("D23513162B02D0F72A43A2FE4A5F97AB"));
    assert_eq!(block(0x0002), hex("41E95B3BB0A2E8DD477901E4FCA894C0"));
    assert_eq!(block(0xfeff), hex("EC8CDF7398607CB0F2D21675EA9EA1E4"));
    assert_eq!(block(0xff00), hex("362B7C3C6773516318A077D7FC5073AE"));
    assert_eq!(block(0xff01), hex("6A2CC3787889374FBEB4C81B17BA6C44"));
}

/// RFC 3711 B.3: key derivation of cipher key, salt and the 94-byte auth-key example.
#[test]
fn rfc3711_b3_key_derivation() {
    let master_key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
    let master_salt = hex("0EC675AD498AFEEBB6960B3AABE6");
    let mut cipher_key = [0u8; 16];
    derive(&master_key, &master_salt, Label::RtpCipher, &mut cipher_key).unwrap();
    assert_eq!(cipher_key.to_vec(), hex("C61E7A93744F39EE10734AFE3FF7A087"));
    let mut salt = [0u8; 14];
    derive(&master_key, &master_salt, Label::RtpSalt, &mut salt).unwrap();
    assert_eq!(salt.to_vec(), hex("30CBBC08863D8C85D49DB34A9AE1"));
    let mut auth = [0u8; 94];
    derive(&master_key, &master_salt, Label::RtpAuth, &mut auth).unwrap();
    assert_eq!(
        auth.to_vec(),
        hex("CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE
             E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25
             6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2")
    );
}

/// The libsrtp reference packet (`srtp_driver -v`): AES_CM_128_HMAC_SHA1_80 through the
/// whole public path, key derivation included.
#[test]
fn libsrtp_reference_packet() {
    let key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
    let salt = hex("0EC675AD498AFEEBB6960B3AABE6");
    let profile = SrtpProfile::Aes128CmHmacSha1_80;
    let mut tx = SrtpSession::new(profile, &key, &salt, SrtpConfig::default()).unwrap();
    let mut packet = hex("800f1234decafbadcafebabe");
    packet.extend_from_slice(&[0xab; 16]);
    let plain = packet.clone();
    let len = packet.len();
    packet.resize(len + profile.rtp_overhead(), 0);
    let out = tx.protect_rtp(&mut packet, len).unwrap();
    assert_eq!(
        packet[..out],
        hex("800f1234decafbadcafebabe 4e55dc4ce79978d88ca4d215949d2402 b78d6acc99ea179b8dbb")[..]
    );
    let mut rx = SrtpSession::new(profile, &key, &salt, SrtpConfig::default()).unwrap();
    let n = rx.unprotect_rtp(&mut packet).unwrap();
    assert_eq!(packet[..n], plain[..]);
}

const RFC7714_KEY_128: &str = "000102030405060708090a0b0c0d0e0f";
const RFC7714_KEY_256: &str = "000102030405060708090a0b0c0d0e0f 101112131415161718191a1b1c1d1e1f";
/// "Quid pro quo".
const RFC7714_SALT: &str = "517569642070726f2071756f";
const RFC7714_RTP: &str = "8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973
                           20646976 69736120 696e2070 61727465 73207472 6573";
const RFC7714_RTCP: &str = "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930
                            4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef";
const RFC7714_RTCP_SSRC: u32 = 0x4d61_7273;
const RFC7714_RTCP_INDEX: u32 = 0x5d4;

/// A session keyed directly with RFC 7714's session key and salt (the vectors skip the
/// KDF and use the same key for SRTP and SRTCP).
fn rfc7714_session(profile: SrtpProfile, config: SrtpConfig) -> SrtpSession {
    let key =
        hex(if profile == SrtpProfile::AeadAes256Gcm { RFC7714_KEY_256 } else { RFC7714_KEY_128 });
    let salt = hex(RFC7714_SALT);
    let keys = SessionKeys::Gcm {
        rtp: GcmKeys::new(&key, &salt).unwrap(),
        rtcp: GcmKeys::new(&key, &salt).unwrap(),
    };
    SrtpSession::with_session_keys(profile, keys, config).unwrap()
}

fn rtp_round_trip(profile: SrtpProfile, expected: &str) {
    let plain = hex(RFC7714_RTP);
    let mut buf = vec![0u8; plain.len() + profile.rtp_overhead()];
    buf[..plain.len()].copy_from_slice(&plain);
    let mut tx = rfc7714_session(profile, SrtpConfig::default());
    let n = tx.protect_rtp(&mut buf, plain.len()).unwrap();
    assert_eq!(buf[..n], hex(expected)[..], "{profile} protect");

    let mut wire = hex(expected);
    let mut rx = rfc7714_session(profile, SrtpConfig::default());
    let n = rx.unprotect_rtp(&mut wire).unwrap();
    assert_eq!(wire[..n], plain[..], "{profile} unprotect");
}

/// RFC 7714 16.1.1 and 16.1.2: AEAD_AES_128_GCM SRTP encryption and decryption.
#[test]
fn rfc7714_16_1_srtp_aes_128_gcm() {
    rtp_round_trip(
        SrtpProfile::AeadAes128Gcm,
        "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f
         42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce",
    );
}

/// RFC 7714 16.2.1 and 16.2.2: AEAD_AES_256_GCM SRTP encryption and decryption.
#[test]
fn rfc7714_16_2_srtp_aes_256_gcm() {
    rtp_round_trip(
        SrtpProfile::AeadAes256Gcm,
        "8040f17b 8041f8d3 5501a0b2 32b1de78 a822fe12 ef9f78fa 332e33aa b1801238 9a58e2f3
         b50b2a02 76ffae0f 1ba63799 b87b7aa3 db36dfff d6b0f9bb 7878d7a7 6c13",
    );
}

fn rtcp_round_trip(profile: SrtpProfile, encrypt: bool, expected: &str) {
    let config = SrtpConfig { encrypt_rtcp: encrypt, ..SrtpConfig::default() };
    let plain = hex(RFC7714_RTCP);
    let mut buf = vec![0u8; plain.len() + profile.rtcp_overhead()];
    buf[..plain.len()].copy_from_slice(&plain);
    let mut tx = rfc7714_session(profile, config.clone());
    tx.set_next_srtcp_index(RFC7714_RTCP_SSRC, RFC7714_RTCP_INDEX);
    let n = tx.protect_rtcp(&mut buf, plain.len()).unwrap();
    assert_eq!(buf[..n], hex(expected)[..], "{profile} E={encrypt} protect");

    // The receiver follows the packet's E flag, whatever its own setting.
    let mut wire = hex(expected);
    let mut rx = rfc7714_session(profile, SrtpConfig { encrypt_rtcp: !encrypt, ..config });
    let n = rx.unprotect_rtcp(&mut wire).unwrap();
    assert_eq!(wire[..n], plain[..], "{profile} E={encrypt} unprotect");

    // The E flag and index are authenticated: flipping E is a forgery.
    let mut wire = hex(expected);
    let last = wire.len() - 4;
    wire[last] ^= 0x80;
    let mut rx = rfc7714_session(profile, SrtpConfig::default());
    assert_eq!(rx.unprotect_rtcp(&mut wire), Err(SrtpError::AuthenticationFailed));
}

/// RFC 7714 17.1: AEAD_AES_128_GCM SRTCP, encrypted (E = 1) and authenticated only.
#[test]
fn rfc7714_17_1_srtcp_aes_128_gcm() {
    rtcp_round_trip(
        SrtpProfile::AeadAes128Gcm,
        true,
        "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1
         730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4",
    );
    rtcp_round_trip(
        SrtpProfile::AeadAes128Gcm,
        false,
        "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef
         deadbeef deadbeef deadbeef deadbeef 841dd968 3dd78ec9 2ae58790 125f62b3 000005d4",
    );
}

/// RFC 7714 17.2: AEAD_AES_256_GCM SRTCP, encrypted (E = 1) and authenticated only.
#[test]
fn rfc7714_17_2_srtcp_aes_256_gcm() {
    rtcp_round_trip(
        SrtpProfile::AeadAes256Gcm,
        true,
        "81c8000d 4d617273 d50ae4d1 f5ce5d30 4ba297e4 7d470c28 2c3ece5d bffe0a50 a2eaa5c1
         110555be 8415f658 c61de047 6f1b6fad 1d1eb30c 4446839f 57ff6f6c b26ac3be 800005d4",
    );
    rtcp_round_trip(
        SrtpProfile::AeadAes256Gcm,
        false,
        "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef
         deadbeef deadbeef deadbeef deadbeef 91db4afb feee5a97 8fab4393 ed2615fe 000005d4",
    );
}

/// Key material never shows in `Debug` output.
#[test]
fn debug_output_redacts_keys() {
    let key = [0x5a; 16];
    let session = SrtpSession::new(
        SrtpProfile::Aes128CmHmacSha1_80,
        &key,
        &[0x3c; 14],
        SrtpConfig::default(),
    )
    .unwrap();
    let text = format!("{session:?}");
    assert!(text.contains("<redacted>"), "{text}");
    // Neither the byte list nor hex of the master key or salt, nor derived key bytes.
    for leak in ["90, 90", "5a5a", "5A5A", "60, 60", "3c3c", "3C3C"] {
        assert!(!text.contains(leak), "{text}");
    }
    let keys = SessionKeys::derive(SrtpProfile::AeadAes256Gcm, &[1; 32], &[2; 12]).unwrap();
    assert_eq!(format!("{keys:?}"), "SessionKeys(AES-GCM, <redacted>)");
}
