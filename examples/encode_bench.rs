//! AV1 encode/decode bench: both encoders at 360p, 540p and 720p on moving synthetic
//! content (or a y4m file), paced like a 30 fps camera.
//!
//! For each encoder and size it prints: unpaced encode throughput (fps), capture-to-packet
//! latency p50/p95/p99 when pictures arrive every 33.3 ms, how many pictures finished
//! after the next one was due, achieved bitrate, luma PSNR of the dav1d-decoded output and
//! dav1d's decode time per picture.
//!
//! ```text
//! cargo run --release --example encode_bench -- [--frames 90] [--sizes 360,540,720]
//!     [--backends libaom,rav1e] [--write-y4m DIR] [--input clip.y4m] [--bitrate-scale 1.0]
//! ```
//! `--write-y4m DIR` also writes the synthetic content as `DIR/synthetic_<h>p.y4m`, so
//! the same pictures can be encoded by ffmpeg for comparison (docs/av1.md).

use std::path::Path;
use std::time::{Duration, Instant};

use sottovoce::pipeline::{BufferPool, LatencyHistogram, Timestamped};
use sottovoce::testing::media::{Y4mClip, Y4mWriter};
use sottovoce::video::av1::synthetic::{SyntheticScene, psnr_i420};
use sottovoce::video::{
    Av1Decoder, DecoderConfig, EncodedFrame, EncoderBackend, EncoderConfig, PixelFormat,
    VideoFrame, create_encoder,
};

const FPS: u32 = 30;

struct Args {
    frames: u64,
    sizes: Vec<(u32, u32)>,
    backends: Vec<EncoderBackend>,
    write_y4m: Option<String>,
    input: Option<String>,
    bitrate_scale: f64,
    threads: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        frames: 90,
        sizes: vec![(640, 360), (960, 540), (1280, 720)],
        backends: vec![EncoderBackend::Libaom, EncoderBackend::Rav1e],
        write_y4m: None,
        input: None,
        bitrate_scale: 1.0,
        threads: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--frames" => args.frames = value.parse().expect("--frames N"),
            "--sizes" => {
                args.sizes = value
                    .split(',')
                    .map(|h| match h {
                        "360" => (640, 360),
                        "540" => (960, 540),
                        "720" => (1280, 720),
                        "180" => (320, 180),
                        other => panic!("unknown size {other}"),
                    })
                    .collect()
            }
            "--backends" => {
                args.backends = value
                    .split(',')
                    .map(|b| match b {
                        "libaom" => EncoderBackend::Libaom,
                        "rav1e" => EncoderBackend::Rav1e,
                        other => panic!("unknown backend {other}"),
                    })
                    .collect()
            }
            "--write-y4m" => args.write_y4m = Some(value),
            "--input" => args.input = Some(value),
            "--bitrate-scale" => args.bitrate_scale = value.parse().expect("--bitrate-scale X"),
            "--threads" => args.threads = value.parse().expect("--threads N"),
            other => panic!("unknown flag {other}"),
        }
    }
    args
}

/// Call-typical bitrate for a size: 1 Mbit/s at 360p, 1.6 at 540p, 2.5 at 720p.
fn bitrate_for(width: u32, height: u32) -> u32 {
    match width * height {
        p if p <= 640 * 360 => 1_000_000,
        p if p <= 960 * 540 => 1_600_000,
        _ => 2_500_000,
    }
}

/// The pictures to encode: synthetic or read from a y4m file.
fn pictures(args: &Args, width: u32, height: u32) -> Vec<VideoFrame> {
    let pool = BufferPool::new(1, 0, 0);
    let now = Instant::now();
    if let Some(path) = &args.input {
        return read_y4m(path, args.frames);
    }
    let scene = SyntheticScene::new(width, height);
    (0..args.frames).map(|i| scene.frame(&pool, i, now).expect("frame")).collect()
}

fn read_y4m(path: &str, max_frames: u64) -> Vec<VideoFrame> {
    let clip = Y4mClip::read(Path::new(path), Some(max_frames as usize)).expect("read y4m");
    (0..clip.frames.len() as u64)
        .map(|i| {
            let data = clip.frame(i);
            VideoFrame::from_packed(
                PixelFormat::I420,
                clip.width,
                clip.height,
                data,
                Instant::now(),
                i,
            )
            .expect("y4m frame")
        })
        .collect()
}

fn write_y4m(path: &str, frames: &[VideoFrame]) {
    let mut out = Y4mWriter::create(Path::new(path), FPS).expect("create y4m");
    for frame in frames {
        out.write(frame).expect("write y4m");
    }
    out.finish().expect("write y4m");
}

struct Row {
    backend: EncoderBackend,
    size: (u32, u32),
    unpaced_fps: f64,
    latency: sottovoce::pipeline::LatencySummary,
    late: u64,
    bitrate: f64,
    psnr: f64,
    decode: sottovoce::pipeline::LatencySummary,
    held: u32,
}

/// A copy of `frame` (the paced run restamps capture instants).
fn copy_of(frame: &VideoFrame) -> VideoFrame {
    let (w, h) = (frame.width(), frame.height());
    VideoFrame::from_packed(
        PixelFormat::I420,
        w,
        h,
        &packed(frame),
        Instant::now(),
        frame.sequence(),
    )
    .expect("copy")
}

