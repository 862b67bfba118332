#!/usr/bin/env python3
"""Quality figures of the audio chain on recorded speech (not run by CI).

Builds echo and noise test signals from ../shared/media (see its README), runs them through
`examples/process_wav.rs` (release build unless `--profile` says otherwise) and prints ERLE, double-talk near-end loss, PESQ
and, when `speechmos` is installed, DNSMOS and AECMOS.

    pip install numpy scipy pesq speechmos onnxruntime librosa
    python3 scripts/eval_audio.py [--media ../shared/media] [--out /tmp/sottovoce_eval]
        [--aec-flags "--apm low"]   (WebRTC APM canceller instead of AEC3)
        [--aec-flags=--no-aec-dt-recovery]  (AEC3 without its double-talk fast gain recovery)
        [--aec-flags=--no-aec-erle-quantile]  (AEC3 residual estimate from the capped ERLE)
        [--profile dev]             (cargo profile of process_wav; dev needs no release build)
        [--echo-db 12]              (echo this many dB below the far end; default 6)
        [--aec-only]                (only the AEC-alone echo runs: no NS/Opus chain, no noise test)
"""
import argparse
import os
import subprocess
import sys

import numpy as np
import scipy.io.wavfile as wavfile
from scipy.signal import fftconvolve, resample_poly

FS = 16_000
# Cargo features for process_wav; main() adds webrtc-apm when --aec-flags asks for --apm.
FEATURES = []
# Cargo profile of process_wav (--profile); "release" unless told otherwise.
PROFILE = ["--release"]


def read(path):
    rate, x = wavfile.read(path)
    if x.dtype == np.int16:
        x = x.astype(np.float32) / 32768.0
    x = x.astype(np.float32)
    if x.ndim > 1:
        x = x.mean(axis=1)
    assert rate == FS, f"{path}: {rate} Hz"
    return x


def write(path, x, rate=FS):
    wavfile.write(path, rate, (np.clip(x, -1, 1) * 32767).astype(np.int16))


def power_db(x):
    return 10 * np.log10(np.mean(np.asarray(x, dtype=np.float64) ** 2) + 1e-20)


def run_chain(mic, out, far=None, flags=()):
    cmd = ["cargo", "run", *PROFILE, "--quiet", *FEATURES, "--example", "process_wav", "--", mic, out]
    if far:
        cmd += ["--far", far]
    cmd += list(flags)
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    print(res.stdout.strip())
    rate, y = wavfile.read(out)
    y = y.astype(np.float32) / 32768.0
    return resample_poly(y, 1, 3).astype(np.float32)  # 48 kHz -> 16 kHz


def seg(x, a, b):
    return x[int(a * FS):int(b * FS)]


# The capture chain's 16 kHz -> 48 kHz resampler delays the output by 5.0 ms (docs/audio.md).
RESAMPLER_DELAY = FS * 5 // 1000


def near_end_cut(near, out):
    """Per 20 ms frame in which the near end alone is within 30 dB of its loudest frame:
    output level minus near-end level. Returns the share of frames below -6 dB (%) and the
    10th percentile (dB): a canceller that gates the near end shows here even when the
    average level loss is small."""
    n = 320
    levels = [(power_db(near[i:i + n]), power_db(out[i:i + n])) for i in range(0, min(len(near), len(out)) - n + 1, n)]
    loudest = max(l[0] for l in levels)
    gains = np.array([o - x for x, o in levels if x > loudest - 30])
    return 100 * np.mean(gains < -6), np.percentile(gains, 10)


