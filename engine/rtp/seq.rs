//! Unwrapping of RTP's wrapping counters (16-bit sequence numbers, 32-bit timestamps) into
//! monotonic 64-bit values, tolerant of reordering around the wrap.

/// Core of both unwrappers: the last extended value and the counter's width.
#[derive(Debug, Clone, Copy, Default)]
struct Unwrapper<const BITS: u32> {
    last: Option<i64>,
}

impl<const BITS: u32> Unwrapper<BITS> {
    const MODULUS: i64 = 1 << BITS;
    const HALF: i64 = 1 << (BITS - 1);

    fn unwrap(&mut self, value: u64) -> i64 {
        let extended = self.peek(value);
        // Only move the reference forwards, so one late packet cannot drag it back.
        if self.last.is_none_or(|last| extended > last) {
            self.last = Some(extended);
        }
        extended
    }

    fn peek(&self, value: u64) -> i64 {
        let value = (value as i64) & (Self::MODULUS - 1);
        match self.last {
            None => value,
            Some(last) => {
                // The signed distance from the last value, in (-HALF, HALF]: a counter that
                // moved less than half the range backwards is a reordered packet, not a wrap.
                let mut delta = (value - last).rem_euclid(Self::MODULUS);
                if delta > Self::HALF {
                    delta -= Self::MODULUS;
                }
                last + delta
            }
        }
    }
}

/// Extends 16-bit RTP sequence numbers to 64 bits.
///
/// The first value is returned as is; later values are placed within ±32768 of the highest
/// value seen so far, so packets reordered across the 65535 → 0 wrap get the right cycle.
/// Packets reordered before the very first one may come out negative.
///
/// ```
/// use sottovoce::rtp::SeqUnwrapper;
/// let mut unwrapper = SeqUnwrapper::new();
/// assert_eq!(unwrapper.unwrap(65534), 65534);
/// assert_eq!(unwrapper.unwrap(1), 65537); // wrapped
/// assert_eq!(unwrapper.unwrap(65535), 65535); // late, from before the wrap
/// assert_eq!(unwrapper.unwrap(2), 65538);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqUnwrapper(Unwrapper<16>);

impl SeqUnwrapper {
    /// An unwrapper that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `seq`.
    pub fn unwrap(&mut self, seq: u16) -> i64 {
        self.0.unwrap(u64::from(seq))
    }

    /// The extended value `seq` would get, without recording it.
    pub fn peek(&self, seq: u16) -> i64 {
        self.0.peek(u64::from(seq))
    }

    /// The highest extended value returned so far.
    #[cfg(any(test, feature = "testing"))]
    pub fn highest(&self) -> Option<i64> {
        self.0.last
    }
}

/// Extends 32-bit RTP timestamps to 64 bits, with the same rules as [`SeqUnwrapper`]
/// (a step of less than 2^31 backwards is reordering).
#[derive(Debug, Clone, Copy, Default)]
pub struct TimestampUnwrapper(Unwrapper<32>);

impl TimestampUnwrapper {
    /// An unwrapper that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The extended value of `timestamp`.
    pub fn unwrap(&mut self, timestamp: u32) -> i64 {
        self.0.unwrap(u64::from(timestamp))
    }

    /// The extended value `timestamp` would get, without recording it.
    #[cfg(any(test, feature = "testing"))]
    pub fn peek(&self, timestamp: u32) -> i64 {
        self.0.peek(u64::from(timestamp))
    }

    /// The highest extended value returned so far.
    #[cfg(any(test, feature = "testing"))]
    pub fn highest(&self) -> Option<i64> {
        self.0.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_wraps_forward_and_tolerates_reordering() {
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.unwrap(65_530), 65_530);
        assert_eq!(u.unwrap(65_535), 65_535);
        assert_eq!(u.unwrap(3), 65_539);
        assert_eq!(u.unwrap(65_533), 65_533);
        assert_eq!(u.unwrap(4), 65_540);
        // Many full cycles in order.
        let mut expected = 65_540i64;
        for _ in 0..300_000 {
            expected += 1;
            assert_eq!(u.unwrap(expected as u16), expected);
        }
    }

    #[test]
    fn peek_does_not_move_the_reference() {
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.unwrap(65_535), 65_535);
        assert_eq!(u.peek(2), 65_538);
        assert_eq!(u.highest(), Some(65_535));
        assert_eq!(u.unwrap(0), 65_536);
    }

    #[test]
    fn sequence_before_first_is_negative() {
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.unwrap(0), 0);
        assert_eq!(u.unwrap(65_535), -1);
        assert_eq!(u.highest(), Some(0));
    }

    #[test]
    fn timestamp_wraps() {
        let mut u = TimestampUnwrapper::new();
        assert_eq!(u.unwrap(u32::MAX - 959), i64::from(u32::MAX) - 959);
        assert_eq!(u.unwrap(1), (1i64 << 32) + 1);
        assert_eq!(u.unwrap(u32::MAX), i64::from(u32::MAX));
        assert_eq!(u.unwrap(0x8000_0000), (1i64 << 32) + 0x8000_0000);
    }
}
