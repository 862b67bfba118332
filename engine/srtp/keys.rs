//! Session keys: the AES-CM key derivation (RFC 3711 4.3, RFC 6188, RFC 7714 11) and the
//! per-packet transforms built on them (RFC 3711 4.1.1/4.2, RFC 7714 8-9).
//!
//! Primitives only from audited crates: AES-CM keystream and the KDF from RustCrypto's
//! `aes` + `ctr`, HMAC-SHA1 from RustCrypto's `hmac` + `sha1` (SHA-NI where the CPU has
//! it; `ring`'s SHA-1 is portable code and measured ~5x slower), AES-GCM from `ring`.
//! Raw key bytes live only in [`Zeroizing`] temporaries and are wiped as soon as the
//! primitives are keyed; the AES key schedules and HMAC pad states of the RustCrypto
//! crates are wiped on drop. `ring` keeps its own expanded GCM key state, which it does
//! not wipe on drop (it offers no way to).

use std::fmt;

use aes::cipher::{InnerIvInit, KeyInit, KeyIvInit, StreamCipher};
use aes::{Aes128, Aes256};
use hmac::Mac;
use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

type HmacSha1 = hmac::Hmac<sha1::Sha1>;

use super::header::RTCP_CLEAR_PREFIX;
use super::{SrtpError, SrtpProfile};

/// Key derivation labels (RFC 3711 4.3.1).
#[derive(Clone, Copy)]
#[repr(u8)]
pub(crate) enum Label {
    RtpCipher = 0x00,
    RtpAuth = 0x01,
    RtpSalt = 0x02,
    RtcpCipher = 0x03,
    RtcpAuth = 0x04,
    RtcpSalt = 0x05,
}

/// HMAC-SHA1 session authentication key length (RFC 3711 4.2.1, n_a = 160 bits).
const AUTH_KEY_LEN: usize = 20;
/// AES-CM session salt length (RFC 3711 4.3.1, n_s = 112 bits).
const CM_SALT_LEN: usize = 14;
/// GCM session salt length (RFC 7714 8.1, 96 bits).
const GCM_SALT_LEN: usize = 12;
/// GCM tag length (RFC 7714 uses the full 16-byte tag).
pub(crate) const GCM_TAG_LEN: usize = 16;
/// The E flag of the SRTCP index word: set when the payload is encrypted.
const SRTCP_E_FLAG: u32 = 0x8000_0000;
/// SRTCP index word length.
const SRTCP_INDEX_LEN: usize = 4;

/// The AES-CM PRF with key derivation rate 0: fills `out` with the keystream of AES in
/// counter mode under the master key, starting at `(master_salt XOR label << 48) << 16`.
///
/// A 12-byte (GCM) master salt is padded on the right to 14 bytes (RFC 7714 11).
pub(crate) fn derive(
    master_key: &[u8],
    master_salt: &[u8],
    label: Label,
    out: &mut [u8],
) -> Result<(), SrtpError> {
    let mut iv = Zeroizing::new([0u8; 16]);
    let salt_len = master_salt.len().min(CM_SALT_LEN);
    iv[..salt_len].copy_from_slice(&master_salt[..salt_len]);
    // key_id = label || (index DIV kdr), right-aligned under the 112-bit salt; with
    // kdr = 0 the index part is zero, so only the label byte changes.
    iv[7] ^= label as u8;
    out.fill(0);
    let bad_key = |_| SrtpError::InvalidKeyLength { expected: 16, actual: master_key.len() };
    if master_key.len() == 32 {
        ctr::Ctr128BE::<Aes256>::new_from_slices(master_key, &iv[..])
            .map_err(bad_key)?
            .apply_keystream(out);
    } else {
        ctr::Ctr128BE::<Aes128>::new_from_slices(master_key, &iv[..])
            .map_err(bad_key)?
            .apply_keystream(out);
    }
    Ok(())
}

/// AES-128 counter mode + HMAC-SHA1 keys for one of SRTP or SRTCP.
pub(crate) struct CmKeys {
    cipher: Aes128,
    salt: Zeroizing<[u8; CM_SALT_LEN]>,
    /// HMAC keyed once: holds the hashed inner and outer pads, cloned per packet.
    auth: HmacSha1,
}

