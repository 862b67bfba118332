//! Opus over RTP (RFC 7587): one Opus packet per RTP payload, 48 kHz RTP clock whatever
//! the coded bandwidth. The only thing RTP needs from the payload is its duration (to
//! advance the timestamp), which the TOC byte gives (RFC 6716 section 3.1).

use super::error::RtpError;

/// RTP clock rate of Opus, fixed by RFC 7587 section 4.1.
pub const OPUS_CLOCK_RATE: u32 = 48_000;
/// Longest duration one Opus packet may have (120 ms at 48 kHz).
pub const MAX_PACKET_SAMPLES: u32 = 5_760;

/// A validated Opus RTP payload (a borrowed view of one Opus packet).
///
/// ```
/// use sottovoce::rtp::OpusPayload;
/// // TOC 0xFC: config 31 (CELT fullband 20 ms), stereo, one frame.
/// let payload = OpusPayload::parse(&[0xFC, 0x01, 0x02])?;
/// assert_eq!(payload.duration_samples(), 960);
/// assert!(payload.is_stereo());
/// # Ok::<(), sottovoce::rtp::RtpError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpusPayload<'a> {
    bytes: &'a [u8],
    frames: u8,
}

/// The coding mode an Opus configuration uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg(any(test, feature = "testing"))]
pub enum OpusMode {
    /// SILK (speech), configurations 0..=11.
    Silk,
    /// SILK + CELT hybrid, configurations 12..=15.
    Hybrid,
    /// CELT (music / low delay), configurations 16..=31.
    Celt,
}

impl<'a> OpusPayload<'a> {
    /// Validates the TOC byte and frame count of an Opus packet.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RtpError> {
        let Some(&toc) = bytes.first() else {
            // RFC 7587: an empty payload is not an Opus packet (DTX sends nothing instead).
            return Err(RtpError::BadOpus("empty payload"));
        };
        let frames = match toc & 0x03 {
            0 => 1,
            1 | 2 => 2,
            _ => {
                let count = *bytes.get(1).ok_or(RtpError::BadOpus("code 3 without frame count"))?;
                let frames = count & 0x3F;
                if frames == 0 {
                    return Err(RtpError::BadOpus("code 3 with zero frames"));
                }
                frames
            }
        };
        let payload = Self { bytes, frames };
        if payload.duration_samples() > MAX_PACKET_SAMPLES {
            return Err(RtpError::BadOpus("packet longer than 120 ms"));
        }
        Ok(payload)
    }

    /// The whole Opus packet.
    #[cfg(any(test, feature = "testing"))]
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The 5-bit configuration number (mode, bandwidth and frame size).
    pub fn config(&self) -> u8 {
        self.bytes[0] >> 3
    }

    /// The coding mode.
    #[cfg(any(test, feature = "testing"))]
    pub fn mode(&self) -> OpusMode {
        match self.config() {
            0..=11 => OpusMode::Silk,
            12..=15 => OpusMode::Hybrid,
            _ => OpusMode::Celt,
        }
    }

    /// Whether the packet is coded stereo.
    #[cfg(any(test, feature = "testing"))]
    pub fn is_stereo(&self) -> bool {
        self.bytes[0] & 0x04 != 0
    }

    /// Number of Opus frames in the packet.
    #[cfg(any(test, feature = "testing"))]
    pub fn frame_count(&self) -> u8 {
        self.frames
    }

    /// Samples per frame at 48 kHz (Table 2 of RFC 6716).
    pub fn frame_samples(&self) -> u32 {
        let config = self.config();
        match config {
            // SILK: 10, 20, 40, 60 ms.
            0..=11 => [480, 960, 1920, 2880][usize::from(config % 4)],
            // Hybrid: 10, 20 ms.
            12..=15 => [480, 960][usize::from(config % 2)],
            // CELT: 2.5, 5, 10, 20 ms.
            _ => [120, 240, 480, 960][usize::from(config % 4)],
        }
    }

    /// Duration of the packet in 48 kHz samples: the RTP timestamp increment.
    pub fn duration_samples(&self) -> u32 {
        self.frame_samples() * u32::from(self.frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_follow_rfc6716_table() {
        // SILK NB 10 ms, one frame.
        assert_eq!(OpusPayload::parse(&[0x00]).unwrap().duration_samples(), 480);
        // SILK WB 60 ms (config 11), two frames (code 1) = 120 ms.
        assert_eq!(OpusPayload::parse(&[(11 << 3) | 1, 0]).unwrap().duration_samples(), 5760);
        // Hybrid FB 20 ms (config 15), code 2.
        let p = OpusPayload::parse(&[(15 << 3) | 2, 1, 0]).unwrap();
        assert_eq!((p.mode(), p.duration_samples()), (OpusMode::Hybrid, 1920));
        // CELT 2.5 ms (config 16), code 3 with 48 frames = 120 ms.
        assert_eq!(OpusPayload::parse(&[(16 << 3) | 3, 48]).unwrap().duration_samples(), 5760);
    }

    #[test]
    fn rejects_malformed() {
        assert_eq!(OpusPayload::parse(&[]), Err(RtpError::BadOpus("empty payload")));
        assert!(OpusPayload::parse(&[0x03]).is_err());
        assert!(OpusPayload::parse(&[0x03, 0x00]).is_err());
        // CELT 20 ms x 7 frames = 140 ms > 120 ms.
        assert!(OpusPayload::parse(&[(31 << 3) | 3, 7]).is_err());
    }
}
