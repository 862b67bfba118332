//! Audio calls end to end over the in-memory link: keys from a real e2ee handshake, the
//! full capture chain (AEC, noise suppression, Opus), RTP, SRTP, the network thread, the
//! jitter buffer and the playout chain, paced in real time (10 ms ticks).

use std::sync::Arc;
use std::time::{Duration, Instant};

use sottovoce::audio::DeviceFormat;
use sottovoce::audio::synth::{Voice, speech_like};
use sottovoce::call::{Call, CallConfig, CallEnded, CallError, CallStats};
use sottovoce::e2ee::CallKeys;
use sottovoce::transport::memory_link;

#[path = "support/audio_compare.rs"]
mod audio_compare;
#[path = "support/handshake.rs"]
mod handshake;

const RATE: u32 = 16_000;
const FRAME: usize = (RATE / 100) as usize;
const ALICE_SSRC: u32 = 0xA11C_E000;
const BOB_SSRC: u32 = 0x0000_B0B0;

fn device() -> DeviceFormat {
    DeviceFormat::new(RATE, 1).expect("device format")
}

struct Side {
    sent: Vec<f32>,
    played: Vec<f32>,
    stats: CallStats,
}

/// Runs a call for the length of the signals plus `tail` ticks, one tick per 10 ms of
/// wall-clock time (absolute deadlines, so a late tick is caught up, not lost).
fn run_call(
    alice_keys: CallKeys,
    bob_keys: CallKeys,
    a_voice: Vec<f32>,
    b_voice: Vec<f32>,
    echo_cancellation: bool,
) -> (Side, Side) {
    let (a_end, b_end) = memory_link();
    let mut a_config = CallConfig::new(alice_keys, ALICE_SSRC, BOB_SSRC, device());
    let mut b_config = CallConfig::new(bob_keys, BOB_SSRC, ALICE_SSRC, device());
    if !echo_cancellation {
        a_config.capture.aec = None;
        b_config.capture.aec = None;
    }
    let mut alice =
        Call::new(a_config, Arc::new(a_end.sender), Box::new(a_end.receiver)).expect("alice call");
    let mut bob =
        Call::new(b_config, Arc::new(b_end.sender), Box::new(b_end.receiver)).expect("bob call");

    let ticks = a_voice.len().max(b_voice.len()) / FRAME + 30;
    let mut a_played = Vec::with_capacity(ticks * FRAME);
    let mut b_played = Vec::with_capacity(ticks * FRAME);
    let silence = [0.0f32; FRAME];
    let mut out = [0.0f32; FRAME];
    let start = Instant::now();
    for tick in 0..ticks {
        let deadline = start + Duration::from_millis(10 * tick as u64);
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        let range = tick * FRAME..(tick + 1) * FRAME;
        let a_mic = a_voice.get(range.clone()).unwrap_or(&silence);
        let b_mic = b_voice.get(range).unwrap_or(&silence);
        alice.push_audio(a_mic, now).expect("alice push");
        bob.push_audio(b_mic, now).expect("bob push");
        let n = alice.pull_audio(&mut out, now).expect("alice pull");
        a_played.extend_from_slice(&out[..n]);
        let n = bob.pull_audio(&mut out, now).expect("bob pull");
        b_played.extend_from_slice(&out[..n]);
    }
    // Let the network threads deliver what is still in flight before reading counters.
    std::thread::sleep(Duration::from_millis(200));
    let a_stats = alice.hang_up();
    let b_stats = bob.hang_up();
    (
        Side { sent: a_voice, played: a_played, stats: a_stats },
        Side { sent: b_voice, played: b_played, stats: b_stats },
    )
}

fn align(
    sent: &[f32],
    played: &[f32],
    window_ms: std::ops::Range<usize>,
    max_lag_ms: usize,
) -> (usize, f64) {
    audio_compare::align(sent, played, RATE, window_ms, max_lag_ms)
}

/// Alignment of each 500 ms chunk of `span_ms` on its own: the jitter buffer may
/// legitimately move the delay (stretch, accelerate) when a loaded machine stalls a tick.
fn chunk_alignments(
    sent: &[f32],
    played: &[f32],
    span_ms: std::ops::Range<usize>,
) -> Vec<(usize, f64)> {
    span_ms.step_by(500).map(|t| align(sent, played, t..t + 500, 400)).collect()
}

