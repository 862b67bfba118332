//! libFuzzer entry point for `frame_assembler`; the logic (and what it asserts) is in
//! `fuzz/logic/frame_assembler.rs`, shared with the corpus replay test `tests/fuzz_corpus.rs`.
#![no_main]

#[path = "../logic/frame_assembler.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
