//! # Sottovoce
//!
//! A media engine for end-to-end encrypted voice and video calls. The microphone's frames
//! go through echo cancellation, noise suppression and Opus, the camera's through
//! scaling/colour conversion (GPU or CPU) and AV1; both are packetised as RTP and
//! encrypted with SRTP under keys that only the two endpoints hold. The receive side does
//! the reverse, with an adaptive jitter buffer, loss concealment and NACK repair.
//!
//! Apps start from a handful of types, all re-exported here and in [`prelude`]: agree
//! keys with [`IdentityKeyPair`], [`OfferingHandshake`] and [`AnsweringHandshake`]
//! (three messages over the app's own signalling; compare the [`SafetyCode`] out of band),
//! then start a [`Call`] with a [`CallConfig`] over a transport ([`UdpTransport`], or
//! anything implementing [`PacketSend`]/[`PacketRecv`]). Push microphone frames and pull
//! speaker frames every 10 ms, push camera frames and pull display frames, read
//! [`CallStats`], hang up.
//!
//! ```no_run
//! use std::sync::Arc;
//! use std::time::Instant;
//! use sottovoce::prelude::*;
//!
//! # fn signalling_roundtrip(_: &Offer) -> (Answer, IdentityPublicKey) { unimplemented!() }
//! let me = IdentityKeyPair::generate()?;
//! # let peer_key: IdentityPublicKey = unimplemented!();
//! let (offering, offer) = OfferingHandshake::start(&me, peer_key, SrtpSuite::default())?;
//! let (answer, _) = signalling_roundtrip(&offer);
//! let (keys, _confirm) = offering.finish(&answer)?; // send `_confirm` to the peer
//!
//! let transport = UdpTransport::bind("0.0.0.0:0".parse()?)?;
//! transport.connect("192.0.2.7:5004".parse()?)?;
//! let (sender, receiver) = transport.split()?;
//! let config = CallConfig::new(keys, 0x1111, 0x2222, DeviceFormat::new(48_000, 1)?);
//! let mut call = Call::new(config, Arc::new(sender), Box::new(receiver))?;
//! let mut speaker = [0.0f32; 480];
//! call.push_audio(&[0.0; 480], Instant::now())?; // every 10 ms, from the microphone
//! call.pull_audio(&mut speaker, Instant::now())?; // every 10 ms, to the speaker
//! println!("{:?}", call.hang_up());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Inside, a call is a sans-IO `session` core (SRTP, per-SSRC streams, RTCP, key
//! epochs: packets and `now` in, datagrams and events out) driven by a thin threaded
//! runtime in [`call`]; `docs/architecture.md` follows a microphone frame and a camera
//! frame down to a datagram and back up. Every frame carries its capture instant, so each
//! stage and the whole chain report latency percentiles in [`CallStats::stages`].
//!
//! Test tools (synthetic media, the impairment model, latency probes, whole calls in
//! simulated time) are behind the `testing` cargo feature.

#![warn(missing_docs)]
#![warn(unnameable_types)]

#[cfg(feature = "testing")]
pub mod adapt;
#[cfg(not(feature = "testing"))]
pub(crate) mod adapt;
pub mod audio;
pub mod call;
pub mod e2ee;
mod error;
pub mod gpu;
pub mod pipeline;
#[cfg(feature = "testing")]
pub mod rtp;
#[cfg(not(feature = "testing"))]
pub(crate) mod rtp;
// The sans-IO core is internal to apps; the project's tests reach it with `testing`.
#[cfg(feature = "testing")]
pub mod session;
#[cfg(not(feature = "testing"))]
pub(crate) mod session;
#[cfg(feature = "testing")]
pub mod srtp;
#[cfg(not(feature = "testing"))]
pub(crate) mod srtp;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod transport;
pub mod video;

pub use error::{Error, Result};
pub use rtp::RtpError;
pub use srtp::SrtpError;

pub use audio::{CaptureConfig, DeviceFormat};
pub use call::{
    Call, CallCapture, CallConfig, CallControl, CallEnded, CallError, CallPlayout, CallStats,
    MediaKind, ReceivedVideo, VideoInput, VideoOutput, VideoStats, VideoTrackConfig,
};
pub use e2ee::{
    Answer, AnsweringHandshake, CallKeys, Confirm, IdentityKeyPair, IdentityPublicKey, Offer,
    OfferingHandshake, RekeyPolicy, SafetyCode, SrtpSuite,
};
pub use transport::{PacketRecv, PacketSend, UdpTransport};
pub use video::{PixelFormat, VideoFrame};

/// The types an app starts from: `use sottovoce::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Answer, AnsweringHandshake, Call, CallConfig, CallEnded, CallError, CallKeys, CallStats,
        CaptureConfig, Confirm, DeviceFormat, IdentityKeyPair, IdentityPublicKey, MediaKind, Offer,
        OfferingHandshake, PacketRecv, PacketSend, PixelFormat, ReceivedVideo, RekeyPolicy,
        SafetyCode, SrtpSuite, UdpTransport, VideoFrame, VideoTrackConfig,
    };
}
