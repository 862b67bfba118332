//! `OpusDecoder` (libopus) fed peer-chosen packets, as it is after SRTP authentication:
//! arbitrary bytes decoded, used as the FEC source for a lost packet (`recover`), and
//! interleaved with concealment (`conceal`), with output buffers of input-chosen size.
//!
//! Asserted: nothing panics and ASan sees no memory error in libopus or the wrapper;
//! every call either fails with a typed error or writes at most the buffer's length and
//! at most 120 ms (5760 samples), all of them finite; `decode` writes the packet's own
//! duration; the decoder's counters agree with the calls that succeeded.
//!
//! Input: byte 0 picks the default packet length; then records of `op (u8) |
//! length (u16, big-endian) | packet`.

#[path = "input.rs"]
mod input;

use input::Input;
use sottovoce::audio::OpusDecoder;

const MAX_SAMPLES: usize = 5760;

/// One fuzz input: see the module docs.
pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let Some(default) = input.u8() else { return };
    let mut decoder = OpusDecoder::new(usize::from(default) * 60).expect("decoder");
    let mut out = vec![0f32; MAX_SAMPLES];
    let (mut decoded, mut concealed, mut recovered) = (0u64, 0u64, 0u64);

    while let (Some(op), Some(packet)) = (input.u8(), input.len16_bytes()) {
        // Op bits 2-7 shorten the output buffer to that many 2.5 ms (0: the full 120 ms).
        let len = match usize::from(op >> 2) {
            0 => MAX_SAMPLES,
            n => (n * 120).min(MAX_SAMPLES),
        };
        let buf = &mut out[..len];
        let result = match op & 3 {
            0 | 1 => decoder.decode(packet, buf).inspect(|_| decoded += 1),
            2 => decoder.conceal(buf).inspect(|_| concealed += 1),
            _ => decoder.recover(packet, buf).inspect(|_| recovered += 1),
        };
        if let Ok(n) = result {
            assert!(n <= len && n <= MAX_SAMPLES, "{n} samples into a buffer of {len}");
            if op & 3 < 2 {
                assert_eq!(decoder.concealment_samples(), n, "concealment follows the packet");
            }
            assert!(out[..n].iter().all(|s| s.is_finite()), "non-finite sample");
        }
    }
    let stats = decoder.stats();
    assert_eq!((stats.decoded, stats.concealed, stats.recovered), (decoded, concealed, recovered));
}
