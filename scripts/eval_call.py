#!/usr/bin/env python3
"""Speech quality of a call: PESQ-WB (ITU-T P.862.2) of the received audio against what
was sent, from the WAV files `loopback_call --out DIR` (or `call_peer --out DIR`) writes.

    scripts/eval_call.py DIR                      # every <a>-to-<b> direction in DIR
    scripts/eval_call.py SENT.wav RECEIVED.wav    # one pair

Both signals are resampled to 16 kHz, the received one is aligned to the sent one by the
lag of the cross-correlation peak (the call's mouth-to-ear delay, searched in 0..1 s), cut
to the same length, and scored with the `pesq` package (PyPI) in wide-band mode. PESQ
itself re-aligns per utterance, so the jitter buffer's small delay changes are tolerated.
Needs numpy, scipy and pesq (`pip install numpy scipy pesq`).
"""
import sys
import wave
from math import gcd
from pathlib import Path

import numpy as np
from scipy.signal import correlate, resample_poly
from pesq import pesq

RATE = 16_000
MAX_DELAY_S = 1.0


def load(path):
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            sys.exit(f"{path}: only 16-bit PCM WAV is supported")
        rate, channels = w.getframerate(), w.getnchannels()
        data = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    data = data.reshape(-1, channels).mean(axis=1) / 32768.0
    if rate != RATE:
        g = gcd(rate, RATE)
        data = resample_poly(data, RATE // g, rate // g)
    return data


def delay_samples(sent, received):
    """Lag (in samples) by which `received` trails `sent`, from the correlation peak."""
    xc = correlate(received, sent, mode="full", method="fft")
    zero = len(sent) - 1
    window = xc[zero : zero + int(MAX_DELAY_S * RATE)]
    return int(np.argmax(np.abs(window)))


def evaluate(sent_path, received_path):
    sent, received = load(sent_path), load(received_path)
    lag = delay_samples(sent, received)
    aligned = received[lag:]
    n = min(len(sent), len(aligned))
    ref, deg = sent[:n], aligned[:n]
    score = pesq(RATE, ref, deg, "wb")
    # Waveform correlation after alignment: a sanity figure (Opus keeps the envelope
    # better than the phase, so ~0.3-0.9 is normal).
    corr = float(np.dot(ref, deg) / (np.linalg.norm(ref) * np.linalg.norm(deg) + 1e-12))
    return score, lag / RATE, corr, n / RATE


def main(argv):
    if len(argv) == 2 and Path(argv[1]).is_dir():
        pairs = [
            (p, p.with_name(p.name.replace(".sent.wav", ".received.wav")))
            for p in sorted(Path(argv[1]).glob("*.sent.wav"))
        ]
    elif len(argv) == 3:
        pairs = [(Path(argv[1]), Path(argv[2]))]
    else:
        sys.exit(__doc__)
    if not pairs:
        sys.exit(f"no *.sent.wav in {argv[1]}")
    for sent, received in pairs:
        score, delay, corr, seconds = evaluate(sent, received)
        print(
            f"{sent.name.replace('.sent.wav', '')}: PESQ-WB {score:.2f}  "
            f"(delay {delay * 1e3:.1f} ms, waveform correlation {corr:.2f}, {seconds:.1f} s)"
        )


if __name__ == "__main__":
    main(sys.argv)
