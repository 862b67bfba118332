//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`, and `fuzz/seeds/<target>/`
//! where present) through the fuzz targets' own logic (`fuzz/logic/<target>.rs`, the same
//! files the cargo-fuzz wrappers include), so every input the fuzzer kept is re-checked in
//! CI with debug assertions and overflow checks on. A missing or empty corpus directory
//! fails the test; so does any input that panics, naming the file.

// Each logic file includes the shared byte cursor `fuzz/logic/input.rs` as its own module
// (a fuzz wrapper includes exactly one logic file), so here it is loaded once per target.
#![allow(clippy::duplicate_mod)]

use std::path::{Path, PathBuf};

#[path = "../fuzz/logic/av1_decode.rs"]
mod av1_decode;
#[path = "../fuzz/logic/av1_depacketize.rs"]
mod av1_depacketize;
#[path = "../fuzz/logic/feedback.rs"]
mod feedback;
#[path = "../fuzz/logic/frame_assembler.rs"]
mod frame_assembler;
#[path = "../fuzz/logic/handshake_decode.rs"]
mod handshake_decode;
#[path = "../fuzz/logic/jitter_buffer.rs"]
mod jitter_buffer;
#[path = "../fuzz/logic/opus_decode.rs"]
mod opus_decode;
#[path = "../fuzz/logic/rtcp_parse.rs"]
mod rtcp_parse;
#[path = "../fuzz/logic/rtp_parse.rs"]
mod rtp_parse;
#[path = "../fuzz/logic/sframe_unprotect.rs"]
mod sframe_unprotect;
#[path = "../fuzz/logic/srtp_epochs.rs"]
mod srtp_epochs;
#[path = "../fuzz/logic/srtp_unprotect.rs"]
mod srtp_unprotect;

#[test]
fn rtp_parse_corpus() {
    replay("rtp_parse", rtp_parse::run);
}

#[test]
fn rtcp_parse_corpus() {
    replay("rtcp_parse", rtcp_parse::run);
}

#[test]
fn av1_depacketize_corpus() {
    replay("av1_depacketize", av1_depacketize::run);
}

#[test]
fn srtp_unprotect_corpus() {
    replay("srtp_unprotect", srtp_unprotect::run);
}

#[test]
fn srtp_epochs_corpus() {
    replay("srtp_epochs", srtp_epochs::run);
}

#[test]
fn sframe_unprotect_corpus() {
    replay("sframe_unprotect", sframe_unprotect::run);
}

#[test]
fn jitter_buffer_corpus() {
    replay("jitter_buffer", jitter_buffer::run);
}

#[test]
fn frame_assembler_corpus() {
    replay("frame_assembler", frame_assembler::run);
}

#[test]
fn feedback_corpus() {
    replay("feedback", feedback::run);
}

#[test]
fn handshake_decode_corpus() {
    replay("handshake_decode", handshake_decode::run);
}

#[test]
fn opus_decode_corpus() {
    replay("opus_decode", opus_decode::run);
}

#[test]
fn av1_decode_corpus() {
    replay("av1_decode", av1_decode::run);
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    assert!(
        corpus.is_dir(),
        "{}: the committed corpus of `{target}` is missing (see fuzz/README.md)",
        corpus.display()
    );
    let mut files = files_in(&corpus);
    assert!(!files.is_empty(), "{}: the corpus of `{target}` is empty", corpus.display());
    let seeds = fuzz.join("seeds").join(target);
    if seeds.is_dir() {
        files.extend(files_in(&seeds));
    }
    for file in &files {
        let data = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            panic!("fuzz target `{target}` failed on {}", file.display());
        }
    }
}
