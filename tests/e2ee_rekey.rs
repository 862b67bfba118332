//! Re-keying under continuous traffic: packets in flight across the switch, reordered,
//! none lost; the old epoch ends after a bounded overlap; forged epochs switch nothing.

use std::time::{Duration, Instant};

use ring::aead::Aad;
use sottovoce::e2ee::*;

#[path = "support/gcm_under_keys.rs"]
mod gcm_under_keys;
use gcm_under_keys::{aead_key, nonce};

#[path = "support/handshake.rs"]
mod handshake;

/// A packet on the wire: sequence number, key epoch (as an MKI would carry it), ciphertext.
#[derive(Clone)]
struct Packet {
    seq: u64,
    epoch: u8,
    sent_at: Instant,
    ciphertext: Vec<u8>,
}

fn payload(seq: u64) -> Vec<u8> {
    format!("audio frame {seq:05}").into_bytes()
}

fn send(outbound: &mut OutboundKeys, seq: u64, now: Instant) -> Packet {
    let (epoch, keys) = outbound.keys_for_next_packet(now);
    let mut ciphertext = payload(seq);
    aead_key(keys)
        .seal_in_place_append_tag(nonce(keys, seq), Aad::from([epoch]), &mut ciphertext)
        .expect("seal");
    Packet { seq, epoch, sent_at: now, ciphertext }
}

/// The receive path as the call layer drives it: look up, open, then confirm.
fn receive(inbound: &mut InboundKeys, packet: &Packet, now: Instant) -> Result<Vec<u8>, E2eeError> {
    inbound.poll(now);
    let keys = inbound.keys_for(packet.epoch, now)?;
    let mut buffer = packet.ciphertext.clone();
    let plain = aead_key(keys)
        .open_in_place(nonce(keys, packet.seq), Aad::from([packet.epoch]), &mut buffer)
        .map_err(|_| E2eeError::AuthenticationFailed(packet.seq))?
        .to_vec();
    inbound.authenticated(packet.epoch, now);
    Ok(plain)
}

/// Deterministic jitter: 0..=max_ms, from a small LCG so the test is reproducible.
struct Jitter(u64);

impl Jitter {
    fn next_ms(&mut self, max_ms: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 33) % (max_ms + 1)
    }
}

#[test]
fn rekeying_under_continuous_reordered_traffic_loses_no_packet() {
    let (alice, bob) = handshake::agreed_call_keys();
    let t0 = Instant::now();
    let policy = RekeyPolicy {
        rekey_after_packets: 150,
        rekey_after: Duration::from_secs(3600),
        overlap: Duration::from_secs(1),
        overlap_packets: 4096,
    };
    let (mut alice_send, _) = alice.into_ratchets(policy, t0);
    let (_, mut bob_receive) = bob.into_ratchets(policy, t0);

    // 2000 packets every 20 ms, each delayed 0..=250 ms: up to a dozen packets in flight,
    // arriving out of order, across 13 key switches.
    let mut jitter = Jitter(7);
    let mut in_flight: Vec<(Instant, Packet)> = (0..2000u64)
        .map(|seq| {
            let sent_at = t0 + Duration::from_millis(20 * seq);
            let packet = send(&mut alice_send, seq, sent_at);
            (sent_at + Duration::from_millis(jitter.next_ms(250)), packet)
        })
        .collect();
    assert_eq!(alice_send.epoch(), 13, "2000 packets / 150 per epoch");
    in_flight.sort_by_key(|(arrival, packet)| (*arrival, packet.seq));

    let mut received = vec![false; 2000];
    let mut newest_epoch_seen = 0u8;
    let mut old_epoch_after_new = 0;
    for (arrival, packet) in &in_flight {
        if packet.epoch < newest_epoch_seen {
            old_epoch_after_new += 1;
        }
        newest_epoch_seen = newest_epoch_seen.max(packet.epoch);
        let plain = receive(&mut bob_receive, packet, *arrival)
            .unwrap_or_else(|e| panic!("packet {} (epoch {}) lost: {e}", packet.seq, packet.epoch));
        assert_eq!(plain, payload(packet.seq));
        assert!(!received[packet.seq as usize], "duplicate");
        received[packet.seq as usize] = true;
    }
    assert!(received.iter().all(|&r| r), "every packet decrypted");
    assert!(
        old_epoch_after_new > 10,
        "the test really reorders across switches ({old_epoch_after_new})"
    );
    assert_eq!(bob_receive.epoch(), 13);

    // The overlap is bounded: a copy of the last old-epoch packet, held back beyond the
    // overlap, no longer opens.
    let last_old = in_flight
        .iter()
        .map(|(_, p)| p)
        .filter(|p| p.epoch == 12)
        .max_by_key(|p| p.seq)
        .unwrap()
        .clone();
    let late = last_old.sent_at + Duration::from_secs(5);
    assert_eq!(receive(&mut bob_receive, &last_old, late), Err(E2eeError::EpochExpired(12)));
    assert_eq!(bob_receive.next_timeout(), None, "expired keys are wiped by poll");
    assert_eq!(receive(&mut bob_receive, &last_old, late), Err(E2eeError::EpochExpired(12)));
    // Two epochs back is simply unknown.
    let older = in_flight.iter().map(|(_, p)| p).find(|p| p.epoch == 11).unwrap();
    assert_eq!(receive(&mut bob_receive, older, late), Err(E2eeError::UnknownEpoch(11)));
}

