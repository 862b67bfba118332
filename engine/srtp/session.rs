//! [`SrtpSession`]: per-SSRC state, replay protection, re-keying and counters around
//! the packet transforms of [`keys`](super::keys).

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};

use super::header::{self, RTCP_CLEAR_PREFIX, RTP_FIXED_HEADER};
use super::keys::SessionKeys;
use super::replay::{MAX_SRTP_INDEX, ReplayVerdict, ReplayWindow, estimate_index};
use super::{SrtpError, SrtpProfile};

/// Largest SRTCP index (31 bits; RFC 3711 3.4).
const MAX_SRTCP_INDEX: u32 = 0x7fff_ffff;
/// Scratch space kept for GCM key-overlap retries: the largest UDP payload.
const SCRATCH_CAPACITY: usize = 65_536;

/// Hashes an SSRC with one multiply (Fibonacci hashing) instead of SipHash: the tables
/// are bounded by `max_streams` and only ever hold SSRCs whose packets authenticated (or
/// that we send), so there is no flooding to defend against, and every packet pays for
/// a lookup.
#[derive(Default)]
struct SsrcHasher(u64);

impl Hasher for SsrcHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used by `HashMap<u32, _>` (it calls `write_u32`), kept correct anyway.
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(FIBONACCI);
        }
    }
    fn write_u32(&mut self, ssrc: u32) {
        let h = u64::from(ssrc).wrapping_mul(FIBONACCI);
        self.0 = h ^ (h >> 29);
    }
}

const FIBONACCI: u64 = 0x9e37_79b9_7f4a_7c15;

type StreamTable<V> = HashMap<u32, V, BuildHasherDefault<SsrcHasher>>;

/// Settings of an [`SrtpSession`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtpConfig {
    /// Most SSRCs tracked per direction (send and receive each). A packet for a new SSRC
    /// beyond this is refused with [`SrtpError::StreamLimit`]; the tables are allocated
    /// for this many at construction, so the packet path never allocates.
    pub max_streams: usize,
    /// Reject replayed and too-old packets (RFC 3711 3.3.2). Turn off only where
    /// something else already guarantees uniqueness (benchmarks, a relay that
    /// re-forwards); the rollover counter is tracked either way.
    pub replay_protection: bool,
    /// Encrypt SRTCP payloads (sets the E flag). When false SRTCP is authenticated only.
    /// Received packets are handled by their own E flag whatever this says.
    pub encrypt_rtcp: bool,
    /// After [`SrtpSession::rekey`], how many packets must authenticate under the new
    /// key before the previous key is dropped. Packets still in flight under the old
    /// key decrypt until then (or until [`SrtpSession::retire_previous_key`]).
    pub rekey_overlap_packets: u32,
}

impl Default for SrtpConfig {
    fn default() -> Self {
        Self {
            max_streams: 64,
            replay_protection: true,
            encrypt_rtcp: true,
            rekey_overlap_packets: 1024,
        }
    }
}

/// Counters of an [`SrtpSession`], for monitoring. Every refused packet is counted once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SrtpStats {
    /// RTP packets protected.
    pub rtp_protected: u64,
    /// RTP packets authenticated and decrypted.
    pub rtp_unprotected: u64,
    /// RTCP packets protected.
    pub rtcp_protected: u64,
    /// RTCP packets authenticated (and decrypted if encrypted).
    pub rtcp_unprotected: u64,
    /// Packets whose tag did not verify under any installed key.
    pub auth_failures: u64,
    /// Packets refused as exact replays of an accepted index.
    pub replays: u64,
    /// Packets refused because they are older than the replay window.
    pub too_old: u64,
    /// Packets refused because their SSRC is new and the stream limit is reached.
    pub stream_limit: u64,
    /// Packets refused as malformed (short, bad version, header overrun).
    pub malformed: u64,
    /// Packets that authenticated under the previous key during a re-key overlap.
    pub previous_key_used: u64,
}

/// Send-side state of one SSRC.
#[derive(Clone, Copy, Default)]
struct TxStream {
    /// Highest SRTP index protected, once one has been.
    rtp_highest: Option<u64>,
    /// SRTCP index the next packet gets.
    rtcp_next: u32,
}

/// Receive-side state of one SSRC, created when its first packet authenticates.
#[derive(Clone)]
struct RxStream {
    rtp: Option<ReplayWindow>,
    rtcp: Option<ReplayWindow>,
    /// The last packet authenticated under the previous key: try that one first.
    prefers_previous: bool,
}