impl CmKeys {
    pub(crate) fn new(key: &[u8], salt: &[u8], auth_key: &[u8]) -> Result<Self, SrtpError> {
        let cipher = Aes128::new_from_slice(key)
            .map_err(|_| SrtpError::InvalidKeyLength { expected: 16, actual: key.len() })?;
        let salt: [u8; CM_SALT_LEN] = salt.try_into().map_err(|_| {
            SrtpError::InvalidSaltLength { expected: CM_SALT_LEN, actual: salt.len() }
        })?;
        let auth = HmacSha1::new_from_slice(auth_key).map_err(|_| SrtpError::InvalidKeyLength {
            expected: AUTH_KEY_LEN,
            actual: auth_key.len(),
        })?;
        Ok(Self { cipher, salt: Zeroizing::new(salt), auth })
    }

    fn derive(
        master_key: &[u8],
        master_salt: &[u8],
        labels: [Label; 3],
    ) -> Result<Self, SrtpError> {
        let mut key = Zeroizing::new([0u8; 16]);
        let mut salt = Zeroizing::new([0u8; CM_SALT_LEN]);
        let mut auth = Zeroizing::new([0u8; AUTH_KEY_LEN]);
        derive(master_key, master_salt, labels[0], &mut key[..])?;
        derive(master_key, master_salt, labels[1], &mut auth[..])?;
        derive(master_key, master_salt, labels[2], &mut salt[..])?;
        Self::new(&key[..], &salt[..], &auth[..])
    }

    /// XORs the AES-CM keystream for (`ssrc`, `index`) into `data` (RFC 3711 4.1.1):
    /// IV = (salt * 2^16) XOR (SSRC * 2^64) XOR (index * 2^16).
    pub(crate) fn apply_keystream(&self, ssrc: u32, index: u64, data: &mut [u8]) {
        let mut iv = Zeroizing::new([0u8; 16]);
        iv[..CM_SALT_LEN].copy_from_slice(&self.salt[..]);
        for (dst, src) in iv[4..8].iter_mut().zip(ssrc.to_be_bytes()) {
            *dst ^= src;
        }
        for (dst, src) in iv[8..14].iter_mut().zip(&index.to_be_bytes()[2..]) {
            *dst ^= src;
        }
        // Keyed by reference: the expanded AES key is reused, never copied per packet.
        let core = ctr::CtrCore::<&Aes128, ctr::flavors::Ctr128BE>::inner_iv_init(
            &self.cipher,
            (&*iv).into(),
        );
        ctr::Ctr128BE::from_core(core).apply_keystream(data);
    }

    fn mac(&self, authenticated: &[u8], suffix: &[u8]) -> HmacSha1 {
        let mut mac = self.auth.clone();
        mac.update(authenticated);
        mac.update(suffix);
        mac
    }

    /// Writes the HMAC-SHA1 of `authenticated` followed by `suffix` (the ROC for SRTP,
    /// nothing for SRTCP), truncated to `out.len()` bytes, into `out`.
    fn tag(&self, authenticated: &[u8], suffix: &[u8], out: &mut [u8]) {
        let full = self.mac(authenticated, suffix).finalize().into_bytes();
        out.copy_from_slice(&full[..out.len()]);
    }

    /// Constant-time check of a truncated tag (`hmac` compares with `subtle`).
    fn verify(&self, authenticated: &[u8], suffix: &[u8], received: &[u8]) -> bool {
        self.mac(authenticated, suffix).verify_truncated_left(received).is_ok()
    }
}

/// AES-GCM key and salt for one of SRTP or SRTCP.
pub(crate) struct GcmKeys {
    aead: LessSafeKey,
    salt: Zeroizing<[u8; GCM_SALT_LEN]>,
}

impl GcmKeys {
    pub(crate) fn new(key: &[u8], salt: &[u8]) -> Result<Self, SrtpError> {
        let algorithm = match key.len() {
            16 => &aead::AES_128_GCM,
            32 => &aead::AES_256_GCM,
            n => return Err(SrtpError::InvalidKeyLength { expected: 16, actual: n }),
        };
        let unbound = UnboundKey::new(algorithm, key)
            .map_err(|_| SrtpError::InvalidKeyLength { expected: 16, actual: key.len() })?;
        let salt: [u8; GCM_SALT_LEN] = salt.try_into().map_err(|_| {
            SrtpError::InvalidSaltLength { expected: GCM_SALT_LEN, actual: salt.len() }
        })?;
        Ok(Self { aead: LessSafeKey::new(unbound), salt: Zeroizing::new(salt) })
    }

