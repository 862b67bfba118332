//! Lock-free latency histograms and the [`Stats`] snapshot.
//!
//! Recording is a handful of relaxed atomic adds, so the hot path never locks or
//! allocates. Values are kept in log-linear buckets (64 per power of two), which bounds the
//! error of any reported percentile to 1/64 (about 1.6 %) of the value; values below 64 ns
//! are exact. The maximum is tracked exactly.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

const SUB_BITS: u32 = 6;
const SUB_BUCKETS: usize = 1 << SUB_BITS;
const BUCKETS: usize = SUB_BUCKETS + (64 - SUB_BITS as usize) * SUB_BUCKETS;

fn bucket_of(v: u64) -> usize {
    if v < SUB_BUCKETS as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros();
    let shift = exp - SUB_BITS;
    let sub = ((v >> shift) as usize) & (SUB_BUCKETS - 1);
    SUB_BUCKETS + (shift as usize) * SUB_BUCKETS + sub
}

/// Lowest value and width of a bucket.
fn bucket_range(index: usize) -> (u64, u64) {
    if index < SUB_BUCKETS {
        return (index as u64, 1);
    }
    let shift = ((index - SUB_BUCKETS) / SUB_BUCKETS) as u32;
    let sub = ((index - SUB_BUCKETS) % SUB_BUCKETS) as u64;
    let low = (SUB_BUCKETS as u64 + sub) << shift;
    (low, 1u64 << shift)
}

/// A lock-free histogram of durations, safe to record from one thread while any other
/// thread takes summaries.
pub struct LatencyHistogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_ns: AtomicU64,
    max_ns: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.summary().fmt(f)
    }
}

impl LatencyHistogram {
    /// An empty histogram (allocates its buckets once, here).
    pub fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_ns: AtomicU64::new(0),
            max_ns: AtomicU64::new(0),
        }
    }

    /// Record one duration.
    pub fn record(&self, d: Duration) {
        self.record_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Record one duration given in nanoseconds.
    pub fn record_ns(&self, ns: u64) {
        self.buckets[bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
        self.max_ns.fetch_max(ns, Ordering::Relaxed);
    }

    /// Number of recorded values.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Percentiles, mean and max of everything recorded so far.
    pub fn summary(&self) -> LatencySummary {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let max_ns = self.max_ns.load(Ordering::Relaxed);
        if total == 0 {
            return LatencySummary::default();
        }
        let percentile = |p: f64| -> Duration {
            let rank = ((p * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (i, &c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    let (low, width) = bucket_range(i);
                    let mid = low + (width - 1) / 2;
                    return Duration::from_nanos(mid.min(max_ns));
                }
            }
            Duration::from_nanos(max_ns)
        };
        LatencySummary {
            count: total,
            p50: percentile(0.50),
            p95: percentile(0.95),
            p99: percentile(0.99),
            max: Duration::from_nanos(max_ns),
            mean: Duration::from_nanos(self.sum_ns.load(Ordering::Relaxed) / total),
        }
    }
}

/// Percentiles of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LatencySummary {
    /// Number of samples.
    pub count: u64,
    /// Median.
    pub p50: Duration,
    /// 95th percentile.
    pub p95: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest value seen (exact).
    pub max: Duration,
    /// Arithmetic mean.
    pub mean: Duration,
}

/// Frame counters of one stage or of a whole pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counters {
    /// Frames accepted.
    pub frames_in: u64,
    /// Frames emitted.
    pub frames_out: u64,
    /// Frames discarded by the drop-oldest policy (video: a newer frame replaced them).
    pub dropped: u64,
    /// Frames refused because a queue was full (audio: the producer was told, not blocked).
    pub overflow: u64,
    /// Frames a stage failed on.
    pub errors: u64,
}

/// Latency and counters of one stage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageStats {
    /// Stage name.
    pub name: &'static str,
    /// Time spent inside the stage's `process` per frame.
    pub processing: LatencySummary,
    /// Time a frame waited in the stage's input queue.
    pub queue_wait: LatencySummary,
    /// Frame counters.
    pub counters: Counters,
}

/// A snapshot of a pipeline's telemetry, taken without stopping it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Per-stage figures, in chain order.
    pub stages: Vec<StageStats>,
    /// Capture instant to arrival in the output queue.
    pub end_to_end: LatencySummary,
    /// Whole-pipeline counters: `frames_in` at the entry, `frames_out` at the exit, and the
    /// sums of drops, overflows and errors over every queue and stage.
    pub counters: Counters,
}

fn fmt_us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// Inline stages have no queue in front of them: show "-" rather than a zero wait.
fn wait(d: Duration, count: u64) -> String {
    if count == 0 { "-".to_owned() } else { fmt_us(d) }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:<16} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7}",
            "stage (µs)",
            "frames",
            "proc p50",
            "proc p95",
            "proc p99",
            "wait p50",
            "wait p99",
            "drop",
            "ovfl"
        )?;
        for s in &self.stages {
            writeln!(
                f,
                "{:<16} {:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>7} {:>7}",
                s.name,
                s.counters.frames_out,
                fmt_us(s.processing.p50),
                fmt_us(s.processing.p95),
                fmt_us(s.processing.p99),
                wait(s.queue_wait.p50, s.queue_wait.count),
                wait(s.queue_wait.p99, s.queue_wait.count),
                s.counters.dropped,
                s.counters.overflow
            )?;
        }
        let e = &self.end_to_end;
        write!(
            f,
            "end-to-end (µs): p50 {} p95 {} p99 {} max {}; in {} out {} dropped {} overflow {} errors {}",
            fmt_us(e.p50),
            fmt_us(e.p95),
            fmt_us(e.p99),
            fmt_us(e.max),
            self.counters.frames_in,
            self.counters.frames_out,
            self.counters.dropped,
            self.counters.overflow,
            self.counters.errors
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_in_order() {
        let mut last = 0;
        for v in (0..10_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let b = bucket_of(v);
            assert!(b >= last && b < BUCKETS);
            let (low, width) = bucket_range(b);
            assert!(v >= low && v - low < width, "{v} not in bucket {b} ({low}+{width})");
            last = b;
        }
    }

    #[test]
    fn small_values_are_exact() {
        let h = LatencyHistogram::new();
        for v in 1..=50 {
            h.record_ns(v);
        }
        let s = h.summary();
        assert_eq!(s.count, 50);
        assert_eq!(s.p50, Duration::from_nanos(25));
        assert_eq!(s.p95, Duration::from_nanos(48));
        assert_eq!(s.p99, Duration::from_nanos(50));
        assert_eq!(s.max, Duration::from_nanos(50));
    }

    #[test]
    fn percentiles_of_a_uniform_spread_are_within_bucket_precision() {
        let h = LatencyHistogram::new();
        // 1 µs .. 10 ms in 10 µs steps, shuffled order does not matter to a histogram.
        for i in 0..1000u64 {
            h.record(Duration::from_micros(1 + i * 10));
        }
        let s = h.summary();
        let close = |got: Duration, want_us: f64| {
            let got = got.as_secs_f64() * 1e6;
            assert!((got - want_us).abs() / want_us < 1.0 / 64.0, "{got} vs {want_us}");
        };
        close(s.p50, 4991.0);
        close(s.p95, 9491.0);
        close(s.p99, 9891.0);
        assert_eq!(s.max, Duration::from_micros(9991));
        close(s.mean, 4996.0);
    }

    #[test]
    fn empty_histogram_reports_zero() {
        assert_eq!(LatencyHistogram::new().summary(), LatencySummary::default());
    }
}
