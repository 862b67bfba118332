//! Fuzzes SRTP/SRTCP unprotect with hostile bytes, and protect -> unprotect round trips
//! (with one flipped bit) so the fuzzer also reaches the code behind authentication.
//! One receiving session sees the whole input, so replay windows and rollover counters
//! carry state from record to record.
//!
//! Input layout: byte 0 picks the profile (bits 0-1); then records of `control (u8) |
//! bit to flip (u16) | packet length (u16) | packet`. Control bit 0: RTCP instead of RTP;
//! bit 1: round trip instead of hostile bytes.

#[path = "input.rs"]
mod input;

use input::Input;
use sottovoce::srtp::{SrtpConfig, SrtpError, SrtpProfile, SrtpSession};

fn session(profile: SrtpProfile) -> SrtpSession {
    let key = vec![0x42; profile.master_key_len()];
    let salt = vec![0x24; profile.master_salt_len()];
    SrtpSession::new(profile, &key, &salt, SrtpConfig::default()).expect("valid key sizes")
}

fn unprotect(rx: &mut SrtpSession, rtcp: bool, buf: &mut [u8]) -> Result<usize, SrtpError> {
    if rtcp { rx.unprotect_rtcp(buf) } else { rx.unprotect_rtp(buf) }
}

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let Some(profile) = input.u8() else { return };
    let profile = SrtpProfile::ALL[usize::from(profile & 3)];
    let mut rx = session(profile);
    let mut tx = session(profile);

    while let (Some(control), Some(flip), Some(packet)) =
        (input.u8(), input.u16(), input.len16_bytes())
    {
        let rtcp = control & 1 != 0;
        if control & 2 == 0 {
            let mut buf = packet.to_vec();
            // Guessing a tag is out of reach; anything that "authenticates" is a bug.
            let result = unprotect(&mut rx, rtcp, &mut buf);
            assert!(result.is_err(), "{profile}: arbitrary bytes authenticated");
            continue;
        }

        let overhead = if rtcp { profile.rtcp_overhead() } else { profile.rtp_overhead() };
        let mut buf = packet.to_vec();
        buf.resize(packet.len() + overhead, 0);
        let protected = if rtcp {
            tx.protect_rtcp(&mut buf, packet.len())
        } else {
            tx.protect_rtp(&mut buf, packet.len())
        };
        let Ok(len) = protected else { continue };
        buf.truncate(len);

        let mut forged = buf.clone();
        let bit = usize::from(flip) % (len * 8);
        forged[bit / 8] ^= 1 << (bit % 8);
        let result = unprotect(&mut rx, rtcp, &mut forged);
        assert!(result.is_err(), "{profile}: a flipped bit went unnoticed");

        match unprotect(&mut rx, rtcp, &mut buf) {
            Ok(n) => assert_eq!(&buf[..n], packet, "{profile}: round trip changed the packet"),
            // The sender numbers RTP packets by their sequence number, so an input that
            // repeats one (or goes far back) makes a genuine replay; SRTCP indices are the
            // sender's own counter and never repeat.
            Err(SrtpError::Replayed { .. } | SrtpError::TooOld { .. }) if !rtcp => {}
            Err(error) => panic!("{profile}: a genuine packet was refused: {error}"),
        }
    }
}
