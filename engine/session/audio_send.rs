//! One audio send stream: an encoded Opus packet in, one SRTP datagram out. It keeps the
//! stream's RTP state (SSRC, sequence number, 48 kHz timestamp, marker), its outbound
//! SRTP context and key epoch, and publishes what sender reports need to its
//! [`SenderClock`]. Sans-IO and allocation-free: the datagram is written into the
//! stream's own buffer and lent to the caller.
//!
//! A send stream belongs to whichever thread produces its media (the runtime gives the
//! audio stream to the capture thread, so a packet leaves the moment Opus produced it,
//! with no queue hop); the session coordinates its keys through the stream's epoch
//! mailbox (`keys::KeyMailbox`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::shared::{EPOCH_EXTENSION_ID, EpochMailbox, SenderClock, Shared, TransportSendRecord};
use super::video::TRANSPORT_SEQUENCE_EXTENSION_ID;
use crate::rtp::{HeaderExtension, RtpError, RtpHeader};
use crate::srtp::{SrtpError, SrtpSession};
use crate::transport::MAX_DATAGRAM;

/// Why a packet could not be sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendStreamError {
    /// SRTP protection or re-keying failed.
    #[error("srtp: {0}")]
    Srtp(#[from] SrtpError),
    /// The RTP packet could not be written (payload too large).
    #[error("rtp: {0}")]
    Rtp(#[from] RtpError),
}

/// See the module documentation.
pub(crate) struct AudioSendStream {
    srtp: SrtpSession,
    ssrc: u32,
    payload_type: u8,
    sequence: u16,
    timestamp: u32,
    first_packet: bool,
    epoch: u8,
    new_keys: Arc<EpochMailbox>,
    clock: Arc<SenderClock>,
    /// The call's transport-wide sequence numbers (audio counts for congestion control).
    shared: Arc<Shared>,
    /// How much older than its frame's capture instant the audio at a packet's RTP
    /// timestamp is (resampler, noise suppressor and Opus delays), for sender reports.
    content_delay: Duration,
    buf: Box<[u8]>,
}

impl AudioSendStream {
    /// A stream sending as `ssrc` with `payload_type`, protected by `srtp` until the
    /// session posts newer keys to `new_keys`.
    pub fn new(
        srtp: SrtpSession,
        ssrc: u32,
        payload_type: u8,
        new_keys: Arc<EpochMailbox>,
        clock: Arc<SenderClock>,
        shared: Arc<Shared>,
        content_delay: Duration,
    ) -> Self {
        // Initial sequence number and timestamp should be unpredictable (RFC 3550 5.1);
        // derive them from the SSRC, itself random in a real app.
        let mix = u64::from(ssrc).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        Self {
            srtp,
            ssrc,
            payload_type,
            sequence: (mix >> 48) as u16,
            timestamp: (mix >> 16) as u32,
            first_packet: true,
            epoch: 0,
            new_keys,
            clock,
            shared,
            content_delay,
            buf: vec![0u8; MAX_DATAGRAM].into_boxed_slice(),
        }
    }

    /// The stream's SSRC.
    pub fn ssrc(&self) -> u32 {
        self.ssrc
    }

    /// Puts one Opus packet (`samples` long at 48 kHz, its first frame captured at
    /// `captured`) in RTP, protects it and returns the datagram to send at `now` (its
    /// transport-wide send record says so).
    pub fn packetize(
        &mut self,
        payload: &[u8],
        samples: usize,
        captured: Instant,
        now: Instant,
    ) -> Result<&[u8], SendStreamError> {
        if let Some((epoch, keys)) = self.new_keys.pop() {
            // Once per epoch (minutes apart): a control-path step on this thread.
            self.srtp.rekey_outbound(keys.master_key(), keys.master_salt())?;
            self.epoch = epoch;
        }
        let epoch = [self.epoch];
        let transport_seq = self.shared.transport.next_seq();
        let twcc = transport_seq.to_be_bytes();
        let extensions = [
            HeaderExtension { id: TRANSPORT_SEQUENCE_EXTENSION_ID, data: &twcc },
            HeaderExtension { id: EPOCH_EXTENSION_ID, data: &epoch },
        ];
        let header = RtpHeader {
            marker: self.first_packet,
            payload_type: self.payload_type,
            sequence_number: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            extensions: &extensions,
            ..RtpHeader::default()
        };
        let overhead = self.srtp.profile().rtp_overhead();
        let room = self.buf.len() - overhead;
        let len = header.write_packet(payload, 0, &mut self.buf[..room])?;
        let len = self.srtp.protect_rtp(&mut self.buf, len)?;
        self.first_packet = false;
        self.shared.transport.audio_sent(TransportSendRecord {
            transport_seq,
            sent_at: now,
            len: len as u32,
        });
        // The sender report maps RTP time to the instant the sound was captured, so lip
        // sync lines up what was heard with what was seen at the same moment.
        let content = captured.checked_sub(self.content_delay).unwrap_or(captured);
        self.clock.on_sent(content, self.timestamp, payload.len());
        self.sequence = self.sequence.wrapping_add(1);
        // Opus RTP timestamps always count at 48 kHz (RFC 7587 4.1).
        self.timestamp = self.timestamp.wrapping_add(samples as u32);
        Ok(&self.buf[..len])
    }
}
