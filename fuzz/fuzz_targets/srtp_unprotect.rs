//! libFuzzer entry point for `srtp_unprotect`; the logic (and what it asserts) is in
//! `fuzz/logic/srtp_unprotect.rs`, shared with the corpus replay test `tests/fuzz_corpus.rs`.
#![no_main]

#[path = "../logic/srtp_unprotect.rs"]
mod logic;

libfuzzer_sys::fuzz_target!(|data: &[u8]| logic::run(data));
