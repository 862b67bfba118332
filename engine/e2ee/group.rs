//! Group calls through an SFU: SFrame (RFC 9605) per-frame encryption with per-sender keys,
//! key rotation on join (ratchet) and leave (fresh key), and replay protection.
//!
//! Each encoded frame is encrypted *before* RTP packetization, so the SFU forwards opaque
//! bytes: it sees the SFrame header (key id and counter), sizes and timing, never media.
//!
//! # Key ids
//!
//! Keys follow RFC 9605 §5.1 with `R = 8` ratchet bits. The 64-bit KID is
//!
//! ```text
//!  63            16 15        8 7          0
//! +----------------+-----------+------------+
//! |   sender id    | generation| ratchet step|
//! +----------------+-----------+------------+
//! ```
//!
//! - the **generation** changes when the sender distributes a fresh random key (someone
//!   left: the leaver must not learn it);
//! - the **ratchet step** changes when the sender ratchets its key forward (someone joined:
//!   `base_key[i+1] = HKDF-Expand(HKDF-Extract("", base_key[i]), "SFrame 1.0 Ratchet", Nh)`),
//!   so the newcomer gets a key that cannot be run backwards to earlier frames. Receivers
//!   holding step `i` derive step `i + 1…i + 4` themselves when the first frame under it
//!   authenticates, so nobody has to wait for a key message.
//!
//! Receivers keep the newest key and a few previous ones per sender (for frames still in
//! flight) and a sliding replay window per key.
//!
//! ```
//! use sottovoce::e2ee::{SframeReceiver, SframeSender, SframeSuite};
//!
//! let mut alice = SframeSender::new(1, SframeSuite::default())?;
//! let mut bob = SframeReceiver::new(3);
//! bob.install(alice.key_material())?; // sent over the app's 1:1 encrypted channel
//!
//! let (mut wire, mut plain) = (Vec::new(), Vec::new());
//! alice.protect(b"opus frame", &[], &mut wire)?;
//! assert_eq!(bob.unprotect(&wire, &[], &mut plain)?, b"opus frame");
//! assert!(bob.unprotect(&wire, &[], &mut plain).is_err()); // replay
//! # Ok::<(), sottovoce::e2ee::E2eeError>(())
//! ```

use std::collections::VecDeque;
use std::fmt;

use hkdf::Hkdf;
use sframe::CipherSuite;
use sframe::crypto::DecryptionBufferView;
use sframe::error::SframeError;
use sframe::frame::{FrameCounter, MediaFrameView};
use sframe::key::{DecryptionKey, EncryptionKey};
use sha2::{Sha256, Sha512};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::E2eeError;

/// Label of the RFC 9605 §5.1 ratchet.
const RATCHET_LABEL: &[u8] = b"SFrame 1.0 Ratchet";
/// Largest sender id that fits the key id layout (48 bits).
pub const MAX_SENDER_ID: u64 = (1 << 48) - 1;
/// How many ratchet steps a receiver derives on its own to catch up with a sender.
const MAX_RATCHET_AHEAD: u8 = 4;
/// Length of the AES-GCM authentication tag of both suites.
const TAG_LEN: usize = 16;
/// Frames per key the replay window remembers behind the newest one.
const REPLAY_WINDOW: u64 = 128;

/// The SFrame cipher suites supported (the two AES-GCM suites of RFC 9605 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SframeSuite {
    /// `AES_128_GCM_SHA256_128` (0x0004).
    AesGcm128Sha256,
    /// `AES_256_GCM_SHA512_128` (0x0005). The default.
    #[default]
    AesGcm256Sha512,
}

impl SframeSuite {
    fn cipher_suite(self) -> CipherSuite {
        match self {
            SframeSuite::AesGcm128Sha256 => CipherSuite::AesGcm128Sha256,
            SframeSuite::AesGcm256Sha512 => CipherSuite::AesGcm256Sha512,
        }
    }

    /// `Nh`: output size of the suite's hash, and the size of its base keys.
    pub const fn base_key_len(self) -> usize {
        match self {
            SframeSuite::AesGcm128Sha256 => 32,
            SframeSuite::AesGcm256Sha512 => 64,
        }
    }

    /// Bytes SFrame adds to a frame at most: the longest header (17) plus the 16-byte tag.
    pub const fn max_overhead(self) -> usize {
        17 + TAG_LEN
    }
}

