//! Video frame assembly from RTP packets, sans-IO.
//!
//! Packets are stored by (unwrapped) sequence number. A frame is the run of consecutive
//! sequence numbers from a `start_of_frame` packet to an `end_of_frame` (RTP marker)
//! packet, all with one timestamp. Frames come out strictly in order, and only when
//! decodable: complete, and either a keyframe or the successor of the frame emitted just
//! before (a simplified reference chain: every delta frame references its predecessor).
//!
//! When the frame at the head cannot be completed (a packet is missing), the assembler
//! waits for the retransmission up to `frame_deadline`, or until a complete keyframe is
//! buffered behind it (then older frames are useless and are skipped at once). After a
//! skip the chain is broken: complete delta frames are discarded and
//! [`FrameAssembler::needs_keyframe`] stays true until a keyframe arrives.
//!
//! Freezes are accounted as in the W3C WebRTC statistics: an interval between two emitted
//! frames longer than `max(3 * average interval, average + 150 ms)` is a freeze.

use std::time::{Duration, Instant};

use crate::rtp::SeqUnwrapper;

/// A packet this far behind the next expected one means the sender restarted its
/// sequence numbers (RFC 3550's MAX_DROPOUT): start over rather than call it late.
const RESTART_DISTANCE: i64 = 3000;

/// A received video packet, as the assembler needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoPacket<T> {
    /// RTP sequence number (of the original packet, after RTX unwrapping).
    pub seq: u16,
    /// RTP timestamp: the frame this packet belongs to.
    pub timestamp: u32,
    /// First packet of the frame (from the payload descriptor).
    pub start_of_frame: bool,
    /// Last packet of the frame (the RTP marker bit).
    pub end_of_frame: bool,
    /// The frame is a keyframe (decodable without references).
    pub keyframe: bool,
    /// The payload handed back with the frame.
    pub payload: T,
}

/// Assembler tuning.
#[derive(Debug, Clone, PartialEq)]
pub struct AssemblerConfig {
    /// Packets the assembler can hold.
    pub capacity: usize,
    /// How long an incomplete head frame is waited for once a later packet shows the gap.
    pub frame_deadline: Duration,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        Self { capacity: 2048, frame_deadline: Duration::from_millis(500) }
    }
}

/// What [`FrameAssembler::insert`] did with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssemblerInsert {
    /// Stored.
    Stored,
    /// Already stored: dropped.
    Duplicate,
    /// Belongs to a frame already emitted or given up: dropped.
    Late,
    /// So far ahead that the buffer was flushed and restarted at this packet.
    Reset,
}

/// A frame handed out by [`FrameAssembler::pop_frame`]; its payloads went to the caller's
/// vector in sequence order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameInfo {
    /// RTP timestamp.
    pub timestamp: u32,
    /// Sequence number of the first packet.
    pub first_seq: u16,
    /// Sequence number of the last packet.
    pub last_seq: u16,
    /// Number of packets.
    pub packets: usize,
    /// Whether it is a keyframe.
    pub keyframe: bool,
}

/// Counters of a [`FrameAssembler`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AssemblerStats {
    /// Frames emitted.
    pub frames: u64,
    /// Keyframes emitted.
    pub keyframes: u64,
    /// Frames given up incomplete (deadline, or skipped for a newer keyframe).
    pub frames_dropped: u64,
    /// Complete frames discarded because their reference chain was broken.
    pub undecodable: u64,
    /// Packets that came after their frame was emitted or dropped.
    pub late_packets: u64,
    /// Duplicate packets.
    pub duplicate_packets: u64,
    /// Freezes (see the module docs).
    pub freezes: u64,
    /// Total time spent frozen (the whole interval of each freeze).
    pub frozen: Duration,
}

struct Stored<T> {
    seq: i64,
    ts: u32,
    start: bool,
    end: bool,
    keyframe: bool,
    payload: T,
}

/// Video frame assembly. See the [module docs](self).
pub struct FrameAssembler<T> {
    config: AssemblerConfig,
    slots: Vec<Option<Stored<T>>>,
    unwrapper: SeqUnwrapper,
    /// First sequence number of the next frame to emit.
    next_seq: Option<i64>,
    highest: i64,
    chain_intact: bool,
    emitted_any: bool,
    stuck_since: Option<Instant>,
    last_frame_at: Option<Instant>,
    avg_interval: Option<Duration>,
    stats: AssemblerStats,
}

impl<T> std::fmt::Debug for FrameAssembler<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameAssembler").field("stats", &self.stats).finish_non_exhaustive()
    }
}

