//! Opus encoding and decoding of the engine's 48 kHz mono 10 ms frames: aggregation into
//! 20 ms packets (configurable), bitrate, in-band FEC and DTX switches, packet-loss
//! concealment and FEC recovery of a lost packet from the next one.

use std::time::{Duration, Instant};

use opus::{Application, Bitrate, Channels};

use super::AudioError;
use super::aec::sanitise;
use super::resample::{ENGINE_FRAME, ENGINE_RATE};
use crate::pipeline::{BufferPool, LatencyHistogram, PooledBuffer, Timestamped};

/// Largest Opus packet (RFC 6716: 1275 bytes per 20 ms frame, up to 3 frames for 60 ms,
/// plus framing).
pub const MAX_PACKET_BYTES: usize = 4000;
/// Longest audio one Opus packet may hold (120 ms at 48 kHz).
const MAX_PACKET_SAMPLES: usize = 5760;

/// Encoder settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusConfig {
    /// Target bitrate in bits per second (6 000..=510 000).
    pub bitrate_bps: u32,
    /// 10 ms frames per packet: 1, 2 (20 ms, the default), 4 or 6.
    pub frames_per_packet: u8,
    /// In-band forward error correction (LBRR): each packet also carries a coarse copy of
    /// the previous one, so one lost packet can be rebuilt from the next.
    pub fec: bool,
    /// Packet loss the encoder plans FEC for, in percent.
    pub expected_loss_percent: u8,
    /// Discontinuous transmission: during silence the encoder emits (almost) nothing.
    pub dtx: bool,
    /// Encoder complexity 0..=10 (CPU versus quality). Default 1: on recorded speech at
    /// 32 kbps it costs ~0.08 PESQ-WB against complexity 5 for about a third of the CPU
    /// time (`docs/benchmarks.md`), which the 10 ms capture budget needs.
    pub complexity: u8,
    /// How packet sizes may follow the content; [`OpusBitrateMode::Constant`] by default.
    pub bitrate_mode: OpusBitrateMode,
}

/// How the Opus encoder spends its bitrate, and so what packet sizes reveal.
///
/// Encrypted variable-bitrate speech leaks what is said: packet sizes follow the phonemes,
/// and that is enough to recognise phrases and languages in SRTP traffic (RFC 6562). A call
/// engine whose point is that nobody in between can hear the call therefore sends constant
/// bitrate by default; the price is a little quality at the same rate (and DTX, which
/// reveals when someone speaks, stays off by default for the same reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OpusBitrateMode {
    /// Every packet of a given duration has the same size, whatever it holds. The default.
    #[default]
    Constant,
    /// Constrained VBR: sizes vary within a frame-level bound (what libwebrtc uses).
    /// Leaks less than [`Variable`](Self::Variable), but still leaks (RFC 6562 §3).
    Constrained,
    /// Unconstrained VBR: the best quality per bit, and sizes that follow the speech.
    Variable,
}

impl Default for OpusConfig {
    fn default() -> Self {
        Self {
            bitrate_bps: 32_000,
            frames_per_packet: 2,
            fec: true,
            expected_loss_percent: 10,
            dtx: false,
            complexity: 1,
            bitrate_mode: OpusBitrateMode::Constant,
        }
    }
}

/// One Opus packet of the capture side.
#[derive(Debug)]
pub struct EncodedPacket {
    data: PooledBuffer<u8>,
    capture_time: Instant,
    sequence: u64,
    samples: usize,
}

impl EncodedPacket {
    /// A packet made from received bytes (playout side) with the sender's sequence number
    /// and the capture instant it stands for.
    pub fn from_bytes(
        data: &[u8],
        capture_time: Instant,
        sequence: u64,
    ) -> Result<Self, AudioError> {
        let samples = packet_samples(data)?;
        Ok(Self { data: PooledBuffer::detached(data.to_vec()), capture_time, sequence, samples })
    }

