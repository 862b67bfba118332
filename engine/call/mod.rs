//! Call control logic, sans-IO: every type here takes packets, events and the current
//! instant as inputs and returns actions, never reading the clock, sleeping or owning a
//! socket, so that minutes of call time can be simulated in milliseconds.
//!
//! * [`jitter`]: adaptive audio jitter buffer (playout actions for an Opus decoder);
//! * [`nack`]: NACK generation and give-up at the receiver, retransmission history at the
//!   sender, keyframe (PLI/FIR) request throttling;
//! * [`frame_assembler`]: video frames from packets, decodability and freeze accounting;
//! * [`rtcp_stats`]: RFC 3550 receiver statistics, RTT, sender reports, lip sync;
//! * [`seq`]: sequence number and timestamp unwrapping shared by the above;
//! * [`session`]: the [`Call`] object tying capture, SRTP, transport, jitter buffer and
//!   playout together (this one does own a thread and a socket; see `docs/call.md`).

pub mod frame_assembler;
pub mod jitter;
pub mod nack;
pub mod probe;
pub mod rtcp_stats;
pub mod seq;
pub mod session;

pub use session::{
    Call, CallCapture, CallConfig, CallControl, CallEnded, CallError, CallPlayout, CallStats,
    OPUS_PAYLOAD_TYPE,
};