/// The key being phased out after a re-key, with how far the phase-out has got.
struct PreviousKey {
    keys: SessionKeys,
    /// Packets authenticated under the new key since the re-key.
    new_key_successes: u32,
}

/// An SRTP/SRTCP session for one master key (and salt) and one protection profile.
///
/// It protects outgoing and unprotects incoming RTP and RTCP packets in place, keeping
/// per-SSRC rollover counters, SRTCP indices and replay windows. Use one session per
/// direction with keys from DTLS-SRTP (client and server write keys differ); a session
/// can do both directions with the same key, which tests and loopbacks rely on.
///
/// # Buffer contract
/// Protection appends a tag (and for SRTCP the index word) behind the packet, so
/// `protect_*` take a buffer with spare room: the packet is `buf[..len]` and `buf` must
/// be at least `len + profile.rtp_overhead()` (or `rtcp_overhead()`) long. Unprotection
/// takes exactly the received packet and returns how long the plaintext prefix is. No
/// call allocates; a failed call leaves the session state unchanged.
///
/// ```
/// use sottovoce::srtp::{SrtpConfig, SrtpProfile, SrtpSession};
///
/// let profile = SrtpProfile::AeadAes128Gcm;
/// let (key, salt) = ([7u8; 16], [9u8; 12]);
/// let mut sender = SrtpSession::new(profile, &key, &salt, SrtpConfig::default())?;
/// let mut receiver = SrtpSession::new(profile, &key, &salt, SrtpConfig::default())?;
///
/// let rtp = [0x80, 96, 0, 1, 0, 0, 0, 160, 0xca, 0xfe, 0xba, 0xbe, 1, 2, 3, 4];
/// let mut buf = [0u8; 1500];
/// buf[..rtp.len()].copy_from_slice(&rtp);
/// let wire_len = sender.protect_rtp(&mut buf, rtp.len())?;
/// assert_eq!(wire_len, rtp.len() + profile.rtp_overhead());
///
/// let plain_len = receiver.unprotect_rtp(&mut buf[..wire_len])?;
/// assert_eq!(&buf[..plain_len], &rtp);
/// // The same packet again is a replay.
/// assert!(receiver.unprotect_rtp(&mut buf[..wire_len]).is_err());
/// assert_eq!(receiver.stats().replays, 1);
/// # Ok::<(), sottovoce::srtp::SrtpError>(())
/// ```
pub struct SrtpSession {
    profile: SrtpProfile,
    config: SrtpConfig,
    current: SessionKeys,
    previous: Option<PreviousKey>,
    /// The peer's next key, derived ahead of its first packet ([`Self::stage_next_key`]);
    /// it replaces `current` only when a packet authenticates under it.
    staged: Option<SessionKeys>,
    tx: StreamTable<TxStream>,
    rx: StreamTable<RxStream>,
    /// Copy of a GCM packet's encrypted part while a re-key overlap may need a retry.
    scratch: Vec<u8>,
    stats: SrtpStats,
}

