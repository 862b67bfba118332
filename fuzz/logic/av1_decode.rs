//! `Av1Decoder` (dav1d) fed peer-chosen temporal units, as it is after SRTP authentication
//! and depacketization: a sequence of arbitrary units, some starting with a real keyframe
//! from the seeds, decoded one after another by one decoder (so reference state carries
//! over, and error recovery and keyframe waits are exercised).
//!
//! Per-input work is bounded: at most 8 units of at most 16 KiB each, and a unit is only
//! handed to the decoder when every sequence header in it declares frame sizes of at most
//! 10 bits per dimension (a frame cannot exceed 1024 x 1024, so no input makes dav1d
//! allocate or filter 8K pictures); units with a sequence header this harness cannot
//! read are skipped too. Units without a sequence header reuse the last accepted one.
//!
//! Asserted: nothing panics and ASan sees no memory error; pictures are I420 of at most
//! 1024 x 1024 with planes of the declared size; the decoder's counters agree with what
//! came out.
//!
//! Input: records of `length (u16, big-endian) | temporal unit`.

#[path = "input.rs"]
mod input;

use std::time::Instant;

use input::Input;
use sottovoce::video::{Av1Decoder, DecoderConfig, PixelFormat};

const MAX_UNITS: usize = 8;
const MAX_UNIT_BYTES: usize = 16 * 1024;
const MAX_DIMENSION_BITS: u32 = 10;

/// Big-endian bit reader over an OBU payload (AV1 spec 4.10.2 `f(n)`).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bits<'_> {
    fn f(&mut self, n: u32) -> Option<u32> {
        let mut value = 0u32;
        for _ in 0..n {
            let byte = *self.data.get(self.pos / 8)?;
            let bit = (byte >> (7 - self.pos % 8)) & 1;
            value = (value << 1) | u32::from(bit);
            self.pos += 1;
        }
        Some(value)
    }

    /// `uvlc()` (AV1 spec 4.10.3).
    fn uvlc(&mut self) -> Option<()> {
        let mut leading_zeros = 0;
        while self.f(1)? == 0 {
            leading_zeros += 1;
            if leading_zeros >= 32 {
                return Some(());
            }
        }
        self.f(leading_zeros).map(|_| ())
    }
}

/// `frame_width_bits_minus_1 + 1` and `frame_height_bits_minus_1 + 1` of a sequence header
/// OBU payload (AV1 spec 5.5.1), or `None` if it is cut short.
fn sequence_header_bits(payload: &[u8]) -> Option<(u32, u32)> {
    let mut r = Bits { data: payload, pos: 0 };
    let _profile = r.f(3)?;
    let _still_picture = r.f(1)?;
    let reduced_still_picture_header = r.f(1)? == 1;
    if reduced_still_picture_header {
        let _seq_level_idx = r.f(5)?;
    } else {
        let timing_info_present = r.f(1)? == 1;
        let mut decoder_model_info_present = false;
        let mut buffer_delay_length = 0;
        if timing_info_present {
            let _num_units_in_display_tick = r.f(32)?;
            let _time_scale = r.f(32)?;
            if r.f(1)? == 1 {
                r.uvlc()?;
            }
            decoder_model_info_present = r.f(1)? == 1;
            if decoder_model_info_present {
                buffer_delay_length = r.f(5)? + 1;
                let _num_units_in_decoding_tick = r.f(32)?;
                let _buffer_removal_time_length = r.f(5)?;
                let _frame_presentation_time_length = r.f(5)?;
            }
        }
        let initial_display_delay_present = r.f(1)? == 1;
        let operating_points = r.f(5)? + 1;
        for _ in 0..operating_points {
            let _idc = r.f(12)?;
            let seq_level_idx = r.f(5)?;
            if seq_level_idx > 7 {
                let _tier = r.f(1)?;
            }
            if decoder_model_info_present && r.f(1)? == 1 {
                let _decoder_buffer_delay = r.f(buffer_delay_length)?;
                let _encoder_buffer_delay = r.f(buffer_delay_length)?;
                let _low_delay_mode = r.f(1)?;
            }
            if initial_display_delay_present && r.f(1)? == 1 {
                let _initial_display_delay = r.f(4)?;
            }
        }
    }
    Some((r.f(4)? + 1, r.f(4)? + 1))
}

/// Whether every sequence header in the unit keeps frames within the size bound (and can
/// be read). Units that are not a valid OBU stream pass: the decoder refuses them itself.
fn within_bounds(unit: &[u8]) -> bool {
    let mut rest = unit;
    while let Some((&header, tail)) = rest.split_first() {
        let obu_type = header >> 3 & 0x0f;
        let has_extension = header & 0x04 != 0;
        let has_size = header & 0x02 != 0;
        let tail = if has_extension { tail.get(1..).unwrap_or(&[]) } else { tail };
        let (payload, next) = if has_size {
            let mut size = 0usize;
            let mut used = 0;
            loop {
                let Some(&byte) = tail.get(used) else { return true };
                size |= usize::from(byte & 0x7f) << (7 * used);
                used += 1;
                if byte & 0x80 == 0 || used == 8 {
                    break;
                }
            }
            let Some(payload) = tail.get(used..used.saturating_add(size)) else { return true };
            (payload, &tail[used + payload.len()..])
        } else {
            (tail, &[][..])
        };
        if obu_type == 1 {
            match sequence_header_bits(payload) {
                Some((w, h)) if w <= MAX_DIMENSION_BITS && h <= MAX_DIMENSION_BITS => {}
                _ => return false,
            }
        }
        rest = next;
    }
    true
}

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let config = DecoderConfig { threads: 1, pool_frames: 2 };
    let mut decoder = Av1Decoder::new(config).expect("decoder");
    let started = Instant::now();
    let mut pictures = 0u64;
    for sequence in 0..MAX_UNITS as u64 {
        let Some(unit) = input.len16_bytes() else { break };
        if unit.len() > MAX_UNIT_BYTES || !within_bounds(unit) {
            continue;
        }
        let _ = decoder.decode(unit, started, sequence, &mut |frame| {
            assert_eq!(frame.format(), PixelFormat::I420, "decoder output format");
            let (w, h) = (frame.width(), frame.height());
            assert!(w <= 1 << MAX_DIMENSION_BITS && h <= 1 << MAX_DIMENSION_BITS, "{w}x{h}");
            assert!(frame.plane(0).len() >= w as usize * h as usize, "luma plane size");
            pictures += 1;
        });
    }
    assert_eq!(decoder.stats().pictures, pictures, "pictures counted");
}