/// Builds a key id from its three parts (see the module docs for the layout).
pub fn key_id(sender_id: u64, generation: u8, ratchet_step: u8) -> u64 {
    (sender_id << 16) | (u64::from(generation) << 8) | u64::from(ratchet_step)
}

/// One sender's key at one generation and ratchet step: what a sender hands to the other
/// members (over the application's 1:1 encrypted channels) and a receiver installs.
///
/// The base key is wiped on drop and never printed.
#[derive(Clone)]
pub struct SframeKeyMaterial {
    suite: SframeSuite,
    sender_id: u64,
    generation: u8,
    ratchet_step: u8,
    base_key: Zeroizing<Vec<u8>>,
}

impl SframeKeyMaterial {
    /// Rebuilds key material received from a sender. `base_key` must be 16 to 64 bytes (keys
    /// this module makes are `suite.base_key_len()` bytes) and `sender_id` at most
    /// [`MAX_SENDER_ID`].
    pub fn from_parts(
        suite: SframeSuite,
        sender_id: u64,
        generation: u8,
        ratchet_step: u8,
        base_key: &[u8],
    ) -> Result<Self, E2eeError> {
        if sender_id > MAX_SENDER_ID {
            return Err(E2eeError::InvalidKeyLayout("sender id exceeds 48 bits"));
        }
        if !(16..=64).contains(&base_key.len()) {
            return Err(E2eeError::InvalidKeyLayout("base key must be 16 to 64 bytes"));
        }
        Ok(Self {
            suite,
            sender_id,
            generation,
            ratchet_step,
            base_key: Zeroizing::new(base_key.to_vec()),
        })
    }

    fn fresh(suite: SframeSuite, sender_id: u64, generation: u8) -> Result<Self, E2eeError> {
        let mut base_key = Zeroizing::new(vec![0u8; suite.base_key_len()]);
        getrandom::fill(&mut base_key).map_err(|_| E2eeError::Randomness)?;
        Ok(Self { suite, sender_id, generation, ratchet_step: 0, base_key })
    }

    /// The RFC 9605 §5.1 ratchet: the key of the next step, from which this one cannot be
    /// recovered.
    fn ratcheted(&self) -> Result<Self, E2eeError> {
        let ratchet_step = self
            .ratchet_step
            .checked_add(1)
            .ok_or(E2eeError::InvalidKeyLayout("ratchet steps exhausted; rotate to a fresh key"))?;
        let mut base_key = Zeroizing::new(vec![0u8; self.suite.base_key_len()]);
        // Output length is Nh of the suite's hash, well within HKDF limits: cannot fail.
        match self.suite {
            SframeSuite::AesGcm128Sha256 => Hkdf::<Sha256>::new(Some(&[]), &self.base_key)
                .expand(RATCHET_LABEL, &mut base_key)
                .expect("Nh-byte HKDF output"),
            SframeSuite::AesGcm256Sha512 => Hkdf::<Sha512>::new(Some(&[]), &self.base_key)
                .expand(RATCHET_LABEL, &mut base_key)
                .expect("Nh-byte HKDF output"),
        }
        Ok(Self {
            suite: self.suite,
            sender_id: self.sender_id,
            generation: self.generation,
            ratchet_step,
            base_key,
        })
    }

    /// The 64-bit SFrame key id of this key.
    pub fn key_id(&self) -> u64 {
        key_id(self.sender_id, self.generation, self.ratchet_step)
    }

    /// The sender this key belongs to.
    pub fn sender_id(&self) -> u64 {
        self.sender_id
    }

    /// The fresh-key generation.
    pub fn generation(&self) -> u8 {
        self.generation
    }

    /// The ratchet step within the generation.
    pub fn ratchet_step(&self) -> u8 {
        self.ratchet_step
    }

    /// The cipher suite.
    pub fn suite(&self) -> SframeSuite {
        self.suite
    }

    /// The secret base key, to send to another member over an end-to-end encrypted channel.
    pub fn base_key(&self) -> &[u8] {
        &self.base_key
    }
}

impl fmt::Debug for SframeKeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SframeKeyMaterial")
            .field("suite", &self.suite)
            .field("sender_id", &self.sender_id)
            .field("generation", &self.generation)
            .field("ratchet_step", &self.ratchet_step)
            .field("base_key", &"<redacted>")
            .finish()
    }
}

/// Hands the crate exactly the counter we chose for a frame.
struct ChosenCounter(u64);

