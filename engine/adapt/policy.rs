//! Maps a target bitrate to encoder settings: audio bitrate first (speech matters most),
//! then a video rung (resolution and framerate) with hysteresis, and the video encoder
//! bitrate.
//!
//! Going down is immediate (the link is full now); going up needs the budget to exceed the
//! next rung's threshold by `up_margin` for `up_hold`, because a resolution switch costs a
//! keyframe and a visible jump, and estimates fluctuate by ±15 % around the capacity.

use std::time::{Duration, Instant};

/// One step of the video ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoRung {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frames per second.
    pub fps: u32,
    /// Video budget from which this rung is used.
    pub min_bps: u64,
    /// Encoder bitrate ceiling at this rung (more brings little visible gain).
    pub max_bps: u64,
}

/// The default ladder: 360p at 15 then 30 fps, 540p30, 720p30.
pub const DEFAULT_LADDER: [VideoRung; 4] = [
    VideoRung { width: 640, height: 360, fps: 15, min_bps: 0, max_bps: 400_000 },
    VideoRung { width: 640, height: 360, fps: 30, min_bps: 250_000, max_bps: 800_000 },
    VideoRung { width: 960, height: 540, fps: 30, min_bps: 600_000, max_bps: 1_500_000 },
    VideoRung { width: 1280, height: 720, fps: 30, min_bps: 1_200_000, max_bps: 2_500_000 },
];

/// Encoder settings chosen by the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaSettings {
    /// Opus bitrate.
    pub audio_bps: u32,
    /// The video rung in use.
    pub video: VideoRung,
    /// Video encoder target bitrate.
    pub video_bps: u64,
}

/// The adaptation policy. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct AdaptationPolicy {
    ladder: Vec<VideoRung>,
    rung: usize,
    up_margin: f64,
    up_hold: Duration,
    up_candidate_since: Option<Instant>,
    /// Share of the target spent on packet headers (RTP, SRTP tag, UDP/IP).
    overhead: f64,
}

impl Default for AdaptationPolicy {
    fn default() -> Self {
        Self::new(DEFAULT_LADDER.to_vec())
    }
}

impl AdaptationPolicy {
    /// A policy over this ladder (sorted by `min_bps`; an empty ladder gets the default),
    /// starting at the lowest rung.
    pub fn new(mut ladder: Vec<VideoRung>) -> Self {
        if ladder.is_empty() {
            ladder = DEFAULT_LADDER.to_vec();
        }
        ladder.sort_by_key(|r| r.min_bps);
        Self {
            ladder,
            rung: 0,
            up_margin: 1.15,
            up_hold: Duration::from_secs(2),
            up_candidate_since: None,
            overhead: 0.05,
        }
    }

    /// Audio bitrate for a total budget: 32 kbit/s (transparent wideband speech) when the
    /// budget allows, 24 and then 16 kbit/s (still wideband) when it is tight.
    pub fn audio_bitrate(target_bps: u64) -> u32 {
        match target_bps {
            t if t >= 300_000 => 32_000,
            t if t >= 120_000 => 24_000,
            _ => 16_000,
        }
    }

    /// The rung in use.
    pub fn current(&self) -> VideoRung {
        self.ladder[self.rung]
    }

    /// Settings for the target bitrate at `now`.
    pub fn update(&mut self, now: Instant, target_bps: u64) -> MediaSettings {
        let audio = Self::audio_bitrate(target_bps);
        let video_budget =
            ((target_bps as f64 * (1.0 - self.overhead)) as u64).saturating_sub(u64::from(audio));
        // Down at once, as far as needed.
        while self.rung > 0 && video_budget < self.ladder[self.rung].min_bps {
            self.rung -= 1;
            self.up_candidate_since = None;
        }
        // Up one rung after the budget clearly exceeded its threshold for a while.
        if let Some(next) = self.ladder.get(self.rung + 1) {
            if video_budget as f64 >= next.min_bps as f64 * self.up_margin {
                let since = *self.up_candidate_since.get_or_insert(now);
                if now.saturating_duration_since(since) >= self.up_hold {
                    self.rung += 1;
                    self.up_candidate_since = None;
                }
            } else {
                self.up_candidate_since = None;
            }
        }
        let rung = self.ladder[self.rung];
        MediaSettings { audio_bps: audio, video: rung, video_bps: video_budget.min(rung.max_bps) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn climbs_with_hysteresis_and_drops_at_once() {
        let t0 = Instant::now();
        let mut policy = AdaptationPolicy::default();
        let s = policy.update(t0, 2_000_000);
        assert_eq!(s.video.height, 360, "one rung at a time, after a hold");
        let mut now = t0;
        let mut heights = Vec::new();
        for _ in 0..10 {
            now += Duration::from_secs(1);
            heights.push(policy.update(now, 2_000_000).video.height);
        }
        assert_eq!(*heights.last().unwrap(), 720);
        // Just above the 720p threshold (no margin): stays at 540p when coming from below.
        let mut p2 = AdaptationPolicy::default();
        for i in 0..10 {
            p2.update(t0 + Duration::from_secs(i), 1_000_000);
        }
        assert_eq!(p2.current().height, 540);
        let budget_at_threshold = 1_300_000;
        for i in 10..20 {
            p2.update(t0 + Duration::from_secs(i), budget_at_threshold);
        }
        assert_eq!(p2.current().height, 540, "within the up margin: no switch");
        // A collapse drops straight to the bottom.
        let s = policy.update(now + Duration::from_millis(10), 150_000);
        assert_eq!((s.video.height, s.video.fps), (360, 15));
        assert_eq!(s.audio_bps, 24_000);
        assert!(s.video_bps < 150_000);
    }
}
