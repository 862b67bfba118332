//! AV1 RTP payload format: hand-checked packet layouts, malformed payloads, and
//! packetize → lossy/reordering channel → depacketize round trips on real rav1e
//! bitstreams.

use std::collections::{BTreeMap, BTreeSet};

use sottovoce::rtp::av1::{
    Av1Depacketizer, Av1DepacketizerConfig, Av1Event, Av1Loss, Av1Packetizer, LossKind,
};
use sottovoce::rtp::{RtpError, RtpHeader, RtpPacket};

fn packetize(unit: &[u8], keyframe: bool, max_payload: usize) -> Vec<(Vec<u8>, bool)> {
    let mut packetizer = Av1Packetizer::new(max_payload).unwrap();
    let mut out = Vec::new();
    packetizer.packetize(unit, keyframe, |p, m| out.push((p.to_vec(), m))).unwrap();
    out
}

/// Owned copy of a depacketizer event, so tests can collect them.
#[derive(Debug, Clone, PartialEq)]
enum Event {
    Frame { data: Vec<u8>, timestamp: u32, starts_sequence: bool, references_intact: bool },
    Loss(Av1Loss),
}

fn drain(depacketizer: &mut Av1Depacketizer, events: &mut Vec<Event>) {
    while let Some(event) = depacketizer.poll() {
        events.push(match event {
            Av1Event::Frame(f) => Event::Frame {
                data: f.data.to_vec(),
                timestamp: f.timestamp,
                starts_sequence: f.starts_sequence,
                references_intact: f.references_intact,
            },
            Av1Event::Loss(loss) => Event::Loss(loss),
        });
    }
}

/// Sequence header (type 1, 2 bytes), frame header (type 3, 1 byte), tile group (type 4,
/// 3 bytes) and metadata (type 5, 1 byte), after a temporal delimiter; all with sizes.
const FOUR_OBUS: [u8; 17] = [
    0x12, 0x00, // temporal delimiter
    0x0A, 0x02, 0xA1, 0xA2, // sequence header
    0x1A, 0x01, 0xB1, // frame header
    0x22, 0x03, 0xC1, 0xC2, 0xC3, // tile group
    0x2A, 0x01, 0xD1, // metadata
];

#[test]
fn four_obus_aggregate_with_w0_and_stripped_sizes() {
    let packets = packetize(&FOUR_OBUS, true, 1200);
    assert_eq!(packets.len(), 1);
    let (payload, marker) = &packets[0];
    assert!(marker);
    // W=0 (4 elements, all with lengths), N=1 (key frame with a sequence header).
    // Each OBU header has obu_has_size_field cleared (0x0A -> 0x08 ...).
    let expected = [
        0x08, // Z=0 Y=0 W=0 N=1
        0x03, 0x08, 0xA1, 0xA2, //
        0x02, 0x18, 0xB1, //
        0x04, 0x20, 0xC1, 0xC2, 0xC3, //
        0x02, 0x28, 0xD1,
    ];
    assert_eq!(payload, &expected);
    // Not a key frame: no N bit, even with a sequence header.
    assert_eq!(packetize(&FOUR_OBUS, false, 1200)[0].0[0], 0x00);

    let mut depacketizer = Av1Depacketizer::default();
    depacketizer.push(7, 90_000, true, payload).unwrap();
    let mut events = Vec::new();
    drain(&mut depacketizer, &mut events);
    assert_eq!(
        events,
        [Event::Frame {
            data: FOUR_OBUS.to_vec(),
            timestamp: 90_000,
            starts_sequence: true,
            references_intact: true
        }]
    );
}

#[test]
fn two_obus_use_w2_and_the_last_has_no_length() {
    let unit = [0x12, 0x00, 0x1A, 0x01, 0xB1, 0x22, 0x03, 0xC1, 0xC2, 0xC3];
    let packets = packetize(&unit, false, 1200);
    assert_eq!(packets, [(vec![0x20, 0x02, 0x18, 0xB1, 0x20, 0xC1, 0xC2, 0xC3], true)]);
}

