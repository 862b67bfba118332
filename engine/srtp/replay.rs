//! Rollover-counter estimation (RFC 3711 3.3.1, appendix A) and the sliding replay
//! window (RFC 3711 3.3.2), both over 64-bit packet indices.

/// Packets behind the highest accepted index that the window still tells apart.
/// RFC 3711 asks for at least 64; 1024 covers a NACK round trip at video rates.
pub const REPLAY_WINDOW: u64 = 1024;

/// Bitmap blocks: one more than the window needs, so advancing the window clears whole
/// 64-bit blocks instead of shifting the map bit by bit (the RFC 6479 layout).
const BLOCKS: usize = (REPLAY_WINDOW / 64) as usize + 1;

/// Largest SRTP packet index: 32-bit ROC and 16-bit sequence number.
pub(crate) const MAX_SRTP_INDEX: u64 = (1 << 48) - 1;

/// The packet index (`ROC * 2^16 + SEQ`) that `seq` most likely carries, given the
/// highest index seen so far: the candidate closest to `highest` (RFC 3711 appendix A).
///
/// When the stream is still in its first roll (ROC 0) a sequence number more than
/// half a roll *ahead* cannot belong to ROC -1, so it is taken as ROC 0. The result can
/// exceed [`MAX_SRTP_INDEX`] only when the ROC would roll past 2^32; callers reject it.
pub(crate) fn estimate_index(highest: u64, seq: u16) -> u64 {
    const HALF: u16 = 0x8000;
    let roc = highest >> 16;
    let s_l = highest as u16;
    let guess = if s_l < HALF {
        if seq > s_l && seq - s_l > HALF { roc.saturating_sub(1) } else { roc }
    } else if seq < s_l - HALF {
        roc + 1
    } else {
        roc
    };
    (guess << 16) | u64::from(seq)
}

/// Why [`ReplayWindow::check`] refused an index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReplayVerdict {
    /// This index was already accepted.
    Duplicate,
    /// The index is behind the window; a replay cannot be ruled out.
    TooOld,
}

/// Which indices behind the highest accepted one have been seen.
#[derive(Clone)]
pub(crate) struct ReplayWindow {
    highest: u64,
    bits: [u64; BLOCKS],
}

impl ReplayWindow {
    /// A window whose first accepted index is `first`.
    pub(crate) fn new(first: u64) -> Self {
        let mut window = Self { highest: first, bits: [0; BLOCKS] };
        window.mark(first);
        window
    }

    /// The highest index accepted so far.
    pub(crate) fn highest(&self) -> u64 {
        self.highest
    }

    /// Whether `index` may be accepted. Does not change the window: call
    /// [`accept`](Self::accept) only once the packet has authenticated.
    pub(crate) fn check(&self, index: u64) -> Result<(), ReplayVerdict> {
        if index > self.highest {
            return Ok(());
        }
        if self.highest - index >= REPLAY_WINDOW {
            return Err(ReplayVerdict::TooOld);
        }
        let (block, bit) = Self::slot(index);
        if self.bits[block] & bit != 0 { Err(ReplayVerdict::Duplicate) } else { Ok(()) }
    }

    /// Records an authenticated index, sliding the window forward if it is the newest.
    pub(crate) fn accept(&mut self, index: u64) {
        if index > self.highest {
            let current_block = self.highest / 64;
            let new_block = index / 64;
            // Blocks between the old and new head hold indices nobody has sent yet.
            let stale = (new_block - current_block).min(BLOCKS as u64);
            for step in 1..=stale {
                self.bits[((current_block + step) % BLOCKS as u64) as usize] = 0;
            }
            self.highest = index;
        }
        self.mark(index);
    }

    fn mark(&mut self, index: u64) {
        let (block, bit) = Self::slot(index);
        self.bits[block] |= bit;
    }

    fn slot(index: u64) -> (usize, u64) {
        (((index / 64) % BLOCKS as u64) as usize, 1 << (index % 64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estimate_follows_rfc3711_appendix_a() {
        // Same roll, small reorder either way.
        assert_eq!(estimate_index(100, 101), 101);
        assert_eq!(estimate_index(100, 90), 90);
        // Forward across the wrap: 65535 -> 0 starts ROC 1.
        assert_eq!(estimate_index(0xffff, 0), 1 << 16);
        assert_eq!(estimate_index(0xfff0, 5), (1 << 16) | 5);
        // A late packet from before the wrap keeps ROC 0.
        assert_eq!(estimate_index((1 << 16) | 3, 0xfffe), 0xfffe);
        // Far in ROC 7: a sequence number half a roll back belongs to ROC 6.
        assert_eq!(estimate_index((7 << 16) | 10, 0xff00), (6 << 16) | 0xff00);
        // ROC 0 cannot go to -1: taken as a jump ahead in ROC 0.
        assert_eq!(estimate_index(10, 0xff00), 0xff00);
    }

    #[test]
    fn window_rejects_duplicates_and_too_old() {
        let mut w = ReplayWindow::new(5000);
        assert_eq!(w.check(5000), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(4999), Ok(()));
        w.accept(4999);
        assert_eq!(w.check(4999), Err(ReplayVerdict::Duplicate));
        assert_eq!(w.check(5000 - REPLAY_WINDOW + 1), Ok(()));
        assert_eq!(w.check(5000 - REPLAY_WINDOW), Err(ReplayVerdict::TooOld));
        // A big jump forward clears everything in between.
        w.accept(5000 + 10 * REPLAY_WINDOW);
        assert_eq!(w.check(5000), Err(ReplayVerdict::TooOld));
        assert_eq!(w.check(5000 + 10 * REPLAY_WINDOW - 1), Ok(()));
    }

    #[test]
    fn window_matches_a_naive_set_on_random_orders() {
        use std::collections::BTreeSet;
        // Deterministic pseudo-random walk with reordering, duplicates and jumps.
        let mut state = 0x1234_5678_9abc_def0_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut w = ReplayWindow::new(10_000);
        let mut seen = BTreeSet::from([10_000u64]);
        let mut highest = 10_000u64;
        for _ in 0..200_000 {
            let r = next();
            let index = match r % 10 {
                0 => highest + 1 + (r >> 8) % 3000,
                1..=6 => highest + 1 + (r >> 8) % 4,
                _ => highest.saturating_sub((r >> 8) % (REPLAY_WINDOW + 200)),
            };
            let expected = if index > highest {
                Ok(())
            } else if highest - index >= REPLAY_WINDOW {
                Err(ReplayVerdict::TooOld)
            } else if seen.contains(&index) {
                Err(ReplayVerdict::Duplicate)
            } else {
                Ok(())
            };
            assert_eq!(w.check(index), expected, "index {index} highest {highest}");
            if expected.is_ok() {
                w.accept(index);
                seen.insert(index);
                highest = highest.max(index);
            }
        }
    }
}
