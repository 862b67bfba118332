//! The sans-IO core of a call: everything that decides what happens to a packet, given
//! the packet and the current instant, and never reads a clock, sleeps, owns a socket or
//! starts a thread. The runtime in [`crate::call`] drives it with real time and real
//! sockets; the simulated-call harness drives it with simulated time, so minutes of a call
//! run in seconds and repeat bit for bit.
//!
//! * `core`: the session: SRTP/SRTCP, the per-SSRC receive-stream table and the local
//!   streams, RTCP, key epochs, peer timeout;
//! * [`jitter`]: adaptive audio jitter buffer (playout actions for an Opus decoder);
//! * [`nack`]: NACK generation and give-up at the receiver, retransmission history at the
//!   sender, keyframe (PLI/FIR) request throttling;
//! * [`frame_assembler`]: video frames from packets, decodability and freeze accounting;
//! * [`rtcp_stats`]: RFC 3550 receiver statistics, RTT, sender reports, lip sync;
//! * `keys`: when outbound key epochs move on and which streams must follow;
//! * `shared`: the lock-free state the session shares with the runtime's threads;
//! * `video`: the video streams' identities, wire constants and counters.
//!
//! Sequence numbers and timestamps are unwrapped by [`crate::rtp::SeqUnwrapper`], the
//! engine's one unwrapper.

pub(crate) mod audio_send;
pub(crate) mod core;
pub mod frame_assembler;
pub mod jitter;
pub(crate) mod keys;
pub mod nack;
pub mod rtcp_stats;
pub(crate) mod shared;
pub(crate) mod streams;
pub(crate) mod video;
pub(crate) mod video_receive;
pub(crate) mod video_send;
