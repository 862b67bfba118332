//! Simulated calls: two parties, each with real capture chains (noise suppression and
//! Opus), real send streams, a real sans-IO `Session` and real playout units (jitter
//! buffer, Opus decoder, concealment, time-scaling), connected by the impairment model
//! ([`Impairment`]) and driven by simulated time. Nothing waits: a 60 s call runs as fast
//! as the codecs allow, and a given seed reproduces it bit for bit.
//!
//! Each party can send several audio streams (each with its own SSRC, source and
//! latency markers); the other party plays each one with its own playout unit. Every
//! stream carries chirp markers ([`crate::call::probe`]) so mouth-to-ear latency is
//! measured end to end, as in the loopback demo.
//!
//! Time: the harness keeps a simulated clock. The codecs' own processing time is either
//! ignored (the default: deterministic) or charged, i.e. a packet leaves when the real
//! CPU time its capture chain took has passed in simulated time
//! ([`SimConfig::charge_codec_time`]; then runs are no longer bit-for-bit repeatable).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crossbeam::queue::ArrayQueue;

use super::sim_video::{SimVideoConfig, VideoSide};
use super::{SimError, setup};
use crate::audio::PlayoutStats;
use crate::audio::synth::{self, Voice};
use crate::audio::{AudioPlayout, CaptureChain, CaptureConfig, DeviceFormat, ENGINE_FRAME};
use crate::call::probe::LatencyRecorder;
use crate::call::probe::{AudioMarkerDetector, AudioMarkerInserter, MarkerMatcher, ProbeSummary};
use crate::e2ee::{
    AnsweringHandshake, CallKeys, IdentityKeyPair, OfferingHandshake, RekeyPolicy, SrtpSuite,
};
use crate::pipeline::Timestamped;
use crate::session::audio_send::AudioSendStream;
use crate::session::core::{Session, SessionConfig};
use crate::session::jitter::JitterConfig;
use crate::session::keys::{KeyEpochs, srtp_session};
use crate::session::rtcp_stats::NtpClock;
pub use crate::session::shared::SessionCounters;
use crate::session::shared::{CallEnded, RemoteClock, Shared};
use crate::session::streams::{audio_receiver, audio_sender};
use crate::session::video::VideoStats;
use crate::transport::MAX_DATAGRAM;
use crate::transport::impair::{Impairment, ImpairmentConfig, ImpairmentCounters};

/// One audio tick.
const TICK: Duration = Duration::from_millis(10);

/// Seconds of synthetic speech each source loops.
const SOURCE_SECONDS: f32 = 8.0;

/// Settings of a simulated call.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seeds every random draw: the links' impairments and the synthetic voices.
    pub seed: u64,
    /// Audio streams each party sends (each is a separate source and SSRC).
    pub audio_streams: usize,
    /// What happens to packets from party 0 to party 1.
    pub forward: ImpairmentConfig,
    /// What happens to packets from party 1 to party 0.
    pub backward: ImpairmentConfig,
    /// Capture chain settings (the device format is always 48 kHz mono here).
    pub capture: CaptureConfig,
    /// Jitter buffer tuning of every playout unit.
    pub jitter: JitterConfig,
    /// Key epochs: `None` re-keys only on [`SimulatedCall::rekey`].
    pub rekey: Option<RekeyPolicy>,
    /// A party that hears nothing authenticated for this long ends its call.
    pub peer_timeout: Duration,
    /// Interval of the chirp markers in every stream.
    pub marker_period: Duration,
    /// Charge the capture chain's real CPU time to simulated time (see the module
    /// documentation).
    pub charge_codec_time: bool,
    /// A video track in both directions, or audio only.
    pub video: Option<SimVideoConfig>,
    /// What every audio stream's microphone loops: 48 kHz mono samples (for instance a
    /// WAV file through [`WavClip::to_engine_mono`](super::media::WavClip::to_engine_mono)),
    /// or `None` for synthetic speech-like voices (a different one per stream). Latency
    /// markers are mixed in either way.
    pub audio_source: Option<Arc<[f32]>>,
    /// Keep everything each party plays out, per received stream (see
    /// [`SimulatedCall::recorded_audio`]).
    pub record_audio: bool,
}

