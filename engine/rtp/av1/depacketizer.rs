//! RTP payloads → AV1 temporal units, with loss detection (AV1 RTP payload format,
//! section 7).
//!
//! Packets may arrive in any order within a reorder window. A temporal unit is emitted
//! only when every one of its packets is present, its first packet is proven to be a
//! unit start and its OBU fragments chain up (Z of each packet equals Y of the previous
//! one); anything else is reported as a loss and the depacketizer resynchronises at the
//! next provable unit start.

use super::obu::{self, OBU_TEMPORAL_DELIMITER, OBU_TILE_LIST, Obu, TEMPORAL_DELIMITER};
use super::packetizer::{AGG_N, AGG_W_SHIFT, AGG_Y, AGG_Z};
use crate::rtp::error::RtpError;
use crate::rtp::seq::SeqUnwrapper;

const EMPTY: i64 = i64::MIN;

/// Tuning of [`Av1Depacketizer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1DepacketizerConfig {
    /// How many packets past a missing one may arrive before it is declared lost. Larger
    /// tolerates more reordering; smaller reports loss (and asks for repair) sooner.
    pub reorder_window: u16,
    /// Packets buffered at most (a power of two larger than `reorder_window`); packets
    /// further ahead than this force older ones out as lost, so a temporal unit can span
    /// at most this many packets.
    pub capacity: usize,
    /// Payload bytes preallocated per buffered packet, so that steady-state operation
    /// never allocates; larger payloads grow their slot once.
    pub expected_payload_len: usize,
}

impl Default for Av1DepacketizerConfig {
    fn default() -> Self {
        Self { reorder_window: 64, capacity: 512, expected_payload_len: 1200 }
    }
}

/// Why (part of) the stream could not be delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossKind {
    /// Sequence numbers that never arrived.
    Gap,
    /// A temporal unit whose start is known but some of whose packets never arrived; the
    /// packets that did arrive were dropped.
    Incomplete,
    /// Packets of a temporal unit whose first packet(s) were lost; dropped.
    StartMissing,
    /// Every packet of the unit arrived but the payload is inconsistent (malformed
    /// element, broken fragment chain, bad OBU); dropped.
    Corrupt,
}

/// A loss report: enough for the receiver to NACK the packets or ask for a key frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1Loss {
    /// What happened.
    pub kind: LossKind,
    /// First sequence number concerned.
    pub first_sequence: u16,
    /// Number of consecutive sequence numbers concerned (missing for [`LossKind::Gap`],
    /// dropped otherwise).
    pub packets: u32,
    /// RTP timestamp of the unit concerned, when known.
    pub timestamp: Option<u32>,
}

/// A complete temporal unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Av1Frame<'a> {
    /// The temporal unit in low-overhead bitstream format: a temporal delimiter, then each
    /// OBU with its size field, ready for a decoder.
    pub data: &'a [u8],
    /// RTP timestamp of the unit.
    pub timestamp: u32,
    /// Sequence number of its first packet.
    pub first_sequence: u16,
    /// Sequence number of its last packet.
    pub last_sequence: u16,
    /// The N bit: this unit starts a coded video sequence (key frame + sequence header).
    pub starts_sequence: bool,
    /// No loss has been reported since the last unit that started a coded video sequence
    /// (this one included). When false, the unit may reference a lost frame: decode it
    /// only if the codec tolerates that, and ask for a key frame.
    pub references_intact: bool,
}

/// What [`Av1Depacketizer::poll`] produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Av1Event<'a> {
    /// A whole temporal unit.
    Frame(Av1Frame<'a>),
    /// Something was lost; no frame is emitted for it.
    Loss(Av1Loss),
}

/// Counters, for statistics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Av1DepacketizerStats {
    /// Packets accepted into the buffer.
    pub packets: u64,
    /// Packets ignored because they were already buffered.
    pub duplicates: u64,
    /// Packets ignored because their unit had already been emitted or given up.
    pub late: u64,
    /// Packets whose payload was malformed.
    pub malformed: u64,
    /// Temporal units emitted.
    pub frames: u64,
    /// Loss events reported.
    pub losses: u64,
}

