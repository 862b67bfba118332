//! The audio playout unit, NetEq-style: the engine's one path from received Opus packets
//! to 10 ms of 48 kHz audio. It owns the jitter buffer (which decides, each tick, whether
//! to decode, recover from FEC, conceal, play comfort noise, accelerate or stretch), the
//! Opus decoder that carries the decision out, the time-scaler and the FIFO of decoded
//! samples. Sans-IO: the tick instant is an input, nothing here reads a clock, locks,
//! blocks or allocates after construction.
//!
//! The runtime (`call::CallPlayout`) wraps it with the receive queue, the AEC far-end
//! feed and conversion to the device format; the simulated-call harness drives it
//! directly.

use std::time::Instant;

use super::codec::OpusDecoder;
use super::time_scale::{compress_speech, expand_speech};
use super::{AudioError, ENGINE_FRAME};
use crate::session::jitter::{AudioPacket, JitterBuffer, JitterConfig, JitterStats, PlayoutAction};
use crate::session::shared::{OpusBytes, ReceivedAudio};

/// Longest decoded audio one action can produce (two 120 ms packets at 48 kHz).
const MAX_DECODED: usize = 2 * 5760;

/// Counters of a playout unit.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlayoutStats {
    /// The jitter buffer's counters (loss, late, FEC, concealment, delay).
    pub jitter: JitterStats,
    /// Packets the jitter buffer refused as invalid.
    pub rejected: u64,
    /// Opus payloads that failed to decode (concealed instead).
    pub decode_errors: u64,
    /// Ticks the decoded audio did not fill (padded with silence).
    pub underruns: u64,
}

/// Jitter buffer, decoder, concealment and time-scaling for one received audio stream;
/// see the module documentation.
pub struct AudioPlayout {
    jitter: JitterBuffer<OpusBytes>,
    decoder: OpusDecoder,
    decoded: Box<[f32]>,
    time_scale_out: Box<[f32]>,
    fifo: Box<[f32]>,
    fifo_len: usize,
    rejected: u64,
    decode_errors: u64,
    underruns: u64,
}

impl std::fmt::Debug for AudioPlayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioPlayout").field("buffered", &self.fifo_len).finish_non_exhaustive()
    }
}

impl AudioPlayout {
    /// A playout unit with the given jitter buffer tuning.
    pub fn new(jitter: JitterConfig) -> Result<Self, AudioError> {
        let jitter = JitterBuffer::new(jitter)
            .map_err(|e| AudioError::InvalidConfig(format!("jitter buffer: {e}")))?;
        Self::with_jitter_buffer(jitter)
    }

    /// A playout unit around an already built jitter buffer (the call builds it itself so
    /// that a bad setting is reported as the jitter buffer's error).
    pub(crate) fn with_jitter_buffer(jitter: JitterBuffer<OpusBytes>) -> Result<Self, AudioError> {
        Ok(Self {
            jitter,
            decoder: OpusDecoder::new(2 * ENGINE_FRAME)?,
            decoded: vec![0.0; MAX_DECODED].into_boxed_slice(),
            time_scale_out: vec![0.0; MAX_DECODED].into_boxed_slice(),
            fifo: vec![0.0; MAX_DECODED + 2 * ENGINE_FRAME].into_boxed_slice(),
            fifo_len: 0,
            rejected: 0,
            decode_errors: 0,
            underruns: 0,
        })
    }

    /// Hands one received packet (arrived at `arrival`) to the jitter buffer. A packet
    /// the buffer refuses (duplicate, far too late, malformed duration) is counted in
    /// [`PlayoutStats::rejected`].
    pub(crate) fn insert(&mut self, arrival: Instant, packet: AudioPacket<OpusBytes>) {
        if self.jitter.insert(arrival, packet).is_err() {
            self.rejected += 1;
        }
    }

    /// Hands one received Opus payload (RTP sequence number and 48 kHz timestamp, arrived
    /// at `arrival`) to the jitter buffer. A payload whose TOC byte is malformed or that
    /// is larger than any datagram is refused with [`AudioError::CorruptPacket`] and
    /// changes nothing; one the buffer refuses (duplicate, far too late) is counted in
    /// [`PlayoutStats::rejected`]. Nothing is allocated.
    pub fn insert_payload(
        &mut self,
        arrival: Instant,
        seq: u16,
        timestamp: u32,
        payload: &[u8],
    ) -> Result<(), AudioError> {
        let packet = ReceivedAudio::from_opus(seq, timestamp, arrival, payload)
            .map_err(|e| AudioError::CorruptPacket(e.to_string()))?;
        self.insert(arrival, packet.into_audio_packet());
        Ok(())
    }

    /// The RTP timestamp now starting to play, once playout has started.
    pub fn playout_timestamp(&self) -> Option<u32> {
        self.jitter.playout_timestamp()
    }

    /// Counters so far.
    pub fn stats(&self) -> PlayoutStats {
        PlayoutStats {
            jitter: self.jitter.stats(),
            rejected: self.rejected,
            decode_errors: self.decode_errors,
            underruns: self.underruns,
        }
    }

