//! RTP and RTCP against hand-checked byte layouts (RFC 3550, RFC 8285, RFC 4585, RFC 5104,
//! REMB, transport-wide CC) plus malformed-input cases.

use sottovoce::rtp::rtcp::{
    self, FirEntry, FullIntraRequest, Goodbye, Nack, NackPair, PacketStatus, PictureLossIndication,
    ReceiverReport, Remb, ReportBlock, RtcpPacket, SdesChunk, SenderReport, SourceDescription,
    TransportFeedback,
};
use sottovoce::rtp::{ExtensionForm, HeaderExtension, RtpError, RtpHeader, RtpPacket};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// V=2 P=1 X=1 CC=2, M=1 PT=96, two CSRCs, a one-byte extension block with two elements
/// and one padding byte, 4 payload bytes and 3 bytes of RTP padding.
const FULL_PACKET: &str = "b2e0 1234 11223344 cafebabe 01020304 05060708
                           bede 0002 10aa 22010203 0000
                           deadbeef 000003";

#[test]
fn rtp_full_header_parses_field_by_field() {
    let bytes = hex(FULL_PACKET);
    let p = RtpPacket::parse(&bytes).unwrap();
    assert!(p.marker());
    assert!(p.has_padding());
    assert_eq!(p.payload_type(), 96);
    assert_eq!(p.sequence_number(), 0x1234);
    assert_eq!(p.timestamp(), 0x1122_3344);
    assert_eq!(p.ssrc(), 0xCAFE_BABE);
    assert_eq!(p.csrcs().collect::<Vec<_>>(), [0x0102_0304, 0x0506_0708]);
    assert_eq!(p.extension_profile(), Some(0xBEDE));
    let ext: Vec<_> = p.extensions().collect();
    assert_eq!(
        ext,
        [HeaderExtension { id: 1, data: &[0xAA] }, HeaderExtension { id: 2, data: &[1, 2, 3] }]
    );
    assert_eq!(p.extension(2), Some(&[1u8, 2, 3][..]));
    assert_eq!(p.extension(3), None);
    assert_eq!(p.header_len(), 12 + 8 + 12);
    assert_eq!(p.payload(), &[0xDE, 0xAD, 0xBE, 0xEF]);
    assert_eq!(p.padding_len(), 3);
}

#[test]
fn rtp_writer_reproduces_the_same_bytes() {
    let expected = hex(FULL_PACKET);
    let extensions =
        [HeaderExtension { id: 1, data: &[0xAA] }, HeaderExtension { id: 2, data: &[1, 2, 3] }];
    let header = RtpHeader {
        marker: true,
        payload_type: 96,
        sequence_number: 0x1234,
        timestamp: 0x1122_3344,
        ssrc: 0xCAFE_BABE,
        csrcs: &[0x0102_0304, 0x0506_0708],
        extensions: &extensions,
        extension_form: None,
    };
    let mut out = [0u8; 64];
    let len = header.write_packet(&[0xDE, 0xAD, 0xBE, 0xEF], 3, &mut out).unwrap();
    assert_eq!(&out[..len], &expected[..]);
    // Header-only writing matches the parsed header length.
    assert_eq!(header.write(&mut out).unwrap(), 32);
    // Too small a buffer is an error, not a panic.
    assert_eq!(
        header.write_packet(&[0; 4], 3, &mut [0u8; 38]),
        Err(RtpError::BufferTooSmall { needed: 39, available: 38 })
    );
}