#[test]
fn fragmentation_sets_z_and_y_and_respects_the_limit() {
    // A 300-byte tile group split at 64-byte payloads, preceded by a small frame header.
    let mut unit = vec![0x12, 0x00, 0x1A, 0x01, 0xB1, 0x22, 0xAC, 0x02];
    unit.extend((0..300).map(|i| i as u8));
    let packets = packetize(&unit, false, 64);
    assert!(packets.iter().all(|(p, _)| p.len() <= 64));
    let headers: Vec<u8> = packets.iter().map(|(p, _)| p[0]).collect();
    // First: frame header + start of tile group (W=2, Y=1); then Z=1 Y=1 W=1 pieces; last
    // Z=1 Y=0.
    assert_eq!(headers[0], 0x60);
    assert!(headers[1..headers.len() - 1].iter().all(|&h| h == 0xD0));
    assert_eq!(headers[headers.len() - 1], 0x90);
    let markers: Vec<bool> = packets.iter().map(|(_, m)| *m).collect();
    assert_eq!(markers.iter().filter(|&&m| m).count(), 1);
    assert!(markers[markers.len() - 1]);

    let mut depacketizer = Av1Depacketizer::default();
    for (i, (payload, marker)) in packets.iter().enumerate() {
        depacketizer.push(65_530u16.wrapping_add(i as u16), 1, *marker, payload).unwrap();
    }
    let mut events = Vec::new();
    depacketizer.flush();
    drain(&mut depacketizer, &mut events);
    // The stream did not start with N, so the first unit cannot be proven complete.
    assert!(matches!(events[..], [Event::Loss(Av1Loss { kind: LossKind::StartMissing, .. })]));

    // With a preceding unit the start is proven.
    let mut depacketizer = Av1Depacketizer::default();
    let first = packetize(&FOUR_OBUS, true, 64);
    assert_eq!(first.len(), 1);
    depacketizer.push(65_529, 0, true, &first[0].0).unwrap();
    for (i, (payload, marker)) in packets.iter().enumerate() {
        depacketizer.push(65_530u16.wrapping_add(i as u16), 1, *marker, payload).unwrap();
    }
    let mut events = Vec::new();
    drain(&mut depacketizer, &mut events);
    assert_eq!(events.len(), 2);
    assert!(
        matches!(&events[1], Event::Frame { data, timestamp: 1, references_intact: true, .. } if data == &unit)
    );
}

#[test]
fn temporal_delimiters_and_tile_lists_are_dropped() {
    // TD, tile list (type 8), frame header: only the frame header is sent.
    let unit = [0x12, 0x00, 0x42, 0x01, 0xEE, 0x1A, 0x01, 0xB1];
    assert_eq!(packetize(&unit, false, 1200), [(vec![0x10, 0x18, 0xB1], true)]);
    // A unit with only a temporal delimiter sends nothing.
    assert!(packetize(&[0x12, 0x00], false, 1200).is_empty());
}

#[test]
fn packetizer_rejects_malformed_units() {
    let mut packetizer = Av1Packetizer::new(1200).unwrap();
    let mut emitted = 0;
    let mut run = |unit: &[u8]| packetizer.packetize(unit, false, |_, _| emitted += 1);
    assert!(run(&[0x1A, 0x05, 0xB1]).is_err()); // size past the end
    assert!(run(&[0x9A, 0x01, 0xB1]).is_err()); // forbidden bit
    assert_eq!(run(&[0x1A, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]), Err(RtpError::Leb128Overflow));
    assert_eq!(emitted, 0);
    assert!(Av1Packetizer::new(1).is_err());
}

#[test]
fn receivers_accept_obus_that_keep_their_size_field() {
    // W=1, one element: a frame header OBU that still has obu_has_size_field set.
    let mut depacketizer = Av1Depacketizer::default();
    depacketizer.push(1, 0, true, &[0x18, 0x0A, 0x02, 0xA1, 0xA2]).unwrap();
    let mut events = Vec::new();
    drain(&mut depacketizer, &mut events);
    assert!(
        matches!(&events[..], [Event::Frame { data, .. }] if data == &[0x12, 0x00, 0x0A, 0x02, 0xA1, 0xA2])
    );
    // ...but an inner size that disagrees with the element is corrupt.
    let mut depacketizer = Av1Depacketizer::default();
    depacketizer.push(1, 0, true, &[0x18, 0x0A, 0x01, 0xA1, 0xA2]).unwrap();
    let mut events = Vec::new();
    drain(&mut depacketizer, &mut events);
    assert!(matches!(events[..], [Event::Loss(Av1Loss { kind: LossKind::Corrupt, .. })]));
}

