//! SRTP protect/unprotect throughput in packets per second on one core, for every
//! profile, at 100- and 1200-byte RTP packets, with the `webrtc-srtp` crate measured in
//! the same run as the baseline.
//!
//! Both sides do the same work per iteration: the packet is copied into the working
//! buffer first (in-place transforms consume their input; `webrtc-srtp` copies
//! internally), the sequence number advances on protect, and replay protection is off
//! on unprotect so one ciphertext can be opened repeatedly.
//!
//! Clock: by default each sample is timed with the thread's CPU time
//! (`CLOCK_THREAD_CPUTIME_ID`), not wall time, so time the scheduler gives to other
//! processes on a shared machine is not billed to the code under test; the figures are
//! packets per core-second. `SRTP_BENCH_WALL=1` switches to wall-clock time.
//!
//! Run: `cargo bench --bench srtp` (add `-- --quick` on a busy machine).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sottovoce::srtp::{SrtpConfig, SrtpProfile, SrtpSession};
use webrtc_srtp::context::Context;
use webrtc_srtp::option::{srtcp_no_replay_protection, srtp_no_replay_protection};
use webrtc_srtp::protection_profile::ProtectionProfile;

const SIZES: [usize; 2] = [100, 1200];

/// CPU time consumed by the calling thread so far.
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec; the clock id is a constant Linux supports.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Times `iters` calls of `f` on the chosen clock (see the module docs).
fn timed(iters: u64, mut f: impl FnMut()) -> Duration {
    if std::env::var_os("SRTP_BENCH_WALL").is_some() {
        let start = Instant::now();
        (0..iters).for_each(|_| f());
        start.elapsed()
    } else {
        let start = thread_cpu_time();
        (0..iters).for_each(|_| f());
        thread_cpu_time() - start
    }
}

fn baseline_profile(profile: SrtpProfile) -> ProtectionProfile {
    match profile {
        SrtpProfile::Aes128CmHmacSha1_80 => ProtectionProfile::Aes128CmHmacSha1_80,
        SrtpProfile::Aes128CmHmacSha1_32 => ProtectionProfile::Aes128CmHmacSha1_32,
        SrtpProfile::AeadAes128Gcm => ProtectionProfile::AeadAes128Gcm,
        SrtpProfile::AeadAes256Gcm => ProtectionProfile::AeadAes256Gcm,
        _ => unreachable!("benchmarked profiles all have a baseline"),
    }
}

fn keys(profile: SrtpProfile) -> (Vec<u8>, Vec<u8>) {
    let key = (0..profile.master_key_len()).map(|i| (i as u8).wrapping_mul(0x11)).collect();
    let salt = (0..profile.master_salt_len()).map(|i| 0xa0 ^ i as u8).collect();
    (key, salt)
}

/// An RTP packet of `size` bytes in total: 12-byte header and payload.
fn rtp_packet(size: usize) -> Vec<u8> {
    let mut p = vec![0x80, 96, 0x12, 0x34, 0, 0, 0x10, 0, 0xca, 0xfe, 0xba, 0xbe];
    p.extend((0..size - 12).map(|i| (i * 7) as u8));
    p
}

fn ours(profile: SrtpProfile, replay_protection: bool) -> SrtpSession {
    let (key, salt) = keys(profile);
    let config = SrtpConfig { replay_protection, ..SrtpConfig::default() };
    SrtpSession::new(profile, &key, &salt, config).expect("valid keys")
}

fn baseline(profile: SrtpProfile, replay_protection: bool) -> Context {
    let (key, salt) = keys(profile);
    let (rtp, rtcp) = if replay_protection {
        (None, None)
    } else {
        (Some(srtp_no_replay_protection()), Some(srtcp_no_replay_protection()))
    };
    Context::new(&key, &salt, baseline_profile(profile), rtp, rtcp).expect("valid keys")
}

fn protect(c: &mut Criterion) {
    for profile in SrtpProfile::ALL {
        let mut group = c.benchmark_group(format!("srtp_protect/{}", profile.name()));
        group.throughput(Throughput::Elements(1));
        for size in SIZES {
            let template = rtp_packet(size);
            group.bench_function(BenchmarkId::new("sottovoce", size), |b| {
                let mut session = ours(profile, true);
                let mut buf = vec![0u8; size + profile.rtp_overhead()];
                let mut seq = 0u16;
                b.iter_custom(|iters| {
                    timed(iters, || {
                        buf[..size].copy_from_slice(&template);
                        seq = seq.wrapping_add(1);
                        buf[2..4].copy_from_slice(&seq.to_be_bytes());
                        black_box(session.protect_rtp(&mut buf, size).expect("protect"));
                    })
                });
            });
            group.bench_function(BenchmarkId::new("webrtc-srtp", size), |b| {
                let mut context = baseline(profile, true);
                let mut packet = template.clone();
                let mut seq = 0u16;
                b.iter_custom(|iters| {
                    timed(iters, || {
                        seq = seq.wrapping_add(1);
                        packet[2..4].copy_from_slice(&seq.to_be_bytes());
                        black_box(context.encrypt_rtp(&packet).expect("encrypt"));
                    })
                });
            });
        }
        group.finish();
    }
}

fn unprotect(c: &mut Criterion) {
    for profile in SrtpProfile::ALL {
        let mut group = c.benchmark_group(format!("srtp_unprotect/{}", profile.name()));
        group.throughput(Throughput::Elements(1));
        for size in SIZES {
            let template = rtp_packet(size);
            let mut wire = template.clone();
            wire.resize(size + profile.rtp_overhead(), 0);
            let n = ours(profile, true).protect_rtp(&mut wire, size).expect("protect");
            wire.truncate(n);
            group.bench_function(BenchmarkId::new("sottovoce", size), |b| {
                let mut session = ours(profile, false);
                let mut buf = vec![0u8; wire.len()];
                b.iter_custom(|iters| {
                    timed(iters, || {
                        buf.copy_from_slice(&wire);
                        black_box(session.unprotect_rtp(&mut buf).expect("unprotect"));
                    })
                });
            });
            group.bench_function(BenchmarkId::new("webrtc-srtp", size), |b| {
                let mut context = baseline(profile, false);
                b.iter_custom(|iters| {
                    timed(iters, || {
                        black_box(context.decrypt_rtp(&wire).expect("decrypt"));
                    })
                });
            });
        }
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30)
}

criterion_group! { name = benches; config = config(); targets = protect, unprotect }
criterion_main!(benches);
