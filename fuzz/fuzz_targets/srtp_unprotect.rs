//! Fuzzes SRTP/SRTCP unprotect with hostile bytes, and protect -> unprotect round trips
//! (with one flipped bit) so the fuzzer also reaches the code behind authentication.
//!
//! Input layout: byte 0 picks the profile (bits 0-1), RTP or RTCP (bit 2) and the mode
//! (bit 3: round trip); bytes 1-2 pick the bit to flip; the rest is the packet.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sottovoce::srtp::{SrtpConfig, SrtpProfile, SrtpSession};

fn session(profile: SrtpProfile) -> SrtpSession {
    let key = vec![0x42; profile.master_key_len()];
    let salt = vec![0x24; profile.master_salt_len()];
    SrtpSession::new(profile, &key, &salt, SrtpConfig::default()).expect("valid key sizes")
}

fuzz_target!(|data: &[u8]| {
    let [control, flip_hi, flip_lo, packet @ ..] = data else { return };
    let profile = SrtpProfile::ALL[usize::from(control & 3)];
    let rtcp = control & 4 != 0;
    let round_trip = control & 8 != 0;
    let mut rx = session(profile);

    if !round_trip {
        let mut buf = packet.to_vec();
        let result = if rtcp { rx.unprotect_rtcp(&mut buf) } else { rx.unprotect_rtp(&mut buf) };
        // Guessing a tag is out of reach; anything that "authenticates" is a bug.
        assert!(result.is_err(), "{profile}: arbitrary bytes authenticated");
        return;
    }

    let mut tx = session(profile);
    let overhead = if rtcp { profile.rtcp_overhead() } else { profile.rtp_overhead() };
    let mut buf = packet.to_vec();
    buf.resize(packet.len() + overhead, 0);
    let protected = if rtcp {
        tx.protect_rtcp(&mut buf, packet.len())
    } else {
        tx.protect_rtp(&mut buf, packet.len())
    };
    let Ok(len) = protected else { return };
    buf.truncate(len);

    let mut forged = buf.clone();
    let bit = usize::from(u16::from_be_bytes([*flip_hi, *flip_lo])) % (len * 8);
    forged[bit / 8] ^= 1 << (bit % 8);
    let result = if rtcp { rx.unprotect_rtcp(&mut forged) } else { rx.unprotect_rtp(&mut forged) };
    assert!(result.is_err(), "{profile}: a flipped bit went unnoticed");

    let opened = if rtcp { rx.unprotect_rtcp(&mut buf) } else { rx.unprotect_rtp(&mut buf) };
    let n = opened.expect("a genuine packet must authenticate");
    assert_eq!(&buf[..n], packet, "{profile}: round trip changed the packet");
});
