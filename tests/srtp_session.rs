//! Behaviour of `SrtpSession` through its public API: round trips for every profile,
//! rollover across 65535 -> 0 with reordering, replay and tamper rejection, re-key
//! overlap, stream limits and hostile input.

use sottovoce::srtp::{REPLAY_WINDOW, SrtpConfig, SrtpError, SrtpProfile, SrtpSession};

const SSRC: u32 = 0x1234_5678;

fn keys(profile: SrtpProfile, seed: u8) -> (Vec<u8>, Vec<u8>) {
    let key = (0..profile.master_key_len())
        .map(|i| seed.wrapping_mul(31).wrapping_add(i as u8))
        .collect();
    let salt = (0..profile.master_salt_len()).map(|i| seed ^ (0xa5 + i as u8)).collect();
    (key, salt)
}

fn session(profile: SrtpProfile, seed: u8, config: SrtpConfig) -> SrtpSession {
    let (key, salt) = keys(profile, seed);
    SrtpSession::new(profile, &key, &salt, config).unwrap()
}

/// An RTP packet with two CSRCs, a one-byte-header extension and a payload derived
/// from the sequence number (so every packet differs).
fn rtp_packet(ssrc: u32, seq: u16, payload_len: usize) -> Vec<u8> {
    let mut p = vec![0x80 | 0x10 | 2, 111, 0, 0, 0, 0, 0x10, 0];
    p[2..4].copy_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0x11, 0x11, 0x11, 0x11, 0x22, 0x22, 0x22, 0x22]);
    p.extend_from_slice(&[0xbe, 0xde, 0x00, 0x01, 0x10, 0xff, 0x00, 0x00]);
    p.extend((0..payload_len).map(|i| (i as u16 ^ seq) as u8));
    p
}

/// A sender report followed by an SDES chunk: a small compound RTCP packet.
fn rtcp_packet(ssrc: u32, marker: u8) -> Vec<u8> {
    let mut p = vec![0x80, 200, 0x00, 0x06];
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[marker; 20]);
    p.extend_from_slice(&[0x81, 202, 0x00, 0x02]);
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[1, 2, b'a', b'b']);
    p
}

fn protect_rtp(tx: &mut SrtpSession, packet: &[u8]) -> Vec<u8> {
    let mut buf = packet.to_vec();
    buf.resize(packet.len() + tx.profile().rtp_overhead(), 0);
    let n = tx.protect_rtp(&mut buf, packet.len()).unwrap();
    assert_eq!(n, buf.len());
    buf
}

fn protect_rtcp(tx: &mut SrtpSession, packet: &[u8]) -> Vec<u8> {
    let mut buf = packet.to_vec();
    buf.resize(packet.len() + tx.profile().rtcp_overhead(), 0);
    let n = tx.protect_rtcp(&mut buf, packet.len()).unwrap();
    assert_eq!(n, buf.len());
    buf
}

