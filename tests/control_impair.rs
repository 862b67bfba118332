//! The impairment model measured over many packets: loss rates, burst structure, delay
//! distribution, bandwidth cap and queue, duplication and reordering.

use std::time::{Duration, Instant};

use sottovoce::transport::impair::{Impairment, ImpairmentConfig, LossModel, WirePacket};

#[derive(Debug, Clone, PartialEq)]
struct Pkt {
    id: u64,
    sent_at: Instant,
    size: usize,
}

impl WirePacket for Pkt {
    fn wire_len(&self) -> usize {
        self.size
    }
}

/// Sends `count` packets of `size` bytes every `interval`, polling as it goes; returns
/// (packet, arrival) in delivery order.
fn run(
    link: &mut Impairment<Pkt>,
    t0: Instant,
    count: u64,
    interval: Duration,
    size: usize,
) -> Vec<(Pkt, Instant)> {
    let mut out = Vec::new();
    for id in 0..count {
        let now = t0 + interval * id as u32;
        while let Some((at, p)) = link.poll_timed(now) {
            out.push((p, at));
        }
        link.send(now, Pkt { id, sent_at: now, size });
    }
    while let Some(at) = link.next_wakeup() {
        let (due, p) = link.poll_timed(at).expect("due packet");
        assert_eq!(due, at);
        out.push((p, due));
    }
    out
}

fn lost_runs(delivered: &[(Pkt, Instant)], count: u64) -> Vec<u64> {
    let mut got = vec![false; count as usize];
    for (p, _) in delivered {
        got[p.id as usize] = true;
    }
    let mut runs = Vec::new();
    let mut run = 0;
    for g in got {
        if g {
            if run > 0 {
                runs.push(run);
            }
            run = 0;
        } else {
            run += 1;
        }
    }
    if run > 0 {
        runs.push(run);
    }
    runs
}

#[test]
fn random_loss_rate_matches_configuration() {
    let t0 = Instant::now();
    let mut config = ImpairmentConfig::default();
    config.apply_flag("loss", "5%").unwrap();
    let mut link = Impairment::new(config, 42);
    let n = 100_000;
    let delivered = run(&mut link, t0, n, Duration::from_millis(1), 200);
    let c = link.counters();
    let rate = c.lost as f64 / n as f64;
    // sigma = sqrt(0.05 * 0.95 / 1e5) = 0.0007: allow ~4 sigma.
    assert!((rate - 0.05).abs() < 0.003, "loss rate {rate}");
    assert_eq!(c.sent, n);
    assert_eq!(c.delivered as usize, delivered.len());
    assert_eq!(c.delivered + c.lost, n);
    let runs = lost_runs(&delivered, n);
    let mean_run = runs.iter().sum::<u64>() as f64 / runs.len() as f64;
    // Independent loss: mean run 1 / (1 - p) = 1.053.
    assert!((mean_run - 1.053).abs() < 0.03, "mean random loss run {mean_run}");
}

#[test]
fn gilbert_elliott_loss_comes_in_bursts() {
    let t0 = Instant::now();
    let config = ImpairmentConfig {
        loss: LossModel::bursty(0.05, 4.0).unwrap(),
        ..ImpairmentConfig::default()
    };
    let mut link = Impairment::new(config, 7);
    let n = 100_000;
    let delivered = run(&mut link, t0, n, Duration::from_millis(1), 200);
    let rate = link.counters().lost as f64 / n as f64;
    assert!((rate - 0.05).abs() < 0.01, "bursty loss rate {rate}");
    let runs = lost_runs(&delivered, n);
    let mean_run = runs.iter().sum::<u64>() as f64 / runs.len() as f64;
    assert!((mean_run - 4.0).abs() < 0.4, "mean burst {mean_run}");
    let long = runs.iter().filter(|&&r| r >= 5).count();
    // Geometric bursts with mean 4: P(len >= 5) = 0.75^4 = 32 %.
    let share = long as f64 / runs.len() as f64;
    assert!((share - 0.316).abs() < 0.05, "share of bursts >= 5: {share}");
}