    /// The Opus payload.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Packet sequence number (consecutive, from 0).
    pub fn sequence(&self) -> u64 {
        self.sequence
    }

    /// Audio duration in 48 kHz samples.
    pub fn samples(&self) -> usize {
        self.samples
    }
}

impl Timestamped for EncodedPacket {
    /// Capture instant of the packet's first 10 ms frame.
    fn capture_time(&self) -> Instant {
        self.capture_time
    }
}

/// Validate an Opus packet's framing and return its duration in 48 kHz samples.
fn packet_samples(data: &[u8]) -> Result<usize, AudioError> {
    if data.is_empty() {
        return Err(AudioError::CorruptPacket("empty packet".into()));
    }
    let n = opus::packet::get_nb_samples(data, ENGINE_RATE)
        .map_err(|e| AudioError::CorruptPacket(e.description().to_string()))?;
    if n == 0 || n > MAX_PACKET_SAMPLES {
        return Err(AudioError::CorruptPacket(format!("{n} samples in one packet")));
    }
    Ok(n)
}

/// Opus encoder for 10 ms frames of 48 kHz mono, emitting one packet per
/// `frames_per_packet` frames.
pub struct OpusEncoder {
    encoder: opus::Encoder,
    config: OpusConfig,
    pcm: [f32; 6 * ENGINE_FRAME],
    frames_held: usize,
    first_capture: Option<Instant>,
    pool: BufferPool<u8>,
    next_sequence: u64,
    dtx_frames: u64,
    sanitised: u64,
    processing: LatencyHistogram,
    /// libopus's look-ahead (`OPUS_GET_LOOKAHEAD`), read once at construction.
    lookahead: Duration,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder").field("config", &self.config).finish()
    }
}

