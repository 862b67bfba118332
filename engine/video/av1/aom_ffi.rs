//! Every libaom call the engine makes, in one place. The rest of the crate sees only the
//! safe [`AomSession`].
//!
//! Invariants that make the `unsafe` blocks sound:
//! * The codec context, the configuration and the image descriptor live in `Box`es, so
//!   their addresses never change after `aom_codec_enc_init_ver` (libaom keeps pointers
//!   into the context's private data).
//! * `AomSession` exists only after a successful init, and `aom_codec_destroy` runs exactly
//!   once, in `Drop`.
//! * Every call goes through `&mut self`, so one thread at a time uses the context.
//! * Image planes point into a `VideoFrame` borrowed for the duration of one
//!   `aom_codec_encode` call; libaom copies the picture into its own buffers during that
//!   call (`lag_in_frames = 0`), and the pointers are cleared before returning.

use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::os::raw::{c_int, c_uint};

use aom_sys as aom;

use super::VideoCodecError;
use crate::video::VideoFrame;

/// Encoder settings the session is opened with (already validated by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct AomSettings {
    pub width: u32,
    pub height: u32,
    pub threads: u32,
    pub bitrate_kbps: u32,
    pub cpu_used: u8,
    pub keyframe_interval: Option<u32>,
}

/// Receives each compressed packet and its keyframe flag.
pub(super) type PacketSink<'a> = dyn FnMut(&[u8], bool) -> Result<(), VideoCodecError> + 'a;

/// libaom's text for an error code.
fn err_string(code: aom::aom_codec_err_t::Type) -> String {
    // SAFETY: aom_codec_err_to_string returns a pointer to a static, NUL-terminated
    // string for every value (unknown codes map to a generic message).
    unsafe { CStr::from_ptr(aom::aom_codec_err_to_string(code)) }.to_string_lossy().into_owned()
}

/// An open libaom AV1 encoder in real-time mode.
pub(super) struct AomSession {
    ctx: Box<aom::aom_codec_ctx_t>,
    cfg: Box<aom::aom_codec_enc_cfg_t>,
    img: Box<aom::aom_image_t>,
    settings: AomSettings,
}

// SAFETY: a libaom encoder context is plain heap state with no thread affinity; the
// session is used by one thread at a time (every method takes `&mut self`).
unsafe impl Send for AomSession {}

impl std::fmt::Debug for AomSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AomSession").field("settings", &self.settings).finish()
    }
}