impl fmt::Debug for SrtpSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtpSession")
            .field("profile", &self.profile)
            .field("keys", &"<redacted>")
            .field("rekey_overlap_active", &self.previous.is_some())
            .field("next_key_staged", &self.staged.is_some())
            .field("tx_streams", &self.tx.len())
            .field("rx_streams", &self.rx.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl SrtpSession {
    /// A session for `profile` keyed with a master key and salt (e.g. from the
    /// DTLS-SRTP exporter). The session keys are derived at once (RFC 3711 4.3, key
    /// derivation rate 0) and the master key is not kept.
    pub fn new(
        profile: SrtpProfile,
        master_key: &[u8],
        master_salt: &[u8],
        config: SrtpConfig,
    ) -> Result<Self, SrtpError> {
        let keys = SessionKeys::derive(profile, master_key, master_salt)?;
        Self::with_session_keys(profile, keys, config)
    }

    pub(crate) fn with_session_keys(
        profile: SrtpProfile,
        current: SessionKeys,
        config: SrtpConfig,
    ) -> Result<Self, SrtpError> {
        if config.max_streams == 0 {
            return Err(SrtpError::InvalidConfig("max_streams must be at least 1"));
        }
        if config.max_streams > 1 << 20 {
            return Err(SrtpError::InvalidConfig("max_streams must be at most 2^20"));
        }
        Ok(Self {
            profile,
            tx: StreamTable::with_capacity_and_hasher(config.max_streams, Default::default()),
            rx: StreamTable::with_capacity_and_hasher(config.max_streams, Default::default()),
            config,
            current,
            previous: None,
            staged: None,
            scratch: Vec::new(),
            stats: SrtpStats::default(),
        })
    }

    /// The protection profile.
    pub fn profile(&self) -> SrtpProfile {
        self.profile
    }

    /// The counters so far.
    #[cfg(any(test, feature = "testing"))]
    pub fn stats(&self) -> SrtpStats {
        self.stats
    }

    /// Whether a re-key overlap is in progress (the previous key is still accepted).
    #[cfg(any(test, feature = "testing"))]
    pub fn has_previous_key(&self) -> bool {
        self.previous.is_some()
    }

    /// Replaces the master key of a session that receives. From now on packets are
    /// protected under the new key.
    ///
    /// Unprotect keeps accepting the previous key until
    /// [`SrtpConfig::rekey_overlap_packets`] packets have authenticated under the new
    /// one, or [`retire_previous_key`](Self::retire_previous_key) is called, so packets
    /// in flight (or a peer that switches a little later) still decrypt. Per-SSRC state
    /// (rollover counters, SRTCP indices, replay windows) carries over: the packet index
    /// keeps counting, so no (key, index) pair repeats and replays of old-key packets
    /// are still caught. Re-keying again during an overlap drops the oldest key.
    ///
    /// This is a control-path call: it may allocate (the GCM retry buffer, once).
    #[cfg(any(test, feature = "testing"))]
    pub fn rekey(&mut self, master_key: &[u8], master_salt: &[u8]) -> Result<(), SrtpError> {
        let keys = SessionKeys::derive(self.profile, master_key, master_salt)?;
        let old = std::mem::replace(&mut self.current, keys);
        self.previous = Some(PreviousKey { keys: old, new_key_successes: 0 });
        if self.current.unprotect_is_destructive() && self.scratch.capacity() < SCRATCH_CAPACITY {
            self.scratch.reserve_exact(SCRATCH_CAPACITY);
        }
        for stream in self.rx.values_mut() {
            stream.prefers_previous = false;
        }
        Ok(())
    }

    /// Ends a re-key overlap now: only the current key is accepted from here on.
    pub fn retire_previous_key(&mut self) {
        self.previous = None;
    }

    /// Replaces the master key of a session that only protects (sends). The old key is
    /// dropped, and its key schedule wiped, at once: nothing is in flight towards a
    /// sender, so an overlap would only keep a retired key in memory for nothing.
    /// Per-SSRC send state carries over, so no (key, index) pair repeats.
    ///
    /// This is a control-path call (key derivation).
    pub fn rekey_outbound(
        &mut self,
        master_key: &[u8],
        master_salt: &[u8],
    ) -> Result<(), SrtpError> {
        self.current = SessionKeys::derive(self.profile, master_key, master_salt)?;
        self.previous = None;
        Ok(())
    }

    /// Derives the peer's *next* master key ahead of its first packet and holds it aside,
    /// without changing anything else: the current key stays in charge, and a packet is
    /// tried under the staged key only through [`unprotect_rtp_staged`] or
    /// [`unprotect_rtcp_staged`]. The switch happens when, and only when, a packet
    /// authenticates under it; forged packets claiming the next key cost one failed tag
    /// check and change no state. Staging again replaces the staged key.
    ///
    /// This is a control-path call: it derives keys and may allocate (the GCM retry
    /// buffer, once). Call it once per epoch.
    ///
    /// [`unprotect_rtp_staged`]: Self::unprotect_rtp_staged
    /// [`unprotect_rtcp_staged`]: Self::unprotect_rtcp_staged
    pub fn stage_next_key(
        &mut self,
        master_key: &[u8],
        master_salt: &[u8],
    ) -> Result<(), SrtpError> {
        let keys = SessionKeys::derive(self.profile, master_key, master_salt)?;
        if keys.unprotect_is_destructive() && self.scratch.capacity() < SCRATCH_CAPACITY {
            self.scratch.reserve_exact(SCRATCH_CAPACITY);
        }
        self.staged = Some(keys);
        Ok(())
    }

    /// Whether a next key is staged and waiting for its first authenticated packet.
    pub fn has_staged_key(&self) -> bool {
        self.staged.is_some()
    }

    /// Drops a staged next key that was never used.
    #[cfg(any(test, feature = "testing"))]
    pub fn discard_staged_key(&mut self) {
        self.staged = None;
    }

    /// Like [`unprotect_rtp`](Self::unprotect_rtp), but under the staged next key alone
    /// (the packet says it belongs to the next epoch). When it authenticates, the staged
    /// key becomes the current one and the former current key becomes the previous one,
    /// accepted for packets still in flight as after [`rekey`](Self::rekey). When it does
    /// not, nothing changes (the failure is counted). Without a staged key the packet is
    /// refused as [`SrtpError::AuthenticationFailed`].
    pub fn unprotect_rtp_staged(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let result = self.with_staged_key(|session, buf| session.unprotect_rtp_inner(buf), buf);
        self.count(&result, |s| &mut s.rtp_unprotected);
        result
    }

    /// Like [`unprotect_rtcp`](Self::unprotect_rtcp), under the staged next key alone;
    /// see [`unprotect_rtp_staged`](Self::unprotect_rtp_staged).
    pub fn unprotect_rtcp_staged(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let result = self.with_staged_key(|session, buf| session.unprotect_rtcp_inner(buf), buf);
        self.count(&result, |s| &mut s.rtcp_unprotected);
        result
    }

    /// Runs `open` with the staged key temporarily in the current slot and no previous
    /// key, then either promotes it (success) or puts everything back (failure). Moving
    /// the keys around is a few pointer-sized moves: nothing is derived or allocated.
    fn with_staged_key(
        &mut self,
        open: impl FnOnce(&mut Self, &mut [u8]) -> Result<usize, SrtpError>,
        buf: &mut [u8],
    ) -> Result<usize, SrtpError> {
        let Some(staged) = self.staged.take() else {
            return Err(SrtpError::AuthenticationFailed);
        };
        let current = std::mem::replace(&mut self.current, staged);
        let previous = self.previous.take();
        let result = open(self, buf);
        match result {
            Ok(len) => {
                // The old current key serves packets still in flight; the older one goes.
                drop(previous);
                self.previous = Some(PreviousKey { keys: current, new_key_successes: 1 });
                for stream in self.rx.values_mut() {
                    stream.prefers_previous = false;
                }
                Ok(len)
            }
            Err(error) => {
                let staged = std::mem::replace(&mut self.current, current);
                self.staged = Some(staged);
                self.previous = previous;
                Err(error)
            }
        }
    }

    /// Protects the RTP packet in `buf[..len]` in place and appends the tag; returns
    /// the SRTP packet length. `buf.len()` must be at least
    /// `len + profile.rtp_overhead()`.
    pub fn protect_rtp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let result = self.protect_rtp_inner(buf, len);
        self.count(&result, |s| &mut s.rtp_protected);
        result
    }

    /// Authenticates and decrypts the SRTP packet `buf` in place; returns the length of
    /// the RTP packet now at the start of `buf`. Refuses forged, replayed and too-old
    /// packets, and new SSRCs beyond the stream limit; a refused packet changes no state.
    pub fn unprotect_rtp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let result = self.unprotect_rtp_inner(buf);
        self.count(&result, |s| &mut s.rtp_unprotected);
        result
    }

    /// Protects the (compound) RTCP packet in `buf[..len]` in place and appends the
    /// SRTCP index word and tag; returns the SRTCP packet length. `buf.len()` must be at
    /// least `len + profile.rtcp_overhead()`.
    pub fn protect_rtcp(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        let result = self.protect_rtcp_inner(buf, len);
        self.count(&result, |s| &mut s.rtcp_protected);
        result
    }

    /// Authenticates and (per its E flag) decrypts the SRTCP packet `buf` in place;
    /// returns the length of the RTCP packet now at the start of `buf`.
    pub fn unprotect_rtcp(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let result = self.unprotect_rtcp_inner(buf);
        self.count(&result, |s| &mut s.rtcp_unprotected);
        result
    }

    fn count(&mut self, result: &Result<usize, SrtpError>, ok: fn(&mut SrtpStats) -> &mut u64) {
        let counter = match result {
            Ok(_) => ok(&mut self.stats),
            Err(SrtpError::AuthenticationFailed) => &mut self.stats.auth_failures,
            Err(SrtpError::Replayed { .. }) => &mut self.stats.replays,
            Err(SrtpError::TooOld { .. }) => &mut self.stats.too_old,
            Err(SrtpError::StreamLimit { .. }) => &mut self.stats.stream_limit,
            Err(
                SrtpError::TooShort { .. }
                | SrtpError::BadVersion(_)
                | SrtpError::HeaderOverrun { .. },
            ) => &mut self.stats.malformed,
            Err(_) => return,
        };
        *counter += 1;
    }

    /// Room check shared by both protect calls.
    fn check_room(buf: &[u8], len: usize, overhead: usize) -> Result<(), SrtpError> {
        let needed = len.checked_add(overhead).ok_or(SrtpError::PacketTooLarge { len })?;
        if buf.len() < needed {
            return Err(SrtpError::BufferTooSmall { needed, available: buf.len() });
        }
        Ok(())
    }

    /// Refuses a new SSRC when its table is full.
    fn admit<V>(table: &StreamTable<V>, ssrc: u32, limit: usize) -> Result<(), SrtpError> {
        if table.len() >= limit && !table.contains_key(&ssrc) {
            return Err(SrtpError::StreamLimit { limit });
        }
        Ok(())
    }

    fn protect_rtp_inner(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        Self::check_room(buf, len, self.profile.rtp_overhead())?;
        let header = header::parse_rtp(&buf[..len])?;
        let stream = match self.tx.get_mut(&header.ssrc) {
            Some(stream) => stream,
            None => {
                Self::admit(&self.tx, header.ssrc, self.config.max_streams)?;
                self.tx.entry(header.ssrc).or_default()
            }
        };
        let highest = stream.rtp_highest;
        let index = highest.map_or(u64::from(header.seq), |h| estimate_index(h, header.seq));
        if index > MAX_SRTP_INDEX {
            return Err(SrtpError::IndexExhausted { ssrc: header.ssrc });
        }
        // Cannot fail for a stream that was just created (its index is the sequence
        // number), so the table never keeps an entry for a packet that was refused.
        let out = self.current.protect_rtp(buf, len, header.len, header.ssrc, index)?;
        stream.rtp_highest = Some(highest.map_or(index, |h| h.max(index)));
        Ok(out)
    }

    fn unprotect_rtp_inner(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let tag_len = self.profile.rtp_overhead();
        let min = RTP_FIXED_HEADER + tag_len;
        if buf.len() < min {
            return Err(SrtpError::TooShort { len: buf.len(), min });
        }
        let header = header::parse_rtp(&buf[..buf.len() - tag_len])?;
        let ssrc = header.ssrc;
        Self::admit(&self.rx, ssrc, self.config.max_streams)?;
        let stream = self.rx.get(&ssrc);
        let window = stream.and_then(|s| s.rtp.as_ref());
        let index =
            window.map_or(u64::from(header.seq), |w| estimate_index(w.highest(), header.seq));
        if index > MAX_SRTP_INDEX {
            // Only a stream already at ROC 2^32 - 1 gets here; nothing valid can follow.
            return Err(SrtpError::AuthenticationFailed);
        }
        if let (true, Some(window)) = (self.config.replay_protection, window) {
            window.check(index).map_err(|verdict| replay_error(verdict, ssrc, index))?;
        }
        let prefers_previous = stream.is_some_and(|s| s.prefers_previous);
        let (plain_len, used_previous) =
            self.open_with_keys(buf, header.len, prefers_previous, |keys, buf| {
                keys.unprotect_rtp(buf, header.len, ssrc, index)
            })?;
        let stream = self.rx.entry(ssrc).or_insert_with(RxStream::new);
        match &mut stream.rtp {
            Some(window) => window.accept(index),
            None => stream.rtp = Some(ReplayWindow::new(index)),
        }
        stream.prefers_previous = used_previous;
        Ok(plain_len)
    }

    fn protect_rtcp_inner(&mut self, buf: &mut [u8], len: usize) -> Result<usize, SrtpError> {
        Self::check_room(buf, len, self.profile.rtcp_overhead())?;
        let ssrc = header::parse_rtcp_ssrc(&buf[..len])?;
        Self::admit(&self.tx, ssrc, self.config.max_streams)?;
        let index = self.tx.get(&ssrc).map_or(0, |s| s.rtcp_next);
        if index > MAX_SRTCP_INDEX {
            return Err(SrtpError::IndexExhausted { ssrc });
        }
        let out = self.current.protect_rtcp(buf, len, ssrc, index, self.config.encrypt_rtcp)?;
        self.tx.entry(ssrc).or_default().rtcp_next = index + 1;
        Ok(out)
    }

    fn unprotect_rtcp_inner(&mut self, buf: &mut [u8]) -> Result<usize, SrtpError> {
        let min = RTCP_CLEAR_PREFIX + self.profile.rtcp_overhead();
        if buf.len() < min {
            return Err(SrtpError::TooShort { len: buf.len(), min });
        }
        let ssrc = header::parse_rtcp_ssrc(buf)?;
        // The index word sits before the tag (AES-CM) or after it (GCM, RFC 7714 9.1).
        let word_at = if self.profile.is_aead() {
            buf.len() - 4
        } else {
            buf.len() - self.profile.rtcp_overhead()
        };
        let word = u32::from_be_bytes([
            buf[word_at],
            buf[word_at + 1],
            buf[word_at + 2],
            buf[word_at + 3],
        ]);
        let encrypted = word & 0x8000_0000 != 0;
        let index = word & MAX_SRTCP_INDEX;
        Self::admit(&self.rx, ssrc, self.config.max_streams)?;
        let stream = self.rx.get(&ssrc);
        if let (true, Some(window)) =
            (self.config.replay_protection, stream.and_then(|s| s.rtcp.as_ref()))
        {
            window.check(u64::from(index)).map_err(|v| replay_error(v, ssrc, u64::from(index)))?;
        }
        let prefers_previous = stream.is_some_and(|s| s.prefers_previous);
        let (plain_len, used_previous) =
            self.open_with_keys(buf, RTCP_CLEAR_PREFIX, prefers_previous, |keys, buf| {
                keys.unprotect_rtcp(buf, ssrc, index, encrypted)
            })?;
        let stream = self.rx.entry(ssrc).or_insert_with(RxStream::new);
        match &mut stream.rtcp {
            Some(window) => window.accept(u64::from(index)),
            None => stream.rtcp = Some(ReplayWindow::new(u64::from(index))),
        }
        stream.prefers_previous = used_previous;
        Ok(plain_len)
    }

    /// Runs `open` under the current key, and during a re-key overlap under the previous
    /// key too, preferred one first. Returns the plaintext length and whether the
    /// previous key was the one that worked.
    ///
    /// GCM wipes the packet when authentication fails, so before a first try that may
    /// be followed by a second, the bytes from `clear_prefix` on are saved to the
    /// preallocated scratch buffer and restored for the retry.
    fn open_with_keys(
        &mut self,
        buf: &mut [u8],
        clear_prefix: usize,
        prefers_previous: bool,
        open: impl Fn(&SessionKeys, &mut [u8]) -> Result<usize, SrtpError>,
    ) -> Result<(usize, bool), SrtpError> {
        let Some(previous) = &mut self.previous else {
            return open(&self.current, buf).map(|len| (len, false));
        };
        let (first, second) = if prefers_previous {
            (&previous.keys, &self.current)
        } else {
            (&self.current, &previous.keys)
        };
        let destructive = first.unprotect_is_destructive();
        if destructive {
            self.scratch.clear();
            self.scratch.extend_from_slice(&buf[clear_prefix..]);
        }
        let outcome = match open(first, buf) {
            Ok(len) => Ok((len, prefers_previous)),
            Err(SrtpError::AuthenticationFailed) => {
                if destructive {
                    buf[clear_prefix..].copy_from_slice(&self.scratch);
                }
                open(second, buf).map(|len| (len, !prefers_previous))
            }
            Err(other) => Err(other),
        };
        if let Ok((_, used_previous)) = outcome {
            if used_previous {
                self.stats.previous_key_used += 1;
            } else {
                previous.new_key_successes = previous.new_key_successes.saturating_add(1);
                if previous.new_key_successes >= self.config.rekey_overlap_packets {
                    self.previous = None;
                }
            }
        }
        outcome
    }
}

impl RxStream {
    fn new() -> Self {
        Self { rtp: None, rtcp: None, prefers_previous: false }
    }
}

fn replay_error(verdict: ReplayVerdict, ssrc: u32, index: u64) -> SrtpError {
    match verdict {
        ReplayVerdict::Duplicate => SrtpError::Replayed { ssrc, index },
        ReplayVerdict::TooOld => SrtpError::TooOld { ssrc, index },
    }
}

#[cfg(test)]
impl SrtpSession {
    /// Sets the SRTCP index the next protected packet of `ssrc` gets (published vectors
    /// start mid-stream).
    pub(crate) fn set_next_srtcp_index(&mut self, ssrc: u32, index: u32) {
        self.tx.entry(ssrc).or_default().rtcp_next = index;
    }
}