#[test]
fn rtp_two_byte_extensions() {
    // Profile 0x1000 with app bits 0x3; element id 1 with zero-length data (only legal in
    // the two-byte form), element id 200 with two bytes; 2 bytes of padding.
    let bytes = hex("9000 0001 00000002 00000003 1003 0002 0100 c802 abcd 0000 ff");
    let p = RtpPacket::parse(&bytes).unwrap();
    assert_eq!(
        ExtensionForm::from_profile(p.extension_profile().unwrap()),
        Some(ExtensionForm::TwoByte(3))
    );
    let ext: Vec<_> = p.extensions().collect();
    assert_eq!(
        ext,
        [HeaderExtension { id: 1, data: &[] }, HeaderExtension { id: 200, data: &[0xAB, 0xCD] }]
    );
    assert_eq!(p.payload(), &[0xFF]);

    let header = RtpHeader {
        sequence_number: 1,
        timestamp: 2,
        ssrc: 3,
        extensions: &ext,
        extension_form: Some(ExtensionForm::TwoByte(3)),
        ..RtpHeader::default()
    };
    let mut out = [0u8; 64];
    let len = header.write_packet(&[0xFF], 0, &mut out).unwrap();
    assert_eq!(&out[..len], &bytes[..]);
    // Automatic form selection picks two-byte because of the empty element.
    let auto = RtpHeader { extension_form: None, ..header };
    let len = auto.write_packet(&[0xFF], 0, &mut out).unwrap();
    assert_eq!(
        ExtensionForm::from_profile(
            RtpPacket::parse(&out[..len]).unwrap().extension_profile().unwrap()
        ),
        Some(ExtensionForm::TwoByte(0))
    );
}

#[test]
fn rtp_one_byte_id_15_stops_parsing() {
    // RFC 8285 4.2: ID 15 terminates the block; the rest is ignored.
    let bytes = hex("9000 0001 00000002 00000003 bede 0001 1011 f0ff");
    let p = RtpPacket::parse(&bytes).unwrap();
    assert_eq!(p.extensions().count(), 1);
}

#[test]
fn rtp_unknown_profile_is_opaque() {
    let bytes = hex("9000 0001 00000002 00000003 abcd 0001 01020304 99");
    let p = RtpPacket::parse(&bytes).unwrap();
    assert_eq!(p.extension_profile(), Some(0xABCD));
    assert_eq!(p.extension_data(), Some(&[1u8, 2, 3, 4][..]));
    assert_eq!(p.extensions().count(), 0);
    assert_eq!(p.payload(), &[0x99]);
}

#[test]
fn rtp_rejects_hostile_input() {
    let base = hex("8060 0001 00000002 00000003");
    let cases: &[(&str, Vec<u8>)] = &[
        ("short", base[..11].to_vec()),
        ("version 1", {
            let mut b = base.clone();
            b[0] = 0x40;
            b
        }),
        ("15 CSRCs, none present", {
            let mut b = base.clone();
            b[0] = 0x8F;
            b
        }),
        ("extension header missing", {
            let mut b = base.clone();
            b[0] = 0x90;
            b
        }),
        ("extension length past end", {
            let mut b = base.clone();
            b[0] = 0x90;
            b.extend(hex("bede ffff 00000000"));
            b
        }),
        ("one-byte element past block", {
            let mut b = base.clone();
            b[0] = 0x90;
            b.extend(hex("bede 0001 1f000000"));
            b
        }),
        ("two-byte element past block", {
            let mut b = base.clone();
            b[0] = 0x90;
            b.extend(hex("1000 0001 0105 0000"));
            b
        }),
        ("padding count zero", {
            let mut b = base.clone();
            b[0] = 0xA0;
            b.extend([1, 0]);
            b
        }),
        ("padding longer than payload", {
            let mut b = base.clone();
            b[0] = 0xA0;
            b.extend([1, 3]);
            b
        }),
        ("padding bit without payload", {
            let mut b = base.clone();
            b[0] = 0xA0;
            b
        }),
    ];
    for (name, bytes) in cases {
        assert!(RtpPacket::parse(bytes).is_err(), "{name} should be rejected");
    }
    assert_eq!(RtpPacket::parse(&cases[1].1), Err(RtpError::BadVersion(1)));
    // Padding covering exactly the whole payload is legal (empty payload).
    let mut b = base.clone();
    b[0] = 0xA0;
    b.extend([0, 2]);
    assert_eq!(RtpPacket::parse(&b).unwrap().payload(), &[] as &[u8]);
}