#[test]
fn jitter_is_uniform_on_top_of_the_delay_and_may_reorder() {
    let t0 = Instant::now();
    let mut config = ImpairmentConfig::default();
    config.apply_flag("delay", "50ms").unwrap();
    config.apply_flag("jitter", "30ms").unwrap();
    config.jitter_reorders = true;
    let mut link = Impairment::new(config.clone(), 3);
    let n = 20_000;
    let delivered = run(&mut link, t0, n, Duration::from_millis(5), 200);
    assert_eq!(delivered.len() as u64, n);
    let mut delays: Vec<f64> =
        delivered.iter().map(|(p, at)| at.duration_since(p.sent_at).as_secs_f64() * 1e3).collect();
    delays.sort_by(f64::total_cmp);
    let q = |f: f64| delays[((delays.len() - 1) as f64 * f) as usize];
    assert!(delays[0] >= 50.0 && *delays.last().unwrap() <= 80.0);
    for (f, expected) in [(0.25, 57.5), (0.5, 65.0), (0.75, 72.5)] {
        assert!((q(f) - expected).abs() < 1.0, "quantile {f}: {} vs {expected}", q(f));
    }
    let reordered = delivered.windows(2).filter(|w| w[1].0.id < w[0].0.id).count();
    assert!(reordered > 1000, "jitter of 30 ms over 5 ms spacing reorders: {reordered}");

    // Without reordering the same jitter keeps FIFO order.
    config.jitter_reorders = false;
    let mut fifo = Impairment::new(config, 3);
    let delivered = run(&mut fifo, t0, n, Duration::from_millis(5), 200);
    assert!(delivered.windows(2).all(|w| w[1].0.id > w[0].0.id));
    assert!(
        delivered.iter().all(|(p, at)| at.duration_since(p.sent_at) >= Duration::from_millis(50))
    );
}

#[test]
fn bandwidth_cap_limits_throughput_and_tail_drops() {
    let t0 = Instant::now();
    let mut config = ImpairmentConfig::default();
    config.apply_flag("bandwidth", "1mbit").unwrap();
    config.apply_flag("delay", "10ms").unwrap();
    config.queue_limit_bytes = 25_000; // 200 ms at 1 Mbit/s
    let mut link = Impairment::new(config.clone(), 1);
    // 1250-byte packets every 5 ms: 2 Mbit/s offered for 10 s.
    let n = 2000;
    let delivered = run(&mut link, t0, n, Duration::from_millis(5), 1250);
    let c = link.counters();
    let first = delivered.first().unwrap().1;
    let last = delivered.last().unwrap().1;
    let throughput =
        (delivered.len() - 1) as f64 * 1250.0 * 8.0 / last.duration_since(first).as_secs_f64();
    assert!((throughput - 1e6).abs() < 0.01e6, "throughput {throughput}");
    assert!(c.queue_drops > 900 && c.queue_drops < 1100, "drops {}", c.queue_drops);
    assert_eq!(c.delivered + c.queue_drops, n);
    // Queueing delay saturates at the queue limit: 200 ms + one packet + propagation.
    let max_delay = delivered.iter().map(|(p, at)| at.duration_since(p.sent_at)).max().unwrap();
    assert!(
        max_delay > Duration::from_millis(200) && max_delay <= Duration::from_millis(221),
        "{max_delay:?}"
    );

    // Under the cap nothing queues: delay is serialisation (10 ms) + propagation.
    let mut light = Impairment::new(config, 1);
    let delivered = run(&mut light, t0, 1000, Duration::from_millis(20), 1250);
    assert_eq!(light.counters().queue_drops, 0);
    for (p, at) in &delivered {
        assert_eq!(at.duration_since(p.sent_at), Duration::from_millis(20));
    }
}

#[test]
fn duplication_and_explicit_reordering_are_observable() {
    let t0 = Instant::now();
    let mut config = ImpairmentConfig::default();
    config.apply_flag("duplicate", "10%").unwrap();
    config.apply_flag("reorder", "5%").unwrap();
    config.apply_flag("reorder-delay", "12ms").unwrap();
    config.apply_flag("delay", "20ms").unwrap();
    let mut link = Impairment::new(config, 99);
    let n = 50_000;
    let delivered = run(&mut link, t0, n, Duration::from_millis(5), 100);
    let c = link.counters();
    assert!((c.duplicated as f64 / n as f64 - 0.10).abs() < 0.01);
    assert!((c.reordered as f64 / n as f64 - 0.05).abs() < 0.01);
    assert_eq!(delivered.len() as u64, n + c.duplicated);
    let mut seen = vec![0u8; n as usize];
    for (p, _) in &delivered {
        seen[p.id as usize] += 1;
    }
    assert_eq!(seen.iter().filter(|&&s| s == 2).count() as u64, c.duplicated);
    // A packet held back 12 ms is overtaken by the two sent after it.
    let overtaken = delivered.windows(2).filter(|w| w[1].0.id < w[0].0.id).count() as u64;
    assert!(
        overtaken > c.reordered * 9 / 10 && overtaken <= c.reordered,
        "{overtaken} vs {}",
        c.reordered
    );
}

#[test]
fn same_seed_same_run() {
    let t0 = Instant::now();
    let mut config = ImpairmentConfig::default();
    config.apply_flag("loss", "10%").unwrap();
    config.apply_flag("jitter", "40ms").unwrap();
    config.jitter_reorders = true;
    let a = run(&mut Impairment::new(config.clone(), 5), t0, 5000, Duration::from_millis(3), 300);
    let b = run(&mut Impairment::new(config.clone(), 5), t0, 5000, Duration::from_millis(3), 300);
    let c = run(&mut Impairment::new(config, 6), t0, 5000, Duration::from_millis(3), 300);
    assert_eq!(a, b);
    assert_ne!(a, c);
}