fn alice_voice(seconds: f32) -> Vec<f32> {
    speech_like(seconds, RATE, Voice { pitch_hz: 115.0, peak: 0.5, seed: 11 })
}

fn bob_voice(seconds: f32) -> Vec<f32> {
    speech_like(seconds, RATE, Voice { pitch_hz: 205.0, peak: 0.5, seed: 22 })
}

/// Both talk at once for 5 s. The echo canceller is off here: AEC3's residual echo
/// suppressor attenuates the near end while an (uncorrelated) far end is active, which
/// made the received level contour vary run to run (envelope correlation 0.48-0.86 with
/// it, 0.999 without); double-talk is the audio module's known weak spot (docs/audio.md).
/// Noise suppression and Opus stay on.
#[test]
fn a_five_second_call_carries_each_voice_to_the_other_side() {
    let (alice_keys, bob_keys) = handshake::agreed_call_keys();
    let (alice, bob) = run_call(alice_keys, bob_keys, alice_voice(5.0), bob_voice(5.0), false);

    for (from, to, name) in [(&alice, &bob, "alice->bob"), (&bob, &alice, "bob->alice")] {
        // 5 s + 300 ms of tail in 20 ms packets.
        assert_eq!(from.stats.packets_sent, 265, "{name}: packets sent");
        assert_eq!(to.stats.packets_received, from.stats.packets_sent, "{name}: received");
        assert_eq!(to.stats.bytes_received, from.stats.bytes_sent, "{name}: bytes");
        assert_eq!(to.stats.auth_failures, 0, "{name}");
        assert_eq!(to.stats.replays, 0, "{name}");
        assert_eq!(to.stats.malformed, 0, "{name}");
        assert_eq!(to.stats.rtp_dropped, 0, "{name}");
        assert_eq!(to.stats.queue_overflows, 0, "{name}");
        assert_eq!(to.stats.decode_errors, 0, "{name}");
        // Everything that arrived before hang-up reached the jitter buffer, except what
        // was still queued when playout stopped pulling.
        assert!(to.stats.jitter.received + 10 >= to.stats.packets_received, "{name}");
        assert_eq!(to.stats.jitter.lost, 0, "{name}: no loss on a clean link");

        // 2 s in the middle of the call, searched over up to 400 ms of delay.
        // Align each 500 ms chunk on its own: the jitter buffer may legitimately move the
        // delay (stretch, accelerate) when the test machine stalls a tick.
        let mut chunks: Vec<(usize, f64)> = (1000..4500)
            .step_by(500)
            .map(|t| align(&from.sent, &to.played, t..t + 500, 400))
            .collect();
        eprintln!(
            "{name}: (delay ms, envelope correlation) per chunk {chunks:?}; {:?}",
            to.stats.jitter
        );
        chunks.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (delay_ms, correlation) = chunks[chunks.len() / 2];
        assert!(correlation > 0.95, "{name}: median correlation {correlation:.3}");
        assert!(chunks[0].1 > 0.7, "{name}: worst chunk {:?}", chunks[0]);
        // ~46 ms on an idle machine; a loaded one stalls ticks, which the jitter buffer
        // rightly answers by growing its delay (226-272 ms seen with two busy loops on 2
        // cores), so this only bounds it.
        assert!(delay_ms < 500, "{name}: playout delay {delay_ms} ms on a clean link");
    }
    let names: Vec<_> = alice.stats.stages.iter().map(|(n, _)| *n).collect();
    for stage in ["capture.total", "send", "unprotect", "queue", "decode", "playout"] {
        assert!(names.contains(&stage), "stage {stage} missing from {names:?}");
    }
    assert_eq!(alice.stats.ended, Some(CallEnded::HungUp));
}