impl Default for SimConfig {
    /// One audio stream each way on a clean link, the engine's default capture chain
    /// without echo cancellation (there is no acoustic path in a simulation) and with
    /// constrained-VBR Opus (so the latency markers survive), the
    /// default jitter buffer and re-keying, a marker every 2 s.
    fn default() -> Self {
        let mut capture =
            CaptureConfig { device: DeviceFormat::ENGINE, aec: None, ..CaptureConfig::default() };
        // As in the loopback demo with probes: hard CBR smears the chirp markers enough
        // that most are missed; constrained VBR carries them (the delay is the same).
        capture.opus.bitrate_mode = crate::audio::OpusBitrateMode::Constrained;
        Self {
            seed: 1,
            audio_streams: 1,
            forward: ImpairmentConfig::default(),
            backward: ImpairmentConfig::default(),
            capture,
            jitter: JitterConfig::default(),
            rekey: Some(RekeyPolicy::default()),
            peer_timeout: Duration::from_secs(10),
            marker_period: Duration::from_secs(2),
            charge_codec_time: false,
            video: None,
            audio_source: None,
            record_audio: false,
        }
    }
}

/// What one party measured of one stream it received.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceivedStreamStats {
    /// The stream's SSRC.
    pub ssrc: u32,
    /// Jitter buffer and decoder counters.
    pub playout: PlayoutStats,
    /// Mouth-to-ear latency from the stream's markers (simulated time).
    pub mouth_to_ear: ProbeSummary,
    /// Energy of everything played out (sum of squares): tells a stream that played
    /// from one that stayed silent.
    pub energy: f64,
}

/// Everything one party measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PartyStats {
    /// Session counters.
    pub session: SessionCounters,
    /// One entry per stream received from the other party.
    pub received: Vec<ReceivedStreamStats>,
    /// Why the party's call ended, if it has.
    pub ended: Option<CallEnded>,
    /// The video track's counters (both directions), with a video track.
    pub video: Option<VideoStats>,
    /// Glass-to-glass latency of the video this party received (capture at the peer to
    /// decoded here, from frame ids read back out of the pictures), with a video track.
    pub glass_to_glass: Option<ProbeSummary>,
}

/// Whole-call figures.
#[derive(Debug, Clone, PartialEq)]
pub struct SimStats {
    /// Simulated time run.
    pub elapsed: Duration,
    /// Party 0 and party 1.
    pub parties: [PartyStats; 2],
    /// What the links did (forward: 0 to 1; backward: 1 to 0).
    pub links: [ImpairmentCounters; 2],
}

/// A stream this party sends.
struct LocalAudio {
    /// While paused the stream captures nothing and sends nothing (a stream that stops).
    paused: bool,
    chain: CaptureChain,
    stream: AudioSendStream,
    source: Vec<f32>,
    position: usize,
    inserter: AudioMarkerInserter,
}

/// A stream this party receives.
struct RemoteAudio {
    ssrc: u32,
    queue: Arc<ArrayQueue<crate::session::shared::ReceivedAudio>>,
    playout: AudioPlayout,
    detector: AudioMarkerDetector,
    matcher: MarkerMatcher,
    recorder: LatencyRecorder,
    energy: f64,
    /// Everything played out, when the call records audio.
    recorded: Option<Vec<f32>>,
}

struct Party {
    shared: Arc<Shared>,
    session: Session,
    video: Option<VideoSide>,
    /// Glass-to-glass latencies of the video this party received.
    video_latency: LatencyRecorder,
    local: Vec<LocalAudio>,
    remote: Vec<RemoteAudio>,
}

/// The two links between the parties, and an optional tap on what one party sends.
struct Wire {
    /// `links[0]` carries party 0's datagrams to party 1, `links[1]` the reverse.
    links: [Impairment<Vec<u8>>; 2],
    /// While set, (party, copies of every datagram it sent).
    tap: Option<(usize, Vec<Vec<u8>>)>,
    /// Delivered and dropped datagrams' buffers, reused for the next ones so the harness
    /// itself does not allocate per packet (the steady-state allocation test counts the
    /// whole simulated call).
    spare: Vec<Vec<u8>>,
}

impl Wire {
    /// Puts a datagram party `from` sends at `at` on its link (and copies it if tapped).
    fn send(&mut self, from: usize, at: Instant, datagram: &[u8]) {
        if let Some((party, copies)) = &mut self.tap
            && *party == from
        {
            copies.push(datagram.to_vec());
        }
        let mut buffer = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(MAX_DATAGRAM));
        buffer.clear();
        buffer.extend_from_slice(datagram);
        if let Some(dropped) = self.links[from].send_or_return(at, buffer) {
            self.recycle(dropped);
        }
    }

    fn recycle(&mut self, buffer: Vec<u8>) {
        if self.spare.len() < SPARE_BUFFERS {
            self.spare.push(buffer);
        }
    }
}

