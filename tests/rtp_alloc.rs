//! The RTP media path allocates nothing per packet once warmed up: parsing, writing, AV1
//! packetization and depacketization, checked with a counting global allocator.

use sottovoce::rtp::av1::{Av1Depacketizer, Av1Event, Av1Packetizer};
use sottovoce::rtp::{HeaderExtension, RtpHeader, RtpPacket};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;

use counting_alloc::total_allocations;

/// A synthetic temporal unit: TD, sequence header, frame OBU of `len` bytes.
fn unit(len: usize, salt: u8) -> Vec<u8> {
    let mut unit = vec![0x12, 0x00, 0x0A, 0x02, 0xA1, 0xA2, 0x32];
    let mut size = len;
    loop {
        let byte = (size & 0x7F) as u8;
        size >>= 7;
        unit.push(if size == 0 { byte } else { byte | 0x80 });
        if size == 0 {
            break;
        }
    }
    unit.extend((0..len).map(|i| (i as u8).wrapping_mul(salt)));
    unit
}

#[test]
fn media_path_does_not_allocate_in_steady_state() {
    let units: Vec<Vec<u8>> = (0..8).map(|i| unit(3000 + 200 * i, i as u8 + 1)).collect();
    let mut packetizer = Av1Packetizer::new(1100).unwrap();
    let mut depacketizer = Av1Depacketizer::default();
    let mut wire = vec![0u8; 1500];
    let extensions = [HeaderExtension { id: 3, data: &[0, 1] }];
    let mut seq = 0u16;
    let mut frames = 0usize;
    let mut checksum = 0u64;

    let mut run = |rounds: usize| {
        for round in 0..rounds {
            for (i, unit) in units.iter().enumerate() {
                let timestamp = (round * units.len() + i) as u32 * 3000;
                packetizer
                    .packetize(unit, i == 0, |payload, marker| {
                        let header = RtpHeader {
                            marker,
                            payload_type: 45,
                            sequence_number: seq,
                            timestamp,
                            ssrc: 1,
                            extensions: &extensions,
                            ..RtpHeader::default()
                        };
                        let len = header.write_packet(payload, 0, &mut wire).unwrap();
                        let packet = RtpPacket::parse(&wire[..len]).unwrap();
                        depacketizer.push_packet(&packet).unwrap();
                        seq = seq.wrapping_add(1);
                    })
                    .unwrap();
                while let Some(event) = depacketizer.poll() {
                    match event {
                        Av1Event::Frame(frame) => {
                            assert_eq!(frame.data, &unit[..]);
                            checksum += frame.data.len() as u64;
                            frames += 1;
                        }
                        Av1Event::Loss(loss) => panic!("unexpected {loss:?}"),
                    }
                }
            }
        }
    };
    // Warm-up: the depacketizer's slots and frame buffer grow to their working size, and
    // the sequence space wraps once so every slot has been used.
    run(10);
    let before = total_allocations();
    run(10);
    let after = total_allocations();
    assert_eq!(after - before, 0, "allocations in steady state");
    assert_eq!(frames, 160);
    assert!(checksum > 0);
}
