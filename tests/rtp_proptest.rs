//! Property tests: every parser survives arbitrary bytes, and serialise → parse round trips
//! hold for generated valid packets.

use proptest::collection::vec;
use proptest::prelude::*;
use sottovoce::rtp::av1::{Av1Depacketizer, Av1DepacketizerConfig, Av1Event, Av1Packetizer};
use sottovoce::rtp::rtcp::{
    self, FirEntry, FullIntraRequest, Goodbye, Nack, NackPair, PacketStatus, PictureLossIndication,
    ReceiverReport, Remb, ReportBlock, RtcpPacket, SdesChunk, SdesItem, SenderReport,
    SourceDescription, TransportFeedback, UnknownRtcp,
};
use sottovoce::rtp::{
    ExtensionForm, HeaderExtension, OpusPayload, RtpHeader, RtpPacket, SeqUnwrapper,
};

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn rtp_parse_never_panics(bytes in vec(any::<u8>(), 0..200)) {
        if let Ok(p) = RtpPacket::parse(&bytes) {
            prop_assert_eq!(p.header_len() + p.payload().len() + p.padding_len(), bytes.len());
            let _ = (p.csrcs().count(), p.extensions().count(), p.extension(1), format!("{p:?}"));
        }
    }

    #[test]
    fn rtp_header_shaped_bytes_never_panic(
        first in any::<u8>(), rest in vec(any::<u8>(), 11..80), ext in vec(any::<u8>(), 0..40)
    ) {
        // Force V=2 so the deeper paths (CSRCs, extension, padding) are exercised.
        let mut bytes = vec![0x80 | (first & 0x3F)];
        bytes.extend(&rest);
        bytes.extend(&ext);
        if let Ok(p) = RtpPacket::parse(&bytes) {
            prop_assert!(p.payload().len() <= bytes.len());
            let _ = p.extensions().count();
        }
    }

    #[test]
    fn rtp_round_trip(
        marker in any::<bool>(),
        payload_type in 0u8..128,
        sequence_number in any::<u16>(),
        timestamp in any::<u32>(),
        ssrc in any::<u32>(),
        csrcs in vec(any::<u32>(), 0..=15),
        two_byte in any::<bool>(),
        raw_extensions in vec((1u8..=14, vec(any::<u8>(), 1..=16)), 0..6),
        payload in vec(any::<u8>(), 0..300),
        padding in 0u8..=255,
    ) {
        let extensions: Vec<HeaderExtension> =
            raw_extensions.iter().map(|(id, data)| HeaderExtension { id: *id, data }).collect();
        let header = RtpHeader {
            marker,
            payload_type,
            sequence_number,
            timestamp,
            ssrc,
            csrcs: &csrcs,
            extensions: &extensions,
            extension_form: two_byte.then_some(ExtensionForm::TwoByte(5)),
        };
        let mut buf = vec![0u8; 2048];
        let len = header.write_packet(&payload, padding, &mut buf).unwrap();
        let p = RtpPacket::parse(&buf[..len]).unwrap();
        prop_assert_eq!(p.marker(), marker);
        prop_assert_eq!(p.payload_type(), payload_type);
        prop_assert_eq!(p.sequence_number(), sequence_number);
        prop_assert_eq!(p.timestamp(), timestamp);
        prop_assert_eq!(p.ssrc(), ssrc);
        prop_assert_eq!(p.csrcs().collect::<Vec<_>>(), csrcs.clone());
        prop_assert_eq!(p.extensions().collect::<Vec<_>>(), extensions.clone());
        prop_assert_eq!(p.payload(), &payload[..]);
        prop_assert_eq!(p.padding_len(), usize::from(padding));
        prop_assert_eq!(header.len(), p.header_len());
    }

    #[test]
    fn rtcp_parse_never_panics_and_reserialises_stably(bytes in vec(any::<u8>(), 0..300)) {
        if let Ok(packets) = rtcp::parse_compound(&bytes) {
            let mut out = vec![0u8; rtcp::compound_len(&packets)];
            // Parsed packets may not be writable (e.g. a NACK count that came from a
            // packet with trailing bytes), but whatever is written parses back the same.
            if let Ok(len) = rtcp::write_compound(&packets, &mut out) {
                prop_assert_eq!(rtcp::parse_compound(&out[..len]).unwrap(), packets);
            }
        }
    }

    #[test]
    fn rtcp_header_shaped_bytes_never_panic(
        count in 0u8..32, pt in 200u8..=206, body in vec(any::<u8>(), 0..120)
    ) {
        let words = (body.len() / 4) as u16;
        let mut bytes = vec![0x80 | count, pt];
        bytes.extend(words.to_be_bytes());
        bytes.extend(&body[..usize::from(words) * 4]);
        let _ = rtcp::parse_compound(&bytes);
    }

    #[test]
    fn rtcp_round_trip(packets in vec(rtcp_packet(), 1..5)) {
        let mut out = vec![0u8; rtcp::compound_len(&packets)];
        let len = rtcp::write_compound(&packets, &mut out).unwrap();
        prop_assert_eq!(len, out.len());
        prop_assert_eq!(rtcp::parse_compound(&out).unwrap(), packets);
    }

    #[test]
    fn twcc_arrivals_round_trip(
        start in 0i64..1_000_000_000,
        steps in vec(prop::option::of(-8_000i64..60_000), 1..300),
        base in any::<u16>(),
    ) {
        let mut time = start;
        let arrivals: Vec<Option<i64>> = steps.iter().map(|s| s.map(|d| { time += d; time.max(0) })).collect();
        if let Ok(fb) = TransportFeedback::from_arrivals(1, 2, base, 0, &arrivals) {
            let back: Vec<(u16, i64)> = fb.arrivals().collect();
            let expected: Vec<(u16, i64)> = arrivals
                .iter()
                .enumerate()
                .filter_map(|(i, a)| a.map(|t| (base.wrapping_add(i as u16), t.div_euclid(250) * 250)))
                .collect();
            prop_assert_eq!(back, expected);
            let packet = RtcpPacket::TransportFeedback(fb);
            let mut out = vec![0u8; packet.encoded_len()];
            packet.write_to(&mut out).unwrap();
            prop_assert_eq!(rtcp::parse_compound(&out).unwrap(), vec![packet]);
        }
    }

    #[test]
    fn opus_parse_never_panics(bytes in vec(any::<u8>(), 0..8)) {
        if let Ok(p) = OpusPayload::parse(&bytes) {
            prop_assert!(p.duration_samples() <= 5_760 && p.duration_samples() >= 120);
        }
    }

    #[test]
    fn seq_unwrapper_recovers_true_values(
        start in any::<u16>(), steps in vec(-200i64..400, 1..500)
    ) {
        // A true 64-bit sequence that moves forwards overall with jitter backwards.
        let mut unwrapper = SeqUnwrapper::new();
        let mut truth = i64::from(start);
        prop_assert_eq!(unwrapper.unwrap(start), truth);
        let mut highest = truth;
        for step in steps {
            truth = (truth + step).max(highest - 30_000);
            highest = highest.max(truth);
            prop_assert_eq!(unwrapper.unwrap(truth as u16), truth);
        }
    }

    #[test]
    fn av1_packetizer_never_panics(unit in vec(any::<u8>(), 0..400), max_payload in 2usize..300) {
        let mut packetizer = Av1Packetizer::new(max_payload).unwrap();
        let _ = packetizer.packetize(&unit, true, |p, _| assert!(p.len() <= max_payload));
    }

    #[test]
    fn av1_depacketizer_never_panics(
        packets in vec((0u16..40, 0u32..4, any::<bool>(), vec(any::<u8>(), 0..40)), 0..60)
    ) {
        let config = Av1DepacketizerConfig { reorder_window: 8, capacity: 16, expected_payload_len: 64 };
        let mut depacketizer = Av1Depacketizer::new(config).unwrap();
        for (seq, ts, marker, payload) in &packets {
            let _ = depacketizer.push(*seq, ts * 3000, *marker, payload);
            while let Some(event) = depacketizer.poll() {
                if let Av1Event::Frame(frame) = event {
                    // Whatever comes out is a well-formed OBU stream.
                    prop_assert!(frame.data.starts_with(&[0x12, 0x00]));
                }
            }
        }
        depacketizer.flush();
        while depacketizer.poll().is_some() {}
    }

    #[test]
    fn av1_round_trip(
        obus in vec((obu_type(), prop::option::of(any::<u8>()), 0usize..700), 1..7),
        // Down to 16 bytes, so a unit stays below the default 512-packet buffer.
        max_payload in 16usize..400,
        keyframe in any::<bool>(),
        seq in any::<u16>(),
    ) {
        // Build a temporal unit exactly as an encoder would: TD, then sized OBUs.
        let mut unit = vec![0x12, 0x00];
        for (i, (obu_type, extension, len)) in obus.iter().enumerate() {
            unit.push((obu_type << 3) | (u8::from(extension.is_some()) << 2) | 0x02);
            unit.extend(extension);
            let mut size = *len;
            loop {
                let byte = (size & 0x7F) as u8;
                size >>= 7;
                unit.push(if size == 0 { byte } else { byte | 0x80 });
                if size == 0 { break; }
            }
            unit.extend((0..*len).map(|k| (k * 31 + i) as u8));
        }
        let mut packetizer = Av1Packetizer::new(max_payload).unwrap();
        let mut payloads = Vec::new();
        packetizer.packetize(&unit, keyframe, |p, m| payloads.push((p.to_vec(), m))).unwrap();
        prop_assert!(payloads.iter().all(|(p, _)| p.len() <= max_payload));
        prop_assert_eq!(payloads.iter().filter(|(_, m)| *m).count(), 1);
        prop_assert!(payloads.last().unwrap().1);

        let mut depacketizer = Av1Depacketizer::default();
        // A preceding key-frame unit (N=1) so the start is proven even without the N bit.
        depacketizer.push(seq.wrapping_sub(1), 0, true, &[0x18, 0x08, 0xA1]).unwrap();
        let mut frames = Vec::new();
        for (i, (payload, marker)) in payloads.iter().enumerate() {
            depacketizer.push(seq.wrapping_add(i as u16), 3000, *marker, payload).unwrap();
            while let Some(event) = depacketizer.poll() {
                match event {
                    Av1Event::Frame(f) => frames.push(f.data.to_vec()),
                    Av1Event::Loss(loss) => prop_assert!(false, "unexpected loss {:?}", loss),
                }
            }
        }
        prop_assert_eq!(frames.len(), 2);
        prop_assert_eq!(&frames[1], &unit);
    }
}