impl FrameCounter for ChosenCounter {
    type Error = std::convert::Infallible;

    fn try_next(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0)
    }
}

/// Maps crate errors on the receive path to ours; never includes key bytes.
fn receive_error(error: SframeError, kid: u64) -> E2eeError {
    match error {
        SframeError::DecryptionFailure => E2eeError::AuthenticationFailed(kid),
        SframeError::MissingDecryptionKey { .. } => E2eeError::UnknownKeyId(kid),
        _ => E2eeError::MalformedFrame,
    }
}

/// The sending side of one member: encrypts that member's frames under its current key.
pub struct SframeSender {
    material: SframeKeyMaterial,
    key: EncryptionKey,
    prepared: Option<SframeKeyMaterial>,
    next_counter: u64,
    counter_exhausted: bool,
}

impl SframeSender {
    /// A sender with a fresh random key at generation 0, step 0.
    ///
    /// A sender only ever encrypts under keys it made itself (this fresh one, and those
    /// from [`SframeSender::ratchet`] and [`SframeSender::prepare_fresh_key`]), and its
    /// frame counter never goes back, so no (key, counter) pair — an AES-GCM nonce — can
    /// repeat: there is deliberately no way to hand a sender existing key material.
    pub fn new(sender_id: u64, suite: SframeSuite) -> Result<Self, E2eeError> {
        if sender_id > MAX_SENDER_ID {
            return Err(E2eeError::InvalidKeyLayout("sender id exceeds 48 bits"));
        }
        Self::with_key_at_counter(SframeKeyMaterial::fresh(suite, sender_id, 0)?, 0)
    }

    /// A sender under given key material and counter, for published test vectors only
    /// (they fix both). Reusing material with a counter already used under it would reuse
    /// an AES-GCM nonce, which is why this exists only with the `testing` feature.
    #[cfg(any(test, feature = "testing"))]
    pub fn for_test_vectors(
        material: SframeKeyMaterial,
        next_counter: u64,
    ) -> Result<Self, E2eeError> {
        Self::with_key_at_counter(material, next_counter)
    }

    fn with_key_at_counter(
        material: SframeKeyMaterial,
        next_counter: u64,
    ) -> Result<Self, E2eeError> {
        let key = Self::encryption_key(&material)?;
        Ok(Self { material, key, prepared: None, next_counter, counter_exhausted: false })
    }

    fn encryption_key(material: &SframeKeyMaterial) -> Result<EncryptionKey, E2eeError> {
        EncryptionKey::derive_from(
            material.suite.cipher_suite(),
            material.key_id(),
            material.base_key.as_slice(),
        )
        .map_err(|_| E2eeError::InvalidKeyLayout("key derivation failed"))
    }

    fn switch_to(&mut self, material: SframeKeyMaterial) -> Result<(), E2eeError> {
        self.key = Self::encryption_key(&material)?;
        self.material = material;
        Ok(())
    }

    /// The key currently used, to distribute to members who should read this sender.
    pub fn key_material(&self) -> SframeKeyMaterial {
        self.material.clone()
    }

    /// Someone joined: ratchets the key forward one step and returns the new key for the
    /// newcomer. Existing members catch up on their own; the newcomer cannot go back.
    pub fn ratchet(&mut self) -> Result<SframeKeyMaterial, E2eeError> {
        let next = self.material.ratcheted()?;
        self.switch_to(next.clone())?;
        Ok(next)
    }

    /// Someone left: makes a fresh random key of the next generation without using it yet,
    /// so the application can hand it to the remaining members first; then call
    /// [`SframeSender::activate_prepared_key`].
    pub fn prepare_fresh_key(&mut self) -> Result<SframeKeyMaterial, E2eeError> {
        let generation = self.material.generation.wrapping_add(1);
        let fresh =
            SframeKeyMaterial::fresh(self.material.suite, self.material.sender_id, generation)?;
        self.prepared = Some(fresh.clone());
        Ok(fresh)
    }

    /// Starts encrypting under the key from [`SframeSender::prepare_fresh_key`]; the old key
    /// is wiped. Returns `false` if no key was prepared.
    pub fn activate_prepared_key(&mut self) -> Result<bool, E2eeError> {
        match self.prepared.take() {
            Some(material) => self.switch_to(material).map(|()| true),
            None => Ok(false),
        }
    }

