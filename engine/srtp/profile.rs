//! The protection profiles (crypto suites) this layer implements.

use std::fmt;

/// An SRTP protection profile: cipher, key sizes and authentication tag sizes.
///
/// The names follow the IANA "DTLS-SRTP Protection Profiles" registry (RFC 5764, RFC 7714).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SrtpProfile {
    // The counter-mode profiles are checked against RFC 3711 vectors and libsrtp and kept
    // for gateways that only speak them; the call's own suites (`SrtpSuite`) are AEAD.
    /// AES-128 counter mode with an 80-bit HMAC-SHA1 tag (RFC 3711), DTLS-SRTP id 0x0001.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    Aes128CmHmacSha1_80,
    /// AES-128 counter mode with a 32-bit HMAC-SHA1 tag on SRTP and an 80-bit tag on
    /// SRTCP (RFC 3711, RFC 5764), DTLS-SRTP id 0x0002.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    Aes128CmHmacSha1_32,
    /// AES-128-GCM with a 16-byte tag (RFC 7714), DTLS-SRTP id 0x0007.
    AeadAes128Gcm,
    /// AES-256-GCM with a 16-byte tag (RFC 7714), DTLS-SRTP id 0x0008.
    AeadAes256Gcm,
}

impl SrtpProfile {
    /// Every profile, in DTLS-SRTP id order.
    #[cfg(any(test, feature = "testing"))]
    pub const ALL: [SrtpProfile; 4] = [
        SrtpProfile::Aes128CmHmacSha1_80,
        SrtpProfile::Aes128CmHmacSha1_32,
        SrtpProfile::AeadAes128Gcm,
        SrtpProfile::AeadAes256Gcm,
    ];

    /// Master (and session) key length in bytes.
    pub const fn master_key_len(self) -> usize {
        match self {
            Self::AeadAes256Gcm => 32,
            _ => 16,
        }
    }

    /// Master (and session) salt length in bytes: 14 for AES-CM, 12 for GCM.
    pub const fn master_salt_len(self) -> usize {
        if self.is_aead() { 12 } else { 14 }
    }

    /// Whether this is an AEAD (GCM) profile.
    pub const fn is_aead(self) -> bool {
        matches!(self, Self::AeadAes128Gcm | Self::AeadAes256Gcm)
    }

    /// Bytes that protecting an RTP packet appends (the authentication tag).
    pub const fn rtp_overhead(self) -> usize {
        match self {
            Self::Aes128CmHmacSha1_80 => 10,
            Self::Aes128CmHmacSha1_32 => 4,
            Self::AeadAes128Gcm | Self::AeadAes256Gcm => 16,
        }
    }

    /// Bytes that protecting an RTCP packet appends (tag plus the 4-byte E||SRTCP index).
    /// SRTCP always carries an 80-bit HMAC tag for the AES-CM profiles (RFC 5764 4.1.2).
    pub const fn rtcp_overhead(self) -> usize {
        self.rtcp_tag_len() + 4
    }

    pub(crate) const fn rtcp_tag_len(self) -> usize {
        if self.is_aead() { 16 } else { 10 }
    }

    /// The DTLS-SRTP protection profile id (RFC 5764 4.1.2, RFC 7714 14.2).
    #[cfg(any(test, feature = "testing"))]
    pub const fn dtls_srtp_id(self) -> u16 {
        match self {
            Self::Aes128CmHmacSha1_80 => 0x0001,
            Self::Aes128CmHmacSha1_32 => 0x0002,
            Self::AeadAes128Gcm => 0x0007,
            Self::AeadAes256Gcm => 0x0008,
        }
    }

    /// The profile for a DTLS-SRTP protection profile id, if this layer implements it.
    #[cfg(any(test, feature = "testing"))]
    pub fn from_dtls_srtp_id(id: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.dtls_srtp_id() == id)
    }

    /// The registry name, e.g. `SRTP_AEAD_AES_128_GCM`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Aes128CmHmacSha1_80 => "SRTP_AES128_CM_HMAC_SHA1_80",
            Self::Aes128CmHmacSha1_32 => "SRTP_AES128_CM_HMAC_SHA1_32",
            Self::AeadAes128Gcm => "SRTP_AEAD_AES_128_GCM",
            Self::AeadAes256Gcm => "SRTP_AEAD_AES_256_GCM",
        }
    }
}

impl fmt::Debug for SrtpProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for SrtpProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