#[derive(Debug)]
struct Slot {
    ext_seq: i64,
    timestamp: u32,
    marker: bool,
    aggregation: u8,
    malformed: bool,
    payload: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
struct Previous {
    timestamp: u32,
    marker: bool,
}

/// Rebuilds AV1 temporal units from RTP packets. Sans-IO: feed packets with
/// [`push`](Self::push), then drain [`poll`](Self::poll) until it returns `None`.
///
/// ```
/// use sottovoce::rtp::av1::{Av1Depacketizer, Av1Event, Av1Packetizer};
/// let mut unit = vec![0x12, 0x00, 0x0A, 0x02, 0xAA, 0xBB]; // TD + sequence header
/// unit.extend([0x32, 0x03, 1, 2, 3]); // frame OBU
/// let mut packetizer = Av1Packetizer::new(1200)?;
/// let mut depacketizer = Av1Depacketizer::default();
/// let mut seq = 100u16;
/// packetizer.packetize(&unit, true, |payload, marker| {
///     depacketizer.push(seq, 9000, marker, payload).expect("well-formed");
///     seq += 1;
/// })?;
/// match depacketizer.poll() {
///     Some(Av1Event::Frame(frame)) => assert_eq!(frame.data, &unit[..]),
///     other => panic!("expected a frame, got {other:?}"),
/// }
/// # Ok::<(), sottovoce::rtp::RtpError>(())
/// ```
#[derive(Debug)]
pub struct Av1Depacketizer {
    slots: Vec<Slot>,
    mask: i64,
    window: i64,
    unwrapper: SeqUnwrapper,
    /// Next extended sequence number to consume; `None` before the first packet.
    cursor: Option<i64>,
    highest: i64,
    /// Whether the cursor is fixed (the first unit has been looked at).
    started: bool,
    /// The packet just before the cursor, when it arrived and was consumed.
    previous: Option<Previous>,
    /// Packets of a unit without its start, being dropped; reported when it ends.
    discarding: Option<Av1Loss>,
    flushing: bool,
    references_intact: bool,
    frame: Vec<u8>,
    fragment: Vec<u8>,
    stats: Av1DepacketizerStats,
}

impl Default for Av1Depacketizer {
    fn default() -> Self {
        Self::new(Av1DepacketizerConfig::default()).expect("default configuration is valid")
    }
}

/// Visits the OBU elements of a payload (after the aggregation header).
fn for_each_element<'a>(
    aggregation: u8,
    mut elements: &'a [u8],
    mut visit: impl FnMut(&'a [u8]) -> Result<(), RtpError>,
) -> Result<(), RtpError> {
    let w = (aggregation >> AGG_W_SHIFT) & 0x03;
    if aggregation & AGG_N != 0 && aggregation & AGG_Z != 0 {
        return Err(RtpError::BadAv1("N set on a packet continuing a fragment"));
    }
    // W is at most 3, but without W a payload may hold any number of elements (two bytes
    // each at the least), so the count must not be narrower than the payload length.
    let w = usize::from(w);
    let mut count = 0usize;
    while !elements.is_empty() {
        count += 1;
        let element = if w != 0 && count == w {
            std::mem::take(&mut elements)
        } else {
            let (len, n) = obu::read_leb128(elements)?;
            let len = len as usize;
            let rest = &elements[n..];
            if len > rest.len() {
                return Err(RtpError::BadAv1("OBU element length runs past the payload"));
            }
            let (element, tail) = rest.split_at(len);
            elements = tail;
            element
        };
        if element.is_empty() {
            return Err(RtpError::BadAv1("empty OBU element"));
        }
        visit(element)?;
        if w != 0 && count == w && !elements.is_empty() {
            return Err(RtpError::BadAv1("data after the last OBU element"));
        }
    }
    if count == 0 {
        return Err(RtpError::BadAv1("packet without OBU elements"));
    }
    if w != 0 && count != w {
        return Err(RtpError::BadAv1("fewer OBU elements than W announces"));
    }
    Ok(())
}

/// Appends a whole OBU (as carried in RTP: header, optional extension, payload, size
/// field optional) to `out` in low-overhead form; temporal delimiters and tile lists are
/// dropped as the payload format requires.
fn append_obu(obu_bytes: &[u8], out: &mut Vec<u8>) -> Result<(), RtpError> {
    let (obu, len) = Obu::parse(obu_bytes)?;
    if len != obu_bytes.len() {
        return Err(RtpError::BadAv1("OBU size field disagrees with the element length"));
    }
    if !matches!(obu.obu_type(), OBU_TEMPORAL_DELIMITER | OBU_TILE_LIST) {
        obu.write_sized(out);
    }
    Ok(())
}

impl Av1Depacketizer {
    /// A depacketizer with the given tuning; fails if `capacity` is not a power of two
    /// larger than `reorder_window`.
    pub fn new(config: Av1DepacketizerConfig) -> Result<Self, RtpError> {
        if !config.capacity.is_power_of_two()
            || config.capacity <= usize::from(config.reorder_window)
            || config.capacity > 1 << 16
        {
            return Err(RtpError::OutOfRange(
                "capacity must be a power of two above the reorder window and at most 65536",
            ));
        }
        let slots = (0..config.capacity)
            .map(|_| Slot {
                ext_seq: EMPTY,
                timestamp: 0,
                marker: false,
                aggregation: 0,
                malformed: false,
                payload: Vec::with_capacity(config.expected_payload_len),
            })
            .collect();
        Ok(Self {
            slots,
            mask: config.capacity as i64 - 1,
            window: i64::from(config.reorder_window),
            unwrapper: SeqUnwrapper::new(),
            cursor: None,
            highest: 0,
            started: false,
            previous: None,
            discarding: None,
            flushing: false,
            references_intact: false,
            // Room for a keyframe of about 64 packets (and for one OBU that large: a frame
            // OBU fragmented over every packet of the unit), so a call rarely grows them
            // mid-way (growth happens only at a new largest unit).
            frame: Vec::with_capacity(config.expected_payload_len * 64),
            fragment: Vec::with_capacity(config.expected_payload_len * 64),
            stats: Av1DepacketizerStats::default(),
        })
    }