    /// Encrypts one encoded frame into `out` (cleared first) as
    /// `SFrame header | ciphertext | tag`. `metadata` (e.g. the bytes of the RTP header
    /// fields the SFU needs) is authenticated but not encrypted and not written to `out`.
    ///
    /// `out` is only grown when it lacks capacity; reuse it for the next frame.
    pub fn protect(
        &mut self,
        payload: &[u8],
        metadata: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), E2eeError> {
        if self.counter_exhausted {
            return Err(E2eeError::CounterExhausted);
        }
        let counter = self.next_counter;
        out.clear();
        let mut chosen = ChosenCounter(counter);
        let frame = MediaFrameView::with_meta_data(&mut chosen, payload, metadata);
        frame.encrypt_into(&self.key, out).map_err(|_| E2eeError::BufferTooSmall {
            needed: payload.len() + metadata.len() + self.material.suite.max_overhead(),
        })?;
        // The crate lays frames out as `metadata | header | ciphertext | tag`; the metadata
        // travels elsewhere (it is part of the packet the SFU reads), so drop it here.
        out.drain(..metadata.len());
        match counter.checked_add(1) {
            Some(next) => self.next_counter = next,
            None => self.counter_exhausted = true,
        }
        Ok(())
    }

    /// The counter the next frame will carry (counters are never reused by one sender).
    pub fn next_counter(&self) -> u64 {
        self.next_counter
    }
}

impl fmt::Debug for SframeSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SframeSender")
            .field("key_id", &self.material.key_id())
            .field("next_counter", &self.next_counter)
            .finish_non_exhaustive()
    }
}

/// Sliding replay window over frame counters (RFC 3711 §3.3.2 style, 128 frames wide).
#[derive(Debug, Clone, Copy, Default)]
struct ReplayWindow {
    highest: Option<u64>,
    /// Bit `i` set: counter `highest - i` was accepted.
    seen: u128,
}

impl ReplayWindow {
    fn check(&self, counter: u64) -> bool {
        match self.highest {
            None => true,
            Some(highest) if counter > highest => true,
            Some(highest) => {
                let age = highest - counter;
                age < REPLAY_WINDOW && self.seen & (1u128 << age) == 0
            }
        }
    }

    fn accept(&mut self, counter: u64) {
        match self.highest {
            Some(highest) if counter <= highest => self.seen |= 1u128 << (highest - counter),
            Some(highest) => {
                let shift = counter - highest;
                self.seen = if shift >= REPLAY_WINDOW { 0 } else { self.seen << shift };
                self.seen |= 1;
                self.highest = Some(counter);
            }
            None => {
                self.seen = 1;
                self.highest = Some(counter);
            }
        }
    }
}

struct ReceiveKey {
    material: SframeKeyMaterial,
    key: DecryptionKey,
    replay: ReplayWindow,
    /// Frames under this key must carry a counter below this: the lowest counter seen
    /// under any newer key of the sender. A sender's counter only grows and it never goes
    /// back to an older key, so a frame at or above that counter under this key cannot be
    /// the sender's — it was forged by someone else who holds the old key (a member who
    /// left, say).
    counter_limit: u64,
}

impl ReceiveKey {
    fn new(material: SframeKeyMaterial) -> Result<Self, E2eeError> {
        let key = DecryptionKey::derive_from(
            material.suite.cipher_suite(),
            material.key_id(),
            material.base_key.as_slice(),
        )
        .map_err(|_| E2eeError::InvalidKeyLayout("key derivation failed"))?;
        Ok(Self { material, key, replay: ReplayWindow::default(), counter_limit: u64::MAX })
    }
}

/// Counts of what a receiver accepted and rejected, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SframeStats {
    /// Frames decrypted.
    pub accepted: u64,
    /// Frames too short or with a malformed header.
    pub malformed: u64,
    /// Frames under a key id with no installed or derivable key.
    pub unknown_key_id: u64,
    /// Frames that failed authentication (wrong key or tampering).
    pub authentication_failed: u64,
    /// Frames replayed or older than the replay window.
    pub replayed: u64,
    /// Frames under a superseded key with a counter the sender had already moved past:
    /// forgeries by someone who still holds the old key.
    pub superseded_key: u64,
    /// Superseded keys retired (wiped) after frames under a newer generation arrived.
    pub keys_retired: u64,
}