def chain_latency(near, out):
    """Samples by which `out` lags `near` (cross-correlation peak within 30 ms). The
    resampler's 5 ms is not all: AEC3 adds its block framing and band split (~9 ms), and
    a 20 ms frame misaligned by 9 ms counts syllable onsets and ends as cuts."""
    n = len(near)
    return max(range(FS * 30 // 1000), key=lambda lag: float(np.dot(near, out[lag:lag + n])))


def try_pesq(ref, deg):
    try:
        from pesq import pesq
        n = min(len(ref), len(deg))
        return pesq(FS, ref[:n], deg[:n], "wb")
    except Exception as e:  # pesq refuses silent or too short input
        return f"n/a ({e})"


def try_dnsmos(x):
    try:
        from speechmos import dnsmos
        r = dnsmos.run(x.astype(np.float32), sr=FS)
        return {k: round(float(v), 2) for k, v in r.items() if k in ("ovrl_mos", "sig_mos", "bak_mos", "p808_mos")}
    except Exception as e:
        return f"n/a ({e})"


def try_aecmos(lpb, mic, enh, talk_type):
    try:
        from speechmos import aecmos
        n = min(len(lpb), len(mic), len(enh))
        r = aecmos.run({"lpb": lpb[:n], "mic": mic[:n], "enh": enh[:n]}, sr=FS, talk_type=talk_type)
        return {k: round(float(r[k]), 2) for k in ("echo_mos", "deg_mos")}
    except Exception as e:
        return f"n/a ({e})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--media", default=os.path.join(os.path.dirname(__file__), "../../shared/media"))
    ap.add_argument("--out", default="/tmp/sottovoce_eval")
    ap.add_argument("--delay-ms", type=int, default=100)
    ap.add_argument("--aec-flags", default="", help="extra process_wav flags for the echo runs, e.g. '--apm low'")
    ap.add_argument("--profile", default="release", help="cargo profile of process_wav, e.g. dev")
    ap.add_argument("--echo-db", type=float, default=6.0, help="echo level below the far end (dB)")
    ap.add_argument("--aec-only", action="store_true", help="only the AEC-alone echo runs")
    args = ap.parse_args()
    PROFILE[:] = ["--release"] if args.profile == "release" else ["--profile", args.profile]
    os.makedirs(args.out, exist_ok=True)
    m = args.media
    far = read(f"{m}/speech/hello_16k.wav")
    near = read(f"{m}/speech/arctic_a0007_16k.wav")
    rir = read(f"{m}/rir/shoebox_rt60_0.4_16k.wav")
    echo = fftconvolve(far, rir)[: len(far)]
    echo = np.concatenate([np.zeros(args.delay_ms * FS // 1000), echo])[: len(far)]
    echo *= 10 ** ((power_db(far) - args.echo_db - power_db(echo)) / 20)
    rng = np.random.default_rng(1)
    floor = (rng.standard_normal(len(far)) * 10 ** (-70 / 20)).astype(np.float32)
    near_track = np.zeros_like(far)
    dt_start = 5.0
    near_track[int(dt_start * FS): int(dt_start * FS) + len(near)] = near
    p = lambda n: os.path.join(args.out, n)
    write(p("far.wav"), far)
    write(p("mic_single.wav"), echo + floor)
    write(p("mic_double.wav"), echo + near_track + floor)
    print(f"far: speech/hello_16k.wav, near: speech/arctic_a0007_16k.wav at {dt_start}-{dt_start + len(near) / FS:.1f} s, "
          f"RIR rir/shoebox_rt60_0.4_16k.wav, delay {args.delay_ms} ms, echo {args.echo_db:g} dB below far end")

    extra = tuple(args.aec_flags.split())
    if "--apm" in extra:
        FEATURES.extend(["--features", "webrtc-apm"])
    runs = [(extra, "AEC+NS+Opus 32k"), (("--no-ns", "--no-opus") + extra, "AEC only")]
    for flags, label in runs[1:] if args.aec_only else runs:
        y = run_chain(p("mic_single.wav"), p("out_single.wav"), p("far.wav"), flags)
        erle = power_db(seg(echo, 3, 10.5)) - power_db(seg(y, 3, 10.5))
        print(f"[{label}] single talk ERLE (3-10.5 s): {erle:.1f} dB")
        y2 = run_chain(p("mic_double.wav"), p("out_double.wav"), p("far.wav"), flags)
        a, b = dt_start + 0.3, dt_start + len(near) / FS - 0.3
        loss = power_db(seg(near_track, a, b)) - power_db(seg(y2, a, b))
        print(f"[{label}] double talk near-end loss ({a:.1f}-{b:.1f} s): {loss:.1f} dB")
        cut, p10 = near_end_cut(seg(near_track, a, b), seg(y2[RESAMPLER_DELAY:], a, b))
        print(f"[{label}] double talk: {cut:.0f} % of 20 ms near-end frames cut by more than 6 dB, 10th percentile {p10:.1f} dB "
              f"(output aligned by the resampler's {RESAMPLER_DELAY / FS * 1000:.0f} ms)")
        lag = chain_latency(seg(near_track, a, b), y2[int(a * FS):])
        cut, p10 = near_end_cut(seg(near_track, a, b), seg(y2[lag:], a, b))
        print(f"[{label}] double talk: {cut:.0f} % of 20 ms near-end frames cut by more than 6 dB, 10th percentile {p10:.1f} dB "
              f"(output aligned by the chain's measured latency, {lag / FS * 1000:.1f} ms)")
        print(f"[{label}] PESQ near end (double-talk segment) mic: {try_pesq(seg(near_track, a, b), seg(echo + near_track, a, b))}, "
              f"output: {try_pesq(seg(near_track, a, b), seg(y2, a, b))}")
        print(f"[{label}] AECMOS single talk: {try_aecmos(far, echo + floor, y, 'st')}")
        print(f"[{label}] AECMOS double talk: {try_aecmos(far, echo + near_track + floor, y2, 'dt')}")
    if args.aec_only:
        return

    clean = read(f"{m}/speech/codec2_orig_16k.wav")
    pink = np.real(np.fft.irfft(np.fft.rfft(rng.standard_normal(len(clean))) / np.sqrt(np.arange(len(clean) // 2 + 1) + 1), len(clean)))
    pink *= 10 ** ((-40 - power_db(pink)) / 20)
    noisy = (clean + pink).astype(np.float32)
    write(p("noisy.wav"), noisy)
    y = run_chain(p("noisy.wav"), p("out_noisy.wav"), None, ("--no-aec", "--no-opus"))
    print("noise: speech/codec2_orig_16k.wav + pink noise at -40 dBFS")
    print(f"  DNSMOS noisy: {try_dnsmos(noisy)}")
    print(f"  DNSMOS after NS: {try_dnsmos(y[: len(noisy)])}")
    print(f"  PESQ noisy: {try_pesq(clean, noisy)}, after NS: {try_pesq(clean, y[: len(clean)])}")
    quiet = [i for i in range(0, len(clean) - 160, 160) if power_db(clean[i:i + 160]) < -60]
    if quiet:
        idx = np.concatenate([np.arange(i, i + 160) for i in quiet])
        idx = idx[idx < len(y)]
        print(f"  noise in speech pauses: {power_db(noisy[idx]):.1f} dB -> {power_db(y[idx]):.1f} dB")


if __name__ == "__main__":
    sys.exit(main())
