//! The packet path does not allocate: a counting global allocator watches protect and
//! unprotect of RTP and RTCP, for every profile, including a re-key overlap.

use sottovoce::srtp::{SrtpConfig, SrtpProfile, SrtpSession};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::thread_allocations as allocations;

#[test]
fn steady_state_protect_and_unprotect_do_not_allocate() {
    for profile in SrtpProfile::ALL {
        let key = vec![3u8; profile.master_key_len()];
        let salt = vec![4u8; profile.master_salt_len()];
        let new_key = vec![5u8; profile.master_key_len()];
        let mut tx = SrtpSession::new(profile, &key, &salt, SrtpConfig::default()).unwrap();
        let mut rx = SrtpSession::new(profile, &key, &salt, SrtpConfig::default()).unwrap();
        let mut buf = vec![0u8; 1500];
        let mut rtcp = vec![0u8; 200];
        // Keys installed on both sides ahead of time (control path may allocate).
        rx.rekey(&new_key, &salt).unwrap();
        let mut rekey_allocations = 0;
        let before = allocations();
        for n in 0..2000u32 {
            let seq = 65_000u16.wrapping_add(n as u16);
            for ssrc in [1u32, 2, 3] {
                buf[..12].copy_from_slice(&[0x80, 96, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
                buf[2..4].copy_from_slice(&seq.to_be_bytes());
                buf[8..12].copy_from_slice(&ssrc.to_be_bytes());
                buf[12..1212].fill(n as u8);
                let len = tx.protect_rtp(&mut buf, 1212).unwrap();
                assert_eq!(rx.unprotect_rtp(&mut buf[..len]).unwrap(), 1212);
            }
            if n == 1000 {
                // The sender switches mid-stream; the receiver's overlap is already set up.
                // Re-keying is control path: its own allocations are not counted.
                let at = allocations();
                tx.rekey(&new_key, &salt).unwrap();
                rekey_allocations = allocations() - at;
            }
            if n % 50 == 0 {
                rtcp[..8].copy_from_slice(&[0x80, 200, 0, 6, 0, 0, 0, 1]);
                let len = tx.protect_rtcp(&mut rtcp, 28).unwrap();
                assert_eq!(rx.unprotect_rtcp(&mut rtcp[..len]).unwrap(), 28);
            }
        }
        let during = allocations() - before - rekey_allocations;
        assert_eq!(during, 0, "{profile}: the packet path allocated");
        assert!(rx.stats().previous_key_used > 0);
    }
}