/// Frames that must authenticate under a newer generation of a sender's key before the
/// receiver wipes that sender's older generations: enough for frames still in flight at
/// the switch (about 0.6 s of 50 fps audio, 1 s of 30 fps video), and short enough that a
/// member who left cannot use the old key for long (and, until then, only below the
/// counter at which the sender switched: see `ReceiveKey::counter_limit`).
pub const RETIRE_OLD_GENERATION_AFTER_FRAMES: u32 = 32;

/// One sender's keys at a receiver.
struct SenderKeys {
    sender_id: u64,
    /// Oldest first; the last one is the newest.
    keys: VecDeque<ReceiveKey>,
    /// Frames authenticated under a newer generation while older ones are still held.
    newer_generation_frames: u32,
}

/// The receiving side of one member: decrypts the frames of every other sender.
///
/// # What an SFrame key proves
///
/// A sender's key is shared with every member who should read that sender, so a frame that
/// authenticates proves that *some holder of that key* made it — a member of the group —
/// not that the named sender did (RFC 9605 §9.5: SFrame has no per-sender signatures).
/// Any member can forge frames under another sender's key. Where a member must not be able
/// to speak as another, the application needs per-sender signatures on top. After a member
/// leaves and a sender rotates to a fresh key, the leaver still holds the old one; this
/// receiver limits what it can do with it: a frame under the old key is refused at or
/// above the first counter seen under the newer key, and the old generation is wiped
/// [`RETIRE_OLD_GENERATION_AFTER_FRAMES`] frames after the newer one took over.
pub struct SframeReceiver {
    keep_previous: usize,
    senders: Vec<SenderKeys>,
    stats: SframeStats,
}

impl SframeReceiver {
    /// A receiver that keeps, per sender, the newest key and `keep_previous` older ones.
    pub fn new(keep_previous: usize) -> Self {
        Self { keep_previous, senders: Vec::new(), stats: SframeStats::default() }
    }

    /// Installs a sender's key (a fresh one, or the first one when joining); older keys of
    /// that sender stay usable for late frames up to the `keep_previous` limit.
    ///
    /// Installing a key that is already installed changes nothing (its replay window is
    /// kept, so re-sent key messages cannot re-open frames already seen). A *different* key
    /// under an installed key id is refused with [`E2eeError::KeyIdReused`].
    pub fn install(&mut self, material: SframeKeyMaterial) -> Result<(), E2eeError> {
        let kid = material.key_id();
        if let Some(installed) = self
            .sender_mut(material.sender_id)
            .and_then(|sender| sender.keys.iter().find(|k| k.material.key_id() == kid))
        {
            let same = installed.material.suite == material.suite
                && bool::from(installed.material.base_key.as_slice().ct_eq(&material.base_key));
            return if same { Ok(()) } else { Err(E2eeError::KeyIdReused(kid)) };
        }
        let key = ReceiveKey::new(material)?;
        self.push_key(key);
        Ok(())
    }

    fn sender_mut(&mut self, sender_id: u64) -> Option<&mut SenderKeys> {
        self.senders.iter_mut().find(|s| s.sender_id == sender_id)
    }

    /// Appends a key the sender has not used before as its newest.
    fn push_key(&mut self, key: ReceiveKey) {
        let sender_id = key.material.sender_id;
        let capacity = self.keep_previous + 1;
        let index = match self.senders.iter().position(|s| s.sender_id == sender_id) {
            Some(index) => index,
            None => {
                self.senders.push(SenderKeys {
                    sender_id,
                    keys: VecDeque::with_capacity(capacity),
                    newer_generation_frames: 0,
                });
                self.senders.len() - 1
            }
        };
        let keys = &mut self.senders[index].keys;
        keys.push_back(key);
        while keys.len() > capacity {
            keys.pop_front();
        }
    }

    /// Forgets every key of a sender who left.
    pub fn remove_sender(&mut self, sender_id: u64) {
        self.senders.retain(|s| s.sender_id != sender_id);
    }

    /// What was accepted and rejected so far.
    pub fn stats(&self) -> SframeStats {
        self.stats
    }

