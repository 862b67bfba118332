//! libFuzzer entry point for `av1_decode`; the logic (and what it asserts) is in
//! `fuzz/logic/av1_decode.rs`, shared with the corpus replay test `tests/fuzz_corpus.rs`.
#![no_main]

#[path = "../logic/av1_decode.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