/// The default chain (AEC, noise suppression, Opus) in half duplex: Alice talks, Bob is
/// silent, so no double-talk; her voice must arrive intact through Bob's playout.
#[test]
fn the_default_capture_chain_carries_speech_in_half_duplex() {
    let (alice_keys, bob_keys) = handshake::agreed_call_keys();
    let (alice, bob) =
        run_call(alice_keys, bob_keys, alice_voice(4.0), vec![0.0; 4 * RATE as usize], true);
    let mut chunks = chunk_alignments(&alice.sent, &bob.played, 1000..3500);
    eprintln!("half duplex with AEC: (delay ms, envelope correlation) per chunk {chunks:?}");
    chunks.sort_by(|a, b| a.1.total_cmp(&b.1));
    let (delay_ms, correlation) = chunks[chunks.len() / 2];
    assert!(correlation > 0.9, "median correlation {correlation:.3} at {delay_ms} ms");
    assert_eq!(bob.stats.packets_received, alice.stats.packets_sent);
}

#[test]
fn with_the_wrong_key_nothing_plays_and_every_packet_fails_authentication() {
    let (alice_keys, _) = handshake::agreed_call_keys();
    let (_, bob_keys_of_another_call) = handshake::agreed_call_keys();
    let (alice, bob) =
        run_call(alice_keys, bob_keys_of_another_call, alice_voice(1.0), bob_voice(1.0), true);

    for (from, to) in [(&alice, &bob), (&bob, &alice)] {
        assert!(from.stats.packets_sent >= 60);
        // Every RTP packet and every compound RTCP packet fails.
        assert_eq!(to.stats.auth_failures, from.stats.packets_sent + from.stats.rtcp_sent);
        assert!(from.stats.rtcp_sent >= 1);
        assert_eq!(to.stats.rtcp_received, 0);
        assert_eq!(to.stats.packets_received, 0);
        assert_eq!(to.stats.jitter.received, 0);
        let peak = to.played.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert_eq!(peak, 0.0, "audio played without the right key");
    }
}

