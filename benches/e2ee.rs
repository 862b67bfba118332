//! End-to-end key costs: a full 1:1 key agreement (both sides), and SFrame protect/unprotect
//! throughput for audio- and video-sized frames against raw AES-GCM on the same bytes.
//!
//! `cargo bench --bench e2ee -- --quick` (the machine is shared; quick mode keeps it short).

use std::hint::black_box;
use std::time::Instant;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sottovoce::e2ee::*;

fn key_agreement(c: &mut Criterion) {
    let alice = IdentityKeyPair::generate().unwrap();
    let bob = IdentityKeyPair::generate().unwrap();
    // Baseline: one X25519 scalar multiplication. The handshake does six DH operations and
    // two ephemeral key generations (fixed-base, cheaper), plus SHA-256/HKDF.
    let secret = x25519_dalek::StaticSecret::from([3u8; 32]);
    let public = x25519_dalek::PublicKey::from(*bob.public_key().as_bytes());
    c.bench_function("e2ee/x25519_one_dh_baseline", |b| {
        b.iter(|| black_box(secret.diffie_hellman(black_box(&public)).to_bytes()))
    });
    c.bench_function("e2ee/key_agreement_both_sides", |b| {
        b.iter(|| {
            let (offering, offer) =
                OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::default()).unwrap();
            let offer = Offer::decode(&offer.encode()).unwrap();
            let (answering, answer) =
                AnsweringHandshake::respond(&bob, alice.public_key(), &offer).unwrap();
            let answer = Answer::decode(&answer.encode()).unwrap();
            let (alice_keys, confirm) = offering.finish(&answer).unwrap();
            let confirm = Confirm::decode(&confirm.encode()).unwrap();
            let bob_keys = answering.finish(&confirm).unwrap();
            black_box((alice_keys.outbound(), bob_keys.inbound()))
        })
    });
    c.bench_function("e2ee/rekey_one_epoch", |b| {
        let (offering, offer) =
            OfferingHandshake::start(&alice, bob.public_key(), SrtpSuite::default()).unwrap();
        let (_, answer) = AnsweringHandshake::respond(&bob, alice.public_key(), &offer).unwrap();
        let (keys, _) = offering.finish(&answer).unwrap();
        let now = Instant::now();
        let (mut outbound, _) = keys.into_ratchets(RekeyPolicy::default(), now);
        b.iter(|| black_box(outbound.rekey(now)))
    });
}

const SIZES: [(&str, usize); 4] =
    [("audio_100B", 100), ("video_1kB", 1_200), ("video_10kB", 10_000), ("video_50kB", 50_000)];

fn sframe_throughput(c: &mut Criterion) {
    let mut group = c.benchmark_group("e2ee/sframe");
    for (name, size) in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let frame = vec![0x5a; size];

        // Baseline: AES-256-GCM alone over the same bytes (what SFrame cannot avoid).
        let raw_key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &[7; 32]).unwrap());
        let mut buffer = Vec::with_capacity(size + 16);
        let mut counter = 0u64;
        group.bench_function(format!("aes256gcm_baseline/{name}"), |b| {
            b.iter(|| {
                buffer.clear();
                buffer.extend_from_slice(&frame);
                counter += 1;
                let mut nonce = [0u8; 12];
                nonce[4..].copy_from_slice(&counter.to_be_bytes());
                raw_key
                    .seal_in_place_append_tag(
                        Nonce::assume_unique_for_key(nonce),
                        Aad::empty(),
                        &mut buffer,
                    )
                    .unwrap();
                black_box(buffer.len())
            })
        });

        let mut sender = SframeSender::new(1, SframeSuite::AesGcm256Sha512).unwrap();
        let mut receiver = SframeReceiver::new(3);
        receiver.install(sender.key_material()).unwrap();
        let mut wire = Vec::with_capacity(size + 64);
        group.bench_function(format!("protect/{name}"), |b| {
            b.iter(|| {
                sender.protect(black_box(&frame), &[], &mut wire).unwrap();
                black_box(wire.len())
            })
        });

        // Every frame may be opened once (replay protection), so each iteration gets a
        // freshly protected frame, made outside the timed part.
        let mut plain = Vec::with_capacity(size + 64);
        group.bench_function(format!("unprotect/{name}"), |b| {
            b.iter_batched_ref(
                || {
                    let mut wire = Vec::with_capacity(size + 64);
                    sender.protect(&frame, &[], &mut wire).unwrap();
                    wire
                },
                |wire| {
                    let payload = receiver.unprotect(wire, &[], &mut plain).unwrap();
                    black_box(payload.len())
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, key_agreement, sframe_throughput);
criterion_main!(benches);
