//! The real-time audio path of a call does not allocate in steady state: `push_audio`
//! (capture chain, RTP, SRTP, send) and `pull_audio` (queue drain, jitter buffer, decode,
//! resample, AEC reference), counted on the calling thread, with the default capture
//! chain (AEC3 echo cancellation and noise suppression on).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sottovoce::audio::DeviceFormat;
use sottovoce::audio::synth::{Voice, speech_like};
use sottovoce::call::{Call, CallConfig};
use sottovoce::transport::impair::ImpairmentConfig;
use sottovoce::transport::{ImpairedSender, PacketSend, TransportError, memory_link};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::thread_allocations as allocations;

#[path = "support/handshake.rs"]
mod handshake;

/// A transport that accepts every datagram and keeps only a count (it allocates nothing,
/// so what is counted is the call's own work).
struct CountingSink(AtomicU64);

impl PacketSend for CountingSink {
    fn send(&self, _packet: &[u8]) -> Result<(), TransportError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// What one run counted on Bob's side.
struct Counted {
    push_allocs: u64,
    pull_allocs: u64,
    stats: sottovoce::call::CallStats,
    sink_packets: u64,
}

/// Alice sends to Bob through `wrap` (the memory link, possibly impaired) for `seconds`;
/// Bob sends into a counting sink. Bob's `push_audio` and `pull_audio` allocations are
/// counted after a one-second warm-up.
fn run(seconds: f32, wrap: impl FnOnce(Arc<dyn PacketSend>) -> Arc<dyn PacketSend>) -> Counted {
    let (alice_keys, bob_keys) = handshake::agreed_call_keys();
    let device = DeviceFormat::new(16_000, 1).unwrap();
    let (a_end, b_end) = memory_link();
    let mut alice_call = Call::new(
        CallConfig::new(alice_keys, 1, 2, device),
        wrap(Arc::new(a_end.sender)),
        Box::new(a_end.receiver),
    )
    .unwrap();
    let sink = Arc::new(CountingSink(AtomicU64::new(0)));
    let mut bob_call =
        Call::new(bob_config(bob_keys, device), sink.clone(), Box::new(b_end.receiver)).unwrap();

    let voice = speech_like(seconds, 16_000, Voice::default());
    let mut out = [0.0f32; 160];
    let (mut push_allocs, mut pull_allocs) = (0, 0);
    let start = Instant::now();
    for (tick, frame) in voice.chunks_exact(160).enumerate() {
        let deadline = start + Duration::from_millis(10 * tick as u64);
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        alice_call.push_audio(frame, now).unwrap(); // memory link allocates: not counted
        let before = allocations();
        bob_call.push_audio(frame, now).unwrap();
        let after_push = allocations();
        bob_call.pull_audio(&mut out, now).unwrap();
        let after_pull = allocations();
        // The first second warms up (lazy codec state, histogram buckets, ...).
        if tick >= 100 {
            push_allocs += after_push - before;
            pull_allocs += after_pull - after_push;
        }
        alice_call.pull_audio(&mut out, now).unwrap();
    }
    let stats = bob_call.hang_up();
    Counted { push_allocs, pull_allocs, stats, sink_packets: sink.0.load(Ordering::Relaxed) }
}

#[test]
fn push_and_pull_audio_do_not_allocate_in_steady_state() {
    let counted = run(3.0, |sender| sender);
    let stats = &counted.stats;
    assert!(stats.packets_received > 100, "Bob received {}", stats.packets_received);
    // Every audio packet and every RTCP report reached the transport.
    assert_eq!(counted.sink_packets, stats.packets_sent + stats.rtcp_sent);
    assert_eq!(counted.push_allocs, 0, "push_audio allocated");
    assert_eq!(counted.pull_allocs, 0, "pull_audio allocated");
}

/// Loss and jitter drive the playout through FEC recovery, concealment and pitch-
/// synchronous accelerate/stretch; none of them may allocate either.
#[test]
fn loss_recovery_and_time_scaling_do_not_allocate() {
    let mut network = ImpairmentConfig::default();
    network.apply_flag("loss", "5%").unwrap();
    network.apply_flag("jitter", "30ms").unwrap();
    let counted = run(6.0, |sender| Arc::new(ImpairedSender::new(sender, network, 3).unwrap()));
    let jitter = counted.stats.jitter;
    eprintln!("{jitter:?}");
    assert!(jitter.lost > 0 && jitter.fec_recovered > 0, "loss was recovered: {jitter:?}");
    assert!(
        jitter.stretched + jitter.accelerated + jitter.time_scale_declined > 0,
        "the buffer time-scaled: {jitter:?}"
    );
    assert_eq!(counted.push_allocs, 0, "push_audio allocated");
    assert_eq!(counted.pull_allocs, 0, "pull_audio allocated");
}

/// The default configuration: AEC3 on (the vendored aec3 crate allocates nothing per
/// frame, `vendor/aec3/VENDORED.md`), so its work is counted too.
fn bob_config(keys: sottovoce::e2ee::CallKeys, device: DeviceFormat) -> CallConfig {
    let config = CallConfig::new(keys, 2, 1, device);
    assert!(config.capture.aec.is_some(), "the default capture chain cancels echo");
    config
}