impl AomSession {
    /// Open an encoder with libwebrtc's real-time configuration.
    pub fn open(settings: AomSettings) -> Result<Self, VideoCodecError> {
        let mut cfg = Box::new(MaybeUninit::<aom::aom_codec_enc_cfg_t>::zeroed());
        // SAFETY: aom_codec_av1_cx returns the static encoder interface; the config
        // pointer is valid for writes of one aom_codec_enc_cfg_t.
        let code = unsafe {
            aom::aom_codec_enc_config_default(
                aom::aom_codec_av1_cx(),
                cfg.as_mut_ptr(),
                aom::AOM_USAGE_REALTIME,
            )
        };
        if code != aom::aom_codec_err_t::AOM_CODEC_OK {
            return Err(VideoCodecError::Libaom {
                call: "aom_codec_enc_config_default",
                message: err_string(code),
                detail: String::new(),
            });
        }
        // SAFETY: aom_codec_enc_config_default succeeded, so every field is initialised.
        let mut cfg: Box<aom::aom_codec_enc_cfg_t> =
            unsafe { Box::from_raw(Box::into_raw(cfg).cast()) };
        apply_settings(&mut cfg, &settings);

        // SAFETY: an all-zero aom_codec_ctx_t is the documented "not initialised" state
        // (plain C struct of pointers and integers).
        let mut ctx: Box<aom::aom_codec_ctx_t> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: ctx and cfg are valid, boxed (stable addresses), and the ABI version
        // is the one the bindings were generated from.
        let code = unsafe {
            aom::aom_codec_enc_init_ver(
                &mut *ctx,
                aom::aom_codec_av1_cx(),
                &*cfg,
                0,
                aom::AOM_ENCODER_ABI_VERSION as c_int,
            )
        };
        if code != aom::aom_codec_err_t::AOM_CODEC_OK {
            // SAFETY: on failure the context holds at most an error string; no destroy.
            let detail = unsafe { detail_of(&mut ctx) };
            return Err(VideoCodecError::Libaom {
                call: "aom_codec_enc_init",
                message: err_string(code),
                detail,
            });
        }

        // SAFETY: all-zero is a valid (empty) aom_image_t; aom_img_wrap fills in format,
        // sizes, chroma shifts and bit depth. The data pointer is a dangling non-null
        // placeholder that is replaced by real planes before every encode.
        let mut img: Box<aom::aom_image_t> = Box::new(unsafe { std::mem::zeroed() });
        let wrapped = unsafe {
            aom::aom_img_wrap(
                &mut *img,
                aom::aom_img_fmt::AOM_IMG_FMT_I420,
                settings.width as c_uint,
                settings.height as c_uint,
                1,
                std::ptr::NonNull::<u8>::dangling().as_ptr(),
            )
        };
        let mut session = Self { ctx, cfg, img, settings };
        if wrapped.is_null() {
            return Err(VideoCodecError::Libaom {
                call: "aom_img_wrap",
                message: "image descriptor refused".into(),
                detail: String::new(),
            });
        }
        session.img.planes = [std::ptr::null_mut(); 3];
        session.apply_controls()?;
        Ok(session)
    }

