//! The call runtime: the edge where threads, the real clock and sockets live. The
//! decisions about packets (SRTP, per-SSRC stream routing, RTCP, key epochs, peer timeout)
//! are made by the sans-IO `crate::session`; this module runs it and the media work
//! around it.
//!
//! * `runtime`: the [`Call`] object: the app's capture and playout halves, the control
//!   handle, and the call's own threads (see `docs/architecture.md`);
//! * `network`: the network thread driving the session with the socket and the clock;
//! * `video_send`, `video_receive`: the video threads (conversion, encoding, packetising,
//!   retransmission; frame assembly, decoding, lip sync);
//! * [`video`]: the video track's configuration and the frames it hands out.

mod network;
#[cfg(any(test, feature = "testing"))]
pub mod probe;
mod runtime;
pub mod video;
mod video_receive;
mod video_send;

pub use crate::session::audio_send::SendStreamError;
pub use crate::session::shared::CallEnded;
// The receive-side tuning and statistics a `CallConfig` and `CallStats` carry.
pub use crate::session::frame_assembler::AssemblerConfig;
pub use crate::session::jitter::{JitterConfig, JitterError, JitterStats};
pub use crate::session::nack::NackConfig;
pub use runtime::{
    Call, CallCapture, CallConfig, CallControl, CallError, CallPlayout, CallStats, MediaKind,
    OPUS_PAYLOAD_TYPE, VideoInput, VideoOutput,
};
pub use video::{ReceivedVideo, VideoStats, VideoTrackConfig};