/// Most datagram buffers the wire keeps for reuse.
const SPARE_BUFFERS: usize = 4096;

/// A running simulated call; see the module documentation.
pub struct SimulatedCall {
    config: SimConfig,
    parties: [Party; 2],
    wire: Wire,
    start: Instant,
    now: Instant,
    next_tick: Instant,
    /// Real time spent in the capture chains (noise suppression, Opus encoding) and the
    /// playout units (jitter buffer, Opus decoding): what the codecs cost, for the
    /// benchmark's share. Not part of [`SimStats`], which must repeat exactly.
    media_time: Duration,
}

impl std::fmt::Debug for SimulatedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatedCall")
            .field("elapsed", &self.now.duration_since(self.start))
            .finish_non_exhaustive()
    }
}

/// SSRC of party `party`'s audio stream `index`.
pub fn audio_ssrc(party: usize, index: usize) -> u32 {
    0x5100_0000 + (party as u32) * 0x1000 + index as u32
}

fn agreed_keys() -> Result<(CallKeys, CallKeys), SimError> {
    let alice = IdentityKeyPair::generate().map_err(setup("identity"))?;
    let bob = IdentityKeyPair::generate().map_err(setup("identity"))?;
    let (offering, offer) =
        OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::default())
            .map_err(setup("offer"))?;
    let (answering, answer) =
        AnsweringHandshake::respond(&bob, alice.public_key(), &offer).map_err(setup("answer"))?;
    let (alice_keys, confirm) = offering.finish(&answer).map_err(setup("finish"))?;
    let bob_keys = answering.finish(&confirm).map_err(setup("confirm"))?;
    Ok((alice_keys, bob_keys))
}

impl SimulatedCall {
    /// Sets up both parties (a real key agreement, capture chains, sessions, playout
    /// units) at simulated time zero.
    pub fn new(config: SimConfig) -> Result<Self, SimError> {
        if config.audio_streams == 0 || config.audio_streams > 16 {
            return Err(SimError::InvalidConfig("1 to 16 audio streams per party"));
        }
        if config.capture.device != DeviceFormat::ENGINE {
            return Err(SimError::InvalidConfig("the simulated device is 48 kHz mono"));
        }
        if config.capture.aec.is_some() {
            return Err(SimError::InvalidConfig("no echo path is simulated: turn the AEC off"));
        }
        let start = Instant::now();
        let (keys0, keys1) = agreed_keys()?;
        let party0 = Self::party(&config, 0, keys0, start)?;
        let party1 = Self::party(&config, 1, keys1, start)?;
        let links = [
            Impairment::new(config.forward.clone(), config.seed.wrapping_mul(2) + 1),
            Impairment::new(config.backward.clone(), config.seed.wrapping_mul(2) + 2),
        ];
        Ok(Self {
            config,
            parties: [party0, party1],
            wire: Wire { links, tap: None, spare: Vec::with_capacity(SPARE_BUFFERS) },
            start,
            now: start,
            next_tick: start,
            media_time: Duration::ZERO,
        })
    }

