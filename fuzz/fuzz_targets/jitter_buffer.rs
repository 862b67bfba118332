//! libFuzzer entry point for `jitter_buffer`; the logic (and what it asserts) is in
//! `fuzz/logic/jitter_buffer.rs`, shared with the corpus replay test `tests/fuzz_corpus.rs`.
#![no_main]

#[path = "../logic/jitter_buffer.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
