//! SRTP and SRTCP (RFC 3711) with the AES-CM/HMAC-SHA1 and AES-GCM (RFC 7714) profiles.
//!
//! Everything that leaves the engine is an SRTP packet. [`SrtpSession`] protects and
//! unprotects RTP and RTCP in place, in the caller's buffer, without allocating:
//!
//! * **Profiles** ([`SrtpProfile`]): `AES_CM_128_HMAC_SHA1_80`, `AES_CM_128_HMAC_SHA1_32`,
//!   `AEAD_AES_128_GCM`, `AEAD_AES_256_GCM`.
//! * **Keys**: session keys derived from the master key and salt with the AES-CM PRF
//!   (key derivation rate 0), zeroized on drop and never printed.
//! * **Per-SSRC state**, created on first use up to [`SrtpConfig::max_streams`]: the
//!   rollover counter estimated from sequence numbers (RFC 3711 appendix A), the SRTCP
//!   index, and a [`REPLAY_WINDOW`]-packet replay window.
//! * **Re-keying** ([`SrtpSession::rekey`]) with a bounded overlap during which packets
//!   still in flight under the previous key decrypt.
//! * **Counters** ([`SrtpStats`]) for authentication failures, replays, too-old packets,
//!   refused SSRCs and malformed input; tags are compared in constant time.
//!
//! See `docs/srtp.md` for the buffer contract, the rollover and replay rules and how the
//! re-key overlap works.

mod error;
mod header;
mod keys;
mod profile;
mod replay;
mod session;
#[cfg(test)]
mod vectors;

#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use error::SrtpError;
#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use profile::SrtpProfile;
#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use replay::REPLAY_WINDOW;
#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use session::{SrtpConfig, SrtpSession, SrtpStats};