    /// Decrypts one frame (`SFrame header | ciphertext | tag`) into `out` and returns the
    /// payload. `metadata` must be the bytes the sender authenticated with it.
    ///
    /// Rejections are typed and counted in [`SframeReceiver::stats`]: truncated or malformed
    /// frames, unknown key ids, frames that fail authentication, replays and frames under a
    /// superseded key past the sender's switch. A rejected frame changes no state.
    pub fn unprotect<'out>(
        &mut self,
        frame: &[u8],
        metadata: &[u8],
        out: &'out mut Vec<u8>,
    ) -> Result<&'out [u8], E2eeError> {
        let result = self.unprotect_inner(frame, metadata, out);
        match &result {
            Ok(()) => self.stats.accepted += 1,
            Err(E2eeError::UnknownKeyId(_)) => self.stats.unknown_key_id += 1,
            Err(E2eeError::AuthenticationFailed(_)) => self.stats.authentication_failed += 1,
            Err(E2eeError::Replayed { .. }) => self.stats.replayed += 1,
            Err(E2eeError::SupersededKey { .. }) => self.stats.superseded_key += 1,
            Err(_) => self.stats.malformed += 1,
        }
        result.map(|()| out.as_slice())
    }

    fn unprotect_inner(
        &mut self,
        frame: &[u8],
        metadata: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), E2eeError> {
        out.clear();
        let header = peek_header(frame)?;
        if frame.len() < header.len + TAG_LEN {
            return Err(E2eeError::MalformedFrame);
        }
        let (kid, counter) = (header.key_id, header.counter);

        let sender_index = self
            .senders
            .iter()
            .position(|s| s.sender_id == kid >> 16)
            .ok_or(E2eeError::UnknownKeyId(kid))?;
        let keys = &mut self.senders[sender_index].keys;

        let key_index = match keys.iter().position(|k| k.material.key_id() == kid) {
            Some(index) => {
                let key = &mut keys[index];
                if counter >= key.counter_limit {
                    return Err(E2eeError::SupersededKey { kid, counter });
                }
                if !key.replay.check(counter) {
                    return Err(E2eeError::Replayed { kid, counter });
                }
                open_frame(&key.key, frame, header, metadata, out)?;
                key.replay.accept(counter);
                index
            }
            None => {
                // Not installed: maybe the sender ratcheted forward (someone joined). Derive
                // the step from the newest key, but keep it only if the frame authenticates.
                let newest = keys.back().ok_or(E2eeError::UnknownKeyId(kid))?;
                let generation = ((kid >> 8) & 0xff) as u8;
                let step = (kid & 0xff) as u8;
                let ahead = step.wrapping_sub(newest.material.ratchet_step);
                if generation != newest.material.generation
                    || step <= newest.material.ratchet_step
                    || ahead > MAX_RATCHET_AHEAD
                {
                    return Err(E2eeError::UnknownKeyId(kid));
                }
                let mut material = newest.material.ratcheted()?;
                while material.ratchet_step != step {
                    material = material.ratcheted()?;
                }
                let mut candidate = ReceiveKey::new(material)?;
                open_frame(&candidate.key, frame, header, metadata, out)?;
                candidate.replay.accept(counter);
                self.push_key(candidate);
                self.senders[sender_index].keys.len() - 1
            }
        };
        let retired = self.senders[sender_index].supersede_older_keys(key_index, counter);
        self.stats.keys_retired += retired;
        Ok(())
    }
}

impl SenderKeys {
    /// After a frame with `counter` authenticated under `keys[index]`: older keys accept
    /// only counters below it from now on, and once enough frames have arrived under a
    /// newer generation the older generations are wiped. Returns how many keys went.
    fn supersede_older_keys(&mut self, index: usize, counter: u64) -> u64 {
        let generation = self.keys[index].material.generation;
        let mut older_generation_held = false;
        for key in self.keys.iter_mut().take(index) {
            key.counter_limit = key.counter_limit.min(counter);
            older_generation_held |= key.material.generation != generation;
        }
        if !older_generation_held {
            return 0;
        }
        self.newer_generation_frames += 1;
        if self.newer_generation_frames < RETIRE_OLD_GENERATION_AFTER_FRAMES {
            return 0;
        }
        self.newer_generation_frames = 0;
        let before = self.keys.len();
        let mut position = 0;
        self.keys.retain(|key| {
            let keep = position >= index || key.material.generation == generation;
            position += 1;
            keep
        });
        (before - self.keys.len()) as u64
    }
}