#[test]
fn rtp_writer_rejects_out_of_range_fields() {
    let mut out = [0u8; 256];
    let csrcs = [0u32; 16];
    assert!(RtpHeader { csrcs: &csrcs, ..RtpHeader::default() }.write(&mut out).is_err());
    assert!(RtpHeader { payload_type: 128, ..RtpHeader::default() }.write(&mut out).is_err());
    let ext = [HeaderExtension { id: 15, data: &[1] }];
    let h = RtpHeader {
        extensions: &ext,
        extension_form: Some(ExtensionForm::OneByte),
        ..RtpHeader::default()
    };
    assert!(h.write(&mut out).is_err());
}

// ---------------------------------------------------------------- RTCP

fn one(bytes: &[u8]) -> RtcpPacket {
    let mut packets = rtcp::parse_compound(bytes).unwrap();
    assert_eq!(packets.len(), 1);
    packets.remove(0)
}

fn assert_writes(packet: &RtcpPacket, expected: &[u8]) {
    let mut out = vec![0u8; packet.encoded_len()];
    assert_eq!(packet.write_to(&mut out).unwrap(), expected.len());
    assert_eq!(out, expected);
}

#[test]
fn rtcp_sender_report() {
    let bytes = hex("80c8 0006 11223344 e12f5b3c80000000 0001e240 0000000a 000004b0");
    let expected = RtcpPacket::SenderReport(SenderReport {
        ssrc: 0x1122_3344,
        ntp_time: 0xE12F_5B3C_8000_0000,
        rtp_time: 123_456,
        packet_count: 10,
        octet_count: 1200,
        reports: vec![],
    });
    assert_eq!(one(&bytes), expected);
    assert_writes(&expected, &bytes);
}

#[test]
fn rtcp_receiver_report_with_negative_cumulative_loss() {
    let bytes = hex("81c9 0007 00000001 00000002 40fffffe 00010005 00000020 12345678 00010000");
    let expected = RtcpPacket::ReceiverReport(ReceiverReport {
        ssrc: 1,
        reports: vec![ReportBlock {
            ssrc: 2,
            fraction_lost: 64,
            cumulative_lost: -2,
            extended_highest_sequence: 0x0001_0005,
            jitter: 32,
            last_sender_report: 0x1234_5678,
            delay_since_last_sender_report: 65_536,
        }],
    });
    assert_eq!(one(&bytes), expected);
    assert_writes(&expected, &bytes);
}

#[test]
fn rtcp_sdes_cname_and_bye() {
    let sdes = hex("81ca 0003 00000001 0104 61626364 0000");
    let packet = one(&sdes);
    let RtcpPacket::SourceDescription(ref description) = packet else { panic!("{packet:?}") };
    assert_eq!(description.cname(1), Some(&b"abcd"[..]));
    assert_eq!(
        packet,
        RtcpPacket::SourceDescription(SourceDescription {
            chunks: vec![SdesChunk::cname(1, "abcd")]
        })
    );
    assert_writes(&packet, &sdes);

    let bye = hex("81cb 0003 00000001 04676f6e65 000000");
    let expected = RtcpPacket::Goodbye(Goodbye { sources: vec![1], reason: b"gone".to_vec() });
    assert_eq!(one(&bye), expected);
    assert_writes(&expected, &bye);
}

#[test]
fn rtcp_nack_pli_fir() {
    // PID 100, BLP 0b101: packets 100, 101 and 103 lost.
    let nack = hex("81cd 0003 00000001 00000002 00640005");
    let expected = Nack {
        sender_ssrc: 1,
        media_ssrc: 2,
        pairs: vec![NackPair { packet_id: 100, lost_bitmask: 5 }],
    };
    assert_eq!(expected.lost_sequence_numbers().collect::<Vec<_>>(), [100, 101, 103]);
    assert_eq!(Nack::from_lost(1, 2, [100, 101, 103]), expected);
    assert_eq!(one(&nack), RtcpPacket::Nack(expected.clone()));
    assert_writes(&RtcpPacket::Nack(expected), &nack);
    // Across the wrap: 65535 and 0..=15 share one pair; 16 needs a second one.
    let wrapped = Nack::from_lost(1, 2, [65_535, 0, 15, 16]);
    assert_eq!(
        wrapped.pairs,
        [
            NackPair { packet_id: 65_535, lost_bitmask: 0x8001 },
            NackPair { packet_id: 16, lost_bitmask: 0 }
        ]
    );

    let pli = hex("81ce 0002 00000001 00000002");
    let expected =
        RtcpPacket::PictureLossIndication(PictureLossIndication { sender_ssrc: 1, media_ssrc: 2 });
    assert_eq!(one(&pli), expected);
    assert_writes(&expected, &pli);

    let fir = hex("84ce 0004 00000001 00000000 00000002 07000000");
    let expected = RtcpPacket::FullIntraRequest(FullIntraRequest {
        sender_ssrc: 1,
        entries: vec![FirEntry { ssrc: 2, sequence_number: 7 }],
    });
    assert_eq!(one(&fir), expected);
    assert_writes(&expected, &fir);
}

