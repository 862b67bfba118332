//! Key epochs of a session (`e2ee::rekey`): when this side moves its outbound keys on,
//! which sending streams must take the new keys first, and when the peer's previous epoch
//! is retired. Sans-IO: every decision takes `now`.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::video::VideoShared;
use crate::e2ee::{InboundKeys, OutboundKeys, RekeyPolicy, SrtpKeys, SrtpSuite};
use crate::session::shared::{EpochMailbox, Shared};
use crate::srtp::{SrtpConfig, SrtpError, SrtpProfile, SrtpSession};

/// A due epoch change held back this long by a sending stream that keeps sending under
/// the old keys counts as a stall (`CallStats::rekey_stalls`).
pub(crate) const REKEY_STALL: Duration = Duration::from_secs(2);

/// Where a sending stream counts the RTP packets it has sent (retransmissions included):
/// the key logic reads it to tell an idle stream from one that is behind.
#[derive(Clone)]
pub(crate) enum SentCounter {
    /// The call's audio packets (`Shared::packets_sent`).
    Audio(Arc<Shared>),
    /// A video stream: originals plus retransmissions.
    Video(Arc<VideoShared>),
}

impl SentCounter {
    pub fn load(&self) -> u64 {
        match self {
            SentCounter::Audio(shared) => shared.packets_sent.load(Ordering::Relaxed),
            SentCounter::Video(stats) => {
                stats.packets_sent.load(Ordering::Relaxed)
                    + stats.retransmissions_sent.load(Ordering::Relaxed)
            }
        }
    }
}

/// One sending stream's mailbox for new outbound keys.
pub(crate) struct KeyMailbox {
    pub mailbox: Arc<EpochMailbox>,
    pub sent: SentCounter,
    /// The stream's packets sent when keys were last posted: while that count has not
    /// moved the stream has sent nothing under the old keys since, so it is idle, not
    /// behind, and cannot hold the next epoch change back.
    pub packets_when_posted: u64,
}

impl KeyMailbox {
    pub fn new(mailbox: Arc<EpochMailbox>, sent: SentCounter) -> Self {
        Self { mailbox, sent, packets_when_posted: 0 }
    }
}

/// What [`KeyEpochs::poll_outbound`] decided.
pub(crate) enum OutboundStep {
    /// Nothing due.
    Idle,
    /// Due but held back by a stream still sending under the previous epoch; `stalled`
    /// is true once per hold-up longer than [`REKEY_STALL`].
    HeldBack { stalled: bool },
    /// The outbound keys moved to `epoch`; every mailbox has been given `keys`.
    Moved { epoch: u8, keys: SrtpKeys },
}

/// The key ratchets of both directions and the sending streams to tell.
pub(crate) struct KeyEpochs {
    pub outbound: OutboundKeys,
    pub inbound: InboundKeys,
    /// When to move the outbound keys on by policy; `None`: only on request.
    pub policy: Option<RekeyPolicy>,
    pub mailboxes: Vec<KeyMailbox>,
    pub epoch_started: Instant,
    pub packets_at_epoch_start: u64,
    /// The inbound epoch whose keys the inbound SRTP session holds staged, if any.
    pub staged_epoch: Option<u8>,
    /// Since when a due epoch change has been held back by a sending stream.
    pub deferred_since: Option<Instant>,
    /// Whether the current hold-up was already counted as a stall.
    pub stall_counted: bool,
}

impl KeyEpochs {
    pub fn new(
        outbound: OutboundKeys,
        inbound: InboundKeys,
        policy: Option<RekeyPolicy>,
        mailboxes: Vec<KeyMailbox>,
        now: Instant,
    ) -> Self {
        Self {
            outbound,
            inbound,
            policy,
            mailboxes,
            epoch_started: now,
            packets_at_epoch_start: 0,
            staged_epoch: None,
            deferred_since: None,
            stall_counted: false,
        }
    }

    /// Packets all sending streams have sent.
    fn packets_sent(&self) -> u64 {
        self.mailboxes.iter().map(|m| m.sent.load()).sum()
    }

    /// Moves the outbound keys to the next epoch when `wanted` (the app asked) or the
    /// policy says so, unless a stream is still sending under keys it has not yet taken.
    pub fn poll_outbound(&mut self, now: Instant, wanted: bool) -> OutboundStep {
        let packets = self.packets_sent();
        let due = wanted
            || self.policy.is_some_and(|p| {
                now.saturating_duration_since(self.epoch_started) >= p.rekey_after
                    || packets - self.packets_at_epoch_start >= p.rekey_after_packets
            });
        if !due {
            self.deferred_since = None;
            return OutboundStep::Idle;
        }
        // The peer follows one epoch at a time, so every stream that is sending must have
        // taken the current epoch's keys first. A stream that has sent nothing since they
        // were posted (a video track with no frames, say) is not waited for: it takes the
        // newest keys, replacing the ones it never used, with its next packet.
        let held_back = self
            .mailboxes
            .iter()
            .any(|m| !m.mailbox.is_empty() && m.sent.load() != m.packets_when_posted);
        if held_back {
            let since = *self.deferred_since.get_or_insert(now);
            let stalled =
                !self.stall_counted && now.saturating_duration_since(since) >= REKEY_STALL;
            self.stall_counted |= stalled;
            return OutboundStep::HeldBack { stalled };
        }
        self.deferred_since = None;
        self.stall_counted = false;
        let epoch = self.outbound.rekey(now);
        let (_, keys) = self.outbound.keys_for_next_packet(now);
        let keys = keys.clone();
        for m in &mut self.mailboxes {
            m.packets_when_posted = m.sent.load();
            let _ = m.mailbox.force_push((epoch, keys.clone()));
        }
        self.epoch_started = now;
        self.packets_at_epoch_start = packets;
        OutboundStep::Moved { epoch, keys }
    }
}

/// An SRTP session under `keys` for `streams` SSRCs.
pub(crate) fn srtp_session(keys: &SrtpKeys, streams: usize) -> Result<SrtpSession, SrtpError> {
    let profile = match keys.suite() {
        SrtpSuite::AeadAes256Gcm => SrtpProfile::AeadAes256Gcm,
        SrtpSuite::AeadAes128Gcm => SrtpProfile::AeadAes128Gcm,
    };
    let config = SrtpConfig { max_streams: streams, ..SrtpConfig::default() };
    SrtpSession::new(profile, keys.master_key(), keys.master_salt(), config)
}
