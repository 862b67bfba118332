//! The side channel that carries the e2ee handshake between two `call_peer` processes:
//! files in a shared directory (`--signal DIR`) or lines pasted between two terminals
//! (`--signal -`: each message is printed as `<kind> <hex>` and the peer's is read from
//! stdin). The handshake messages are public values (identities, ephemeral public keys,
//! a commitment, a confirmation tag), so the channel needs integrity, not secrecy: a
//! tampered channel shows up as a safety-code mismatch.

use std::fs;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

type BoxError = Box<dyn std::error::Error>;

/// Where handshake messages go.
pub enum Signal {
    /// One file per message in a directory both processes see.
    Dir(PathBuf),
    /// Printed on stdout, read from stdin.
    Stdio,
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of a hex string (whitespace ignored).
pub fn unhex(text: &str) -> Result<Vec<u8>, BoxError> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if digits.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair)?;
            Ok(u8::from_str_radix(s, 16)?)
        })
        .collect()
}

impl Signal {
    /// `-` for stdin/stdout, anything else a directory (created if missing).
    pub fn open(spec: &str) -> Result<Self, BoxError> {
        if spec == "-" {
            return Ok(Signal::Stdio);
        }
        let dir = PathBuf::from(spec);
        fs::create_dir_all(&dir)?;
        Ok(Signal::Dir(dir))
    }

    /// Publishes message `kind` (e.g. `offer`).
    pub fn send(&self, kind: &str, bytes: &[u8]) -> Result<(), BoxError> {
        match self {
            Signal::Dir(dir) => {
                // Written whole, then renamed: the reader never sees half a message.
                let tmp = dir.join(format!(".{kind}.tmp"));
                fs::write(&tmp, hex(bytes) + "\n")?;
                fs::rename(&tmp, dir.join(kind))?;
            }
            Signal::Stdio => {
                println!("paste to the peer >>> {kind} {}", hex(bytes));
                std::io::stdout().flush()?;
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for message `kind` from the peer.
    pub fn recv(&self, kind: &str, timeout: Duration) -> Result<Vec<u8>, BoxError> {
        match self {
            Signal::Dir(dir) => {
                let path = dir.join(kind);
                let deadline = Instant::now() + timeout;
                loop {
                    if let Ok(text) = fs::read_to_string(&path) {
                        return unhex(&text);
                    }
                    if Instant::now() > deadline {
                        return Err(
                            format!("no '{kind}' in {} after {timeout:?}", dir.display()).into()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
            Signal::Stdio => {
                eprintln!("waiting for the peer's '{kind} <hex>' line on stdin...");
                let stdin = std::io::stdin();
                for line in stdin.lock().lines() {
                    let line = line?;
                    let line = line.trim().trim_start_matches("paste to the peer >>>").trim();
                    if let Some(rest) = line.strip_prefix(kind).and_then(|r| r.strip_prefix(' ')) {
                        return unhex(rest);
                    }
                    if !line.is_empty() {
                        eprintln!("expected a '{kind} <hex>' line, ignoring: {line}");
                    }
                }
                Err(format!("stdin closed before '{kind}'").into())
            }
        }
    }

    /// Removes the messages of an earlier call in the directory (so a stale offer is
    /// never read).
    pub fn clear(&self, kinds: &[&str]) {
        if let Signal::Dir(dir) = self {
            for kind in kinds {
                let _ = fs::remove_file(dir.join(kind));
            }
        }
    }
}