#[test]
fn rtcp_remb() {
    // 1 Mbit/s = 250000 << 2: exponent 2, mantissa 0x3D090 -> 0x0BD090.
    let bytes = hex("8fce 0005 00000001 00000000 52454d42 01 0bd090 00000002");
    let expected =
        RtcpPacket::Remb(Remb { sender_ssrc: 1, bitrate_bps: 1_000_000, ssrcs: vec![2] });
    assert_eq!(one(&bytes), expected);
    assert_writes(&expected, &bytes);
    assert_eq!(Remb::wire_bitrate(1_000_001), 1_000_000);
    assert_eq!(Remb::wire_bitrate(262_143), 262_143);
    // Exponent 63 with a large mantissa saturates instead of overflowing.
    let huge = hex("8fce 0004 00000001 00000000 52454d42 00 ffffff");
    let RtcpPacket::Remb(remb) = one(&huge) else { panic!() };
    assert_eq!(remb.bitrate_bps, 0x3_FFFF << 46);
    assert_eq!(remb.bitrate_bps, Remb::wire_bitrate(u64::MAX));
}

/// Found by `cargo fuzz run rtcp_parse`: an overflowing REMB value used to saturate to
/// `u64::MAX`, which the writer cannot express, so parse → write → parse changed it.
#[test]
fn fuzz_regression_remb_saturation_round_trips() {
    let bytes = hex("8fce 0005 00002501 00000000 52454d42 00ce0000 00000700");
    let packets = rtcp::parse_compound(&bytes).unwrap();
    let mut out = vec![0u8; rtcp::compound_len(&packets)];
    let len = rtcp::write_compound(&packets, &mut out).unwrap();
    assert_eq!(rtcp::parse_compound(&out[..len]).unwrap(), packets);
}

/// Found by `cargo fuzz run rtp_parse`: a one-byte element with ID 0 and a non-zero
/// length was returned as an element with ID 0 (which cannot be written back). It now
/// ends the block, as ID 15 does (and as libwebrtc treats it).
#[test]
fn fuzz_regression_one_byte_id_zero_with_length() {
    let bytes = hex(
        "b2e0 1234 11223344 cafebabe 01020304 05060708 bede 0002 0303 00ff ffffffff ffff deadbeef 000003",
    );
    let p = RtpPacket::parse(&bytes).unwrap();
    assert_eq!(p.extensions().count(), 0);
    let bytes = hex("9000 0001 00000002 00000003 bede 0002 10aa 0301 0203 0000");
    let p = RtpPacket::parse(&bytes).unwrap();
    assert_eq!(p.extensions().collect::<Vec<_>>(), [HeaderExtension { id: 1, data: &[0xAA] }]);
}

/// A real Chrome transport-cc feedback as dissected by Wireshark: base 1, 9 packets, one
/// run-length chunk (0x2009: 9 x small delta), deltas 7, 3, 11, 14, 0, 1, 0, 2, 6 ms,
/// reference time 6197520, one byte of padding signalled with the P bit.
const CHROME_TWCC: &str = "afcd 0007 00000001 dd586eb6 0001 0009 5e9110 00 2009
                           1c 0c 2c 38 00 04 00 08 18 01";