impl OpusEncoder {
    /// An encoder with `config` (VoIP application, mono, 48 kHz).
    pub fn new(config: OpusConfig) -> Result<Self, AudioError> {
        if ![1, 2, 4, 6].contains(&config.frames_per_packet) {
            return Err(AudioError::InvalidConfig(format!(
                "{} frames per packet (1, 2, 4 or 6)",
                config.frames_per_packet
            )));
        }
        if !(6_000..=510_000).contains(&config.bitrate_bps) {
            return Err(AudioError::InvalidConfig(format!(
                "bitrate {} bps outside 6000..=510000",
                config.bitrate_bps
            )));
        }
        if config.complexity > 10 || config.expected_loss_percent > 100 {
            return Err(AudioError::InvalidConfig(
                "complexity must be 0..=10 and loss 0..=100 %".into(),
            ));
        }
        let mut encoder = opus::Encoder::new(ENGINE_RATE, Channels::Mono, Application::Voip)
            .map_err(|e| AudioError::codec("create encoder", e))?;
        encoder
            .set_bitrate(Bitrate::Bits(config.bitrate_bps as i32))
            .map_err(|e| AudioError::codec("set_bitrate", e))?;
        encoder.set_inband_fec(config.fec).map_err(|e| AudioError::codec("set_inband_fec", e))?;
        encoder
            .set_packet_loss_perc(if config.fec { config.expected_loss_percent as i32 } else { 0 })
            .map_err(|e| AudioError::codec("set_packet_loss_perc", e))?;
        encoder.set_dtx(config.dtx).map_err(|e| AudioError::codec("set_dtx", e))?;
        let (vbr, constrained) = match config.bitrate_mode {
            OpusBitrateMode::Constant => (false, false),
            OpusBitrateMode::Constrained => (true, true),
            OpusBitrateMode::Variable => (true, false),
        };
        encoder.set_vbr(vbr).map_err(|e| AudioError::codec("set_vbr", e))?;
        encoder
            .set_vbr_constraint(constrained)
            .map_err(|e| AudioError::codec("set_vbr_constraint", e))?;
        encoder
            .set_complexity(config.complexity as i32)
            .map_err(|e| AudioError::codec("set_complexity", e))?;
        let lookahead_samples =
            encoder.get_lookahead().map_err(|e| AudioError::codec("get_lookahead", e))?;
        let lookahead =
            Duration::from_secs_f64(f64::from(lookahead_samples.max(0)) / f64::from(ENGINE_RATE));
        Ok(Self {
            encoder,
            config,
            pcm: [0.0; 6 * ENGINE_FRAME],
            frames_held: 0,
            first_capture: None,
            pool: BufferPool::new(64, 16, MAX_PACKET_BYTES),
            next_sequence: 0,
            dtx_frames: 0,
            sanitised: 0,
            processing: LatencyHistogram::new(),
            lookahead,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> OpusConfig {
        self.config
    }

    /// How much older than a packet's first sample position the audio in it is: the
    /// encoder's look-ahead, as libopus reports it (6.5 ms for VoIP at 48 kHz). Packetising
    /// several frames adds waiting time, not algorithmic delay, and is not included.
    pub fn algorithmic_delay(&self) -> Duration {
        self.lookahead
    }

    /// Change the target bitrate (e.g. on a bandwidth estimate).
    pub fn set_bitrate(&mut self, bitrate_bps: u32) -> Result<(), AudioError> {
        if !(6_000..=510_000).contains(&bitrate_bps) {
            return Err(AudioError::InvalidConfig(format!("bitrate {bitrate_bps} bps")));
        }
        self.encoder
            .set_bitrate(Bitrate::Bits(bitrate_bps as i32))
            .map_err(|e| AudioError::codec("set_bitrate", e))?;
        self.config.bitrate_bps = bitrate_bps;
        Ok(())
    }

    /// Packets whose content DTX reduced to nothing (not emitted).
    pub fn dtx_packets(&self) -> u64 {
        self.dtx_frames
    }

    /// Time spent per [`push_frame`](Self::push_frame) call.
    pub fn processing(&self) -> &LatencyHistogram {
        &self.processing
    }

    /// Add one 10 ms frame captured at `capture_time`; returns a packet when enough frames
    /// are held (every `frames_per_packet` calls), unless DTX suppressed it.
    pub fn push_frame(
        &mut self,
        frame: &[f32],
        capture_time: Instant,
    ) -> Result<Option<EncodedPacket>, AudioError> {
        if frame.len() != ENGINE_FRAME {
            return Err(AudioError::WrongLength { expected: ENGINE_FRAME, got: frame.len() });
        }
        let started = Instant::now();
        let at = self.frames_held * ENGINE_FRAME;
        let slot = &mut self.pcm[at..at + ENGINE_FRAME];
        slot.copy_from_slice(frame);
        self.sanitised += sanitise(slot);
        slot.iter_mut().for_each(|s| *s = s.clamp(-1.0, 1.0));
        if self.frames_held == 0 {
            self.first_capture = Some(capture_time);
        }
        self.frames_held += 1;
        if self.frames_held < self.config.frames_per_packet as usize {
            self.processing.record(started.elapsed());
            return Ok(None);
        }
        let samples = self.frames_held * ENGINE_FRAME;
        self.frames_held = 0;
        let mut buf = self.pool.acquire(MAX_PACKET_BYTES);
        let len = self
            .encoder
            .encode_float(&self.pcm[..samples], &mut buf)
            .map_err(|e| AudioError::codec("encode", e))?;
        let sequence = self.next_sequence;
        self.next_sequence += 1;
        let capture_time = self.first_capture.take().unwrap_or(capture_time);
        self.processing.record(started.elapsed());
        // With DTX, libopus marks silence with packets of at most 2 bytes that need not
        // be sent; the receiver conceals the gap.
        if self.config.dtx && len <= 2 {
            self.dtx_frames += 1;
            return Ok(None);
        }
        buf.resize(len, 0);
        Ok(Some(EncodedPacket { data: buf, capture_time, sequence, samples }))
    }
}

/// Counters of an [`OpusDecoder`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DecoderStats {
    /// Packets decoded.
    pub decoded: u64,
    /// Lost packets concealed by PLC.
    pub concealed: u64,
    /// Lost packets rebuilt from FEC.
    pub recovered: u64,
    /// Packets rejected as corrupt.
    pub corrupt: u64,
}

/// Opus decoder to 48 kHz mono.
pub struct OpusDecoder {
    decoder: opus::Decoder,
    last_samples: usize,
    stats: DecoderStats,
    processing: LatencyHistogram,
}

impl std::fmt::Debug for OpusDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusDecoder").field("stats", &self.stats).finish()
    }
}

