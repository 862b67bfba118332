//! The AV1 RTP payload format (AOMedia, "RTP Payload Format for AV1", v1.0): packetizer
//! and loss-aware depacketizer.
//!
//! A payload is a one-byte aggregation header followed by OBU elements:
//!
//! ```text
//!  0 1 2 3 4 5 6 7
//! +-+-+-+-+-+-+-+-+
//! |Z|Y| W |N|-|-|-|   Z: first element continues an OBU from the previous packet
//! +-+-+-+-+-+-+-+-+   Y: last element continues in the next packet
//!                     W: element count when 1..=3 (last element has no length), else 0
//!                     N: first packet of a coded video sequence
//! ```
//!
//! See `docs/rtp.md` for the rules implemented and the loss semantics.

mod depacketizer;
mod obu;
mod packetizer;

#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use depacketizer::{
    Av1Depacketizer, Av1DepacketizerConfig, Av1DepacketizerStats, Av1Event, Av1Frame, Av1Loss,
    LossKind,
};
#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use obu::{
    Av1PayloadInfo, MAX_LEB128_LEN, OBU_FRAME, OBU_FRAME_HEADER, OBU_SEQUENCE_HEADER,
    OBU_TEMPORAL_DELIMITER, OBU_TILE_LIST, TemporalUnitInfo, inspect_payload,
    inspect_temporal_unit, leb128_len, read_leb128,
};
#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use packetizer::{Av1Packetizer, MIN_PAYLOAD_LEN};