fn obu_type() -> impl Strategy<Value = u8> {
    // Every type the format carries (temporal delimiters and tile lists are dropped).
    prop::sample::select(vec![1u8, 3, 4, 5, 6, 7, 15])
}

fn report_block() -> impl Strategy<Value = ReportBlock> {
    (
        any::<u32>(),
        any::<u8>(),
        -(1i32 << 23)..(1 << 23),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(ssrc, fraction_lost, cumulative_lost, ehs, jitter, lsr, dlsr)| {
            ReportBlock {
                ssrc,
                fraction_lost,
                cumulative_lost,
                extended_highest_sequence: ehs,
                jitter,
                last_sender_report: lsr,
                delay_since_last_sender_report: dlsr,
            }
        })
}

fn packet_status() -> impl Strategy<Value = PacketStatus> {
    prop_oneof![
        Just(PacketStatus::NotReceived),
        any::<u8>().prop_map(PacketStatus::SmallDelta),
        any::<i16>().prop_map(PacketStatus::LargeDelta),
    ]
}

fn rtcp_packet() -> impl Strategy<Value = RtcpPacket> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u64>(),
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            vec(report_block(), 0..=31)
        )
            .prop_map(|(ssrc, ntp_time, rtp_time, packet_count, octet_count, reports)| {
                RtcpPacket::SenderReport(SenderReport {
                    ssrc,
                    ntp_time,
                    rtp_time,
                    packet_count,
                    octet_count,
                    reports,
                })
            }),
        (any::<u32>(), vec(report_block(), 0..=31)).prop_map(|(ssrc, reports)| {
            RtcpPacket::ReceiverReport(ReceiverReport { ssrc, reports })
        }),
        vec((any::<u32>(), vec((1u8..=255, vec(any::<u8>(), 0..=255)), 0..4)), 0..=4).prop_map(
            |chunks| {
                RtcpPacket::SourceDescription(SourceDescription {
                    chunks: chunks
                        .into_iter()
                        .map(|(ssrc, items)| SdesChunk {
                            ssrc,
                            items: items
                                .into_iter()
                                .map(|(kind, value)| SdesItem { kind, value })
                                .collect(),
                        })
                        .collect(),
                })
            }
        ),
        (vec(any::<u32>(), 0..=31), vec(any::<u8>(), 0..=255))
            .prop_map(|(sources, reason)| RtcpPacket::Goodbye(Goodbye { sources, reason })),
        (any::<u32>(), any::<u32>(), vec((any::<u16>(), any::<u16>()), 1..50)).prop_map(
            |(s, m, pairs)| {
                RtcpPacket::Nack(Nack {
                    sender_ssrc: s,
                    media_ssrc: m,
                    pairs: pairs
                        .into_iter()
                        .map(|(packet_id, lost_bitmask)| NackPair { packet_id, lost_bitmask })
                        .collect(),
                })
            }
        ),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u16>(),
            -(1i32 << 23)..(1 << 23),
            any::<u8>(),
            vec(packet_status(), 0..400)
        )
            .prop_map(|(s, m, base_sequence, reference_time, feedback_count, statuses)| {
                RtcpPacket::TransportFeedback(TransportFeedback {
                    sender_ssrc: s,
                    media_ssrc: m,
                    base_sequence,
                    reference_time,
                    feedback_count,
                    statuses,
                })
            }),
        (any::<u32>(), any::<u32>()).prop_map(|(s, m)| {
            RtcpPacket::PictureLossIndication(PictureLossIndication {
                sender_ssrc: s,
                media_ssrc: m,
            })
        }),
        (any::<u32>(), vec((any::<u32>(), any::<u8>()), 1..8)).prop_map(|(s, entries)| {
            RtcpPacket::FullIntraRequest(FullIntraRequest {
                sender_ssrc: s,
                entries: entries
                    .into_iter()
                    .map(|(ssrc, sequence_number)| FirEntry { ssrc, sequence_number })
                    .collect(),
            })
        }),
        (any::<u32>(), any::<u64>(), vec(any::<u32>(), 0..10)).prop_map(|(s, bitrate, ssrcs)| {
            RtcpPacket::Remb(Remb {
                sender_ssrc: s,
                bitrate_bps: Remb::wire_bitrate(bitrate),
                ssrcs,
            })
        }),
        (prop::sample::select(vec![204u8, 207, 210]), 0u8..32, vec(any::<u8>(), 0..64)).prop_map(
            |(packet_type, count, body)| RtcpPacket::Unknown(UnknownRtcp {
                packet_type,
                count,
                body
            })
        ),
    ]
}
