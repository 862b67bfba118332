//! Two `Call`s in one process talking over real UDP sockets on 127.0.0.1, with keys agreed
//! by the e2ee handshake and a built-in speech-like signal each way; prints a final stats
//! table. Audio only for now (see docs/call.md for what is missing).
//!
//! `cargo run --release --example loopback_call [SECONDS]`

use std::sync::Arc;
use std::time::{Duration, Instant};

use sottovoce::audio::DeviceFormat;
use sottovoce::audio::synth::{Voice, speech_like};
use sottovoce::call::{Call, CallConfig, CallStats};
use sottovoce::e2ee::{AnsweringHandshake, IdentityKeyPair, OfferingHandshake, SrtpSuite};
use sottovoce::transport::UdpTransport;

const RATE: u32 = 48_000;
const FRAME: usize = (RATE / 100) as usize;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let seconds: f32 = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(5.0);
    let alice_id = IdentityKeyPair::generate()?;
    let bob_id = IdentityKeyPair::generate()?;
    let (offering, offer) =
        OfferingHandshake::start(&alice_id, bob_id.public_key(), SrtpSuite::default())?;
    let (answering, answer) = AnsweringHandshake::respond(&bob_id, alice_id.public_key(), &offer)?;
    let (alice_keys, confirm) = offering.finish(&answer)?;
    let bob_keys = answering.finish(&confirm)?;
    println!("safety code: {}", alice_keys.safety_code().digits());

    let loopback = "127.0.0.1:0".parse()?;
    let a_socket = UdpTransport::bind(loopback)?;
    let b_socket = UdpTransport::bind(loopback)?;
    a_socket.connect(b_socket.local_addr()?)?;
    b_socket.connect(a_socket.local_addr()?)?;
    let (a_tx, a_rx) = a_socket.split()?;
    let (b_tx, b_rx) = b_socket.split()?;
    let device = DeviceFormat::new(RATE, 1)?;
    let mut alice = Call::new(
        CallConfig::new(alice_keys, 0xA11C_E000, 0x0000_B0B0, device),
        Arc::new(a_tx),
        Box::new(a_rx),
    )?;
    let mut bob = Call::new(
        CallConfig::new(bob_keys, 0x0000_B0B0, 0xA11C_E000, device),
        Arc::new(b_tx),
        Box::new(b_rx),
    )?;

    let a_voice = speech_like(seconds, RATE, Voice { pitch_hz: 115.0, peak: 0.5, seed: 11 });
    let b_voice = speech_like(seconds, RATE, Voice { pitch_hz: 205.0, peak: 0.5, seed: 22 });
    let mut out = vec![0.0f32; FRAME];
    let start = Instant::now();
    for tick in 0..a_voice.len() / FRAME {
        let deadline = start + Duration::from_millis(10 * tick as u64);
        if let Some(wait) = deadline.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let now = Instant::now();
        let range = tick * FRAME..(tick + 1) * FRAME;
        alice.push_audio(&a_voice[range.clone()], now)?;
        bob.push_audio(&b_voice[range], now)?;
        alice.pull_audio(&mut out, now)?;
        bob.pull_audio(&mut out, now)?;
    }
    std::thread::sleep(Duration::from_millis(100));
    print_table("alice", &alice.hang_up());
    print_table("bob", &bob.hang_up());
    Ok(())
}

fn print_table(name: &str, stats: &CallStats) {
    let j = &stats.jitter;
    println!("\n== {name} ==");
    println!(
        "sent {} pkts / {} B, received {} pkts / {} B, auth failures {}, send errors {}",
        stats.packets_sent,
        stats.bytes_sent,
        stats.packets_received,
        stats.bytes_received,
        stats.auth_failures,
        stats.send_errors
    );
    println!(
        "jitter buffer: delay {:?} (target {:?}), jitter {:?}, lost {}, late {}, concealed {:?}",
        j.current_delay, j.target_delay, j.jitter, j.lost, j.late, j.concealed
    );
    println!("{:<18} {:>8} {:>10} {:>10} {:>10}", "stage", "count", "p50", "p95", "p99");
    for (stage, s) in &stats.stages {
        println!("{:<18} {:>8} {:>10.1?} {:>10.1?} {:>10.1?}", stage, s.count, s.p50, s.p95, s.p99);
    }
    println!("ended: {:?}", stats.ended);
}