fn unprotect_rtp(rx: &mut SrtpSession, wire: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = wire.to_vec();
    let n = rx.unprotect_rtp(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

fn unprotect_rtcp(rx: &mut SrtpSession, wire: &[u8]) -> Result<Vec<u8>, SrtpError> {
    let mut buf = wire.to_vec();
    let n = rx.unprotect_rtcp(&mut buf)?;
    buf.truncate(n);
    Ok(buf)
}

#[test]
fn every_profile_round_trips_rtp_and_rtcp() {
    for profile in SrtpProfile::ALL {
        for encrypt_rtcp in [true, false] {
            let config = SrtpConfig { encrypt_rtcp, ..SrtpConfig::default() };
            let mut tx = session(profile, 1, config.clone());
            let mut rx = session(profile, 1, config);
            for seq in 0..50u16 {
                for (k, len) in [0, 1, 100, 1200].into_iter().enumerate() {
                    let seq = seq * 4 + k as u16;
                    let packet = rtp_packet(SSRC, seq, len);
                    let wire = protect_rtp(&mut tx, &packet);
                    if len > 0 {
                        assert_ne!(wire[28..28 + len], packet[28..], "{profile}: payload in clear");
                    }
                    assert_eq!(wire[..28], packet[..28], "{profile}: header must stay clear");
                    assert_eq!(unprotect_rtp(&mut rx, &wire).unwrap(), packet, "{profile}");
                }
                let packet = rtcp_packet(SSRC, seq as u8);
                let wire = protect_rtcp(&mut tx, &packet);
                assert_eq!(wire[..8], packet[..8]);
                assert_eq!(wire[8..packet.len()] != packet[8..], encrypt_rtcp, "{profile}");
                assert_eq!(unprotect_rtcp(&mut rx, &wire).unwrap(), packet, "{profile}");
            }
            let stats = rx.stats();
            assert_eq!((stats.rtp_unprotected, stats.rtcp_unprotected), (200, 50));
            assert_eq!(stats.auth_failures + stats.replays + stats.too_old, 0);
        }
    }
}

#[test]
fn different_keys_do_not_authenticate() {
    for profile in SrtpProfile::ALL {
        let mut tx = session(profile, 1, SrtpConfig::default());
        let mut rx = session(profile, 2, SrtpConfig::default());
        let wire = protect_rtp(&mut tx, &rtp_packet(SSRC, 7, 160));
        assert_eq!(unprotect_rtp(&mut rx, &wire), Err(SrtpError::AuthenticationFailed));
        let wire = protect_rtcp(&mut tx, &rtcp_packet(SSRC, 1));
        assert_eq!(unprotect_rtcp(&mut rx, &wire), Err(SrtpError::AuthenticationFailed));
        assert_eq!(rx.stats().auth_failures, 2);
    }
}

/// Sequence numbers 65520..=65535 then 0..=20, delivered with packets from both sides of
/// the wrap interleaved. Every packet must decrypt to its own plaintext, which needs the
/// receiver to pick ROC 0 for the late pre-wrap packets and ROC 1 for the rest.
#[test]
fn rollover_across_the_wrap_with_reordering() {
    for profile in SrtpProfile::ALL {
        let mut tx = session(profile, 3, SrtpConfig::default());
        let seqs: Vec<u16> = (65520..=65535).chain(0..=20).collect();
        let sent: Vec<(Vec<u8>, Vec<u8>)> = seqs
            .iter()
            .map(|&seq| {
                let p = rtp_packet(SSRC, seq, 64);
                (protect_rtp(&mut tx, &p), p)
            })
            .collect();
        // Positions: the wrap is between index 15 (65535) and 16 (0).
        let order = [
            0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 13, 18, 15, 17, 19, 21, 20, 22, 24,
            23, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36,
        ];
        assert_eq!(order.len(), sent.len());
        let mut rx = session(profile, 3, SrtpConfig::default());
        for &i in &order {
            let (wire, plain) = &sent[i];
            assert_eq!(
                unprotect_rtp(&mut rx, wire).as_ref(),
                Ok(plain),
                "{profile} seq {}",
                seqs[i]
            );
        }
        // The sender really moved to ROC 1 after the wrap: a receiver that never saw the
        // wrap (ROC 0) cannot authenticate a post-wrap packet.
        let mut fresh = session(profile, 3, SrtpConfig::default());
        assert_eq!(unprotect_rtp(&mut fresh, &sent[20].0), Err(SrtpError::AuthenticationFailed));
        // And every packet replayed after the wrap is still recognised as a replay.
        for (wire, _) in &sent {
            assert!(matches!(unprotect_rtp(&mut rx, wire), Err(SrtpError::Replayed { .. })));
        }
    }
}

/// Several full wraps with continuous small reordering: nothing lost, nothing replayed.
#[test]
fn long_stream_through_several_rollovers() {
    let profile = SrtpProfile::AeadAes128Gcm;
    let mut tx = session(profile, 4, SrtpConfig::default());
    let mut rx = session(profile, 4, SrtpConfig::default());
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let start = 60_000u16;
    let total = 3 * 65_536 + 1000;
    for n in 0..total {
        let seq = start.wrapping_add(n as u16);
        pending.push(protect_rtp(&mut tx, &rtp_packet(SSRC, seq, 8)));
        // Deliver in pairs swapped, and every 97th packet three places late.
        if pending.len() == 4 {
            let order: &[usize] = if n % 97 == 3 { &[1, 2, 3, 0] } else { &[1, 0, 3, 2] };
            for &i in order {
                unprotect_rtp(&mut rx, &pending[i]).unwrap();
            }
            pending.clear();
        }
    }
    assert_eq!(rx.stats().rtp_unprotected, total as u64 - pending.len() as u64);
}

#[test]
fn replays_and_too_old_packets_are_rejected_and_counted() {
    for profile in SrtpProfile::ALL {
        let mut tx = session(profile, 5, SrtpConfig::default());
        let mut rx = session(profile, 5, SrtpConfig::default());
        let first = protect_rtp(&mut tx, &rtp_packet(SSRC, 100, 20));
        let late = protect_rtp(&mut tx, &rtp_packet(SSRC, 101, 20));
        unprotect_rtp(&mut rx, &first).unwrap();
        // Exact duplicate.
        assert_eq!(
            unprotect_rtp(&mut rx, &first),
            Err(SrtpError::Replayed { ssrc: SSRC, index: 100 })
        );
        // Advance the window past the late packet's reach.
        let mut last = Vec::new();
        for seq in 102..102 + REPLAY_WINDOW as u16 {
            last = protect_rtp(&mut tx, &rtp_packet(SSRC, seq, 20));
        }
        unprotect_rtp(&mut rx, &last).unwrap();
        assert_eq!(
            unprotect_rtp(&mut rx, &late),
            Err(SrtpError::TooOld { ssrc: SSRC, index: 101 })
        );
        // A reordered packet inside the window is fine, once.
        let inside = protect_rtp(&mut tx, &rtp_packet(SSRC, 102 + REPLAY_WINDOW as u16, 20));
        let newest = protect_rtp(&mut tx, &rtp_packet(SSRC, 103 + REPLAY_WINDOW as u16, 20));
        unprotect_rtp(&mut rx, &newest).unwrap();
        unprotect_rtp(&mut rx, &inside).unwrap();
        assert!(matches!(unprotect_rtp(&mut rx, &inside), Err(SrtpError::Replayed { .. })));

        // SRTCP keeps its own window over the SRTCP index.
        let r0 = protect_rtcp(&mut tx, &rtcp_packet(SSRC, 0));
        let r1 = protect_rtcp(&mut tx, &rtcp_packet(SSRC, 1));
        unprotect_rtcp(&mut rx, &r1).unwrap();
        unprotect_rtcp(&mut rx, &r0).unwrap();
        assert_eq!(unprotect_rtcp(&mut rx, &r1), Err(SrtpError::Replayed { ssrc: SSRC, index: 1 }));

        let stats = rx.stats();
        assert_eq!((stats.replays, stats.too_old, stats.auth_failures), (3, 1, 0), "{profile}");
    }
}

#[test]
fn replay_protection_can_be_disabled() {
    let config = SrtpConfig { replay_protection: false, ..SrtpConfig::default() };
    let mut tx = session(SrtpProfile::AeadAes128Gcm, 6, config.clone());
    let mut rx = session(SrtpProfile::AeadAes128Gcm, 6, config);
    let wire = protect_rtp(&mut tx, &rtp_packet(SSRC, 9, 20));
    for _ in 0..3 {
        unprotect_rtp(&mut rx, &wire).unwrap();
    }
}

/// Flipping any one bit of header, payload or tag makes the packet fail authentication
/// (or, for the version bits, fail parsing), and a failed packet leaves the state
/// untouched: the genuine packet is still accepted afterwards.
#[test]
fn tampering_is_rejected_everywhere() {
    for profile in SrtpProfile::ALL {
        let mut tx = session(profile, 7, SrtpConfig::default());
        let mut rx = session(profile, 7, SrtpConfig::default());
        let plain = rtp_packet(SSRC, 500, 40);
        let wire = protect_rtp(&mut tx, &plain);
        for bit in 0..wire.len() * 8 {
            let mut forged = wire.clone();
            forged[bit / 8] ^= 1 << (bit % 8);
            let err = unprotect_rtp(&mut rx, &forged).unwrap_err();
            assert!(
                matches!(
                    err,
                    SrtpError::AuthenticationFailed
                        | SrtpError::BadVersion(_)
                        | SrtpError::HeaderOverrun { .. }
                ),
                "{profile} bit {bit}: {err:?}"
            );
        }
        assert_eq!(unprotect_rtp(&mut rx, &wire).unwrap(), plain, "{profile}");

        let plain = rtcp_packet(SSRC, 3);
        let wire = protect_rtcp(&mut tx, &plain);
        for bit in 0..wire.len() * 8 {
            let mut forged = wire.clone();
            forged[bit / 8] ^= 1 << (bit % 8);
            assert!(unprotect_rtcp(&mut rx, &forged).is_err(), "{profile} rtcp bit {bit}");
        }
        assert_eq!(unprotect_rtcp(&mut rx, &wire).unwrap(), plain, "{profile}");
        assert!(rx.stats().auth_failures >= (wire.len() * 8 - 2) as u64);
    }
}

/// Re-keying mid-stream: packets protected under the old key that arrive after the
/// receiver switched still decrypt during the overlap; after the configured number of
/// new-key packets the old key is gone.
#[test]
fn rekey_overlap_accepts_in_flight_packets_then_expires() {
    for profile in SrtpProfile::ALL {
        let config = SrtpConfig { rekey_overlap_packets: 8, ..SrtpConfig::default() };
        let (new_key, new_salt) = keys(profile, 99);
        let mut tx = session(profile, 8, config.clone());
        let mut rx = session(profile, 8, config);

        let old: Vec<_> = (0..6).map(|s| protect_rtp(&mut tx, &rtp_packet(SSRC, s, 30))).collect();
        let old_rtcp = protect_rtcp(&mut tx, &rtcp_packet(SSRC, 1));
        tx.rekey(&new_key, &new_salt).unwrap();
        let new: Vec<_> = (6..20).map(|s| protect_rtp(&mut tx, &rtp_packet(SSRC, s, 30))).collect();
        rx.rekey(&new_key, &new_salt).unwrap();
        assert!(rx.has_previous_key());

        // Interleave: new, old, new, old ... (old ones are late but inside the window).
        for i in 0..5 {
            unprotect_rtp(&mut rx, &new[i]).unwrap();
            assert_eq!(
                unprotect_rtp(&mut rx, &old[i]).unwrap(),
                rtp_packet(SSRC, i as u16, 30),
                "{profile} old packet {i}"
            );
        }
        unprotect_rtcp(&mut rx, &old_rtcp).unwrap();
        assert_eq!(rx.stats().previous_key_used, 6);
        // Three more under the new key reach the overlap bound of 8: the old key goes.
        for packet in &new[5..8] {
            unprotect_rtp(&mut rx, packet).unwrap();
        }
        assert!(!rx.has_previous_key(), "{profile}");
        assert_eq!(unprotect_rtp(&mut rx, &old[5]), Err(SrtpError::AuthenticationFailed));
        for packet in &new[8..] {
            unprotect_rtp(&mut rx, packet).unwrap();
        }
        // A replay of an old-key packet is caught by the shared replay window.
        assert!(matches!(unprotect_rtp(&mut rx, &old[0]), Err(SrtpError::Replayed { .. })));
    }
}

/// The receiver may learn the new key before the sender starts using it; then packets
/// keep arriving under the old key, which must keep working (and stay cheap: the stream
/// remembers which key worked last).
#[test]
fn rekey_before_the_sender_switches_and_explicit_retire() {
    for profile in SrtpProfile::ALL {
        let (new_key, new_salt) = keys(profile, 42);
        let mut tx = session(profile, 9, SrtpConfig::default());
        let mut rx = session(profile, 9, SrtpConfig::default());
        rx.rekey(&new_key, &new_salt).unwrap();
        for seq in 0..20 {
            let p = rtp_packet(SSRC, seq, 100);
            assert_eq!(unprotect_rtp(&mut rx, &protect_rtp(&mut tx, &p)).unwrap(), p);
        }
        assert_eq!(rx.stats().previous_key_used, 20);
        tx.rekey(&new_key, &new_salt).unwrap();
        for seq in 20..30 {
            let p = rtp_packet(SSRC, seq, 100);
            assert_eq!(unprotect_rtp(&mut rx, &protect_rtp(&mut tx, &p)).unwrap(), p);
        }
        rx.retire_previous_key();
        assert!(!rx.has_previous_key());
        let mut stale = session(profile, 9, SrtpConfig::default());
        for seq in 0..31 {
            // Bring a second old-key sender to seq 30 so the packet is new to rx.
            let wire = protect_rtp(&mut stale, &rtp_packet(SSRC, seq, 100));
            if seq == 30 {
                assert_eq!(unprotect_rtp(&mut rx, &wire), Err(SrtpError::AuthenticationFailed));
            }
        }
        assert_eq!(rx.stats().auth_failures, 1);
    }
}

#[test]
fn stream_limit_is_enforced_and_forgeries_take_no_slot() {
    let profile = SrtpProfile::Aes128CmHmacSha1_80;
    let config = SrtpConfig { max_streams: 2, ..SrtpConfig::default() };
    let mut tx = session(profile, 10, config.clone());
    let mut rx = session(profile, 10, config);
    let mut attacker = session(profile, 66, SrtpConfig::default());

    // Forged packets for many SSRCs fail authentication and create no stream.
    for ssrc in 1000..1050 {
        let forged = protect_rtp(&mut attacker, &rtp_packet(ssrc, 1, 10));
        assert_eq!(unprotect_rtp(&mut rx, &forged), Err(SrtpError::AuthenticationFailed));
    }
    for ssrc in [1, 2] {
        let wire = protect_rtp(&mut tx, &rtp_packet(ssrc, 1, 10));
        unprotect_rtp(&mut rx, &wire).unwrap();
    }
    // A third SSRC is refused on both sides, before any crypto.
    let mut buf = rtp_packet(3, 1, 10);
    let len = buf.len();
    buf.resize(len + 10, 0);
    assert_eq!(tx.protect_rtp(&mut buf, len), Err(SrtpError::StreamLimit { limit: 2 }));
    let mut other_tx = session(profile, 10, SrtpConfig::default());
    let wire = protect_rtp(&mut other_tx, &rtp_packet(3, 1, 10));
    assert_eq!(unprotect_rtp(&mut rx, &wire), Err(SrtpError::StreamLimit { limit: 2 }));
    let wire = protect_rtcp(&mut other_tx, &rtcp_packet(3, 1));
    assert_eq!(unprotect_rtcp(&mut rx, &wire), Err(SrtpError::StreamLimit { limit: 2 }));
    assert_eq!(rx.stats().stream_limit, 2);
    assert_eq!(tx.stats().stream_limit, 1);
    // Known SSRCs keep working.
    let wire = protect_rtp(&mut tx, &rtp_packet(2, 2, 10));
    unprotect_rtp(&mut rx, &wire).unwrap();
}

#[test]
fn hostile_input_gives_typed_errors() {
    for profile in SrtpProfile::ALL {
        let mut rx = session(profile, 11, SrtpConfig::default());
        for len in 0..40 {
            let mut buf = vec![0x80u8; len];
            assert!(rx.unprotect_rtp(&mut buf).is_err());
            assert!(rx.unprotect_rtcp(&mut buf).is_err());
        }
        let mut short = vec![0x80, 0, 0, 1];
        assert!(matches!(rx.unprotect_rtp(&mut short), Err(SrtpError::TooShort { .. })));
        let mut v1 =
            protect_rtp(&mut session(profile, 11, SrtpConfig::default()), &rtp_packet(1, 1, 4));
        v1[0] = 0x40 | (v1[0] & 0x3f);
        assert_eq!(rx.unprotect_rtp(&mut v1), Err(SrtpError::BadVersion(1)));
        // 15 CSRCs claimed in a small packet.
        let mut overrun = vec![0x8f; 40];
        assert!(matches!(rx.unprotect_rtp(&mut overrun), Err(SrtpError::HeaderOverrun { .. })));
        assert!(rx.stats().malformed >= 3);

        // Protect without room for the tag.
        let mut tx = session(profile, 11, SrtpConfig::default());
        let mut buf = rtp_packet(1, 1, 4);
        let len = buf.len();
        assert_eq!(
            tx.protect_rtp(&mut buf, len),
            Err(SrtpError::BufferTooSmall { needed: len + profile.rtp_overhead(), available: len })
        );
        assert!(matches!(
            tx.protect_rtp(&mut buf, len + 100),
            Err(SrtpError::BufferTooSmall { .. })
        ));
        let mut buf = rtcp_packet(1, 1);
        let len = buf.len();
        assert!(matches!(tx.protect_rtcp(&mut buf, len), Err(SrtpError::BufferTooSmall { .. })));
        assert!(matches!(tx.protect_rtcp(&mut buf, 4), Err(SrtpError::TooShort { .. })));
    }
    let err =
        SrtpSession::new(SrtpProfile::AeadAes256Gcm, &[0; 16], &[0; 12], SrtpConfig::default())
            .unwrap_err();
    assert_eq!(err, SrtpError::InvalidKeyLength { expected: 32, actual: 16 });
    let err = SrtpSession::new(
        SrtpProfile::Aes128CmHmacSha1_32,
        &[0; 16],
        &[0; 12],
        SrtpConfig::default(),
    )
    .unwrap_err();
    assert_eq!(err, SrtpError::InvalidSaltLength { expected: 14, actual: 12 });
    let config = SrtpConfig { max_streams: 0, ..SrtpConfig::default() };
    assert!(matches!(
        SrtpSession::new(SrtpProfile::AeadAes128Gcm, &[0; 16], &[0; 12], config),
        Err(SrtpError::InvalidConfig(_))
    ));
    // The engine-wide error wraps it.
    let wrapped: sottovoce::Error = SrtpError::AuthenticationFailed.into();
    assert_eq!(wrapped.to_string(), "srtp: authentication failed");
}

#[test]
fn srtcp_index_counts_up_per_ssrc_and_is_visible_in_the_trailer() {
    for profile in SrtpProfile::ALL {
        let mut tx = session(profile, 12, SrtpConfig::default());
        for expected in 0..5u32 {
            for ssrc in [7, 8] {
                let wire = protect_rtcp(&mut tx, &rtcp_packet(ssrc, 0));
                let at = if profile.is_aead() { wire.len() - 4 } else { wire.len() - 14 };
                let word = u32::from_be_bytes(wire[at..at + 4].try_into().unwrap());
                assert_eq!(word, 0x8000_0000 | expected, "{profile}");
            }
        }
    }
}

#[test]
fn profiles_map_to_dtls_srtp_ids() {
    for profile in SrtpProfile::ALL {
        assert_eq!(SrtpProfile::from_dtls_srtp_id(profile.dtls_srtp_id()), Some(profile));
    }
    assert_eq!(SrtpProfile::from_dtls_srtp_id(0x0007), Some(SrtpProfile::AeadAes128Gcm));
    assert_eq!(SrtpProfile::from_dtls_srtp_id(0x0003), None);
    assert_eq!(SrtpProfile::Aes128CmHmacSha1_32.rtp_overhead(), 4);
    assert_eq!(SrtpProfile::Aes128CmHmacSha1_32.rtcp_overhead(), 14);
    assert_eq!(SrtpProfile::AeadAes256Gcm.rtcp_overhead(), 20);
}

#[test]
fn sessions_can_move_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<SrtpSession>();
    assert_send_sync::<SrtpError>();
}

/// Review finding 2: a session that only sends must not keep the previous key after a
/// re-key (nothing is in flight towards a sender). `rekey_outbound` retires it at once,
/// and the packet index keeps counting, so no (key, index) pair repeats.
#[test]
fn outbound_rekey_keeps_no_previous_key() {
    for profile in SrtpProfile::ALL {
        let (new_key, new_salt) = keys(profile, 77);
        let mut tx = session(profile, 8, SrtpConfig::default());
        let mut rx = session(profile, 8, SrtpConfig::default());
        let old = protect_rtp(&mut tx, &rtp_packet(SSRC, 1, 30));
        tx.rekey_outbound(&new_key, &new_salt).unwrap();
        assert!(!tx.has_previous_key(), "{profile}: the send session kept its old key");
        let new = protect_rtp(&mut tx, &rtp_packet(SSRC, 2, 30));
        unprotect_rtp(&mut rx, &old).unwrap();
        rx.rekey(&new_key, &new_salt).unwrap();
        assert_eq!(unprotect_rtp(&mut rx, &new).unwrap(), rtp_packet(SSRC, 2, 30));
    }
}

/// Review finding 1, at the session: the peer's next key is staged beside the current one.
/// Forged packets tried under it change nothing (the previous key of an overlap survives,
/// the counters and windows stay); the first genuine packet switches over.
#[test]
fn a_staged_next_key_switches_only_on_an_authenticated_packet() {
    for profile in SrtpProfile::ALL {
        let (k1, s1) = keys(profile, 11);
        let (k2, s2) = keys(profile, 22);
        let mut tx = session(profile, 8, SrtpConfig::default());
        let mut rx = session(profile, 8, SrtpConfig::default());
        // Epoch 0 -> 1 through the staged key, one epoch-0 packet held back in flight.
        let late = protect_rtp(&mut tx, &rtp_packet(SSRC, 1, 30));
        unprotect_rtp(&mut rx, &protect_rtp(&mut tx, &rtp_packet(SSRC, 2, 30))).unwrap();
        tx.rekey_outbound(&k1, &s1).unwrap();
        rx.stage_next_key(&k1, &s1).unwrap();
        let first_new = protect_rtp(&mut tx, &rtp_packet(SSRC, 3, 30));
        let mut buf = first_new.clone();
        assert_eq!(rx.unprotect_rtp_staged(&mut buf).unwrap(), rtp_packet(SSRC, 3, 30).len());
        assert!(rx.has_previous_key() && !rx.has_staged_key());

        // Forgeries claiming epoch 2 while epoch 0 packets are still in flight.
        rx.stage_next_key(&k2, &s2).unwrap();
        let failures = rx.stats().auth_failures;
        for seq in 100..120u16 {
            let mut forged = rtp_packet(SSRC, seq, 30);
            forged.extend_from_slice(&vec![0xA5; profile.rtp_overhead()]);
            assert_eq!(rx.unprotect_rtp_staged(&mut forged), Err(SrtpError::AuthenticationFailed));
            let mut forged_rtcp = rtcp_packet(SSRC, 1);
            forged_rtcp.extend_from_slice(&vec![0xA5; profile.rtcp_overhead()]);
            assert!(rx.unprotect_rtcp_staged(&mut forged_rtcp).is_err());
        }
        assert_eq!(rx.stats().auth_failures, failures + 40, "{profile}");
        assert!(rx.has_previous_key() && rx.has_staged_key(), "{profile}");
        // The late epoch-0 packet still opens under the previous key.
        assert_eq!(unprotect_rtp(&mut rx, &late).unwrap(), rtp_packet(SSRC, 1, 30), "{profile}");
        // And the genuine epoch-2 packet switches again.
        tx.rekey_outbound(&k2, &s2).unwrap();
        let mut buf = protect_rtp(&mut tx, &rtp_packet(SSRC, 4, 30));
        rx.unprotect_rtp_staged(&mut buf).unwrap();
        assert!(!rx.has_staged_key());
        // Without a staged key nothing is tried.
        let mut buf = protect_rtp(&mut tx, &rtp_packet(SSRC, 5, 30));
        assert_eq!(rx.unprotect_rtp_staged(&mut buf), Err(SrtpError::AuthenticationFailed));
        assert_eq!(unprotect_rtp(&mut rx, &buf).unwrap(), rtp_packet(SSRC, 5, 30));
    }
}
