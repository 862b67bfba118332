//! Bad input to the decoder: garbage, truncation and corruption give typed errors (never a
//! panic), and the decoder recovers at the next keyframe.

mod av1_support;

use av1_support::{Clock, decoder};
use sottovoce::pipeline::BufferPool;
use sottovoce::video::av1::synthetic::{SyntheticScene, psnr_i420};
use sottovoce::video::{
    EncodedFrame, EncoderBackend, EncoderConfig, VideoCodecError, VideoFrame, create_encoder,
};

/// 30 pictures of 320x180 from libaom, keyframes at 0 and 20, with their sources.
fn stream() -> (Vec<VideoFrame>, Vec<EncodedFrame>) {
    let config = EncoderConfig::new(320, 180, 30, 400_000).with_backend(EncoderBackend::Libaom);
    let mut encoder = create_encoder(config).unwrap();
    let scene = SyntheticScene::new(320, 180);
    let clock = Clock::new(30);
    let pool = BufferPool::new(32, 0, 0);
    let (mut sources, mut packets) = (Vec::new(), Vec::new());
    for i in 0..30 {
        if i == 20 {
            encoder.request_keyframe();
        }
        let frame = scene.frame(&pool, i, clock.at(i)).unwrap();
        encoder.encode(&frame, &mut |p| packets.push(p)).unwrap();
        sources.push(frame);
    }
    assert!(packets[0].is_keyframe() && packets[20].is_keyframe());
    (sources, packets)
}

/// Deterministic pseudo-random bytes (xorshift).
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn decode(
    decoder: &mut sottovoce::video::Av1Decoder,
    packet: &EncodedFrame,
) -> Result<Vec<VideoFrame>, VideoCodecError> {
    let mut out = Vec::new();
    decoder.decode_frame(packet, &mut |f| out.push(f))?;
    Ok(out)
}

#[test]
fn garbage_never_panics_and_is_refused() {
    let mut decoder = decoder();
    let now = std::time::Instant::now();
    for seed in 0..300u64 {
        let bytes = noise(seed, 1 + (seed as usize * 37) % 2000);
        let result = decoder.decode(&bytes, now, seed, &mut |_| {});
        assert!(result.is_err(), "garbage {seed} accepted");
    }
    // Valid OBU framing around garbage payload, claiming to be a keyframe: refused by
    // dav1d or decoded to something, but never a panic.
    for seed in 0..100u64 {
        let payload = noise(seed, 200);
        let mut packet = vec![0x12, 0x00, 0x0a, 0x0b];
        packet.extend_from_slice(&noise(seed + 1000, 11));
        packet[4] &= 0x1f; // profile 0
        packet.extend_from_slice(&[
            0x32,
            0x80 | (payload.len() as u8 & 0x7f),
            (payload.len() >> 7) as u8,
        ]);
        packet.extend_from_slice(&payload);
        let _ = decoder.decode(&packet, now, seed, &mut |_| {});
    }
}

#[test]
fn truncated_packets_are_refused_and_decoding_recovers_at_the_next_keyframe() {
    let (sources, packets) = stream();
    let mut decoder = decoder();
    for p in &packets[..5] {
        assert_eq!(decode(&mut decoder, p).unwrap().len(), 1);
    }
    // Packet 5 arrives cut short.
    let data = packets[5].data();
    let cut = &data[..data.len() * 2 / 3];
    let err = decoder.decode(cut, std::time::Instant::now(), 5, &mut |_| {}).unwrap_err();
    assert!(matches!(err, VideoCodecError::Malformed(_)), "{err}");
    assert!(decoder.is_awaiting_keyframe());
    // Inter frames depending on the lost one are dropped, not decoded into garbage.
    for p in &packets[6..20] {
        assert!(matches!(decode(&mut decoder, p), Err(VideoCodecError::AwaitingKeyframe)));
    }
    // The keyframe at 20 restores clean pictures.
    for p in &packets[20..] {
        let out = decode(&mut decoder, p).unwrap();
        let psnr = psnr_i420(&sources[p.input_sequence() as usize], &out[0]).unwrap();
        assert!(psnr.y > 30.0, "picture {} after recovery: {psnr:?}", p.input_sequence());
    }
    let stats = decoder.stats();
    assert_eq!((stats.errors, stats.skipped_awaiting_keyframe, stats.pictures), (1, 14, 15));
}

#[test]
fn every_truncation_of_a_keyframe_is_survived() {
    let (_, packets) = stream();
    let key = packets[0].data();
    let mut decoder = decoder();
    let now = std::time::Instant::now();
    for len in 0..key.len() {
        // An error or (for a cut between OBUs) no picture; never a panic.
        let mut pictures = 0;
        let result = decoder.decode(&key[..len], now, 0, &mut |_| pictures += 1);
        assert!(result.is_err() || pictures == 0, "truncation to {len} bytes gave a picture");
    }
    let mut pictures = 0;
    decoder.decode_frame(&packets[0], &mut |_| pictures += 1).unwrap();
    assert_eq!(pictures, 1, "the full keyframe still decodes");
}

#[test]
fn corrupted_payloads_do_not_panic_and_the_next_keyframe_is_clean() {
    let (sources, packets) = stream();
    let mut decoder = decoder();
    let now = std::time::Instant::now();
    for (i, p) in packets[..20].iter().enumerate() {
        let mut bytes = p.data().to_vec();
        if i >= 3 {
            // Flip bits in the second half (tile data); the framing stays intact.
            let n = bytes.len();
            for (k, byte) in bytes[n / 2..].iter_mut().enumerate() {
                if k % 7 == 0 {
                    *byte ^= 0x5a;
                }
            }
        }
        let _ = decoder.decode(&bytes, now, i as u64, &mut |_| {});
    }
    for p in &packets[20..] {
        let out = decode(&mut decoder, p).unwrap();
        let psnr = psnr_i420(&sources[p.input_sequence() as usize], &out[0]).unwrap();
        assert!(psnr.y > 30.0, "picture {}: {psnr:?}", p.input_sequence());
    }
}

#[test]
fn the_decoder_waits_for_a_keyframe_at_the_start() {
    let (_, packets) = stream();
    let mut decoder = decoder();
    assert!(matches!(decode(&mut decoder, &packets[1]), Err(VideoCodecError::AwaitingKeyframe)));
    assert_eq!(decode(&mut decoder, &packets[0]).unwrap().len(), 1);
}
