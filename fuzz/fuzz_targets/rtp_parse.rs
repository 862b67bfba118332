//! libFuzzer entry point for `rtp_parse`; the logic (and what it asserts) is in
//! `fuzz/logic/rtp_parse.rs`, shared with the corpus replay test `tests/fuzz_corpus.rs`.
#![no_main]

#[path = "../logic/rtp_parse.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
