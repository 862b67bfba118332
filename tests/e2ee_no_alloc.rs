//! The per-frame and per-packet paths do not allocate once warmed up: SFrame protect and
//! unprotect reuse the caller's buffers, and re-keying lookups work on fixed-size arrays.

use std::time::{Duration, Instant};

use sottovoce::e2ee::*;

#[path = "support/handshake.rs"]
mod handshake;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

/// Counts allocations made by `f` on this thread. Everything measured here runs on the
/// calling thread; counting the whole process also counted whatever other threads of the
/// test harness allocated meanwhile (a loaded full-suite run once saw 4; not reproduced in
/// repeated runs of this binary, and the SFrame and ratchet code spawn no threads).
fn allocations_in(f: impl FnOnce()) -> usize {
    let before = counting_alloc::thread_allocations();
    f();
    (counting_alloc::thread_allocations() - before) as usize
}

#[test]
fn steady_state_paths_do_not_allocate() {
    // SFrame: warm the buffers with the largest frame, then run mixed sizes.
    let mut sender = SframeSender::new(5, SframeSuite::default()).unwrap();
    let mut receiver = SframeReceiver::new(3);
    receiver.install(sender.key_material()).unwrap();
    let frames: Vec<Vec<u8>> = [100usize, 1_200, 50_000].iter().map(|&n| vec![0x33; n]).collect();
    let metadata = [0x90u8, 0x60, 0x01, 0x02];
    let mut wire = Vec::new();
    let mut plain = Vec::new();
    sender.protect(&frames[2], &metadata, &mut wire).unwrap();
    receiver.unprotect(&wire, &metadata, &mut plain).unwrap();
    wire.reserve(64);
    plain.reserve(64);

    let sframe_allocations = allocations_in(|| {
        for i in 0..300 {
            let frame = &frames[i % 3];
            sender.protect(frame, &metadata, &mut wire).unwrap();
            let opened = receiver.unprotect(&wire, &metadata, &mut plain).unwrap();
            assert_eq!(opened.len(), frame.len());
            // Rejections are allocation-free too.
            assert!(receiver.unprotect(&wire, &metadata, &mut plain).is_err());
        }
    });
    assert_eq!(sframe_allocations, 0, "SFrame protect/unprotect allocated");

    // Re-keying: per-packet key lookups across an epoch switch.
    let (alice_keys, bob_keys) = handshake::agreed_call_keys();
    let t0 = Instant::now();
    let policy = RekeyPolicy { rekey_after_packets: 50, ..RekeyPolicy::default() };
    let (mut outbound, _) = alice_keys.into_ratchets(policy, t0);
    let (_, mut inbound) = bob_keys.into_ratchets(policy, t0);
    let rekey_allocations = allocations_in(|| {
        for packet in 0..500u64 {
            let now = t0 + Duration::from_millis(20 * packet);
            let (epoch, keys) = outbound.keys_for_next_packet(now);
            let key_byte = keys.master_key()[0];
            let received = inbound.keys_for(epoch, now).unwrap();
            assert_eq!(received.master_key()[0], key_byte);
            inbound.authenticated(epoch, now);
            inbound.poll(now);
        }
    });
    assert_eq!(rekey_allocations, 0, "re-keying lookups allocated");
}