    fn derive(
        master_key: &[u8],
        master_salt: &[u8],
        labels: [Label; 2],
    ) -> Result<Self, SrtpError> {
        let mut key = Zeroizing::new([0u8; 32]);
        let key = &mut key[..master_key.len().min(32)];
        let mut salt = Zeroizing::new([0u8; GCM_SALT_LEN]);
        derive(master_key, master_salt, labels[0], key)?;
        derive(master_key, master_salt, labels[1], &mut salt[..])?;
        Self::new(key, &salt[..])
    }

    /// The 12-byte IV: `(00 00 || word_a || word_b || tail) XOR salt` (RFC 7714 8.1, 9.1).
    fn nonce(&self, ssrc: u32, middle: [u8; 4], tail: [u8; 2]) -> Nonce {
        let mut iv = [0u8; 12];
        iv[2..6].copy_from_slice(&ssrc.to_be_bytes());
        iv[6..10].copy_from_slice(&middle);
        iv[10..12].copy_from_slice(&tail);
        for (dst, src) in iv.iter_mut().zip(self.salt.iter()) {
            *dst ^= src;
        }
        Nonce::assume_unique_for_key(iv)
    }

    fn rtp_nonce(&self, ssrc: u32, index: u64) -> Nonce {
        let roc = (index >> 16) as u32;
        self.nonce(ssrc, roc.to_be_bytes(), (index as u16).to_be_bytes())
    }

    fn rtcp_nonce(&self, ssrc: u32, srtcp_index: u32) -> Nonce {
        // 00 00 || SSRC || 00 00 || 0 || 31-bit index: the index word sits in the last
        // four bytes, its top bit (where E lives on the wire) always clear.
        let word = (srtcp_index & !SRTCP_E_FLAG).to_be_bytes();
        self.nonce(ssrc, [0, 0, word[0], word[1]], [word[2], word[3]])
    }
}

/// The keys of one master key: SRTP and SRTCP halves, shaped by the profile.
// A session holds one or two of these for its lifetime; boxing the larger variant would
// only add a pointer chase to every packet.
#[allow(clippy::large_enum_variant)]
pub(crate) enum SessionKeys {
    CmHmac { rtp: CmKeys, rtcp: CmKeys, rtp_tag_len: usize },
    Gcm { rtp: GcmKeys, rtcp: GcmKeys },
}

impl fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            Self::CmHmac { .. } => "AES-CM/HMAC-SHA1",
            Self::Gcm { .. } => "AES-GCM",
        };
        write!(f, "SessionKeys({kind}, <redacted>)")
    }
}

impl SessionKeys {
    /// Derives the six session keys of RFC 3711 4.3.2 from a master key and salt.
    pub(crate) fn derive(
        profile: SrtpProfile,
        master_key: &[u8],
        master_salt: &[u8],
    ) -> Result<Self, SrtpError> {
        if master_key.len() != profile.master_key_len() {
            return Err(SrtpError::InvalidKeyLength {
                expected: profile.master_key_len(),
                actual: master_key.len(),
            });
        }
        if master_salt.len() != profile.master_salt_len() {
            return Err(SrtpError::InvalidSaltLength {
                expected: profile.master_salt_len(),
                actual: master_salt.len(),
            });
        }
        if profile.is_aead() {
            Ok(Self::Gcm {
                rtp: GcmKeys::derive(master_key, master_salt, [Label::RtpCipher, Label::RtpSalt])?,
                rtcp: GcmKeys::derive(
                    master_key,
                    master_salt,
                    [Label::RtcpCipher, Label::RtcpSalt],
                )?,
            })
        } else {
            Ok(Self::CmHmac {
                rtp: CmKeys::derive(
                    master_key,
                    master_salt,
                    [Label::RtpCipher, Label::RtpAuth, Label::RtpSalt],
                )?,
                rtcp: CmKeys::derive(
                    master_key,
                    master_salt,
                    [Label::RtcpCipher, Label::RtcpAuth, Label::RtcpSalt],
                )?,
                rtp_tag_len: profile.rtp_overhead(),
            })
        }
    }

