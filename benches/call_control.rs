//! Cost of the sans-IO control logic per media event: one 20 ms audio packet through the
//! jitter buffer (insert + two 10 ms pulls), one 50-packet transport feedback batch through
//! the bandwidth estimator, one packet through the impairment model, one video frame
//! through NACK + assembly. Baseline in the same run: copying a 160-byte payload.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sottovoce::adapt::{BandwidthEstimator, BweConfig, PacketFeedback};
use sottovoce::session::frame_assembler::{AssemblerConfig, FrameAssembler, VideoPacket};
use sottovoce::session::jitter::{AudioPacket, JitterBuffer, JitterConfig, PlayoutAction};
use sottovoce::session::nack::{NackConfig, NackGenerator};
use sottovoce::transport::impair::{Impairment, ImpairmentConfig};

fn bench(c: &mut Criterion) {
    let t0 = Instant::now();

    c.bench_function("baseline_copy_160_bytes", |b| {
        let src = [7u8; 160];
        let mut dst = [0u8; 160];
        b.iter(|| {
            dst.copy_from_slice(black_box(&src));
            black_box(&dst);
        })
    });

    c.bench_function("jitter_buffer_20ms_packet_insert_and_two_pulls", |b| {
        let mut jb = JitterBuffer::new(JitterConfig::default()).unwrap();
        let mut i: u64 = 0;
        b.iter(|| {
            let now = t0 + Duration::from_millis(20 * i);
            let p = AudioPacket {
                seq: i as u16,
                timestamp: (i * 960) as u32,
                duration: 960,
                dtx: false,
                payload: i,
            };
            black_box(jb.insert(now, p).is_ok());
            for k in 0..2 {
                if let PlayoutAction::Decode { packet } =
                    jb.pull(now + Duration::from_millis(10 * k))
                {
                    black_box(packet);
                }
            }
            i += 1;
        })
    });

    c.bench_function("bwe_feedback_batch_50_packets", |b| {
        let mut bwe = BandwidthEstimator::new(BweConfig::default());
        let mut batch = Vec::with_capacity(50);
        let mut i: u64 = 0;
        b.iter(|| {
            batch.clear();
            for k in 0..50u64 {
                let n = i * 50 + k;
                let send = t0 + Duration::from_millis(n);
                batch.push(PacketFeedback {
                    seq: n as u16,
                    send_time: send,
                    arrival_time: Some(send + Duration::from_millis(30 + n % 3)),
                    size: 1200,
                });
            }
            i += 1;
            black_box(bwe.on_feedback(t0 + Duration::from_millis(i * 50 + 40), &batch))
        })
    });

    c.bench_function("impairment_send_and_poll", |b| {
        let mut config = ImpairmentConfig::default();
        config.apply_flag("loss", "5%").unwrap();
        config.apply_flag("jitter", "30ms").unwrap();
        config.apply_flag("bandwidth", "100mbit").unwrap();
        let mut link = Impairment::new(config, 1);
        let payload = vec![0u8; 160];
        let mut i: u64 = 0;
        b.iter(|| {
            let now = t0 + Duration::from_micros(200 * i);
            link.send(now, payload.clone());
            while let Some(p) = link.poll(now) {
                black_box(p);
            }
            i += 1;
        })
    });

    c.bench_function("video_frame_4_packets_nack_and_assembly", |b| {
        let mut nack = NackGenerator::new(NackConfig::default());
        let mut asm = FrameAssembler::new(AssemblerConfig::default());
        let mut out = Vec::with_capacity(16);
        let mut nacks = Vec::with_capacity(16);
        let mut frame: u64 = 0;
        b.iter(|| {
            let now = t0 + Duration::from_millis(33 * frame);
            for k in 0..4u64 {
                let seq = (frame * 4 + k) as u16;
                nack.on_packet(now, seq, frame == 0);
                asm.insert(
                    now,
                    VideoPacket {
                        seq,
                        timestamp: (frame * 3000) as u32,
                        start_of_frame: k == 0,
                        end_of_frame: k == 3,
                        keyframe: frame == 0,
                        payload: seq,
                    },
                );
            }
            out.clear();
            nacks.clear();
            nack.poll(now, &mut nacks);
            black_box(asm.pop_frame(now, &mut out));
            frame += 1;
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