/// Decrypts `frame` under `key` into `out` without allocating (when `out` has capacity):
/// `out` is laid out as `AAD = header as received | metadata`, then the ciphertext, opened
/// in place, and finally shifted down to the plaintext alone. On failure `out` is empty.
fn open_frame(
    key: &DecryptionKey,
    frame: &[u8],
    header: FrameHeader,
    metadata: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), E2eeError> {
    let aad_len = header.len + metadata.len();
    out.extend_from_slice(&frame[..header.len]);
    out.extend_from_slice(metadata);
    out.extend_from_slice(&frame[header.len..]);
    let (aad, data) = out.split_at_mut(aad_len);
    if let Err(error) = key.decrypt(DecryptionBufferView { aad, data }, header.counter) {
        out.clear();
        return Err(receive_error(error, header.key_id));
    }
    let plaintext_len = frame.len() - header.len - TAG_LEN;
    out.copy_within(aad_len..aad_len + plaintext_len, 0);
    out.truncate(plaintext_len);
    Ok(())
}

/// The fields of an SFrame header (RFC 9605 §4.3), as read by [`peek_header`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// The key id (KID).
    pub key_id: u64,
    /// The frame counter (CTR).
    pub counter: u64,
    /// Length of the encoded header in bytes (1 to 17).
    pub len: usize,
}

/// Reads the SFrame header at the start of `frame` without decrypting anything — what an
/// SFU may read to route frames by sender. Never allocates.
///
/// ```
/// use sottovoce::e2ee::{FrameHeader, peek_header};
/// // RFC 9605 Appendix C.1: KID 0x123, CTR 0x4567.
/// let header = peek_header(&[0x99, 0x01, 0x23, 0x45, 0x67]).unwrap();
/// assert_eq!(header, FrameHeader { key_id: 0x123, counter: 0x4567, len: 5 });
/// ```
pub fn peek_header(frame: &[u8]) -> Result<FrameHeader, E2eeError> {
    // Config byte: X KKK Y CCC. With X (Y) clear, KKK (CCC) is the value itself; with it
    // set, KKK (CCC) + 1 is the length of a big-endian field that follows.
    let (&config, rest) = frame.split_first().ok_or(E2eeError::MalformedFrame)?;
    let read_field = |extended: bool, small: u8, bytes: &[u8]| -> Result<(u64, usize), E2eeError> {
        if !extended {
            return Ok((u64::from(small), 0));
        }
        let len = usize::from(small) + 1;
        let field = bytes.get(..len).ok_or(E2eeError::MalformedFrame)?;
        Ok((field.iter().fold(0u64, |value, &b| (value << 8) | u64::from(b)), len))
    };
    let (key_id, kid_len) = read_field(config & 0x80 != 0, (config >> 4) & 0x07, rest)?;
    let (counter, ctr_len) = read_field(config & 0x08 != 0, config & 0x07, &rest[kid_len..])?;
    Ok(FrameHeader { key_id, counter, len: 1 + kid_len + ctr_len })
}

impl fmt::Debug for SframeReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key_ids: Vec<u64> = self
            .senders
            .iter()
            .flat_map(|sender| sender.keys.iter().map(|k| k.material.key_id()))
            .collect();
        f.debug_struct("SframeReceiver")
            .field("key_ids", &key_ids)
            .field("stats", &self.stats)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_window_accepts_each_counter_once_and_bounds_age() {
        let mut window = ReplayWindow::default();
        for counter in [5u64, 3, 9, 4, 200] {
            assert!(window.check(counter), "{counter}");
            window.accept(counter);
            assert!(!window.check(counter), "{counter} twice");
        }
        assert!(!window.check(200 - REPLAY_WINDOW), "older than the window");
        assert!(window.check(200 - REPLAY_WINDOW + 1));
        assert!(!window.check(9), "pushed out of the window");
    }

    #[test]
    fn key_id_layout_is_sender_generation_step() {
        assert_eq!(key_id(0x0102, 3, 4), 0x0102_0304);
        let material =
            SframeKeyMaterial::from_parts(SframeSuite::AesGcm128Sha256, 7, 1, 2, &[9; 32]).unwrap();
        assert_eq!(material.key_id(), (7 << 16) | (1 << 8) | 2);
        for bad_len in [0, 15, 65] {
            let key = vec![9; bad_len];
            assert!(
                SframeKeyMaterial::from_parts(SframeSuite::AesGcm128Sha256, 7, 1, 2, &key).is_err()
            );
        }
        assert!(
            SframeKeyMaterial::from_parts(
                SframeSuite::AesGcm128Sha256,
                MAX_SENDER_ID + 1,
                0,
                0,
                &[9; 32]
            )
            .is_err()
        );
        assert!(!format!("{material:?}").contains("9, 9"));
    }
}