enum Head {
    /// Complete frame from `next_seq` to this last sequence number.
    Complete { last: i64, keyframe: bool },
    /// Waiting for packets; `gap` says a later packet is already here.
    Waiting { gap: bool },
    /// Cannot ever complete (next frame begins before this one ended).
    Broken,
}

impl<T> FrameAssembler<T> {
    /// An assembler with this tuning; storage is allocated here.
    pub fn new(config: AssemblerConfig) -> Self {
        let capacity = config.capacity.max(16);
        let mut slots = Vec::with_capacity(capacity);
        slots.resize_with(capacity, || None);
        Self {
            config,
            slots,
            unwrapper: SeqUnwrapper::new(),
            next_seq: None,
            highest: 0,
            chain_intact: false,
            emitted_any: false,
            stuck_since: None,
            last_frame_at: None,
            avg_interval: None,
            stats: AssemblerStats::default(),
        }
    }

    #[cfg(any(test, feature = "testing"))]
    /// Changes how long an incomplete frame is waited for (e.g. from the NACK deadline).
    pub fn set_frame_deadline(&mut self, deadline: Duration) {
        self.config.frame_deadline = deadline;
    }

    /// Counters.
    pub fn stats(&self) -> AssemblerStats {
        self.stats
    }

    /// Whether the decoder cannot continue without a keyframe.
    pub fn needs_keyframe(&self) -> bool {
        self.next_seq.is_some() && !self.chain_intact
    }

    #[cfg(any(test, feature = "testing"))]
    /// Time since the last decodable frame (the current freeze, if long), or `None`
    /// before the first frame.
    pub fn since_last_frame(&self, now: Instant) -> Option<Duration> {
        self.last_frame_at.map(|t| now.saturating_duration_since(t))
    }

    fn index(&self, seq: i64) -> usize {
        seq.rem_euclid(self.slots.len() as i64) as usize
    }

    fn get(&self, seq: i64) -> Option<&Stored<T>> {
        self.slots[self.index(seq)].as_ref().filter(|s| s.seq == seq)
    }

    fn clear_range(&mut self, from: i64, to_exclusive: i64) {
        let span = (to_exclusive - from).clamp(0, self.slots.len() as i64);
        for seq in from..from + span {
            let index = self.index(seq);
            if self.slots[index].as_ref().is_some_and(|s| s.seq < to_exclusive) {
                self.slots[index] = None;
            }
        }
    }

    /// Stores a packet received at `now`.
    pub fn insert(&mut self, _now: Instant, packet: VideoPacket<T>) -> AssemblerInsert {
        let seq = self.unwrapper.unwrap(packet.seq);
        let capacity = self.slots.len() as i64;
        let mut outcome = AssemblerInsert::Stored;
        match self.next_seq {
            None => {
                self.next_seq = Some(seq);
                self.highest = seq;
            }
            Some(next) if seq < next && next - seq <= RESTART_DISTANCE => {
                if !self.emitted_any && next - seq < capacity / 2 && self.highest - seq < capacity {
                    // Reordered before anything was emitted: start earlier.
                    self.next_seq = Some(seq);
                } else {
                    self.stats.late_packets += 1;
                    return AssemblerInsert::Late;
                }
            }
            Some(next) if seq - next >= capacity || next - seq > RESTART_DISTANCE => {
                for slot in &mut self.slots {
                    *slot = None;
                }
                self.next_seq = Some(seq);
                self.highest = seq;
                self.chain_intact = false;
                self.stuck_since = None;
                self.stats.frames_dropped += 1;
                outcome = AssemblerInsert::Reset;
            }
            Some(_) => {}
        }
        if self.get(seq).is_some() {
            self.stats.duplicate_packets += 1;
            return AssemblerInsert::Duplicate;
        }
        self.highest = self.highest.max(seq);
        let index = self.index(seq);
        self.slots[index] = Some(Stored {
            seq,
            ts: packet.timestamp,
            start: packet.start_of_frame,
            end: packet.end_of_frame,
            keyframe: packet.keyframe,
            payload: packet.payload,
        });
        outcome
    }

    fn inspect_head(&self, next: i64) -> Head {
        let Some(first) = self.get(next) else {
            return Head::Waiting { gap: self.highest > next };
        };
        if !first.start {
            return Head::Broken;
        }
        let (ts, keyframe) = (first.ts, first.keyframe);
        let mut seq = next;
        loop {
            match self.get(seq) {
                None => return Head::Waiting { gap: self.highest > seq },
                Some(p) if p.ts != ts || (p.start && seq != next) => return Head::Broken,
                Some(p) if p.end => return Head::Complete { last: seq, keyframe },
                Some(_) => {}
            }
            if seq - next >= self.slots.len() as i64 {
                return Head::Broken;
            }
            seq += 1;
        }
    }