    /// Counters so far.
    #[cfg(any(test, feature = "testing"))]
    pub fn stats(&self) -> Av1DepacketizerStats {
        self.stats
    }

    /// Adds an RTP packet carrying an AV1 payload.
    #[cfg(any(test, feature = "testing"))]
    pub fn push_packet(&mut self, packet: &crate::rtp::RtpPacket<'_>) -> Result<(), RtpError> {
        self.push(packet.sequence_number(), packet.timestamp(), packet.marker(), packet.payload())
    }

    /// Adds one packet. A malformed payload is still recorded (so its unit is reported
    /// as corrupt rather than silently missing) and the error is returned.
    pub fn push(
        &mut self,
        sequence_number: u16,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
    ) -> Result<(), RtpError> {
        let ext = self.unwrapper.unwrap(sequence_number);
        let capacity = self.mask + 1;
        match self.cursor {
            None => {
                self.cursor = Some(ext);
                self.highest = ext;
            }
            Some(cursor) if ext < cursor => {
                // Before anything is consumed a reordered earlier packet moves the start
                // back, as long as the buffer can still span it.
                if self.started || self.highest - ext >= capacity {
                    self.stats.late += 1;
                    return Ok(());
                }
                self.cursor = Some(ext);
            }
            Some(cursor) => {
                let oldest_kept = ext - capacity + 1;
                if oldest_kept > cursor {
                    // Too far ahead: the oldest buffered packets have to go. Poll reports
                    // them as lost.
                    let end = oldest_kept.min(cursor + capacity);
                    for seq in cursor..end {
                        let slot = &mut self.slots[(seq & self.mask) as usize];
                        if slot.ext_seq == seq {
                            slot.ext_seq = EMPTY;
                        }
                    }
                }
                self.highest = self.highest.max(ext);
            }
        }
        let slot = &mut self.slots[(ext & self.mask) as usize];
        if slot.ext_seq == ext {
            self.stats.duplicates += 1;
            return Ok(());
        }
        let validation = match payload.split_first() {
            None => Err(RtpError::BadAv1("empty payload")),
            Some((&aggregation, elements)) => for_each_element(aggregation, elements, |_| Ok(())),
        };
        slot.ext_seq = ext;
        slot.timestamp = timestamp;
        slot.marker = marker;
        slot.aggregation = payload.first().copied().unwrap_or(0);
        slot.malformed = validation.is_err();
        slot.payload.clear();
        slot.payload.extend_from_slice(payload);
        self.stats.packets += 1;
        if validation.is_err() {
            self.stats.malformed += 1;
        }
        validation
    }

