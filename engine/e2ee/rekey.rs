//! Re-keying during a 1:1 call: a per-direction hash ratchet with a bounded overlap.
//!
//! Each direction has a chain key. Epoch `n` SRTP keys and the chain key of epoch `n + 1` are
//! both HKDF-SHA256 expansions of the epoch `n` chain key, which is then erased:
//!
//! ```text
//! chain[n] ──HKDF-Expand "srtp key"/"srtp salt"──▶ SRTP master key/salt, epoch n
//!     │
//!     └──HKDF-Expand "next chain"──▶ chain[n+1]      (chain[n] is wiped)
//! ```
//!
//! Nothing has to be signalled: the sender simply starts using epoch `n + 1` and carries
//! the epoch number with every packet (in the call: an authenticated RTP header extension). The receiver
//! derives epoch `n + 1` from its own chain, switches over once a packet of the new epoch has
//! authenticated, and keeps epoch `n` for packets still in flight until the overlap ends —
//! after [`RekeyPolicy::overlap`] or [`RekeyPolicy::overlap_packets`] packets, whichever
//! comes first. Time only enters as `now: Instant` arguments; nothing reads the clock.
//!
//! A stolen current key opens neither earlier epochs (the chain only runs forward) nor, on
//! its own, later ones without the chain key. For healing after a full compromise, run a
//! fresh [handshake](super::OfferingHandshake) and start new ratchets from its keys.

use std::fmt;
use std::time::{Duration, Instant};

use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::{E2eeError, SrtpKeys, SrtpSuite};

const LABEL_SRTP_KEY: &[u8] = b"sottovoce e2ee v1 srtp master key";
const LABEL_SRTP_SALT: &[u8] = b"sottovoce e2ee v1 srtp master salt";
const LABEL_NEXT_CHAIN: &[u8] = b"sottovoce e2ee v1 next chain";

/// When the sender moves to a new epoch and how long the receiver accepts the old one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RekeyPolicy {
    /// The sender re-keys after this many packets under one epoch.
    pub rekey_after_packets: u64,
    /// The sender re-keys after an epoch has been in use this long.
    pub rekey_after: Duration,
    /// The receiver accepts the previous epoch for this long after switching over.
    pub overlap: Duration,
    /// ...and for at most this many previous-epoch packets reported through
    /// [`InboundKeys::authenticated`]. (A `Call` opens old-epoch packets in its SRTP session,
    /// whose own `SrtpConfig::rekey_overlap_packets` bounds the overlap there instead.)
    pub overlap_packets: u64,
}

impl Default for RekeyPolicy {
    /// Re-key every 2^20 packets or 10 minutes; keep the old key for 2 s or 4096 packets —
    /// far longer than any jitter buffer holds a packet, far shorter than a useful attack window.
    fn default() -> Self {
        Self {
            rekey_after_packets: 1 << 20,
            rekey_after: Duration::from_secs(600),
            overlap: Duration::from_secs(2),
            overlap_packets: 4096,
        }
    }
}

/// One direction's chain key at a given epoch. Wiped on drop.
pub(crate) struct ChainKey {
    suite: SrtpSuite,
    epoch: u8,
    key: Zeroizing<[u8; 32]>,
}

impl ChainKey {
    pub(crate) fn new(suite: SrtpSuite, key: Zeroizing<[u8; 32]>) -> Self {
        Self { suite, epoch: 0, key }
    }

    fn expand(&self, label: &[u8], out: &mut [u8]) {
        // The chain key is exactly one SHA-256 output, a valid PRK; outputs are ≤ 32 bytes,
        // far below HKDF's 255·32 limit, so neither call can fail.
        let hkdf = Hkdf::<Sha256>::from_prk(self.key.as_slice()).expect("32-byte PRK");
        hkdf.expand_multi_info(&[label, &[self.suite.wire_id()]], out).expect("short HKDF output");
    }

    /// The SRTP master key and salt of this epoch.
    pub(crate) fn srtp_keys(&self) -> SrtpKeys {
        SrtpKeys::derive_in_place(self.suite, |key, salt| {
            self.expand(LABEL_SRTP_KEY, key);
            self.expand(LABEL_SRTP_SALT, salt);
        })
    }

    /// The chain key of the next epoch; `self` is consumed and wiped.
    fn next(self) -> ChainKey {
        let mut key = Zeroizing::new([0u8; 32]);
        self.expand(LABEL_NEXT_CHAIN, key.as_mut_slice());
        ChainKey { suite: self.suite, epoch: self.epoch.wrapping_add(1), key }
    }
}

/// The sending side of one direction: which epoch and keys protect the next packet.
pub struct OutboundKeys {
    policy: RekeyPolicy,
    chain: ChainKey,
    keys: SrtpKeys,
    epoch_started: Instant,
    packets_in_epoch: u64,
}

impl OutboundKeys {
    pub(crate) fn new(chain: ChainKey, policy: RekeyPolicy, now: Instant) -> Self {
        let keys = chain.srtp_keys();
        Self { policy, chain, keys, epoch_started: now, packets_in_epoch: 0 }
    }

    /// The epoch and keys for the next packet; re-keys first when the policy says so.
    ///
    /// Call once per packet sent. The epoch must travel with the packet.
    pub fn keys_for_next_packet(&mut self, now: Instant) -> (u8, &SrtpKeys) {
        if self.packets_in_epoch >= self.policy.rekey_after_packets
            || now.saturating_duration_since(self.epoch_started) >= self.policy.rekey_after
        {
            self.rekey(now);
        }
        self.packets_in_epoch += 1;
        (self.chain.epoch, &self.keys)
    }