    /// The first buffered complete keyframe after `next`, by its first sequence number.
    fn complete_keyframe_after(&self, next: i64) -> Option<i64> {
        let mut seq = next + 1;
        while seq <= self.highest {
            if let Some(p) = self.get(seq) {
                if p.start && p.keyframe {
                    if let Head::Complete { .. } = self.inspect_head(seq) {
                        return Some(seq);
                    }
                }
            }
            seq += 1;
        }
        None
    }

    /// The first buffered frame start after the head frame.
    fn next_frame_start(&self, next: i64) -> i64 {
        let head_ts = self.get(next).map(|p| p.ts);
        let mut seq = next + 1;
        while seq <= self.highest {
            if let Some(p) = self.get(seq) {
                if p.start && Some(p.ts) != head_ts {
                    return seq;
                }
            }
            seq += 1;
        }
        self.highest + 1
    }

    fn skip_to(&mut self, next: i64, to: i64) {
        self.clear_range(next, to);
        self.next_seq = Some(to);
        self.chain_intact = false;
        self.stuck_since = None;
        self.stats.frames_dropped += 1;
    }

    fn record_frame_time(&mut self, now: Instant) {
        if let Some(last) = self.last_frame_at {
            let interval = now.saturating_duration_since(last);
            let avg = self.avg_interval.unwrap_or(interval);
            let threshold = (avg * 3).max(avg + Duration::from_millis(150));
            if self.avg_interval.is_some() && interval > threshold {
                self.stats.freezes += 1;
                self.stats.frozen += interval;
            } else {
                // Exponential average over ~16 frames, of normal intervals only.
                self.avg_interval = Some(avg.mul_f64(15.0 / 16.0) + interval.mul_f64(1.0 / 16.0));
            }
        }
        self.last_frame_at = Some(now);
    }

    /// The next decodable frame, its payloads appended to `out` in sequence order (the
    /// caller clears and reuses the vector). Call after each insert and on a timer
    /// (deadlines are checked here).
    pub fn pop_frame(&mut self, now: Instant, out: &mut Vec<T>) -> Option<FrameInfo> {
        loop {
            let next = self.next_seq?;
            match self.inspect_head(next) {
                Head::Complete { last, keyframe } => {
                    self.stuck_since = None;
                    if !(keyframe || self.chain_intact) {
                        self.clear_range(next, last + 1);
                        self.next_seq = Some(last + 1);
                        self.stats.undecodable += 1;
                        continue;
                    }
                    let mut info = FrameInfo {
                        timestamp: 0,
                        first_seq: next as u16,
                        last_seq: last as u16,
                        packets: (last - next + 1) as usize,
                        keyframe,
                    };
                    for seq in next..=last {
                        let index = self.index(seq);
                        if let Some(p) = self.slots[index].take() {
                            info.timestamp = p.ts;
                            out.push(p.payload);
                        }
                    }
                    self.next_seq = Some(last + 1);
                    self.chain_intact = true;
                    self.emitted_any = true;
                    self.stats.frames += 1;
                    self.stats.keyframes += u64::from(keyframe);
                    self.record_frame_time(now);
                    return Some(info);
                }
                Head::Broken => {
                    let to = self.next_frame_start(next);
                    if to > self.highest && self.get(next).is_some_and(|p| !p.start) {
                        // A frame's tail without its start: drop what we have and wait.
                        self.skip_to(next, to);
                        return None;
                    }
                    self.skip_to(next, to);
                }
                Head::Waiting { gap } => {
                    if !gap {
                        return None;
                    }
                    if let Some(key) = self.complete_keyframe_after(next) {
                        self.skip_to(next, key);
                        continue;
                    }
                    let since = *self.stuck_since.get_or_insert(now);
                    if now.saturating_duration_since(since) < self.config.frame_deadline {
                        return None;
                    }
                    let to = self.next_frame_start(next);
                    self.skip_to(next, to);
                    if to > self.highest {
                        return None;
                    }
                }
            }
        }
    }

    /// When [`pop_frame`](Self::pop_frame) should be called again for a deadline.
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.stuck_since.map(|t| t + self.config.frame_deadline)
    }
}