    /// Gives up waiting for missing packets: the next [`poll`](Self::poll) calls report
    /// everything buffered (as frames or losses) until `poll` returns `None`. Call at the
    /// end of a stream or when the caller's own timer decides a gap will not be repaired.
    pub fn flush(&mut self) {
        self.flushing = true;
    }

    fn present(&self, seq: i64) -> Option<&Slot> {
        let slot = &self.slots[(seq & self.mask) as usize];
        (slot.ext_seq == seq && seq != EMPTY).then_some(slot)
    }

    /// Whether a missing packet at `seq` may still arrive.
    fn may_still_arrive(&self, seq: i64) -> bool {
        !self.flushing && self.highest - seq < self.window
    }

    /// Marks `from..=to` consumed and remembers the last one as the cursor's predecessor.
    fn consume(&mut self, from: i64, to: i64) {
        for seq in from..=to {
            let slot = &mut self.slots[(seq & self.mask) as usize];
            if slot.ext_seq == seq {
                self.previous = Some(Previous { timestamp: slot.timestamp, marker: slot.marker });
                slot.ext_seq = EMPTY;
            }
        }
        self.cursor = Some(to + 1);
    }

    fn loss(&mut self, loss: Av1Loss) -> Option<Av1Event<'_>> {
        self.stats.losses += 1;
        self.references_intact = false;
        Some(Av1Event::Loss(loss))
    }

