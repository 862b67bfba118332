//! RTP and RTCP: packet views and writers (RFC 3550, RFC 8285), feedback messages
//! (RFC 4585, RFC 5104, REMB, transport-wide congestion control), sequence unwrapping
//! and the Opus and AV1 payload formats.
//!
//! Every parser treats its input as hostile: malformed bytes give an [`RtpError`], never
//! a panic. RTP packets are parsed into zero-copy views ([`RtpPacket`]) and written from
//! borrowed fields ([`RtpHeader`]) into caller buffers, so the media path allocates
//! nothing per packet. See `docs/rtp.md` for the design notes.

pub mod av1;
mod bytes;
mod error;
mod extension;
mod opus;
mod packet;
pub mod rtcp;
mod seq;

#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use error::RtpError;
#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use extension::{
    ExtensionForm, ExtensionIter, HeaderExtension, ONE_BYTE_PROFILE, TWO_BYTE_PROFILE,
};
#[cfg(any(test, feature = "testing"))]
pub use opus::OpusMode;
#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use opus::{MAX_PACKET_SAMPLES, OPUS_CLOCK_RATE, OpusPayload};
#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use packet::{FIXED_HEADER_LEN, RTP_VERSION, RtpHeader, RtpPacket};
#[cfg_attr(not(feature = "testing"), allow(unused_imports))]
pub use seq::{SeqUnwrapper, TimestampUnwrapper};
