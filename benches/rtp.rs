//! RTP layer throughput: parse and write of 1200-byte RTP packets, transport-wide CC
//! feedback parse/write, AV1 packetize and depacketize of a 30 KB temporal unit. The
//! baseline is a plain copy of the same bytes measured in the same run, so the ratio shows
//! what the header handling costs on top of touching the packet at all.
//!
//! Run: `cargo bench --bench rtp -- --quick` (the machine is shared; figures are noisy).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sottovoce::rtp::av1::{Av1Depacketizer, Av1Event, Av1Packetizer};
use sottovoce::rtp::rtcp::{self, RtcpPacket, TransportFeedback};
use sottovoce::rtp::{HeaderExtension, RtpHeader, RtpPacket};

fn rtp(c: &mut Criterion) {
    let payload = vec![0xA5u8; 1200 - 12 - 12];
    let extensions =
        [HeaderExtension { id: 1, data: &[0x30] }, HeaderExtension { id: 3, data: &[0, 7] }];
    let header = RtpHeader {
        marker: true,
        payload_type: 96,
        sequence_number: 1,
        timestamp: 3000,
        ssrc: 0xCAFE,
        extensions: &extensions,
        ..RtpHeader::default()
    };
    let mut packet = vec![0u8; 1500];
    let len = header.write_packet(&payload, 0, &mut packet).unwrap();
    packet.truncate(len);
    assert_eq!(len, 1200);

    let mut group = c.benchmark_group("rtp_1200B");
    group.throughput(Throughput::Elements(1));
    let mut copy = vec![0u8; 1200];
    group.bench_function("baseline_copy", |b| {
        b.iter(|| {
            copy.copy_from_slice(black_box(&packet));
            black_box(&copy);
        })
    });
    group.bench_function("parse", |b| {
        b.iter(|| {
            let p = RtpPacket::parse(black_box(&packet)).unwrap();
            black_box((p.sequence_number(), p.extension(3), p.payload().len()));
        })
    });
    let mut out = vec![0u8; 1500];
    group.bench_function("write", |b| {
        b.iter(|| black_box(header.write_packet(black_box(&payload), 0, &mut out).unwrap()))
    });
    group.finish();
}

fn twcc(c: &mut Criterion) {
    // 200 packets, every 10th lost, 1-3 ms apart.
    let arrivals: Vec<Option<i64>> = (0..200i64)
        .map(|i| (i % 10 != 9).then_some(1_000_000 + i * 1_000 + (i % 3) * 500))
        .collect();
    let packet = RtcpPacket::TransportFeedback(
        TransportFeedback::from_arrivals(1, 2, 100, 0, &arrivals).unwrap(),
    );
    let mut bytes = vec![0u8; packet.encoded_len()];
    packet.write_to(&mut bytes).unwrap();
    let mut group = c.benchmark_group("twcc_200_packets");
    group.throughput(Throughput::Elements(1));
    group
        .bench_function("parse", |b| b.iter(|| black_box(rtcp::parse_compound(black_box(&bytes)))));
    let mut out = vec![0u8; bytes.len()];
    group.bench_function("write", |b| b.iter(|| black_box(packet.write_to(&mut out).unwrap())));
    group.finish();
}

fn av1(c: &mut Criterion) {
    // TD, sequence header, a 30 KB frame OBU: 26 packets at 1188-byte payloads.
    let mut unit = vec![0x12, 0x00, 0x0A, 0x02, 0xA1, 0xA2, 0x32, 0xB0, 0xEA, 0x01];
    unit.extend((0..30_000u32).map(|i| (i * 13) as u8));
    let mut packetizer = Av1Packetizer::new(1188).unwrap();
    let mut payloads = Vec::new();
    packetizer.packetize(&unit, true, |p, m| payloads.push((p.to_vec(), m))).unwrap();

    let mut group = c.benchmark_group("av1_30KB_unit");
    group.throughput(Throughput::Bytes(unit.len() as u64));
    let mut copy = vec![0u8; unit.len()];
    group.bench_function("baseline_copy", |b| {
        b.iter(|| {
            copy.copy_from_slice(black_box(&unit));
            black_box(&copy);
        })
    });
    group.bench_function("packetize", |b| {
        b.iter(|| {
            let mut bytes = 0;
            packetizer.packetize(black_box(&unit), true, |p, _| bytes += p.len()).unwrap();
            black_box(bytes)
        })
    });
    let mut depacketizer = Av1Depacketizer::default();
    let mut seq = 0u16;
    let mut timestamp = 0u32;
    group.bench_function("depacketize", |b| {
        b.iter(|| {
            timestamp = timestamp.wrapping_add(3000);
            for (payload, marker) in &payloads {
                depacketizer.push(seq, timestamp, *marker, payload).unwrap();
                seq = seq.wrapping_add(1);
            }
            match depacketizer.poll() {
                Some(Av1Event::Frame(f)) => black_box(f.data.len()),
                other => panic!("{other:?}"),
            }
        })
    });
    group.finish();
}

criterion_group!(benches, rtp, twcc, av1);
criterion_main!(benches);