#[test]
fn twcc_parses_chrome_feedback_and_rebuilds_it_bit_exactly() {
    let bytes = hex(CHROME_TWCC);
    let RtcpPacket::TransportFeedback(fb) = one(&bytes) else { panic!() };
    assert_eq!((fb.sender_ssrc, fb.media_ssrc), (1, 0xDD58_6EB6));
    assert_eq!((fb.base_sequence, fb.reference_time, fb.feedback_count), (1, 6_197_520, 0));
    let deltas_ms: Vec<f64> = fb
        .statuses
        .iter()
        .map(|s| match s {
            PacketStatus::SmallDelta(t) => f64::from(*t) * 0.25,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(deltas_ms, [7.0, 3.0, 11.0, 14.0, 0.0, 1.0, 0.0, 2.0, 6.0]);
    let arrivals: Vec<(u16, i64)> = fb.arrivals().collect();
    let reference_us = 6_197_520i64 * 64_000;
    assert_eq!(arrivals[0], (1, reference_us + 7_000));
    assert_eq!(arrivals[8], (9, reference_us + 44_000));
    assert_writes(&RtcpPacket::TransportFeedback(fb), &bytes);
}

#[test]
fn twcc_draft_chunk_examples() {
    // Draft 3.1.3 example: run-length chunk 0x00DD, 221 x "not received" (the writer
    // pads the 18-byte body with the P bit, as libwebrtc does).
    let bytes = hex("afcd 0005 00000001 00000002 0005 00dd 000000 00 00dd 0002");
    let RtcpPacket::TransportFeedback(fb) = one(&bytes) else { panic!() };
    assert_eq!(fb.statuses, vec![PacketStatus::NotReceived; 221]);
    assert_writes(&RtcpPacket::TransportFeedback(fb), &bytes);

    // Draft 3.1.4 example 1: one-bit status vector 0x9F1C = not received, 5 x received,
    // 3 x not received, 3 x received, 2 x not received (8 small deltas follow).
    let bytes = hex("8fcd 0007 00000001 00000002 0005 000e 000000 00 9f1c 0102030405060708 0000");
    let RtcpPacket::TransportFeedback(fb) = one(&bytes) else { panic!() };
    use PacketStatus::{NotReceived as N, SmallDelta as S};
    assert_eq!(fb.statuses, [N, S(1), S(2), S(3), S(4), S(5), N, N, N, S(6), S(7), S(8), N, N]);

    // Draft 3.1.4 example 2 uses symbol 11, which the draft's own symbol table marks
    // reserved (and libwebrtc rejects): it must be a typed error.
    let bytes = hex("8fcd 0006 00000001 00000002 0005 0007 000000 00 cd50 010203 000000");
    assert_eq!(
        rtcp::parse_compound(&bytes),
        Err(RtpError::BadRtcp("reserved packet status symbol"))
    );
}

#[test]
fn twcc_builder_mixes_chunk_kinds_and_large_deltas() {
    // 20 packets: 2 received 1 ms apart, one lost, one arriving 100 ms later (large),
    // one reordered (negative delta), then 15 received back to back (a run).
    let base = 1_000_000i64;
    let mut arrivals =
        vec![Some(base), Some(base + 1_000), None, Some(base + 101_000), Some(base + 100_000)];
    arrivals.extend((0..15).map(|i| Some(base + 102_000 + i * 250)));
    let fb = TransportFeedback::from_arrivals(7, 9, 65_530, 3, &arrivals).unwrap();
    assert_eq!(fb.reference_time, 15); // 1 s / 64 ms
    use PacketStatus::{LargeDelta as L, NotReceived as N, SmallDelta as S};
    // 40 ms after the 960 ms reference = 160 ticks; +1 ms; lost; +100 ms (large);
    // -1 ms (reordered, negative); +2 ms; then 250 us steps.
    assert_eq!(fb.statuses[..7], [S(160), S(4), N, L(400), L(-4), S(8), S(1)]);
    let packet = RtcpPacket::TransportFeedback(fb.clone());
    let mut out = vec![0u8; packet.encoded_len()];
    let len = packet.write_to(&mut out).unwrap();
    assert_eq!(one(&out[..len]), packet);
    // Arrival times come back quantised to 250 us, sequence numbers wrap.
    let back: Vec<(u16, i64)> = fb.arrivals().collect();
    assert_eq!(back.len(), 19);
    assert_eq!(back[0], (65_530, base));
    assert_eq!(back[3], (65_534, base + 100_000));
    assert_eq!(back[18], (13, base + 102_000 + 14 * 250));
}

#[test]
fn rtcp_compound_and_unknown_types() {
    let mut bytes = hex("81c9 0007 00000001 00000002 40fffffe 00010005 00000020 12345678 00010000");
    bytes.extend(hex("81ca 0003 00000001 0104 61626364 0000"));
    // An APP packet (type 204) is kept as raw bytes.
    bytes.extend(hex("80cc 0002 00000001 41424344"));
    let packets = rtcp::parse_compound(&bytes).unwrap();
    assert_eq!(packets.len(), 3);
    assert!(
        matches!(packets[2], RtcpPacket::Unknown(ref u) if u.packet_type == 204 && u.body.len() == 8)
    );
    let mut out = vec![0u8; rtcp::compound_len(&packets)];
    assert_eq!(rtcp::write_compound(&packets, &mut out).unwrap(), bytes.len());
    assert_eq!(out, bytes);
}

#[test]
fn rtcp_rejects_hostile_input() {
    let cases: &[(&str, &str)] = &[
        ("empty", ""),
        ("short header", "80c9 00"),
        ("version 1", "41c9 0001 00000001"),
        ("length past end", "80c9 0009 00000001"),
        ("RR count 31 without blocks", "9fc9 0001 00000001"),
        ("SR body truncated", "80c8 0001 00000001"),
        ("SDES item past end", "81ca 0002 00000001 01ff6162"),
        ("SDES chunk without terminator", "81ca 0002 00000001 01026162"),
        ("BYE count past end", "85cb 0001 00000001"),
        ("BYE reason past end", "81cb 0002 00000001 09616263"),
        ("NACK without FCI", "81cd 0002 00000001 00000002"),
        ("FIR without FCI", "84ce 0002 00000001 00000002"),
        ("REMB count past end", "8fce 0004 00000001 00000000 52454d42 05000001"),
        ("padding zero", "a0c9 0001 00000001"),
        ("padding too long", "a0c9 0001 000000ff"),
        ("TWCC chunks missing", "8fcd 0004 00000001 00000002 0000 0010 00000000"),
        ("TWCC deltas missing", "8fcd 0005 00000001 00000002 0000 0010 00000000 2010 0000"),
        ("TWCC empty run", "8fcd 0005 00000001 00000002 0000 0001 00000000 0000 0000"),
        ("TWCC trailing data", "8fcd 0006 00000001 00000002 0000 0001 00000000 2001 0100 00000000"),
        ("second packet truncated", "80c9 0001 00000001 80c9 0001"),
    ];
    for (name, bytes) in cases {
        assert!(rtcp::parse_compound(&hex(bytes)).is_err(), "{name} should be rejected");
    }
    // The iterator yields the good packet before the error.
    let items: Vec<_> = rtcp::CompoundIter::new(&hex("80c9 0001 00000001 80c9 0001")).collect();
    assert!(items[0].is_ok() && items[1].is_err() && items.len() == 2);
}

#[test]
fn rtcp_writer_rejects_out_of_range() {
    let mut out = [0u8; 4096];
    let rr = RtcpPacket::ReceiverReport(ReceiverReport {
        ssrc: 1,
        reports: vec![ReportBlock::default(); 32],
    });
    assert!(rr.write_to(&mut out).is_err());
    let bad_loss = ReportBlock { cumulative_lost: 1 << 23, ..ReportBlock::default() };
    let rr = RtcpPacket::ReceiverReport(ReceiverReport { ssrc: 1, reports: vec![bad_loss] });
    assert!(rr.write_to(&mut out).is_err());
    let nack = RtcpPacket::Nack(Nack { sender_ssrc: 1, media_ssrc: 2, pairs: vec![] });
    assert!(nack.write_to(&mut out).is_err());
    let pli =
        RtcpPacket::PictureLossIndication(PictureLossIndication { sender_ssrc: 1, media_ssrc: 2 });
    assert_eq!(
        pli.write_to(&mut out[..11]),
        Err(RtpError::BufferTooSmall { needed: 12, available: 11 })
    );
}