    fn party(
        config: &SimConfig,
        index: usize,
        keys: CallKeys,
        start: Instant,
    ) -> Result<Party, SimError> {
        let shared = Arc::new(Shared::default());
        let other = 1 - index;
        let mut local = Vec::new();
        let mut local_streams = Vec::new();
        let mut mailboxes = Vec::new();
        for stream in 0..config.audio_streams {
            let ssrc = audio_ssrc(index, stream);
            let chain = CaptureChain::new(&config.capture, None).map_err(setup("capture"))?;
            let srtp = srtp_session(&keys.outbound(), 1).map_err(setup("srtp"))?;
            let send = audio_sender(
                srtp,
                ssrc,
                crate::call::OPUS_PAYLOAD_TYPE,
                chain.algorithmic_delay(),
                &shared,
                start,
            );
            mailboxes.push(send.keys);
            local_streams.push(send.local);
            // Every stream its own voice: pitch by stream, everything random by the seed.
            let seed = config.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)
                ^ ((index as u64) << 8 | stream as u64);
            let voice = Voice {
                pitch_hz: if (index + stream) % 2 == 0 { 110.0 } else { 210.0 },
                peak: 0.5,
                seed,
            };
            let source = match &config.audio_source {
                Some(samples) if samples.is_empty() => {
                    return Err(SimError::InvalidConfig("the audio source is empty"));
                }
                Some(samples) => samples.to_vec(),
                None => synth::speech_like(SOURCE_SECONDS, crate::audio::ENGINE_RATE, voice),
            };
            let inserter =
                AudioMarkerInserter::new(crate::audio::ENGINE_RATE, config.marker_period)
                    .map_err(setup("marker"))?;
            local.push(LocalAudio {
                paused: false,
                chain,
                stream: send.stream,
                source,
                position: 0,
                inserter,
            });
        }
        let mut receive = Vec::new();
        let mut remote = Vec::new();
        for stream in 0..config.audio_streams {
            let ssrc = audio_ssrc(other, stream);
            let (entry, queue) = audio_receiver(
                ssrc,
                crate::call::OPUS_PAYLOAD_TYPE,
                Arc::new(RemoteClock::default()),
            );
            receive.push(entry);
            remote.push(RemoteAudio {
                ssrc,
                queue,
                playout: AudioPlayout::new(config.jitter.clone()).map_err(setup("playout"))?,
                detector: AudioMarkerDetector::new(
                    crate::audio::ENGINE_RATE,
                    AudioMarkerDetector::DEFAULT_THRESHOLD,
                )
                .map_err(setup("marker detector"))?,
                matcher: MarkerMatcher::new(Duration::from_secs(1)),
                recorder: LatencyRecorder::new(start),
                energy: 0.0,
                recorded: config.record_audio.then(Vec::new),
            });
        }
        // Both directions of every audio stream, video and RTX.
        let receive_streams = 2 * config.audio_streams + 4;
        let mut video = None;
        let mut video_receive = Vec::new();
        if let Some(video_config) = &config.video {
            let srtp = srtp_session(&keys.outbound(), 2).map_err(setup("srtp"))?;
            let (side, parts) = VideoSide::new(video_config, index, srtp, &shared, start)?;
            local_streams.push(parts.local);
            video_receive.push(parts.receive);
            mailboxes.push(parts.keys);
            video = Some(side);
        }
        let srtp_in = srtp_session(&keys.inbound(), receive_streams).map_err(setup("srtp"))?;
        let srtcp_out = srtp_session(&keys.outbound(), 2).map_err(setup("srtp"))?;
        let policy = config.rekey;
        let (outbound, inbound) = keys.into_ratchets(policy.unwrap_or_default(), start);
        let keys_state = KeyEpochs::new(outbound, inbound, policy, mailboxes, start);
        let session = Session::new(
            SessionConfig {
                srtp_in,
                srtcp_out,
                keys: keys_state,
                audio: receive,
                video: video_receive,
                local: local_streams,
                peer_timeout: config.peer_timeout,
                // A fixed wall-clock epoch keeps sender reports identical run to run.
                ntp: NtpClock::new(start, Duration::from_secs(1_700_000_000)),
                shared: Arc::clone(&shared),
            },
            start,
        );
        Ok(Party {
            shared,
            session,
            video,
            video_latency: LatencyRecorder::new(start),
            local,
            remote,
        })
    }

    /// Simulated time since the call started.
    pub fn elapsed(&self) -> Duration {
        self.now.duration_since(self.start)
    }

    /// Real (wall-clock) time the capture chains and playout units have taken so far.
    pub fn media_time(&self) -> Duration {
        self.media_time
    }

    /// The simulated instant now.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Runs the call for `duration` of simulated time.
    pub fn run_for(&mut self, duration: Duration) {
        let end = self.now + duration;
        while self.now < end {
            let next = self.next_event().min(end);
            self.now = next;
            self.step();
        }
    }

    /// Delivers `datagram` to `party` now, as if it had arrived from the network (for
    /// tests of forged, replayed and malformed input). Returns whether it authenticated.
    pub fn inject(&mut self, party: usize, datagram: &[u8]) -> bool {
        let mut copy = datagram.to_vec();
        let now = self.now;
        self.parties[party % 2].session.handle_receive(now, &mut copy)
    }

    /// Keeps a copy of every datagram party `from` sends for `duration`, while the call
    /// runs normally (for replay tests).
    pub fn capture_sent(&mut self, from: usize, duration: Duration) -> Vec<Vec<u8>> {
        self.wire.tap = Some((from % 2, Vec::new()));
        self.run_for(duration);
        self.wire.tap.take().map(|(_, copies)| copies).unwrap_or_default()
    }

    /// Changes what the link from party `from` to the other does to packets sent from now
    /// on (a capacity step, say); packets in flight keep their delivery instants.
    pub fn set_link(&mut self, from: usize, config: ImpairmentConfig) {
        self.wire.links[from % 2].set_config(config);
    }

    /// How long a packet sent now from party `from` would wait in the link's bottleneck
    /// queue (zero without a bandwidth limit).
    pub fn queue_delay(&mut self, from: usize) -> Duration {
        let now = self.now;
        let link = &mut self.wire.links[from % 2];
        let Some(bps) = link.config().bandwidth_bps.filter(|&b| b > 0) else {
            return Duration::ZERO;
        };
        let bytes = link.queued_bytes(now) as f64;
        Duration::from_secs_f64(bytes * 8.0 / bps as f64)
    }

    /// Asks `party` to move its outbound keys to the next epoch.
    pub fn rekey(&self, party: usize) {
        self.parties[party % 2].shared.rekey_wanted.store(true, Ordering::Release);
    }

    /// Stops (or resumes) party `party`'s audio stream `stream`: nothing is captured or
    /// sent for it while paused, the other streams go on.
    pub fn pause_stream(&mut self, party: usize, stream: usize, paused: bool) {
        if let Some(local) = self.parties[party % 2].local.get_mut(stream) {
            local.paused = paused;
        }
    }

    fn next_event(&self) -> Instant {
        let mut next = self.next_tick;
        for link in &self.wire.links {
            if let Some(t) = link.next_wakeup() {
                next = next.min(t);
            }
        }
        for party in &self.parties {
            next = next.min(party.session.poll_timeout());
            if let Some(video) = &party.video {
                next = next.min(video.poll_timeout(self.now));
            }
        }
        next.max(self.now)
    }

    fn step(&mut self) {
        let now = self.now;
        // Deliveries due now, in arrival order.
        for direction in 0..2 {
            let to = 1 - direction;
            while let Some((at, mut datagram)) = self.wire.links[direction].poll_timed(now) {
                self.parties[to].session.handle_receive(at, &mut datagram);
                self.wire.recycle(datagram);
            }
        }
        // Video receive: forwarded packets, frames to decode, NACK/PLI to queue.
        for party in &mut self.parties {
            if let Some(video) = &mut party.video {
                let started = Instant::now();
                video.receive(now, party.shared.rtt());
                self.media_time += started.elapsed();
            }
        }
        self.match_frame_ids();
        for party in &mut self.parties {
            if now >= party.session.poll_timeout() {
                party.session.handle_timeout(now);
            }
        }
        if now >= self.next_tick {
            for index in 0..2 {
                self.capture_tick(index, now);
            }
            for index in 0..2 {
                self.playout_tick(index, now);
            }
            self.next_tick += TICK;
        }
        let charge = self.config.charge_codec_time;
        for index in 0..2 {
            let party = &mut self.parties[index];
            let wire = &mut self.wire;
            if let Some(video) = &mut party.video
                && party.shared.ended().is_none()
            {
                let rtt = party.shared.rtt();
                self.media_time += video
                    .send(now, rtt, charge, &mut |at, datagram| wire.send(index, at, datagram));
            }
        }
        for index in 0..2 {
            while let Some(datagram) = self.parties[index].session.poll_transmit() {
                self.wire.send(index, now, datagram);
            }
        }
    }

    /// Glass-to-glass latency of every picture decoded since the last look: the frame id
    /// read from the picture, against when the peer captured that id.
    fn match_frame_ids(&mut self) {
        for index in 0..2 {
            let (first, second) = self.parties.split_at_mut(1);
            let (party, other) =
                if index == 0 { (&mut first[0], &second[0]) } else { (&mut second[0], &first[0]) };
            let (Some(video), Some(peer)) = (&mut party.video, &other.video) else { continue };
            for (id, shown) in video.shown.drain(..) {
                if let Some(latency) = peer.sent_ids.latency(id, shown) {
                    party.video_latency.record(shown, latency);
                }
            }
        }
    }

    /// One 10 ms microphone frame for every stream of `index`, through the capture chain
    /// and the send stream onto the link.
    fn capture_tick(&mut self, index: usize, now: Instant) {
        let charge = self.config.charge_codec_time;
        let (first, second) = self.parties.split_at_mut(1);
        let (party, other) = if index == 0 {
            (&mut first[0], &mut second[0])
        } else {
            (&mut second[0], &mut first[0])
        };
        if party.shared.ended().is_some() {
            return;
        }
        let mut frame = [0.0f32; ENGINE_FRAME];
        for (stream, local) in party.local.iter_mut().enumerate() {
            if local.paused {
                continue;
            }
            for sample in frame.iter_mut() {
                *sample = local.source[local.position];
                local.position = (local.position + 1) % local.source.len();
            }
            if let Some(captured_at) = local.inserter.process(&mut frame, now) {
                // The other party's playout unit for this stream looks for it.
                other.remote[stream].matcher.sent(captured_at);
            }
            local.chain.follow_bitrate_allocation(&party.shared);
            let started = Instant::now();
            let processed = local.chain.process(&frame, now);
            let spent = started.elapsed();
            self.media_time += spent;
            let Ok(Some(packet)) = processed else { continue };
            let leaves = if charge { now + spent } else { now };
            let Ok(datagram) = local.stream.packetize(
                packet.data(),
                packet.samples(),
                packet.capture_time(),
                leaves,
            ) else {
                party.shared.send_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            party.shared.packets_sent.fetch_add(1, Ordering::Relaxed);
            party.shared.bytes_sent.fetch_add(datagram.len() as u64, Ordering::Relaxed);
            self.wire.send(index, leaves, datagram);
        }
    }

    /// One 10 ms playout tick of every stream `index` receives.
    fn playout_tick(&mut self, index: usize, now: Instant) {
        let mut frame = [0.0f32; ENGINE_FRAME];
        for remote in &mut self.parties[index].remote {
            let started = Instant::now();
            while let Some(packet) = remote.queue.pop() {
                remote.playout.insert(packet.arrival, packet.into_audio_packet());
            }
            remote.playout.pull(now, &mut frame);
            self.media_time += started.elapsed();
            remote.energy += frame.iter().map(|s| f64::from(*s) * f64::from(*s)).sum::<f64>();
            if let Some(recorded) = &mut remote.recorded {
                recorded.extend_from_slice(&frame);
            }
            if let Some(found) = remote.detector.process(&frame, now)
                && let Some(latency) = remote.matcher.received(found.played_at)
            {
                remote.recorder.record(now, latency);
            }
            remote.matcher.expire(now);
        }
    }

    /// Everything party `party` has played out of received stream `stream` (48 kHz
    /// mono, 10 ms per tick from the start of the call), if the call records audio.
    pub fn recorded_audio(&self, party: usize, stream: usize) -> Option<&[f32]> {
        self.parties.get(party)?.remote.get(stream)?.recorded.as_deref()
    }

    /// The pictures party `party` decoded, if its video track records them: the frame id
    /// read back out of each (the index of the source frame it shows, modulo 2^16), and
    /// the picture as packed I420.
    pub fn recorded_video(&self, party: usize) -> Option<&[(Option<u16>, Vec<u8>)]> {
        self.parties.get(party)?.video.as_ref()?.recorded.as_deref()
    }

    /// Everything measured so far.
    pub fn stats(&self) -> SimStats {
        let party_stats = |party: &Party| {
            let s = &party.shared;
            PartyStats {
                session: s.counters(),
                received: party
                    .remote
                    .iter()
                    .map(|r| {
                        let mut recorder = r.recorder.clone();
                        recorder.set_missed(r.matcher.missed());
                        ReceivedStreamStats {
                            ssrc: r.ssrc,
                            playout: r.playout.stats(),
                            mouth_to_ear: recorder.summary(),
                            energy: r.energy,
                        }
                    })
                    .collect(),
                ended: s.ended(),
                video: party.video.as_ref().map(|v| v.stats.snapshot()),
                glass_to_glass: party.video.as_ref().map(|_| party.video_latency.summary()),
            }
        };
        SimStats {
            elapsed: self.elapsed(),
            parties: [party_stats(&self.parties[0]), party_stats(&self.parties[1])],
            links: [self.wire.links[0].counters(), self.wire.links[1].counters()],
        }
    }
}
