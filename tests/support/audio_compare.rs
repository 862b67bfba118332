//! Comparing sent and received speech by level envelope. Opus at speech bitrates keeps
//! the spectral envelope, not the waveform's phase, so calls are checked on level
//! contours. Included by path: `#[path = "support/audio_compare.rs"] mod audio_compare;`.

/// Normalised correlation of two equally long series (0 when either is silent).
pub fn normalised_correlation(x: &[f32], y: &[f32]) -> f64 {
    let (mut xy, mut xx, mut yy) = (0.0f64, 0.0f64, 0.0f64);
    for (&a, &b) in x.iter().zip(y) {
        xy += f64::from(a) * f64::from(b);
        xx += f64::from(a) * f64::from(a);
        yy += f64::from(b) * f64::from(b);
    }
    if xx == 0.0 || yy == 0.0 { 0.0 } else { xy / (xx * yy).sqrt() }
}

/// Level envelope of mono audio at `rate`: RMS over 10 ms windows every 1 ms.
pub fn envelope(x: &[f32], rate: u32) -> Vec<f32> {
    let hop = (rate / 1000) as usize;
    let window = (rate / 100) as usize;
    (0..x.len().saturating_sub(window) / hop)
        .map(|i| {
            let w = &x[i * hop..i * hop + window];
            (w.iter().map(|v| v * v).sum::<f32>() / window as f32).sqrt()
        })
        .collect()
}

/// The delay (ms) at which the envelope of `played` best matches that of `sent` over
/// `window_ms`, and the normalised correlation of the envelopes there.
pub fn align(
    sent: &[f32],
    played: &[f32],
    rate: u32,
    window_ms: std::ops::Range<usize>,
    max_lag_ms: usize,
) -> (usize, f64) {
    let sent = envelope(sent, rate);
    let played = envelope(played, rate);
    align_envelopes(&sent, &played, window_ms, max_lag_ms)
}

/// [`align`] on envelopes already computed.
pub fn align_envelopes(
    sent: &[f32],
    played: &[f32],
    window_ms: std::ops::Range<usize>,
    max_lag_ms: usize,
) -> (usize, f64) {
    let reference = &sent[window_ms.clone()];
    let mut best = (0, f64::MIN);
    for lag in 0..max_lag_ms {
        let start = window_ms.start + lag;
        let Some(p) = played.get(start..start + reference.len()) else { break };
        let c = normalised_correlation(reference, p);
        if c > best.1 {
            best = (lag, c);
        }
    }
    best
}
