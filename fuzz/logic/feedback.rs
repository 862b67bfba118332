//! Loss and congestion feedback, both ends: a `NackGenerator` fed adversarial sequence
//! numbers, keyframe flags, RTTs and poll instants; the NACKs it asks for built with
//! `Nack::from_lost`, written and parsed back through a compound RTCP packet, and answered
//! from a `RetransmissionHistory`; and transport-wide feedback built from input arrival
//! times with `TransportFeedback::from_arrivals`, written and parsed back.
//!
//! Asserted: nothing panics; every sequence number polled for a NACK was on the
//! generator's missing list, and the NACK packet carries exactly that set after a write ->
//! parse round trip; the history only ever returns the packet stored under the sequence
//! number asked for; counters never decrease; transport feedback that builds round-trips
//! through write -> parse unchanged and reports each received packet at its arrival time
//! quantised down to 250 µs.
//!
//! Input: operations, one byte each plus their operands (see `run`).

#[path = "input.rs"]
mod input;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use input::Input;
use sottovoce::rtp::rtcp::{
    self, DELTA_TICK_US, Nack, PacketStatus, RtcpPacket, TransportFeedback,
};
use sottovoce::session::nack::{NackConfig, NackGenerator, NackStats, RetransmissionHistory};

fn round_trip(packet: RtcpPacket) -> Option<RtcpPacket> {
    let packets = [packet];
    let mut out = vec![0u8; rtcp::compound_len(&packets)];
    let len = rtcp::write_compound(&packets, &mut out).ok()?;
    assert_eq!(len, out.len(), "written length");
    let mut parsed = rtcp::parse_compound(&out).expect("a written compound parses");
    assert_eq!(parsed.len(), 1, "one packet written, one parsed");
    parsed.pop()
}

fn nack_counters(s: &NackStats) -> [u64; 4] {
    [s.missing, s.nacks_sent, s.recovered, s.given_up]
}

fn twcc(input: &mut Input<'_>) -> Option<()> {
    let (base, count, start) = (input.u16()?, input.u8()?, input.u32()?);
    let mut time = i64::from(start as i32) * 1000;
    let mut arrivals = Vec::new();
    for _ in 0..count {
        let b = input.u8()?;
        arrivals.push(match b {
            0 => None,
            // Large steps and reordering (negative) too.
            0xf0..=0xff => {
                time += i64::from(input.u16()? as i16) * 100;
                Some(time)
            }
            _ => {
                time += i64::from(b) * 70;
                Some(time)
            }
        });
    }
    let Ok(feedback) = TransportFeedback::from_arrivals(1, 2, base, count, &arrivals) else {
        return Some(());
    };
    assert_eq!(feedback.statuses.len(), arrivals.len());
    let reported: Vec<(u16, i64)> = feedback.arrivals().collect();
    let expected: Vec<(u16, i64)> = arrivals
        .iter()
        .enumerate()
        .filter_map(|(i, a)| {
            a.map(|us| (base.wrapping_add(i as u16), us.div_euclid(DELTA_TICK_US) * DELTA_TICK_US))
        })
        .collect();
    assert_eq!(reported, expected, "arrival times quantised down to 250 µs");
    for (status, arrival) in feedback.statuses.iter().zip(&arrivals) {
        assert_eq!(matches!(status, PacketStatus::NotReceived), arrival.is_none());
    }
    let packet = RtcpPacket::TransportFeedback(feedback.clone());
    if let Some(parsed) = round_trip(packet) {
        assert_eq!(parsed, RtcpPacket::TransportFeedback(feedback), "TWCC round trip");
    }
    Some(())
}

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let base = Instant::now();
    let mut clock_ms = 0u64;
    let config = NackConfig { max_list: 64, ..NackConfig::default() };
    let mut generator = NackGenerator::new(config);
    let mut history: RetransmissionHistory<u16> =
        RetransmissionHistory::new(128, Duration::from_millis(1000));
    let mut seq = 0u16;
    let mut nacked = Vec::new();

    while let Some(op) = input.u8() {
        let gen_before = generator.stats();
        let history_before = history.stats();
        match op & 7 {
            // A media packet arrives (and is in the sender's history): a signed step, or
            // (op bit 3) a raw sequence number; op bit 4: keyframe.
            0 | 1 => {
                let Some(step) = input.u8() else { break };
                if op & 8 != 0 {
                    let Some(raw) = input.u16() else { break };
                    seq = raw;
                } else {
                    seq = seq.wrapping_add(i16::from(step as i8) as u16);
                }
                let now = base + Duration::from_millis(clock_ms);
                history.store(now, seq, seq);
                generator.on_packet(now, seq, op & 16 != 0);
            }
            // Time passes, then the generator is polled; its NACK goes over the wire and
            // the sender answers it from its history.
            2 | 3 => {
                let Some(ms) = input.u8() else { break };
                clock_ms += u64::from(ms) * 4;
                let now = base + Duration::from_millis(clock_ms);
                let missing: BTreeSet<u16> = generator.missing().collect();
                nacked.clear();
                generator.poll(now, &mut nacked);
                for seq in &nacked {
                    assert!(missing.contains(seq), "NACK for {seq}, which was not missing");
                }
                if nacked.is_empty() {
                    continue;
                }
                let nack = Nack::from_lost(7, 8, nacked.iter().copied());
                let sent: BTreeSet<u16> = nacked.iter().copied().collect();
                assert_eq!(nack.lost_sequence_numbers().collect::<BTreeSet<_>>(), sent);
                let Some(RtcpPacket::Nack(parsed)) = round_trip(RtcpPacket::Nack(nack.clone()))
                else {
                    panic!("a NACK with pairs must write and parse back as a NACK");
                };
                assert_eq!(parsed, nack, "NACK round trip");
                for seq in parsed.lost_sequence_numbers() {
                    if let Some(&packet) = history.on_nack(now, seq) {
                        assert_eq!(packet, seq, "history answered {seq} with packet {packet}");
                    }
                }
                let _ = generator.next_wakeup();
                let _ = generator.take_keyframe_wanted();
            }
            // RTT update (both ends).
            4 => {
                let Some(rtt) = input.u8() else { break };
                let rtt = Duration::from_millis(u64::from(rtt) * 8);
                generator.set_rtt(rtt);
                history.set_rtt(rtt);
            }
            // Transport-wide feedback from input arrival times.
            _ => {
                if twcc(&mut input).is_none() {
                    break;
                }
            }
        }
        let (a, b) = (nack_counters(&gen_before), nack_counters(&generator.stats()));
        assert!(a.iter().zip(b.iter()).all(|(a, b)| b >= a), "NACK counters went down");
        let (h0, h1) = (history_before, history.stats());
        assert!(
            h1.retransmitted >= h0.retransmitted
                && h1.throttled >= h0.throttled
                && h1.missing >= h0.missing,
            "history counters went down"
        );
    }
}