    /// libwebrtc's `LibaomAv1Encoder::InitEncode` control set, limited to the controls
    /// libaom 3.6 has (see docs/av1.md for each choice).
    fn apply_controls(&mut self) -> Result<(), VideoCodecError> {
        use aom::aome_enc_control_id as id;
        let tile_columns_log2 = match self.settings.threads {
            0 | 1 => 0,
            2 | 3 => 1,
            _ => 2,
        };
        let controls: &[(id::Type, c_int, &'static str)] = &[
            (id::AOME_SET_CPUUSED, c_int::from(self.settings.cpu_used), "AOME_SET_CPUUSED"),
            (id::AV1E_SET_ENABLE_CDEF, 1, "AV1E_SET_ENABLE_CDEF"),
            (id::AV1E_SET_ENABLE_TPL_MODEL, 0, "AV1E_SET_ENABLE_TPL_MODEL"),
            (id::AV1E_SET_DELTAQ_MODE, 0, "AV1E_SET_DELTAQ_MODE"),
            (id::AV1E_SET_ENABLE_ORDER_HINT, 0, "AV1E_SET_ENABLE_ORDER_HINT"),
            // Cyclic refresh: spreads intra refresh over frames, evens out frame sizes.
            (id::AV1E_SET_AQ_MODE, 3, "AV1E_SET_AQ_MODE"),
            (id::AOME_SET_MAX_INTRA_BITRATE_PCT, 300, "AOME_SET_MAX_INTRA_BITRATE_PCT"),
            (id::AV1E_SET_COEFF_COST_UPD_FREQ, 3, "AV1E_SET_COEFF_COST_UPD_FREQ"),
            (id::AV1E_SET_MODE_COST_UPD_FREQ, 3, "AV1E_SET_MODE_COST_UPD_FREQ"),
            (id::AV1E_SET_MV_COST_UPD_FREQ, 3, "AV1E_SET_MV_COST_UPD_FREQ"),
            (id::AV1E_SET_ENABLE_PALETTE, 0, "AV1E_SET_ENABLE_PALETTE"),
            (id::AV1E_SET_TILE_COLUMNS, tile_columns_log2, "AV1E_SET_TILE_COLUMNS"),
            (id::AV1E_SET_ROW_MT, 1, "AV1E_SET_ROW_MT"),
            (id::AV1E_SET_ENABLE_OBMC, 0, "AV1E_SET_ENABLE_OBMC"),
            (id::AV1E_SET_NOISE_SENSITIVITY, 0, "AV1E_SET_NOISE_SENSITIVITY"),
            (id::AV1E_SET_ENABLE_WARPED_MOTION, 0, "AV1E_SET_ENABLE_WARPED_MOTION"),
            (id::AV1E_SET_ENABLE_GLOBAL_MOTION, 0, "AV1E_SET_ENABLE_GLOBAL_MOTION"),
            (id::AV1E_SET_ENABLE_REF_FRAME_MVS, 0, "AV1E_SET_ENABLE_REF_FRAME_MVS"),
            (
                id::AV1E_SET_SUPERBLOCK_SIZE,
                aom::aom_superblock_size::AOM_SUPERBLOCK_SIZE_DYNAMIC as c_int,
                "AV1E_SET_SUPERBLOCK_SIZE",
            ),
            (id::AV1E_SET_ENABLE_CFL_INTRA, 0, "AV1E_SET_ENABLE_CFL_INTRA"),
            (id::AV1E_SET_ENABLE_SMOOTH_INTRA, 0, "AV1E_SET_ENABLE_SMOOTH_INTRA"),
            (id::AV1E_SET_ENABLE_ANGLE_DELTA, 0, "AV1E_SET_ENABLE_ANGLE_DELTA"),
            (id::AV1E_SET_ENABLE_FILTER_INTRA, 0, "AV1E_SET_ENABLE_FILTER_INTRA"),
            (id::AV1E_SET_INTRA_DEFAULT_TX_ONLY, 1, "AV1E_SET_INTRA_DEFAULT_TX_ONLY"),
            (id::AV1E_SET_DISABLE_TRELLIS_QUANT, 1, "AV1E_SET_DISABLE_TRELLIS_QUANT"),
            (id::AV1E_SET_ENABLE_DIST_WTD_COMP, 0, "AV1E_SET_ENABLE_DIST_WTD_COMP"),
            (id::AV1E_SET_ENABLE_DIFF_WTD_COMP, 0, "AV1E_SET_ENABLE_DIFF_WTD_COMP"),
            (id::AV1E_SET_ENABLE_DUAL_FILTER, 0, "AV1E_SET_ENABLE_DUAL_FILTER"),
            (id::AV1E_SET_ENABLE_INTERINTRA_COMP, 0, "AV1E_SET_ENABLE_INTERINTRA_COMP"),
            (id::AV1E_SET_ENABLE_INTERINTRA_WEDGE, 0, "AV1E_SET_ENABLE_INTERINTRA_WEDGE"),
            (id::AV1E_SET_ENABLE_INTRA_EDGE_FILTER, 0, "AV1E_SET_ENABLE_INTRA_EDGE_FILTER"),
            (id::AV1E_SET_ENABLE_INTRABC, 0, "AV1E_SET_ENABLE_INTRABC"),
            (id::AV1E_SET_ENABLE_MASKED_COMP, 0, "AV1E_SET_ENABLE_MASKED_COMP"),
            (id::AV1E_SET_ENABLE_PAETH_INTRA, 0, "AV1E_SET_ENABLE_PAETH_INTRA"),
            (id::AV1E_SET_ENABLE_QM, 0, "AV1E_SET_ENABLE_QM"),
            (id::AV1E_SET_ENABLE_RECT_PARTITIONS, 0, "AV1E_SET_ENABLE_RECT_PARTITIONS"),
            (id::AV1E_SET_ENABLE_RESTORATION, 0, "AV1E_SET_ENABLE_RESTORATION"),
            (id::AV1E_SET_ENABLE_SMOOTH_INTERINTRA, 0, "AV1E_SET_ENABLE_SMOOTH_INTERINTRA"),
            (id::AV1E_SET_ENABLE_TX64, 0, "AV1E_SET_ENABLE_TX64"),
            (id::AV1E_SET_MAX_REFERENCE_FRAMES, 3, "AV1E_SET_MAX_REFERENCE_FRAMES"),
            // Adapt entropy contexts on every frame (the default, stated explicitly):
            // each frame still decodes after a loss once its references are present.
            (id::AV1E_SET_CDF_UPDATE_MODE, 1, "AV1E_SET_CDF_UPDATE_MODE"),
        ];
        for &(control, value, name) in controls {
            // SAFETY: the context is initialised (invariant of AomSession); every control
            // listed takes one `int` argument, which is what the variadic call passes.
            let code = unsafe { aom::aom_codec_control(&mut *self.ctx, control as c_int, value) };
            self.check(code, name)?;
        }
        Ok(())
    }

    fn check(
        &mut self,
        code: aom::aom_codec_err_t::Type,
        call: &'static str,
    ) -> Result<(), VideoCodecError> {
        if code == aom::aom_codec_err_t::AOM_CODEC_OK {
            return Ok(());
        }
        // SAFETY: the context is initialised.
        let detail = unsafe { detail_of(&mut self.ctx) };
        Err(VideoCodecError::Libaom { call, message: err_string(code), detail })
    }

    /// Retarget rate control; takes effect from the next frame.
    pub fn set_bitrate_kbps(&mut self, kbps: u32) -> Result<(), VideoCodecError> {
        self.cfg.rc_target_bitrate = kbps;
        // SAFETY: context initialised; cfg is a fully initialised configuration that
        // libaom copies during the call.
        let code = unsafe { aom::aom_codec_enc_config_set(&mut *self.ctx, &*self.cfg) };
        self.check(code, "aom_codec_enc_config_set")?;
        self.settings.bitrate_kbps = kbps;
        Ok(())
    }

    /// Encode `frame` (I420, the session's size, checked by the caller) and pass each
    /// compressed packet with its keyframe flag to `sink`.
    pub fn encode(
        &mut self,
        frame: &VideoFrame,
        pts: i64,
        duration: u64,
        force_keyframe: bool,
        sink: &mut PacketSink<'_>,
    ) -> Result<(), VideoCodecError> {
        if frame.width() != self.settings.width || frame.height() != self.settings.height {
            return Err(VideoCodecError::FrameMismatch(format!(
                "{}x{} frame for a {}x{} libaom session",
                frame.width(),
                frame.height(),
                self.settings.width,
                self.settings.height
            )));
        }
        for plane in 0..3 {
            let stride = c_int::try_from(frame.stride(plane)).map_err(|_| {
                VideoCodecError::FrameMismatch(format!("plane {plane} stride too large"))
            })?;
            self.img.stride[plane] = stride;
            // libaom reads input planes only; the API takes `*mut` for historical reasons.
            self.img.planes[plane] = frame.plane(plane).as_ptr().cast_mut();
        }
        let flags =
            if force_keyframe { aom::AOM_EFLAG_FORCE_KF as aom::aom_enc_frame_flags_t } else { 0 };
        // SAFETY: context initialised; the image describes `frame`'s planes, each valid for
        // stride * rows bytes (VideoFrame guarantees it) while `frame` is borrowed here;
        // libaom copies the picture before returning (lag_in_frames = 0).
        let code = unsafe {
            aom::aom_codec_encode(
                &mut *self.ctx,
                &*self.img,
                pts,
                duration as std::os::raw::c_ulong,
                flags,
            )
        };
        self.img.planes = [std::ptr::null_mut(); 3];
        self.check(code, "aom_codec_encode")?;
        self.drain(sink)
    }

    /// Pass every packet libaom has ready to `sink`.
    fn drain(&mut self, sink: &mut PacketSink<'_>) -> Result<(), VideoCodecError> {
        let mut iter: aom::aom_codec_iter_t = std::ptr::null();
        loop {
            // SAFETY: context initialised; `iter` starts null and is only advanced by
            // libaom. The returned packet stays valid until the next encode call.
            let pkt = unsafe { aom::aom_codec_get_cx_data(&mut *self.ctx, &mut iter) };
            if pkt.is_null() {
                return Ok(());
            }
            // SAFETY: non-null packets point to a valid aom_codec_cx_pkt_t.
            let pkt = unsafe { &*pkt };
            if pkt.kind != aom::aom_codec_cx_pkt_kind::AOM_CODEC_CX_FRAME_PKT {
                continue;
            }
            // SAFETY: for AOM_CODEC_CX_FRAME_PKT the `frame` member of the union is the
            // active one; buf/sz describe libaom's output buffer.
            let (data, keyframe) = unsafe {
                let f = pkt.data.frame;
                if f.buf.is_null() || f.sz == 0 {
                    continue;
                }
                (
                    std::slice::from_raw_parts(f.buf.cast::<u8>(), f.sz),
                    f.flags & aom::AOM_FRAME_IS_KEY != 0,
                )
            };
            sink(data, keyframe)?;
        }
    }
}

/// libaom's detail string for the context's last error.
///
/// # Safety
/// `ctx` must be a context that `aom_codec_enc_init_ver` was called on.
unsafe fn detail_of(ctx: &mut aom::aom_codec_ctx_t) -> String {
    // SAFETY: per the caller's contract; the result is null or a NUL-terminated string
    // owned by the context.
    let p = unsafe { aom::aom_codec_error_detail(ctx) };
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: non-null, NUL-terminated, valid until the next call on ctx.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

fn apply_settings(cfg: &mut aom::aom_codec_enc_cfg_t, s: &AomSettings) {
    cfg.g_w = s.width;
    cfg.g_h = s.height;
    cfg.g_threads = s.threads;
    // Timestamps in RTP's 90 kHz clock, as libwebrtc does.
    cfg.g_timebase.num = 1;
    cfg.g_timebase.den = super::encoder::RTP_VIDEO_CLOCK_HZ as c_int;
    cfg.rc_target_bitrate = s.bitrate_kbps;
    // No frame dropping by the encoder: the pipeline's drop-oldest queues decide that.
    cfg.rc_dropframe_thresh = 0;
    cfg.g_input_bit_depth = 8;
    match s.keyframe_interval {
        None => cfg.kf_mode = aom::aom_kf_mode::AOM_KF_DISABLED,
        Some(interval) => {
            cfg.kf_mode = aom::aom_kf_mode::AOM_KF_AUTO;
            cfg.kf_min_dist = interval;
            cfg.kf_max_dist = interval;
        }
    }
    cfg.rc_min_quantizer = 10;
    cfg.rc_max_quantizer = 56;
    cfg.rc_undershoot_pct = 50;
    cfg.rc_overshoot_pct = 50;
    cfg.rc_buf_initial_sz = 600;
    cfg.rc_buf_optimal_sz = 600;
    cfg.rc_buf_sz = 1000;
    cfg.g_error_resilient = 0;
    cfg.rc_end_usage = aom::aom_rc_mode::AOM_CBR;
    cfg.g_pass = aom::aom_enc_pass::AOM_RC_ONE_PASS;
    // Zero lag: every frame's packet comes out of the call that encodes it.
    cfg.g_lag_in_frames = 0;
}

impl Drop for AomSession {
    fn drop(&mut self) {
        // SAFETY: the context was initialised (invariant) and is destroyed only here.
        let code = unsafe { aom::aom_codec_destroy(&mut *self.ctx) };
        if code != aom::aom_codec_err_t::AOM_CODEC_OK {
            tracing::warn!(error = %err_string(code), "aom_codec_destroy failed");
        }
    }
}