impl OpusDecoder {
    /// A decoder expecting packets of `default_samples` (48 kHz) until the first packet
    /// says otherwise (used to size concealment before any packet arrived).
    pub fn new(default_samples: usize) -> Result<Self, AudioError> {
        let decoder = opus::Decoder::new(ENGINE_RATE, Channels::Mono)
            .map_err(|e| AudioError::codec("create decoder", e))?;
        Ok(Self {
            decoder,
            last_samples: default_samples.clamp(ENGINE_FRAME, MAX_PACKET_SAMPLES),
            stats: DecoderStats::default(),
            processing: LatencyHistogram::new(),
        })
    }

    /// Counters.
    pub fn stats(&self) -> DecoderStats {
        self.stats
    }

    /// Time spent per decode/conceal call.
    pub fn processing(&self) -> &LatencyHistogram {
        &self.processing
    }

    /// Samples the next concealment will produce (duration of the last packet).
    pub fn concealment_samples(&self) -> usize {
        self.last_samples
    }

    /// Decode `packet` into `out` (at least 5760 samples, or the packet's duration);
    /// returns the number of samples written.
    pub fn decode(&mut self, packet: &[u8], out: &mut [f32]) -> Result<usize, AudioError> {
        let started = Instant::now();
        let n = match packet_samples(packet) {
            Ok(n) => n,
            Err(e) => {
                self.stats.corrupt += 1;
                return Err(e);
            }
        };
        if out.len() < n {
            return Err(AudioError::WrongLength { expected: n, got: out.len() });
        }
        let got = self.decoder.decode_float(packet, &mut out[..n], false).map_err(|e| {
            self.stats.corrupt += 1;
            AudioError::CorruptPacket(e.description().to_string())
        })?;
        self.last_samples = got;
        self.stats.decoded += 1;
        self.processing.record(started.elapsed());
        Ok(got)
    }

    /// Conceal one lost packet (PLC); writes `concealment_samples()` samples.
    pub fn conceal(&mut self, out: &mut [f32]) -> Result<usize, AudioError> {
        self.lost(&[], out)
    }

    /// Rebuild one lost packet from the FEC data in `next_packet` (the packet after the
    /// lost one); without FEC data libopus falls back to concealment.
    pub fn recover(&mut self, next_packet: &[u8], out: &mut [f32]) -> Result<usize, AudioError> {
        if let Err(e) = packet_samples(next_packet) {
            self.stats.corrupt += 1;
            return Err(e);
        }
        self.lost(next_packet, out)
    }

    fn lost(&mut self, fec_source: &[u8], out: &mut [f32]) -> Result<usize, AudioError> {
        let started = Instant::now();
        let n = self.last_samples;
        if out.len() < n {
            return Err(AudioError::WrongLength { expected: n, got: out.len() });
        }
        let fec = !fec_source.is_empty();
        let got = self
            .decoder
            .decode_float(fec_source, &mut out[..n], fec)
            .map_err(|e| AudioError::codec("conceal", e))?;
        if fec {
            self.stats.recovered += 1;
        } else {
            self.stats.concealed += 1;
        }
        self.processing.record(started.elapsed());
        Ok(got)
    }
}
