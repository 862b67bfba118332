//! rav1e's encoder is generic over the pixel type, so its code is compiled (monomorphised)
//! in whichever crate names `Context<u8>`. In the engine crate that means the dev profile's
//! opt-level 0, which made rav1e several hundred times slower than real time in tests.
//! This crate names `Context<u8>` behind non-generic functions, so rav1e's encoder is
//! compiled here, under the optimised profile that dependencies get.

use rav1e::prelude::{
    Config, Context, EncoderStatus, FrameParameters, FrameType, FrameTypeOverride,
};

pub use rav1e::prelude::{
    ChromaSampling, EncoderConfig, EncoderStatus as Status, Rational, SceneDetectionSpeed,
};

/// One encoded packet.
#[derive(Debug)]
pub struct Packet {
    /// Temporal unit bytes.
    pub data: Vec<u8>,
    /// Whether the shown frame is a key frame.
    pub keyframe: bool,
    /// Input picture number within this context.
    pub input_frameno: u64,
}

/// An 8-bit 4:2:0 rav1e encoder context.
pub struct Encoder {
    ctx: Context<u8>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder").finish_non_exhaustive()
    }
}

impl Encoder {
    /// Validate `config` and start an encoder with a `threads`-thread pool.
    pub fn new(config: EncoderConfig, threads: usize) -> Result<Self, String> {
        let ctx = Config::new()
            .with_encoder_config(config)
            .with_threads(threads)
            .new_context::<u8>()
            .map_err(|e| e.to_string())?;
        Ok(Self { ctx })
    }

    /// Copy a picture (three planes with their strides) in and queue it, optionally as a
    /// forced key frame.
    pub fn send(
        &mut self,
        planes: [(&[u8], usize); 3],
        keyframe: bool,
    ) -> Result<(), EncoderStatus> {
        let mut picture = self.ctx.new_frame();
        for (plane, (data, stride)) in picture.planes.iter_mut().zip(planes) {
            plane.copy_from_raw_u8(data, stride, 1);
        }
        let params = FrameParameters {
            frame_type_override: if keyframe {
                FrameTypeOverride::Key
            } else {
                FrameTypeOverride::No
            },
            ..Default::default()
        };
        self.ctx.send_frame((picture, params))
    }

    /// Signal the end of the sequence: every held picture becomes available to `receive`.
    pub fn flush(&mut self) -> Result<(), EncoderStatus> {
        self.ctx.send_frame(None)
    }

    /// The next packet, or the status saying why there is none.
    pub fn receive(&mut self) -> Result<Packet, EncoderStatus> {
        self.ctx.receive_packet().map(|p| Packet {
            keyframe: p.frame_type == FrameType::KEY,
            input_frameno: p.input_frameno,
            data: p.data,
        })
    }
}