    /// Moves to the next epoch now, wiping the current keys. Returns the new epoch.
    pub fn rekey(&mut self, now: Instant) -> u8 {
        let chain = std::mem::replace(
            &mut self.chain,
            ChainKey::new(self.keys.suite(), Zeroizing::new([0u8; 32])),
        );
        self.chain = chain.next();
        self.keys = self.chain.srtp_keys();
        self.epoch_started = now;
        self.packets_in_epoch = 0;
        self.chain.epoch
    }

    /// The epoch currently used for sending.
    pub fn epoch(&self) -> u8 {
        self.chain.epoch
    }
}

impl fmt::Debug for OutboundKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OutboundKeys")
            .field("epoch", &self.chain.epoch)
            .field("packets_in_epoch", &self.packets_in_epoch)
            .finish_non_exhaustive()
    }
}

struct PreviousEpoch {
    epoch: u8,
    keys: SrtpKeys,
    expires_at: Instant,
    packets_left: u64,
}

/// The receiving side of one direction: finds the keys for a packet's epoch.
///
/// Use it in two steps so that a forged epoch number cannot force a switch-over:
/// [`InboundKeys::keys_for`] before opening a packet, [`InboundKeys::authenticated`] once
/// the packet has opened under those keys.
pub struct InboundKeys {
    policy: RekeyPolicy,
    chain: ChainKey,
    current: SrtpKeys,
    /// Keys of `chain.epoch + 1`, derived on first sight of that epoch.
    next: Option<(ChainKey, SrtpKeys)>,
    previous: Option<PreviousEpoch>,
    /// The previous epoch after its keys were wiped, to report it as expired, not unknown.
    expired: Option<u8>,
}

impl InboundKeys {
    pub(crate) fn new(chain: ChainKey, policy: RekeyPolicy) -> Self {
        let current = chain.srtp_keys();
        Self { policy, chain, current, next: None, previous: None, expired: None }
    }

    /// The keys that should open a packet carrying `epoch`.
    ///
    /// Errors: [`E2eeError::EpochExpired`] for the previous epoch after its overlap,
    /// [`E2eeError::UnknownEpoch`] for anything but the previous, current or next epoch.
    pub fn keys_for(&mut self, epoch: u8, now: Instant) -> Result<&SrtpKeys, E2eeError> {
        if epoch == self.chain.epoch {
            return Ok(&self.current);
        }
        if epoch == self.chain.epoch.wrapping_add(1) {
            if self.next.is_none() {
                let next_chain = ChainKey {
                    suite: self.chain.suite,
                    epoch: self.chain.epoch,
                    key: self.chain.key.clone(),
                }
                .next();
                let keys = next_chain.srtp_keys();
                self.next = Some((next_chain, keys));
            }
            if let Some((_, keys)) = &self.next {
                return Ok(keys);
            }
        }
        match &self.previous {
            Some(previous) if previous.epoch == epoch => {
                if now >= previous.expires_at || previous.packets_left == 0 {
                    Err(E2eeError::EpochExpired(epoch))
                } else {
                    Ok(&previous.keys)
                }
            }
            _ if self.expired == Some(epoch) => Err(E2eeError::EpochExpired(epoch)),
            _ => Err(E2eeError::UnknownEpoch(epoch)),
        }
    }

    /// Records that a packet of `epoch` authenticated under the keys from
    /// [`InboundKeys::keys_for`]: the first packet of the next epoch switches over, and packets
    /// of the previous epoch use up its overlap budget.
    pub fn authenticated(&mut self, epoch: u8, now: Instant) {
        if epoch == self.chain.epoch.wrapping_add(1) {
            if let Some((next_chain, next_keys)) = self.next.take() {
                let old_chain = std::mem::replace(&mut self.chain, next_chain);
                let old_keys = std::mem::replace(&mut self.current, next_keys);
                // The old chain key is dropped (and wiped) here: only its SRTP keys survive,
                // and only for the overlap.
                self.expired = None;
                self.previous = Some(PreviousEpoch {
                    epoch: old_chain.epoch,
                    keys: old_keys,
                    expires_at: now + self.policy.overlap,
                    packets_left: self.policy.overlap_packets,
                });
            }
            return;
        }
        if let Some(previous) = self.previous.as_mut().filter(|p| p.epoch == epoch) {
            previous.packets_left = previous.packets_left.saturating_sub(1);
        }
    }

    /// Wipes the previous epoch's keys once its overlap has ended.
    pub fn poll(&mut self, now: Instant) {
        if self.previous.as_ref().is_some_and(|p| now >= p.expires_at || p.packets_left == 0) {
            self.expired = self.previous.take().map(|p| p.epoch);
        }
    }

    /// When [`InboundKeys::poll`] next has work to do, if ever.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.previous.as_ref().map(|p| p.expires_at)
    }

    /// The newest epoch a packet has authenticated under.
    pub fn epoch(&self) -> u8 {
        self.chain.epoch
    }
}

impl fmt::Debug for InboundKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InboundKeys")
            .field("epoch", &self.chain.epoch)
            .field("previous_epoch", &self.previous.as_ref().map(|p| p.epoch))
            .finish_non_exhaustive()
    }
}