#[test]
fn malformed_payloads_are_errors_and_their_units_are_reported() {
    let cases: &[(&str, &[u8])] = &[
        ("empty payload", &[]),
        ("no elements", &[0x00]),
        ("element length past end", &[0x00, 0x05, 0x08]),
        ("LEB128 overflow", &[0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
        ("zero-length element", &[0x00, 0x00]),
        ("W=3 with two elements", &[0x30, 0x01, 0x08, 0x18]),
        ("N with Z", &[0x98, 0x08]),
    ];
    for (name, payload) in cases {
        let mut depacketizer = Av1Depacketizer::default();
        // A clean unit first, then the bad one.
        depacketizer.push(1, 0, true, &[0x18, 0x08, 0xA1]).unwrap();
        assert!(depacketizer.push(2, 3000, true, payload).is_err(), "{name}");
        depacketizer.push(3, 6000, true, &[0x10, 0x18, 0xB1]).unwrap();
        let mut events = Vec::new();
        drain(&mut depacketizer, &mut events);
        assert_eq!(events.len(), 3, "{name}: {events:?}");
        assert!(
            matches!(
                events[1],
                Event::Loss(Av1Loss { kind: LossKind::Corrupt, timestamp: Some(3000), .. })
            ),
            "{name}"
        );
        // The unit after the corrupt one starts cleanly but its references are suspect.
        assert!(
            matches!(events[2], Event::Frame { timestamp: 6000, references_intact: false, .. }),
            "{name}"
        );
    }
}

#[test]
fn broken_fragment_chains_are_corrupt() {
    // Z=1 on the first packet of a unit, and Y=1 on its last packet.
    for (first, second) in
        [([0x90u8, 0x08, 0xA1], [0x10u8, 0x18, 0xB1]), ([0x50, 0x08, 0xA1], [0x10, 0x18, 0xB1])]
    {
        let mut depacketizer = Av1Depacketizer::default();
        depacketizer.push(1, 0, true, &[0x18, 0x08, 0xA1]).unwrap();
        depacketizer.push(2, 3000, false, &first).unwrap();
        depacketizer.push(3, 3000, true, &second).unwrap();
        let mut events = Vec::new();
        drain(&mut depacketizer, &mut events);
        assert!(
            matches!(events[1], Event::Loss(Av1Loss { kind: LossKind::Corrupt, packets: 2, .. })),
            "{events:?}"
        );
    }
}

#[test]
fn missing_middle_fragment_is_reported_and_the_next_unit_recovers() {
    let mut unit = vec![0x12, 0x00, 0x22, 0xAC, 0x02];
    unit.extend((0..300).map(|i| (i * 7) as u8));
    let packets = packetize(&unit, false, 100);
    assert!(packets.len() >= 4);
    let config =
        Av1DepacketizerConfig { reorder_window: 8, capacity: 64, expected_payload_len: 100 };
    let mut depacketizer = Av1Depacketizer::new(config).unwrap();
    let mut seq = 0u16;
    depacketizer.push(seq, 0, true, &[0x18, 0x08, 0xA1]).unwrap();
    for ts in [3000u32, 6000, 9000] {
        for (i, (payload, marker)) in packets.iter().enumerate() {
            seq += 1;
            if ts == 3000 && i == 1 {
                continue; // lost
            }
            depacketizer.push(seq, ts, *marker, payload).unwrap();
        }
    }
    let mut events = Vec::new();
    drain(&mut depacketizer, &mut events);
    depacketizer.flush();
    drain(&mut depacketizer, &mut events);
    let frames: Vec<u32> = events
        .iter()
        .filter_map(|e| match e {
            Event::Frame { timestamp, data, .. } => {
                if *timestamp != 0 {
                    assert_eq!(data, &unit);
                }
                Some(*timestamp)
            }
            _ => None,
        })
        .collect();
    assert_eq!(frames, [0, 6000, 9000]);
    let losses: Vec<Av1Loss> = events
        .iter()
        .filter_map(|e| match e {
            Event::Loss(l) => Some(*l),
            _ => None,
        })
        .collect();
    assert_eq!(
        losses,
        [
            Av1Loss {
                kind: LossKind::Incomplete,
                first_sequence: 1,
                packets: 1,
                timestamp: Some(3000)
            },
            Av1Loss { kind: LossKind::Gap, first_sequence: 2, packets: 1, timestamp: None },
            Av1Loss {
                kind: LossKind::StartMissing,
                first_sequence: 3,
                packets: packets.len() as u32 - 2,
                timestamp: Some(3000)
            },
        ]
    );
}

// ------------------------------------------------------------------ real bitstreams

/// SplitMix64: a tiny deterministic generator so the channel simulation is reproducible.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

struct TemporalUnit {
    data: Vec<u8>,
    keyframe: bool,
}

/// Encodes `frames` frames of 160x120 moving content with rav1e (speed 10, low latency,
/// key frame every 12 frames).
fn encode_moving_frames(frames: usize) -> Vec<TemporalUnit> {
    use rav1e::prelude::*;
    let (width, height) = (160usize, 120usize);
    let encoder = EncoderConfig {
        width,
        height,
        speed_settings: SpeedSettings::from_preset(10),
        low_latency: true,
        min_key_frame_interval: 12,
        max_key_frame_interval: 12,
        bitrate: 300_000,
        ..Default::default()
    };
    let config = Config::new().with_encoder_config(encoder).with_threads(1);
    let mut ctx: Context<u8> = config.new_context().expect("valid rav1e config");
    let mut units = Vec::new();
    let collect = |ctx: &mut Context<u8>, units: &mut Vec<TemporalUnit>| loop {
        match ctx.receive_packet() {
            Ok(packet) => units.push(TemporalUnit {
                keyframe: packet.frame_type == FrameType::KEY,
                data: packet.data,
            }),
            Err(EncoderStatus::Encoded) => continue,
            Err(EncoderStatus::NeedMoreData | EncoderStatus::LimitReached) => break,
            Err(e) => panic!("rav1e: {e:?}"),
        }
    };
    let mut rng = SplitMix(7);
    for n in 0..frames {
        let mut frame = ctx.new_frame();
        // A bright square moving diagonally over a drifting gradient, with some noise.
        let luma: Vec<u8> = (0..width * height)
            .map(|i| {
                let (x, y) = (i % width, i / width);
                let inside =
                    (x + 160 - (n * 5) % 160) % 160 < 40 && (y + 120 - (n * 3) % 120) % 120 < 30;
                let base = ((x + y + 2 * n) % 200) as u8;
                if inside { 235 } else { base.wrapping_add((rng.next() % 8) as u8) }
            })
            .collect();
        frame.planes[0].copy_from_raw_u8(&luma, width, 1);
        let chroma = vec![128u8 + (n % 16) as u8; (width / 2) * (height / 2)];
        frame.planes[1].copy_from_raw_u8(&chroma, width / 2, 1);
        frame.planes[2].copy_from_raw_u8(&chroma, width / 2, 1);
        ctx.send_frame(frame).expect("send frame");
        collect(&mut ctx, &mut units);
    }
    ctx.flush();
    collect(&mut ctx, &mut units);
    units
}

struct SentPacket {
    bytes: Vec<u8>,
    unit: usize,
}

fn rtp_packets(units: &[TemporalUnit], max_payload: usize) -> (Vec<SentPacket>, Vec<(u16, u16)>) {
    let mut packetizer = Av1Packetizer::new(max_payload).unwrap();
    let mut packets = Vec::new();
    let mut ranges = Vec::new();
    let mut seq = 65_500u16; // wraps during the stream
    for (index, unit) in units.iter().enumerate() {
        let first = seq;
        packetizer
            .packetize(&unit.data, unit.keyframe, |payload, marker| {
                let header = RtpHeader {
                    marker,
                    payload_type: 45,
                    sequence_number: seq,
                    timestamp: 1_000 + 3_000 * index as u32,
                    ssrc: 0x5EED,
                    ..RtpHeader::default()
                };
                let mut bytes = vec![0u8; header.len() + payload.len()];
                header.write_packet(payload, 0, &mut bytes).unwrap();
                assert!(payload.len() <= max_payload);
                packets.push(SentPacket { bytes, unit: index });
                seq = seq.wrapping_add(1);
            })
            .unwrap();
        ranges.push((first, seq.wrapping_sub(1)));
    }
    (packets, ranges)
}

/// Sends `packets` through a channel that drops each with probability `loss_percent` and
/// reorders within a window of `reorder` packets; returns the indices delivered, in
/// delivery order.
fn channel(count: usize, loss_percent: u64, reorder: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix(seed);
    let mut in_flight: Vec<usize> = Vec::new();
    let mut delivered = Vec::new();
    for i in 0..count {
        if rng.below(100) >= loss_percent {
            in_flight.push(i);
        }
        if in_flight.len() > reorder {
            let pick = rng.below(in_flight.len() as u64) as usize;
            delivered.push(in_flight.remove(pick));
        }
    }
    while !in_flight.is_empty() {
        let pick = rng.below(in_flight.len() as u64) as usize;
        delivered.push(in_flight.remove(pick));
    }
    delivered
}

/// Decodes one temporal unit with dav1d; returns the sizes of the pictures it output.
fn decode(decoder: &mut dav1d::Decoder, unit: Vec<u8>) -> Result<Vec<(u32, u32)>, dav1d::Error> {
    let mut pictures = Vec::new();
    let drain = |decoder: &mut dav1d::Decoder, pictures: &mut Vec<(u32, u32)>| loop {
        match decoder.get_picture() {
            Ok(picture) => pictures.push((picture.width(), picture.height())),
            Err(e) if e.is_again() => return Ok(()),
            Err(e) => return Err(e),
        }
    };
    let mut sent = decoder.send_data(unit, None, None, None);
    loop {
        match sent {
            Ok(()) => break,
            Err(e) if e.is_again() => {
                drain(decoder, &mut pictures)?;
                sent = decoder.send_pending_data();
            }
            Err(e) => return Err(e),
        }
    }
    drain(decoder, &mut pictures)?;
    Ok(pictures)
}

fn low_latency_decoder() -> dav1d::Decoder {
    let mut settings = dav1d::Settings::new();
    settings.set_n_threads(1);
    settings.set_max_frame_delay(1);
    dav1d::Decoder::with_settings(&settings).expect("dav1d decoder")
}

fn run_channel(
    units: &[TemporalUnit],
    max_payload: usize,
    loss_percent: u64,
    reorder: usize,
    seed: u64,
) -> (usize, usize, usize) {
    let (packets, ranges) = rtp_packets(units, max_payload);
    let delivered = channel(packets.len(), loss_percent, reorder, seed);
    let delivered_set: BTreeSet<usize> = delivered.iter().copied().collect();
    let damaged: BTreeSet<usize> = (0..packets.len())
        .filter(|i| !delivered_set.contains(i))
        .map(|i| packets[i].unit)
        .collect();

    let mut depacketizer = Av1Depacketizer::default();
    let mut events = Vec::new();
    for &i in &delivered {
        let packet = RtpPacket::parse(&packets[i].bytes).unwrap();
        depacketizer.push_packet(&packet).unwrap();
        drain(&mut depacketizer, &mut events);
    }
    depacketizer.flush();
    drain(&mut depacketizer, &mut events);

    let by_timestamp: BTreeMap<u32, usize> =
        (0..units.len()).map(|i| (1_000 + 3_000 * i as u32, i)).collect();
    let mut emitted = BTreeSet::new();
    let mut reported = BTreeSet::new();
    let mut last_emitted = None;
    let mut decoder = low_latency_decoder();
    let mut decoded = 0;
    for event in &events {
        match event {
            Event::Frame { data, timestamp, references_intact, .. } => {
                // Units whose reference chain is intact must decode with dav1d, one
                // 160x120 picture each; the others wait for the next key frame.
                if *references_intact {
                    let pictures = decode(&mut decoder, data.clone())
                        .unwrap_or_else(|e| panic!("dav1d rejected unit at {timestamp}: {e}"));
                    assert_eq!(pictures, [(160, 120)], "unit at {timestamp}");
                    decoded += 1;
                }
                let unit = by_timestamp[timestamp];
                assert!(
                    !damaged.contains(&unit),
                    "unit {unit} lost a packet but was emitted whole"
                );
                assert_eq!(data, &units[unit].data, "unit {unit} differs from the encoder output");
                assert!(emitted.insert(unit), "unit {unit} emitted twice");
                assert!(last_emitted < Some(unit), "units out of order");
                last_emitted = Some(unit);
            }
            Event::Loss(loss) => match loss.timestamp {
                Some(ts) => {
                    reported.insert(by_timestamp[&ts]);
                }
                None => {
                    // A gap: every unit whose packets it covers counts as reported.
                    for (unit, &(first, last)) in ranges.iter().enumerate() {
                        let covers =
                            |seq: u16| seq.wrapping_sub(loss.first_sequence) < loss.packets as u16;
                        let span = last.wrapping_sub(first);
                        if (0..=span).any(|k| covers(first.wrapping_add(k))) {
                            reported.insert(unit);
                        }
                    }
                }
            },
        }
    }
    // Units lost entirely after the last delivered packet leave no trace a receiver could
    // see (the next packet would reveal them); every other damaged unit must be reported.
    let last_delivered = delivered.iter().max().map_or(0, |&i| packets[i].unit);
    let detectable = |unit: usize| unit <= last_delivered;
    for unit in damaged.iter().filter(|&&u| detectable(u)) {
        assert!(reported.contains(unit), "damaged unit {unit} was not reported");
    }
    for unit in (0..units.len()).filter(|&u| detectable(u)) {
        assert!(
            emitted.contains(&unit) || reported.contains(&unit),
            "unit {unit} vanished silently"
        );
    }
    if loss_percent == 0 {
        assert_eq!(emitted.len(), units.len(), "without loss every unit arrives");
        assert_eq!(decoded, units.len(), "without loss every unit decodes");
    }
    (emitted.len(), damaged.len(), decoded)
}

#[test]
fn rav1e_round_trip_through_lossy_reordering_channel() {
    let units = encode_moving_frames(30);
    assert_eq!(units.len(), 30);
    assert!(units[0].keyframe && units[12].keyframe && !units[1].keyframe);
    // rav1e output starts every unit with a temporal delimiter.
    assert!(units.iter().all(|u| u.data.starts_with(&[0x12, 0x00])));

    for max_payload in [1188usize, 88] {
        let (packets, _) = rtp_packets(&units, max_payload);
        if max_payload == 88 {
            assert!(packets.len() > 3 * units.len(), "tiny MTU should fragment");
        }
        // Reordering only: everything comes out, byte-identical and in order.
        let (emitted, _, _) = run_channel(&units, max_payload, 0, 6, 1);
        assert_eq!(emitted, units.len());
        // Loss and reordering with several seeds.
        for seed in 1..=6 {
            let (emitted, damaged, decoded) = run_channel(&units, max_payload, 5, 4, seed);
            eprintln!(
                "payload {max_payload}, seed {seed}: {emitted} units emitted, {damaged} damaged, \
                 {decoded} decoded by dav1d"
            );
            assert!(emitted > 0 && emitted + damaged <= units.len());
            assert!(decoded <= emitted);
            if max_payload > 1000 {
                // Key frames are a few packets here, so some survive 5 % loss. (At 88-byte
                // payloads a key frame is ~40 packets and may well be lost every time.)
                assert!(decoded > 0);
            }
        }
        // Light loss: some key frames get through whole and the chain after them decodes.
        let (_, _, decoded) = run_channel(&units, max_payload, 1, 4, 7);
        eprintln!("payload {max_payload}, 1 % loss: {decoded} decoded by dav1d");
        assert!(decoded > 0);
        // Heavy loss must never produce a corrupt frame either.
        run_channel(&units, max_payload, 30, 8, 99);
    }
}
