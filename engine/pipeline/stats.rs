//! Lock-free latency histograms.
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