    /// Produces the next 10 ms at 48 kHz mono into `frame`: runs the jitter buffer's
    /// action for the tick at `now`, then takes one frame from the FIFO (padding with
    /// silence and counting an underrun when it runs short).
    pub fn pull(&mut self, now: Instant, frame: &mut [f32; ENGINE_FRAME]) {
        self.run_action(now);
        if self.fifo_len < ENGINE_FRAME {
            self.underruns += 1;
        }
        let take = self.fifo_len.min(ENGINE_FRAME);
        frame[..take].copy_from_slice(&self.fifo[..take]);
        frame[take..].fill(0.0);
        self.fifo.copy_within(take..self.fifo_len, 0);
        self.fifo_len -= take;
    }

    /// Executes the jitter buffer's action for this tick, appending 48 kHz audio to the
    /// FIFO.
    fn run_action(&mut self, now: Instant) {
        // Each arm decodes into `self.decoded` and says how many samples to queue.
        let mut time_scaled = None;
        let produced = match self.jitter.pull(now) {
            PlayoutAction::Continue => return,
            PlayoutAction::Silence { samples } => {
                let n = (samples as usize).min(MAX_DECODED);
                self.decoded[..n].fill(0.0);
                n
            }
            // Between DTX updates libopus's decoder, run without a packet, generates
            // comfort noise matching the sender's background (SILK CNG), as NetEq does
            // for Opus; dead silence would sound like a dropped call. Concealment of a
            // lost packet is the same decoder call.
            PlayoutAction::ComfortNoise { samples } | PlayoutAction::Conceal { samples } => {
                let wanted = (samples as usize).min(MAX_DECODED);
                let n = conceal(&mut self.decoder, &mut self.decoded, wanted);
                fit(&mut self.decoded, n, wanted)
            }
            PlayoutAction::Decode { packet } => decode_or_conceal(
                &mut self.decoder,
                packet.bytes(),
                &mut self.decoded,
                &mut self.decode_errors,
            ),
            PlayoutAction::Accelerate { packet, next, samples } => {
                let mut n = decode_or_conceal(
                    &mut self.decoder,
                    packet.bytes(),
                    &mut self.decoded,
                    &mut self.decode_errors,
                );
                if let Some(next) = next {
                    n += decode_or_conceal(
                        &mut self.decoder,
                        next.bytes(),
                        &mut self.decoded[n..],
                        &mut self.decode_errors,
                    );
                }
                let remove = n.saturating_sub(samples as usize);
                let scaled = compress_speech(&self.decoded[..n], remove, &mut self.time_scale_out);
                self.decoded[..scaled.produced]
                    .copy_from_slice(&self.time_scale_out[..scaled.produced]);
                time_scaled = Some(scaled.produced);
                scaled.produced
            }
            PlayoutAction::Stretch { packet, samples } => {
                let n = decode_or_conceal(
                    &mut self.decoder,
                    packet.bytes(),
                    &mut self.decoded,
                    &mut self.decode_errors,
                );
                let insert = (samples as usize).min(MAX_DECODED).saturating_sub(n);
                let scaled = expand_speech(&self.decoded[..n], insert, &mut self.time_scale_out);
                self.decoded[..scaled.produced]
                    .copy_from_slice(&self.time_scale_out[..scaled.produced]);
                time_scaled = Some(scaled.produced);
                scaled.produced
            }
            PlayoutAction::DecodeFec { next, samples } => {
                let n = match self.decoder.recover(next.bytes(), &mut self.decoded) {
                    Ok(n) => n,
                    Err(_) => {
                        self.decode_errors += 1;
                        self.decoder.conceal(&mut self.decoded).unwrap_or(0)
                    }
                };
                fit(&mut self.decoded, n, samples as usize)
            }
        };
        if let Some(produced) = time_scaled {
            // Whole pitch periods went or came, not exactly what the buffer asked for.
            self.jitter.report_time_scaled(u32::try_from(produced).unwrap_or(u32::MAX));
        }
        let room = self.fifo.len() - self.fifo_len;
        let n = produced.min(room);
        self.fifo[self.fifo_len..self.fifo_len + n].copy_from_slice(&self.decoded[..n]);
        self.fifo_len += n;
    }
}

/// Runs the decoder without a packet until `wanted` samples are produced.
fn conceal(decoder: &mut OpusDecoder, out: &mut [f32], wanted: usize) -> usize {
    let mut n = 0;
    while n < wanted {
        match decoder.conceal(&mut out[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    n
}

/// Decodes `payload` into `out`; a payload that fails to decode is concealed instead (it
/// passed SRTP authentication, so it is the peer's encoder output, but never trust it).
fn decode_or_conceal(
    decoder: &mut OpusDecoder,
    payload: &[u8],
    out: &mut [f32],
    errors: &mut u64,
) -> usize {
    match decoder.decode(payload, out) {
        Ok(n) => n,
        Err(_) => {
            *errors += 1;
            decoder.conceal(out).unwrap_or(0)
        }
    }
}

/// Pads `buf[..have]` with silence or cuts it to `want` samples; returns `want` (bounded
/// by the buffer).
fn fit(buf: &mut [f32], have: usize, want: usize) -> usize {
    let want = want.min(buf.len());
    if have < want {
        buf[have..want].fill(0.0);
    }
    want
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_pads_and_cuts() {
        let mut buf = [1.0f32; 8];
        assert_eq!(fit(&mut buf, 4, 6), 6);
        assert_eq!(buf[..6], [1.0, 1.0, 1.0, 1.0, 0.0, 0.0]);
        assert_eq!(fit(&mut buf, 8, 3), 3);
    }
}