#[test]
fn the_overlap_also_ends_after_a_packet_budget() {
    let (alice, bob) = handshake::agreed_call_keys();
    let t0 = Instant::now();
    let policy =
        RekeyPolicy { rekey_after_packets: 10, overlap_packets: 3, ..RekeyPolicy::default() };
    let (mut send_keys, _) = alice.into_ratchets(policy, t0);
    let (_, mut receive_keys) = bob.into_ratchets(policy, t0);
    let packets: Vec<Packet> = (0..20).map(|seq| send(&mut send_keys, seq, t0)).collect();
    assert!(
        packets[..10].iter().all(|p| p.epoch == 0) && packets[10..].iter().all(|p| p.epoch == 1)
    );

    // Epoch 1 arrives first; then epoch-0 stragglers: three fit the budget, the fourth not.
    receive(&mut receive_keys, &packets[10], t0).unwrap();
    for packet in &packets[0..3] {
        receive(&mut receive_keys, packet, t0).unwrap();
    }
    assert_eq!(receive(&mut receive_keys, &packets[3], t0), Err(E2eeError::EpochExpired(0)));
    for packet in &packets[11..] {
        receive(&mut receive_keys, packet, t0).unwrap();
    }
}

#[test]
fn a_forged_epoch_switches_nothing_and_unknown_epochs_are_refused() {
    let (alice, bob) = handshake::agreed_call_keys();
    let t0 = Instant::now();
    let (mut send_keys, _) = alice.into_ratchets(RekeyPolicy::default(), t0);
    let (_, mut receive_keys) = bob.into_ratchets(RekeyPolicy::default(), t0);
    let genuine = send(&mut send_keys, 0, t0);

    // An attacker relabels garbage as the next epoch: it does not authenticate, so the
    // receiver stays on epoch 0 and starts no overlap clock.
    let forged = Packet { seq: 1, epoch: 1, sent_at: t0, ciphertext: vec![0xab; 40] };
    assert!(matches!(
        receive(&mut receive_keys, &forged, t0),
        Err(E2eeError::AuthenticationFailed(_))
    ));
    assert_eq!(receive_keys.epoch(), 0);
    assert_eq!(receive_keys.next_timeout(), None);
    let much_later = t0 + Duration::from_secs(60);
    assert_eq!(receive(&mut receive_keys, &genuine, much_later).unwrap(), payload(0));

    // Epochs beyond the next one are unknown (the sender cannot skip ahead).
    let skipped = Packet { epoch: 2, ..genuine.clone() };
    assert_eq!(receive(&mut receive_keys, &skipped, much_later), Err(E2eeError::UnknownEpoch(2)));
}

#[test]
fn the_sender_rekeys_on_time_as_well_as_on_packet_count() {
    let (alice, bob) = handshake::agreed_call_keys();
    let t0 = Instant::now();
    let policy = RekeyPolicy { rekey_after: Duration::from_secs(1), ..RekeyPolicy::default() };
    let (mut send_keys, _) = alice.into_ratchets(policy, t0);
    let (_, mut receive_keys) = bob.into_ratchets(policy, t0);
    let first = send(&mut send_keys, 0, t0);
    let second = send(&mut send_keys, 1, t0 + Duration::from_millis(1500));
    let third = send(&mut send_keys, 2, t0 + Duration::from_millis(1600));
    assert_eq!((first.epoch, second.epoch, third.epoch), (0, 1, 1));
    for packet in [&second, &first, &third] {
        receive(&mut receive_keys, packet, t0 + Duration::from_millis(1700)).unwrap();
    }
    // Each epoch has its own key; a forced re-key moves on at once.
    let now = t0 + Duration::from_millis(1700);
    let epoch1_key = send_keys.keys_for_next_packet(now).1.master_key().to_vec();
    assert_eq!(send_keys.rekey(now), 2);
    assert_ne!(send_keys.keys_for_next_packet(now).1.master_key(), &epoch1_key[..]);
}
