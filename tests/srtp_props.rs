//! Property tests (arbitrary bytes never panic, round trips, single-bit forgeries) and
//! interoperability with an independent implementation (the `webrtc-srtp` crate).

use proptest::prelude::*;
use sottovoce::srtp::{SrtpConfig, SrtpError, SrtpProfile, SrtpSession};
use webrtc_srtp::context::Context;
use webrtc_srtp::protection_profile::ProtectionProfile;

fn profile_strategy() -> impl Strategy<Value = SrtpProfile> {
    prop::sample::select(SrtpProfile::ALL.to_vec())
}

fn session(profile: SrtpProfile, seed: u8) -> SrtpSession {
    let key: Vec<u8> = (0..profile.master_key_len()).map(|i| seed ^ i as u8).collect();
    let salt: Vec<u8> =
        (0..profile.master_salt_len()).map(|i| seed.wrapping_add(i as u8)).collect();
    SrtpSession::new(profile, &key, &salt, SrtpConfig::default()).unwrap()
}

/// A well-formed RTP packet from arbitrary parts.
fn rtp_strategy() -> impl Strategy<Value = Vec<u8>> {
    (
        any::<u16>(),
        any::<u32>(),
        0usize..4,
        prop::option::of(prop::collection::vec(any::<u8>(), 0..3).prop_map(|w| w.len())),
        prop::collection::vec(any::<u8>(), 0..1400),
        any::<bool>(),
    )
        .prop_map(|(seq, ssrc, csrcs, ext_words, payload, marker)| {
            let mut p = vec![0x80 | csrcs as u8, 96 | if marker { 0x80 } else { 0 }];
            p.extend_from_slice(&seq.to_be_bytes());
            p.extend_from_slice(&[0, 0, 3, 0xe8]);
            p.extend_from_slice(&ssrc.to_be_bytes());
            p.extend((0..csrcs * 4).map(|i| i as u8));
            if let Some(words) = ext_words {
                p[0] |= 0x10;
                p.extend_from_slice(&[0xbe, 0xde, 0, words as u8]);
                p.extend((0..words * 4).map(|i| i as u8 | 0x10));
            }
            p.extend_from_slice(&payload);
            p
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary bytes: unprotect never panics and (short of guessing a tag) refuses.
    #[test]
    fn unprotect_arbitrary_bytes_never_panics(
        profile in profile_strategy(),
        mut bytes in prop::collection::vec(any::<u8>(), 0..200),
        force_v2 in any::<bool>(),
    ) {
        if force_v2 && !bytes.is_empty() {
            bytes[0] = 0x80 | (bytes[0] & 0x3f);
        }
        let mut rx = session(profile, 1);
        let mut a = bytes.clone();
        prop_assert!(rx.unprotect_rtp(&mut a).is_err());
        let mut b = bytes.clone();
        prop_assert!(rx.unprotect_rtcp(&mut b).is_err());
        let stats = rx.stats();
        prop_assert_eq!(stats.rtp_unprotected + stats.rtcp_unprotected, 0);
    }

    /// Any well-formed packet round-trips, and any single flipped bit is refused.
    #[test]
    fn round_trip_and_single_bit_forgeries(
        profile in profile_strategy(),
        packet in rtp_strategy(),
        flip in any::<prop::sample::Index>(),
    ) {
        let mut tx = session(profile, 2);
        let mut rx = session(profile, 2);
        let mut buf = packet.clone();
        buf.resize(packet.len() + profile.rtp_overhead(), 0);
        let n = tx.protect_rtp(&mut buf, packet.len()).unwrap();
        let bit = flip.index(n * 8);
        let mut forged = buf.clone();
        forged[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(rx.unprotect_rtp(&mut forged).is_err());
        let n = rx.unprotect_rtp(&mut buf).unwrap();
        prop_assert_eq!(&buf[..n], &packet[..]);
    }

    /// Protect with an undersized buffer or a length past the buffer: an error, no panic.
    #[test]
    fn protect_with_bad_lengths_is_an_error(
        profile in profile_strategy(),
        packet in rtp_strategy(),
        cut in 0usize..20,
        claim in 0usize..3000,
    ) {
        let mut tx = session(profile, 3);
        let mut buf = packet.clone();
        buf.resize(packet.len() + profile.rtp_overhead().saturating_sub(cut + 1), 0);
        let short = matches!(
            tx.protect_rtp(&mut buf, packet.len()),
            Err(SrtpError::BufferTooSmall { .. })
        );
        prop_assert!(short, "an undersized buffer must be refused");
        let mut buf = packet.clone();
        let _ = tx.protect_rtp(&mut buf, claim);
        let _ = tx.protect_rtcp(&mut buf, claim);
    }
}

fn webrtc_profile(profile: SrtpProfile) -> ProtectionProfile {
    match profile {
        SrtpProfile::Aes128CmHmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        SrtpProfile::Aes128CmHmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        SrtpProfile::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        SrtpProfile::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
        other => panic!("no webrtc-srtp mapping for {other}"),
    }
}

/// Both directions against an independent implementation, across a rollover, for RTP
/// and RTCP: proves the key derivation, IVs, tag layout and ROC handling interoperate.
#[test]
fn interoperates_with_webrtc_srtp() {
    for profile in SrtpProfile::ALL {
        let key: Vec<u8> = (0..profile.master_key_len()).map(|i| 0x40 + i as u8).collect();
        let salt: Vec<u8> = (0..profile.master_salt_len()).map(|i| 0x90 + i as u8).collect();
        let mut ours_tx = SrtpSession::new(profile, &key, &salt, SrtpConfig::default()).unwrap();
        let mut ours_rx = SrtpSession::new(profile, &key, &salt, SrtpConfig::default()).unwrap();
        let mut theirs_tx = Context::new(&key, &salt, webrtc_profile(profile), None, None).unwrap();
        let mut theirs_rx = Context::new(&key, &salt, webrtc_profile(profile), None, None).unwrap();
        for n in 0..300u32 {
            let seq = 65_400u16.wrapping_add(n as u16);
            let mut packet = vec![0x80, 111];
            packet.extend_from_slice(&seq.to_be_bytes());
            packet.extend_from_slice(&(n * 960).to_be_bytes());
            packet.extend_from_slice(&0xdead_beef_u32.to_be_bytes());
            packet.extend((0..(n as usize % 200) + 1).map(|i| (i as u32 ^ n) as u8));

            let mut buf = packet.clone();
            buf.resize(packet.len() + profile.rtp_overhead(), 0);
            let len = ours_tx.protect_rtp(&mut buf, packet.len()).unwrap();
            let theirs = theirs_tx.encrypt_rtp(&packet).unwrap();
            assert_eq!(&buf[..len], &theirs[..], "{profile} seq {seq}: same ciphertext");
            let decrypted = theirs_rx.decrypt_rtp(&buf[..len]).unwrap();
            assert_eq!(&decrypted[..], &packet[..]);
            let mut wire = theirs.to_vec();
            let plain = ours_rx.unprotect_rtp(&mut wire).unwrap();
            assert_eq!(&wire[..plain], &packet[..]);

            if n % 10 == 0 {
                let mut rtcp = vec![0x81, 201, 0, 7];
                rtcp.extend_from_slice(&0xdead_beef_u32.to_be_bytes());
                rtcp.extend_from_slice(&[n as u8; 24]);
                let mut buf = rtcp.clone();
                buf.resize(rtcp.len() + profile.rtcp_overhead(), 0);
                let len = ours_tx.protect_rtcp(&mut buf, rtcp.len()).unwrap();
                let decrypted = theirs_rx.decrypt_rtcp(&buf[..len]).unwrap();
                assert_eq!(&decrypted[..], &rtcp[..], "{profile} rtcp {n}");
                let mut wire = theirs_tx.encrypt_rtcp(&rtcp).unwrap().to_vec();
                let plain = ours_rx.unprotect_rtcp(&mut wire).unwrap();
                assert_eq!(&wire[..plain], &rtcp[..]);
            }
        }
    }
}
