//! Unwrapping of RTP's wrapping 16-bit sequence numbers and 32-bit timestamps into
//! monotonic 64-bit values, so that ordering and distances survive wrap-around.

/// Extends wrapping `u16` sequence numbers to `i64`: each value is placed at the extension
/// nearest to the previous one (RFC 3550 A.1 in spirit), so reordering within half the
/// space is understood and wrap-around counts up.
#[derive(Debug, Clone, Copy, Default)]
pub struct SeqUnwrapper {
    last: Option<i64>,
}

impl SeqUnwrapper {
    /// A fresh unwrapper; the first value maps to itself.
    pub fn new() -> Self {
        Self { last: None }
    }

    /// The extended value of `seq` (updates the reference point).
    pub fn unwrap(&mut self, seq: u16) -> i64 {
        let value = self.peek(seq);
        self.last = Some(value);
        value
    }

    /// The extended value of `seq` without moving the reference point.
    pub fn peek(&self, seq: u16) -> i64 {
        match self.last {
            None => i64::from(seq),
            Some(last) => last + i64::from(seq.wrapping_sub(last as u16) as i16),
        }
    }
}

/// Extends wrapping `u32` RTP timestamps to `i64`, like [`SeqUnwrapper`].
#[derive(Debug, Clone, Copy, Default)]
pub struct TimestampUnwrapper {
    last: Option<i64>,
}

impl TimestampUnwrapper {
    /// A fresh unwrapper; the first value maps to itself.
    pub fn new() -> Self {
        Self { last: None }
    }

    /// The extended value of `ts` (updates the reference point).
    pub fn unwrap(&mut self, ts: u32) -> i64 {
        let value = self.peek(ts);
        self.last = Some(value);
        value
    }

    /// The extended value of `ts` without moving the reference point.
    pub fn peek(&self, ts: u32) -> i64 {
        match self.last {
            None => i64::from(ts),
            Some(last) => last + i64::from(ts.wrapping_sub(last as u32) as i32),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_wraps_forward_and_tolerates_reordering() {
        let mut u = SeqUnwrapper::new();
        assert_eq!(u.unwrap(65_534), 65_534);
        assert_eq!(u.unwrap(65_535), 65_535);
        assert_eq!(u.unwrap(0), 65_536);
        assert_eq!(u.unwrap(65_535), 65_535);
        assert_eq!(u.unwrap(2), 65_538);
    }

    #[test]
    fn timestamps_wrap() {
        let mut u = TimestampUnwrapper::new();
        assert_eq!(u.unwrap(u32::MAX - 10), i64::from(u32::MAX) - 10);
        assert_eq!(u.unwrap(950), i64::from(u32::MAX) + 951);
    }
}