    /// The next frame or loss report, or `None` when nothing more can be decided until more
    /// packets arrive (or [`flush`](Self::flush) is called).
    pub fn poll(&mut self) -> Option<Av1Event<'_>> {
        let event = self.step();
        if event.is_none() {
            self.flushing = false;
        }
        // Re-borrow: `step` returns owned data except for frames, which borrow `self.frame`.
        match event {
            Some(Step::Loss(loss)) => self.loss(loss),
            Some(Step::Frame(info)) => {
                if info.starts_sequence {
                    self.references_intact = true;
                }
                self.stats.frames += 1;
                Some(Av1Event::Frame(Av1Frame {
                    data: &self.frame,
                    timestamp: info.timestamp,
                    first_sequence: info.first_sequence,
                    last_sequence: info.last_sequence,
                    starts_sequence: info.starts_sequence,
                    references_intact: self.references_intact,
                }))
            }
            None => None,
        }
    }

    fn step(&mut self) -> Option<Step> {
        loop {
            let cursor = self.cursor?;
            if !self.started {
                // Only a packet with N proves a unit start at the very beginning; give
                // reordered earlier packets the reorder window to show up.
                let clean_start = self
                    .present(cursor)
                    .is_some_and(|s| s.aggregation & AGG_N != 0 && s.aggregation & AGG_Z == 0);
                if !clean_start && self.may_still_arrive(cursor) {
                    return None;
                }
                self.started = true;
            }
            let Some(slot) = self.present(cursor) else {
                if cursor > self.highest || self.may_still_arrive(cursor) {
                    return self.discarding.take().map(Step::Loss);
                }
                if let Some(loss) = self.discarding.take() {
                    return Some(Step::Loss(loss));
                }
                // Everything older than `highest - capacity` was evicted.
                let from = (cursor + 1).max(self.highest - self.mask);
                let next = (from..=self.highest).find(|&s| self.present(s).is_some())?;
                self.cursor = Some(next);
                self.previous = None;
                return Some(Step::Loss(Av1Loss {
                    kind: LossKind::Gap,
                    first_sequence: cursor as u16,
                    packets: u32::try_from(next - cursor).unwrap_or(u32::MAX),
                    timestamp: None,
                }));
            };
            let timestamp = slot.timestamp;
            let starts_unit = (slot.aggregation & AGG_N != 0 && slot.aggregation & AGG_Z == 0)
                || self.previous.is_some_and(|p| p.marker || p.timestamp != timestamp);
            if !starts_unit {
                match &mut self.discarding {
                    Some(d) if d.timestamp == Some(timestamp) => d.packets += 1,
                    Some(_) => return self.discarding.take().map(Step::Loss),
                    None => {
                        self.discarding = Some(Av1Loss {
                            kind: LossKind::StartMissing,
                            first_sequence: cursor as u16,
                            packets: 1,
                            timestamp: Some(timestamp),
                        });
                    }
                }
                self.consume(cursor, cursor);
                continue;
            }
            if let Some(loss) = self.discarding.take() {
                return Some(Step::Loss(loss));
            }
            // Find the unit's last packet: the marker, or the packet before a new
            // timestamp in an unbroken run.
            let mut seq = cursor;
            let last = loop {
                match self.present(seq) {
                    None => {
                        if self.may_still_arrive(seq) {
                            return None;
                        }
                        self.consume(cursor, seq - 1);
                        self.previous = None;
                        return Some(Step::Loss(Av1Loss {
                            kind: LossKind::Incomplete,
                            first_sequence: cursor as u16,
                            packets: (seq - cursor) as u32,
                            timestamp: Some(timestamp),
                        }));
                    }
                    Some(s) if s.timestamp != timestamp => break seq - 1,
                    Some(s) if s.marker => break seq,
                    Some(_) => seq += 1,
                }
            };
            let assembled = self.assemble(cursor, last);
            let starts_sequence = self.present(cursor).is_some_and(|s| s.aggregation & AGG_N != 0);
            self.consume(cursor, last);
            return Some(match assembled {
                Ok(()) => Step::Frame(FrameInfo {
                    timestamp,
                    first_sequence: cursor as u16,
                    last_sequence: last as u16,
                    starts_sequence,
                }),
                Err(_) => Step::Loss(Av1Loss {
                    kind: LossKind::Corrupt,
                    first_sequence: cursor as u16,
                    packets: (last - cursor + 1) as u32,
                    timestamp: Some(timestamp),
                }),
            });
        }
    }

    /// Rebuilds the unit in packets `first..=last` (all present) into `self.frame`.
    fn assemble(&mut self, first: i64, last: i64) -> Result<(), RtpError> {
        let mut frame = std::mem::take(&mut self.frame);
        let mut fragment = std::mem::take(&mut self.fragment);
        frame.clear();
        frame.extend_from_slice(&TEMPORAL_DELIMITER);
        fragment.clear();
        let result = (|| {
            let mut in_fragment = false;
            for seq in first..=last {
                let slot = &self.slots[(seq & self.mask) as usize];
                if slot.malformed {
                    return Err(RtpError::BadAv1("malformed packet in unit"));
                }
                let aggregation = slot.aggregation;
                let continues = aggregation & AGG_Z != 0;
                let ends_inside = aggregation & AGG_Y != 0;
                if continues != in_fragment {
                    return Err(RtpError::BadAv1("Z bit does not match the previous Y bit"));
                }
                let mut elements = 0usize;
                let mut count = 0usize;
                for_each_element(aggregation, &slot.payload[1..], |_| {
                    count += 1;
                    Ok(())
                })?;
                for_each_element(aggregation, &slot.payload[1..], |element| {
                    elements += 1;
                    if !(elements == 1 && continues) {
                        fragment.clear();
                    }
                    fragment.extend_from_slice(element);
                    if !(elements == count && ends_inside) {
                        append_obu(&fragment, &mut frame)?;
                        fragment.clear();
                    }
                    Ok(())
                })?;
                in_fragment = ends_inside;
            }
            if in_fragment {
                return Err(RtpError::BadAv1("unit ends inside a fragmented OBU"));
            }
            Ok(())
        })();
        self.frame = frame;
        self.fragment = fragment;
        result
    }
}

enum Step {
    Frame(FrameInfo),
    Loss(Av1Loss),
}

struct FrameInfo {
    timestamp: u32,
    first_sequence: u16,
    last_sequence: u16,
    starts_sequence: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 256 one-byte OBU elements in a 513-byte payload: the 256th once overflowed a `u8`
    /// element counter (a panic with overflow checks, a wrong count without).
    #[test]
    fn counts_more_than_255_elements() {
        let mut payload = Vec::new();
        for _ in 0..256 {
            payload.extend_from_slice(&[1, 0x10]); // length 1, temporal delimiter header
        }
        let mut visited = 0usize;
        for_each_element(0, &payload, |element| {
            assert_eq!(element, [0x10]);
            visited += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(visited, 256);
        // With W = 2 the second element takes the rest, whatever its size.
        visited = 0;
        for_each_element(2 << AGG_W_SHIFT, &payload, |_| {
            visited += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(visited, 2);
    }
}