    /// Whether a failed unprotect overwrites the packet (GCM decrypts while it
    /// authenticates and wipes the output on failure; AES-CM verifies first).
    pub(crate) fn unprotect_is_destructive(&self) -> bool {
        matches!(self, Self::Gcm { .. })
    }

    /// Protects `buf[..len]`, an RTP packet whose header is `header_len` bytes, in place
    /// and appends the tag. The caller has checked that `buf` has room for the tag.
    /// Returns the protected length.
    pub(crate) fn protect_rtp(
        &self,
        buf: &mut [u8],
        len: usize,
        header_len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<usize, SrtpError> {
        match self {
            Self::CmHmac { rtp, rtp_tag_len, .. } => {
                rtp.apply_keystream(ssrc, index, &mut buf[header_len..len]);
                let roc = ((index >> 16) as u32).to_be_bytes();
                let (packet, tail) = buf.split_at_mut(len);
                rtp.tag(packet, &roc, &mut tail[..*rtp_tag_len]);
                Ok(len + rtp_tag_len)
            }
            Self::Gcm { rtp, .. } => {
                let (header, rest) = buf.split_at_mut(header_len);
                let (payload, tail) = rest.split_at_mut(len - header_len);
                let tag = rtp
                    .aead
                    .seal_in_place_separate_tag(
                        rtp.rtp_nonce(ssrc, index),
                        Aad::from(&*header),
                        payload,
                    )
                    .map_err(|_| SrtpError::PacketTooLarge { len })?;
                tail[..GCM_TAG_LEN].copy_from_slice(tag.as_ref());
                Ok(len + GCM_TAG_LEN)
            }
        }
    }

    /// Authenticates and decrypts the SRTP packet `buf` in place. On success returns the
    /// RTP packet length; on failure the bytes after the header may have been wiped
    /// (see [`unprotect_is_destructive`](Self::unprotect_is_destructive)).
    pub(crate) fn unprotect_rtp(
        &self,
        buf: &mut [u8],
        header_len: usize,
        ssrc: u32,
        index: u64,
    ) -> Result<usize, SrtpError> {
        match self {
            Self::CmHmac { rtp, rtp_tag_len, .. } => {
                let auth_end = buf.len() - rtp_tag_len;
                let roc = ((index >> 16) as u32).to_be_bytes();
                if !rtp.verify(&buf[..auth_end], &roc, &buf[auth_end..]) {
                    return Err(SrtpError::AuthenticationFailed);
                }
                rtp.apply_keystream(ssrc, index, &mut buf[header_len..auth_end]);
                Ok(auth_end)
            }
            Self::Gcm { rtp, .. } => {
                let (header, rest) = buf.split_at_mut(header_len);
                let plain = rtp
                    .aead
                    .open_in_place(rtp.rtp_nonce(ssrc, index), Aad::from(&*header), rest)
                    .map_err(|_| SrtpError::AuthenticationFailed)?;
                Ok(header_len + plain.len())
            }
        }
    }

    /// Protects the RTCP packet `buf[..len]` in place with SRTCP index `index`, encrypting
    /// unless `encrypt` is false, and appends index word and tag. Returns the new length.
    pub(crate) fn protect_rtcp(
        &self,
        buf: &mut [u8],
        len: usize,
        ssrc: u32,
        index: u32,
        encrypt: bool,
    ) -> Result<usize, SrtpError> {
        let word = (index | if encrypt { SRTCP_E_FLAG } else { 0 }).to_be_bytes();
        match self {
            Self::CmHmac { rtcp, .. } => {
                if encrypt {
                    rtcp.apply_keystream(ssrc, u64::from(index), &mut buf[RTCP_CLEAR_PREFIX..len]);
                }
                buf[len..len + SRTCP_INDEX_LEN].copy_from_slice(&word);
                let auth_end = len + SRTCP_INDEX_LEN;
                let (authenticated, tail) = buf.split_at_mut(auth_end);
                rtcp.tag(authenticated, &[], &mut tail[..10]);
                Ok(auth_end + 10)
            }
            Self::Gcm { rtcp, .. } => {
                let nonce = rtcp.rtcp_nonce(ssrc, index);
                let tag = if encrypt {
                    // AAD: the clear 8-byte prefix followed by E || index (RFC 7714 9.1).
                    let mut aad = [0u8; RTCP_CLEAR_PREFIX + SRTCP_INDEX_LEN];
                    aad[..RTCP_CLEAR_PREFIX].copy_from_slice(&buf[..RTCP_CLEAR_PREFIX]);
                    aad[RTCP_CLEAR_PREFIX..].copy_from_slice(&word);
                    rtcp.aead.seal_in_place_separate_tag(
                        nonce,
                        Aad::from(aad),
                        &mut buf[RTCP_CLEAR_PREFIX..len],
                    )
                } else {
                    // AAD: the whole packet followed by E || index (RFC 7714 9.2). Put the
                    // word right after the packet to make that one slice; it moves behind
                    // the tag below.
                    buf[len..len + SRTCP_INDEX_LEN].copy_from_slice(&word);
                    rtcp.aead.seal_in_place_separate_tag(
                        nonce,
                        Aad::from(&buf[..len + SRTCP_INDEX_LEN]),
                        &mut [],
                    )
                }
                .map_err(|_| SrtpError::PacketTooLarge { len })?;
                buf[len..len + GCM_TAG_LEN].copy_from_slice(tag.as_ref());
                buf[len + GCM_TAG_LEN..len + GCM_TAG_LEN + SRTCP_INDEX_LEN].copy_from_slice(&word);
                Ok(len + GCM_TAG_LEN + SRTCP_INDEX_LEN)
            }
        }
    }

    /// Authenticates and (when the E flag says so) decrypts the SRTCP packet `buf` in
    /// place. `trailer_at` is where the index word starts; the caller has parsed it into
    /// `index` and `encrypted`. Returns the RTCP packet length.
    pub(crate) fn unprotect_rtcp(
        &self,
        buf: &mut [u8],
        ssrc: u32,
        index: u32,
        encrypted: bool,
    ) -> Result<usize, SrtpError> {
        match self {
            Self::CmHmac { rtcp, .. } => {
                // packet || E+index || tag(10)
                let auth_end = buf.len() - 10;
                if !rtcp.verify(&buf[..auth_end], &[], &buf[auth_end..]) {
                    return Err(SrtpError::AuthenticationFailed);
                }
                let packet_end = auth_end - SRTCP_INDEX_LEN;
                if encrypted {
                    rtcp.apply_keystream(
                        ssrc,
                        u64::from(index),
                        &mut buf[RTCP_CLEAR_PREFIX..packet_end],
                    );
                }
                Ok(packet_end)
            }
            Self::Gcm { rtcp, .. } => {
                // packet-or-ciphertext || tag(16) || E+index
                let word_at = buf.len() - SRTCP_INDEX_LEN;
                let mut word = [0u8; SRTCP_INDEX_LEN];
                word.copy_from_slice(&buf[word_at..]);
                let nonce = rtcp.rtcp_nonce(ssrc, index);
                if encrypted {
                    let mut aad = [0u8; RTCP_CLEAR_PREFIX + SRTCP_INDEX_LEN];
                    aad[..RTCP_CLEAR_PREFIX].copy_from_slice(&buf[..RTCP_CLEAR_PREFIX]);
                    aad[RTCP_CLEAR_PREFIX..].copy_from_slice(&word);
                    let plain = rtcp
                        .aead
                        .open_in_place(nonce, Aad::from(aad), &mut buf[RTCP_CLEAR_PREFIX..word_at])
                        .map_err(|_| SrtpError::AuthenticationFailed)?;
                    Ok(RTCP_CLEAR_PREFIX + plain.len())
                } else {
                    // The AAD is packet || word, but the tag sits between them on the wire:
                    // lift the tag out and slide the word up against the packet.
                    let packet_end = word_at - GCM_TAG_LEN;
                    let tag = aead::Tag::try_from(&buf[packet_end..word_at])
                        .map_err(|_| SrtpError::AuthenticationFailed)?;
                    buf[packet_end..packet_end + SRTCP_INDEX_LEN].copy_from_slice(&word);
                    let opened = rtcp.aead.open_in_place_separate_tag(
                        nonce,
                        Aad::from(&buf[..packet_end + SRTCP_INDEX_LEN]),
                        tag,
                        &mut [],
                        0..,
                    );
                    opened.map(|_| packet_end).map_err(|_| SrtpError::AuthenticationFailed)
                }
            }
        }
    }
}
