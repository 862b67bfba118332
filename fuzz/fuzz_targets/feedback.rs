//! libFuzzer entry point for `feedback`; the logic (and what it asserts) is in
//! `fuzz/logic/feedback.rs`, shared with the corpus replay test `tests/fuzz_corpus.rs`.
#![no_main]

#[path = "../logic/feedback.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
