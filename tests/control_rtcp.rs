//! RTCP statistics on known sequences: RFC 3550 loss and jitter, LSR/DLSR, RTT, sender
//! info and lip sync.

use std::time::{Duration, Instant};

use sottovoce::session::rtcp_stats::{
    NtpClock, NtpTime, ReceiverStats, ReportBlock, round_trip_time,
};

fn ms(t0: Instant, m: u64) -> Instant {
    t0 + Duration::from_millis(m)
}

#[test]
fn fraction_and_cumulative_loss_on_a_known_sequence() {
    let t0 = Instant::now();
    let mut rs = ReceiverStats::new(90_000);
    // Sequence 0..=99 with 10 losses (5, 15, ..., 95). RFC 3550 A.1 probation: the first
    // packet only starts validation, counting begins at seq 1.
    for seq in 0..=99u16 {
        if seq % 10 != 5 {
            rs.on_packet(ms(t0, u64::from(seq) * 10), seq, u32::from(seq) * 900);
        }
    }
    let block = rs.report_block(ms(t0, 1000));
    assert_eq!(block.extended_highest_seq, 99);
    assert_eq!(rs.expected(), 99);
    assert_eq!(block.cumulative_lost, 10);
    assert_eq!(block.fraction_lost, (10 * 256 / 99) as u8); // 25
    // Next interval: 100..=199, 20 lost.
    for seq in 100..=199u16 {
        if seq % 5 != 0 {
            rs.on_packet(ms(t0, u64::from(seq) * 10), seq, u32::from(seq) * 900);
        }
    }
    let block = rs.report_block(ms(t0, 2000));
    assert_eq!(block.fraction_lost, (20 * 256 / 100) as u8); // 51
    assert_eq!(block.cumulative_lost, 30);
    // A duplicate counts as received (RFC 3550 A.3): cumulative loss can go down.
    rs.on_packet(ms(t0, 2001), 199, 199 * 900);
    let block = rs.report_block(ms(t0, 2002));
    assert_eq!((block.fraction_lost, block.cumulative_lost), (0, 29));
}

#[test]
fn extended_sequence_counts_cycles_across_wrap() {
    let t0 = Instant::now();
    let mut rs = ReceiverStats::new(48_000);
    let mut seq: u16 = 65_530;
    for i in 0..20u32 {
        rs.on_packet(ms(t0, u64::from(i) * 20), seq, i * 960);
        seq = seq.wrapping_add(1);
    }
    let block = rs.report_block(ms(t0, 400));
    assert_eq!(block.extended_highest_seq, (1 << 16) + u32::from(seq.wrapping_sub(1)));
    assert_eq!(block.cumulative_lost, 0);
}

#[test]
fn interarrival_jitter_follows_rfc3550_a8() {
    let t0 = Instant::now();
    let mut rs = ReceiverStats::new(48_000);
    // 20 ms packets; arrivals alternate 0 and +5 ms late: |D| = 5 ms = 240 units every time.
    let n = 200u64;
    for i in 0..n {
        let late = if i % 2 == 1 { 5 } else { 0 };
        rs.on_packet(ms(t0, 1000 + i * 20 + late), i as u16, (i * 960) as u32);
    }
    // Probation skips packet 0; packet 1 sets the first transit; n - 2 differences follow.
    let k = (n - 2) as i32;
    let expected = 240.0 * (1.0 - (15.0f64 / 16.0).powi(k));
    let block = rs.report_block(ms(t0, 6000));
    assert!((f64::from(block.jitter) - expected).abs() <= 1.0, "{} vs {expected}", block.jitter);
    assert_eq!(rs.jitter_duration().as_micros() / 100, 49, "about 5 ms");
}

#[test]
fn lsr_dlsr_and_round_trip_time() {
    let t0 = Instant::now();
    // Sender and receiver clocks disagree by 3.7 s: RTT must not care.
    let sender_clock = NtpClock::new(t0, Duration::from_secs(1_700_000_000));
    let receiver_clock = NtpClock::new(t0, Duration::from_secs_f64(1_700_000_003.7));
    let _ = receiver_clock;
    let sr_sent = ms(t0, 10_000);
    let sr_ntp = sender_clock.ntp(sr_sent);
    // One-way 40 ms there, receiver holds 1.5 s, 60 ms back: RTT 100 ms.
    let mut rs = ReceiverStats::new(48_000);
    rs.on_packet(ms(t0, 9_000), 1, 0);
    rs.on_packet(ms(t0, 9_020), 2, 960);
    rs.on_sender_report(ms(t0, 10_040), sr_ntp);
    let block = rs.report_block(ms(t0, 11_540));
    assert_eq!(block.last_sr, sr_ntp.compact());
    assert_eq!(block.delay_since_last_sr, 98_304); // 1.5 * 65536
    let rtt = round_trip_time(sender_clock.ntp(ms(t0, 11_600)), &block).unwrap();
    assert!((rtt.as_secs_f64() - 0.100).abs() < 2.0 / 65_536.0, "{rtt:?}");
    // No SR seen yet: no RTT.
    assert_eq!(round_trip_time(sr_ntp, &ReportBlock::default()), None);
    // Garbage that would be negative: refused.
    let bogus = ReportBlock { last_sr: sr_ntp.compact(), delay_since_last_sr: 10 << 16, ..block };
    assert_eq!(round_trip_time(sender_clock.ntp(ms(t0, 11_000)), &bogus), None);
}

#[test]
fn ntp_short_format() {
    let t = NtpTime::from_secs_f64(3_900_000_000.5);
    assert_eq!(t.0 >> 32, 3_900_000_000);
    assert_eq!(t.compact() & 0xFFFF, 0x8000);
    let t0 = Instant::now();
    let clock = NtpClock::new(t0, Duration::from_secs(1_000));
    assert_eq!(clock.ntp(t0).0 >> 32, NtpClock::UNIX_OFFSET_SECS + 1_000);
}