fn packed(frame: &VideoFrame) -> Vec<u8> {
    let dims = PixelFormat::I420.plane_dims(frame.width(), frame.height());
    let mut v = Vec::with_capacity(PixelFormat::I420.packed_len(frame.width(), frame.height()));
    for (plane, &(row, rows)) in dims.iter().enumerate() {
        for r in 0..rows {
            v.extend_from_slice(&frame.plane(plane)[r * frame.stride(plane)..][..row]);
        }
    }
    v
}

fn run(backend: EncoderBackend, pictures: &[VideoFrame], bitrate: u32, threads: usize) -> Row {
    let (w, h) = (pictures[0].width(), pictures[0].height());
    let mut config = EncoderConfig::new(w, h, FPS, bitrate).with_backend(backend);
    config.threads = threads;

    // Unpaced throughput: pictures back to back, including the final flush.
    let mut encoder = create_encoder(config.clone()).expect("encoder");
    let start = Instant::now();
    let mut sink = |_: EncodedFrame| {};
    for p in pictures {
        encoder.encode(p, &mut sink).expect("encode");
    }
    encoder.flush(&mut sink).expect("flush");
    let unpaced_fps = pictures.len() as f64 / start.elapsed().as_secs_f64();

    // Paced: a frame clock ticks every 1/30 s; each picture is stamped with its tick (the
    // camera's capture instant) and handed over at that tick, or as soon as the encoder is
    // free if it is running behind.
    let mut encoder = create_encoder(config).expect("encoder");
    let latency = LatencyHistogram::new();
    let interval = Duration::from_secs_f64(1.0 / f64::from(FPS));
    let mut packets: Vec<EncodedFrame> = Vec::with_capacity(pictures.len());
    let mut late = 0;
    let mut stamped: Vec<VideoFrame> = pictures.iter().map(copy_of).collect();
    let t0 = Instant::now() + Duration::from_millis(20);
    for (i, picture) in stamped.iter_mut().enumerate() {
        let tick = t0 + interval * i as u32;
        let now = Instant::now();
        if now < tick {
            std::thread::sleep(tick - now);
        }
        picture.set_capture_time(tick);
        encoder
            .encode(picture, &mut |p| {
                latency.record(p.capture_time().elapsed());
                packets.push(p);
            })
            .expect("encode");
        if Instant::now() > tick + interval {
            late += 1;
        }
    }
    encoder
        .flush(&mut |p| {
            latency.record(p.capture_time().elapsed());
            packets.push(p);
        })
        .expect("flush");
    let held = packets.iter().map(|p| p.frames_held()).max().unwrap_or(0);

    let bytes: usize = packets.iter().map(|p| p.data().len()).sum();
    let bitrate = bytes as f64 * 8.0 * f64::from(FPS) / pictures.len() as f64;

    let mut decoder = Av1Decoder::new(DecoderConfig::default()).expect("dav1d");
    let decode = LatencyHistogram::new();
    let mut psnr_sum = 0.0;
    let mut count = 0;
    for p in &packets {
        let start = Instant::now();
        let mut out = None;
        decoder.decode_frame(p, &mut |f| out = Some(f)).expect("decode");
        decode.record(start.elapsed());
        let out = out.expect("picture");
        psnr_sum += psnr_i420(&pictures[p.input_sequence() as usize], &out).expect("size").y;
        count += 1;
    }
    Row {
        backend,
        size: (w, h),
        unpaced_fps,
        latency: latency.summary(),
        late,
        bitrate,
        psnr: psnr_sum / f64::from(count),
        decode: decode.summary(),
        held,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e3)
}

fn main() {
    let args = parse_args();
    let sizes = if args.input.is_some() { vec![(0, 0)] } else { args.sizes.clone() };
    println!(
        "| encoder | size | encode fps (unpaced) | capture→packet p50 / p95 / p99 ms | late frames | held | bitrate kbit/s (target) | Y PSNR dB | dav1d decode p50 / p95 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for &(w, h) in &sizes {
        let pics = pictures(&args, w, h);
        let (w, h) = (pics[0].width(), pics[0].height());
        if let Some(dir) = &args.write_y4m {
            write_y4m(&format!("{dir}/synthetic_{h}p.y4m"), &pics);
        }
        let target = (f64::from(bitrate_for(w, h)) * args.bitrate_scale) as u32;
        for &backend in &args.backends {
            let r = run(backend, &pics, target, args.threads);
            println!(
                "| {:?} | {}x{} | {:.1} | {} / {} / {} | {}/{} | {} | {:.0} ({}) | {:.2} | {} / {} |",
                r.backend,
                r.size.0,
                r.size.1,
                r.unpaced_fps,
                ms(r.latency.p50),
                ms(r.latency.p95),
                ms(r.latency.p99),
                r.late,
                pics.len(),
                r.held,
                r.bitrate / 1000.0,
                target / 1000,
                r.psnr,
                ms(r.decode.p50),
                ms(r.decode.p95),
            );
        }
    }
}
