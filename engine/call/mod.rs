//! Call control logic, sans-IO: every type here takes packets, events and the current
//! instant as inputs and returns actions, never reading the clock, sleeping or owning a
//! socket, so that minutes of call time can be simulated in milliseconds.
//!
//! * [`jitter`]: adaptive audio jitter buffer (playout actions for an Opus decoder);
//! * [`nack`]: NACK generation and give-up at the receiver, retransmission history at the
//!   sender, keyframe (PLI/FIR) request throttling;
//! * [`frame_assembler`]: video frames from packets, decodability and freeze accounting;
//! * [`rtcp_stats`]: RFC 3550 receiver statistics, RTT, sender reports, lip sync;
//! * sequence numbers and timestamps are unwrapped by [`crate::rtp::SeqUnwrapper`], the
//!   engine's one unwrapper;
//! * [`session`]: the [`Call`] object tying capture, SRTP, transport, jitter buffer and
//!   playout together (this one does own threads and a socket; see `docs/call.md`);
//! * [`video`]: the call's video track (configuration, received frames, counters); its
//!   send and receive threads live in private modules, as does the network thread.

pub mod frame_assembler;
pub mod jitter;
pub mod nack;
mod network;
#[cfg(any(test, feature = "testing"))]
pub mod probe;
pub mod rtcp_stats;
pub mod session;
mod shared;
pub mod video;
mod video_receive;
mod video_send;

pub use session::{
    Call, CallCapture, CallConfig, CallControl, CallError, CallPlayout, CallStats, MediaKind,
    OPUS_PAYLOAD_TYPE, VideoInput, VideoOutput,
};
pub use shared::CallEnded;
pub use video::{ReceivedVideo, VideoStats, VideoTrackConfig};