#[test]
fn a_silent_peer_ends_the_call_with_a_timeout() {
    let (alice_keys, _) = handshake::agreed_call_keys();
    let (a_end, _silent_peer) = memory_link();
    let mut config = CallConfig::new(alice_keys, ALICE_SSRC, BOB_SSRC, device());
    config.peer_timeout = Duration::from_millis(300);
    let mut alice =
        Call::new(config, Arc::new(a_end.sender), Box::new(a_end.receiver)).expect("call");
    let start = Instant::now();
    let mic = [0.0f32; FRAME];
    let mut ended = None;
    while start.elapsed() < Duration::from_secs(5) {
        match alice.push_audio(&mic, Instant::now()) {
            Ok(()) => std::thread::sleep(Duration::from_millis(10)),
            Err(CallError::Ended(reason)) => {
                ended = Some((reason, start.elapsed()));
                break;
            }
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    let (reason, after) = ended.expect("the call did not end");
    assert_eq!(reason, CallEnded::PeerTimeout);
    assert!(after >= Duration::from_millis(300), "ended after {after:?}");
    assert_eq!(alice.ended(), Some(CallEnded::PeerTimeout));
    // Hanging up afterwards keeps the first reason.
    assert_eq!(alice.hang_up().ended, Some(CallEnded::PeerTimeout));
}

/// Over real UDP: a peer whose port is closed ends the call with `PeerUnreachable` (the
/// kernel's ICMP port unreachable surfaces on the connected socket).
#[test]
fn a_closed_peer_port_ends_the_call_as_unreachable() {
    use sottovoce::transport::UdpTransport;
    let loopback = "127.0.0.1:0".parse().expect("address");
    let closed = UdpTransport::bind(loopback).expect("bind");
    let closed_addr = closed.local_addr().expect("address");
    drop(closed);
    let transport = UdpTransport::bind(loopback).expect("bind");
    transport.connect(closed_addr).expect("connect");
    let (sender, receiver) = transport.split().expect("split");
    let (alice_keys, _) = handshake::agreed_call_keys();
    let mut alice = Call::new(
        CallConfig::new(alice_keys, ALICE_SSRC, BOB_SSRC, device()),
        Arc::new(sender),
        Box::new(receiver),
    )
    .expect("call");
    let start = Instant::now();
    let mic = [0.0f32; FRAME];
    let reason = loop {
        assert!(start.elapsed() < Duration::from_secs(5), "the call did not end");
        match alice.push_audio(&mic, Instant::now()) {
            Ok(()) => std::thread::sleep(Duration::from_millis(10)),
            Err(CallError::Ended(reason)) => break reason,
            Err(e) => panic!("unexpected error {e}"),
        }
    };
    assert_eq!(reason, CallEnded::PeerUnreachable);
    assert_eq!(alice.hang_up().ended, Some(CallEnded::PeerUnreachable));
}

/// An attacker on the path sends packets that claim the next key epoch (header extension
/// id 4, see docs/call.md) with garbage for a tag: each is counted as an authentication
/// failure, the receiver stays on its epoch, and the real stream keeps playing.
#[test]
fn forged_packets_claiming_the_next_key_epoch_change_nothing() {
    use sottovoce::rtp::{HeaderExtension, RtpHeader};
    use sottovoce::transport::PacketSend;
    let (alice_keys, bob_keys) = handshake::agreed_call_keys();
    let (a_end, b_end) = memory_link();
    let attacker = a_end.sender.clone();
    let mut alice = Call::new(
        CallConfig::new(alice_keys, ALICE_SSRC, BOB_SSRC, device()),
        Arc::new(a_end.sender),
        Box::new(a_end.receiver),
    )
    .expect("alice");
    let mut bob = Call::new(
        CallConfig::new(bob_keys, BOB_SSRC, ALICE_SSRC, device()),
        Arc::new(b_end.sender),
        Box::new(b_end.receiver),
    )
    .expect("bob");
    let voice = alice_voice(2.0);
    let mut played = Vec::new();
    let mut out = [0.0f32; FRAME];
    let mut forged = 0u64;
    let start = Instant::now();
    for tick in 0..voice.len() / FRAME {
        let deadline = start + Duration::from_millis(10 * tick as u64);
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        alice.push_audio(&voice[tick * FRAME..(tick + 1) * FRAME], now).expect("push");
        bob.push_audio(&[0.0; FRAME], now).expect("push");
        if tick % 3 == 0 {
            let epoch = [1u8];
            let header = RtpHeader {
                payload_type: 111,
                sequence_number: tick as u16,
                timestamp: tick as u32 * 480,
                ssrc: ALICE_SSRC,
                extensions: &[HeaderExtension { id: 4, data: &epoch }],
                ..RtpHeader::default()
            };
            let mut datagram = [0u8; 200];
            let len = header.write_packet(&[0x5A; 60], 0, &mut datagram).expect("forge");
            attacker.send(&datagram[..len + 16]).expect("inject");
            forged += 1;
        }
        alice.pull_audio(&mut out, now).expect("pull");
        let n = bob.pull_audio(&mut out, now).expect("pull");
        played.extend_from_slice(&out[..n]);
    }
    std::thread::sleep(Duration::from_millis(100));
    let alice_stats = alice.hang_up();
    let bob_stats = bob.hang_up();
    assert_eq!(bob_stats.auth_failures, forged);
    assert_eq!((bob_stats.receive_epoch, bob_stats.rekeys_received), (0, 0));
    assert_eq!(bob_stats.packets_received, alice_stats.packets_sent);
    let (delay_ms, correlation) = align(&voice, &played, 500..1500, 400);
    assert!(correlation > 0.9, "correlation {correlation:.3} at {delay_ms} ms");
}

/// Alice's side of the link with a hold: while `holding` is set her datagrams are kept
/// back instead of sent, to be delivered late (packets in flight across a re-key).
struct HoldingSender {
    inner: sottovoce::transport::MemorySender,
    holding: std::sync::atomic::AtomicBool,
    held: std::sync::Mutex<Vec<Vec<u8>>>,
}

impl sottovoce::transport::PacketSend for HoldingSender {
    fn send(&self, packet: &[u8]) -> Result<(), sottovoce::transport::TransportError> {
        if self.holding.load(std::sync::atomic::Ordering::Relaxed) {
            self.held.lock().unwrap().push(packet.to_vec());
            return Ok(());
        }
        self.inner.send(packet)
    }
}

/// Review finding 1: during a re-key overlap, packets that claim the epoch after the new
/// one used to make the receiver re-key to that epoch and back, which threw away the key
/// of packets still in flight under the old epoch. Forged packets must change nothing: the
/// late genuine packets of the old epoch still authenticate.
#[test]
fn forged_next_epoch_packets_during_a_rekey_keep_the_previous_key() {
    use sottovoce::rtp::{HeaderExtension, RtpHeader};
    use sottovoce::transport::PacketSend;
    use std::sync::atomic::Ordering;
    let (alice_keys, bob_keys) = handshake::agreed_call_keys();
    let (a_end, b_end) = memory_link();
    let attacker = a_end.sender.clone();
    let alice_link = Arc::new(HoldingSender {
        inner: a_end.sender,
        holding: false.into(),
        held: Default::default(),
    });
    let mut a_config = CallConfig::new(alice_keys, ALICE_SSRC, BOB_SSRC, device());
    let mut b_config = CallConfig::new(bob_keys, BOB_SSRC, ALICE_SSRC, device());
    // Re-keys only on request, so the test decides when.
    a_config.rekey = None;
    b_config.rekey = None;
    let mut alice =
        Call::new(a_config, alice_link.clone(), Box::new(a_end.receiver)).expect("alice");
    let mut bob =
        Call::new(b_config, Arc::new(b_end.sender), Box::new(b_end.receiver)).expect("bob");
    let voice = alice_voice(3.0);
    let mut out = [0.0f32; FRAME];
    let mut forged = 0u64;
    let start = Instant::now();
    for tick in 0..voice.len() / FRAME {
        let deadline = start + Duration::from_millis(10 * tick as u64);
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        match tick {
            // Epoch-0 packets go into the hold, then Alice moves to epoch 1.
            100 => alice_link.holding.store(true, Ordering::Relaxed),
            110 => {
                alice_link.holding.store(false, Ordering::Relaxed);
                alice.rekey();
            }
            // Bob has followed to epoch 1 by now; the held epoch-0 packets arrive late.
            190 => {
                assert_eq!(bob.stats().receive_epoch, 1, "bob followed the re-key");
                for packet in alice_link.held.lock().unwrap().drain(..) {
                    attacker.send(&packet).expect("late delivery");
                }
            }
            _ => {}
        }
        alice.push_audio(&voice[tick * FRAME..(tick + 1) * FRAME], now).expect("push");
        bob.push_audio(&[0.0; FRAME], now).expect("push");
        // Between the switch and the late delivery, forge packets claiming epoch 2 (the
        // epoch byte is in the clear, so an attacker on the path knows what comes next),
        // as RTP and as SRTCP-sized junk.
        if (150..190).contains(&tick) {
            let epoch = [2u8];
            let header = RtpHeader {
                payload_type: 111,
                sequence_number: 40_000 + tick as u16,
                timestamp: tick as u32 * 480,
                ssrc: ALICE_SSRC,
                extensions: &[HeaderExtension { id: 4, data: &epoch }],
                ..RtpHeader::default()
            };
            let mut datagram = [0u8; 200];
            let len = header.write_packet(&[0x5A; 60], 0, &mut datagram).expect("forge");
            attacker.send(&datagram[..len + 16]).expect("inject");
            let mut rtcp = [0x5Au8; 28];
            rtcp[..8].copy_from_slice(&[0x80, 200, 0, 6, 0xA1, 0x1C, 0xE0, 0x00]);
            attacker.send(&rtcp).expect("inject");
            forged += 2;
        }
        alice.pull_audio(&mut out, now).expect("pull");
        bob.pull_audio(&mut out, now).expect("pull");
    }
    std::thread::sleep(Duration::from_millis(100));
    let alice_stats = alice.hang_up();
    let bob_stats = bob.hang_up();
    eprintln!(
        "bob: auth failures {} (forged {forged}), received {} of {} sent, epoch {}",
        bob_stats.auth_failures,
        bob_stats.packets_received,
        alice_stats.packets_sent,
        bob_stats.receive_epoch
    );
    assert!(alice_link.held.lock().unwrap().is_empty());
    assert_eq!((bob_stats.receive_epoch, bob_stats.rekeys_received), (1, 1));
    // Every forged datagram failed, and nothing else did: the held epoch-0 packets
    // authenticated under the previous key after all the forgeries.
    assert_eq!(bob_stats.auth_failures, forged);
    assert_eq!(bob_stats.packets_received, alice_stats.packets_sent);
}
