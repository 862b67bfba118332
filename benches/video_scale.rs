//! Colour conversion and scaling per frame: the GPU path (upload + compute + readback,
//! three frames in flight) against the CPU path, in the same run.
//!
//! `cargo bench --bench video_scale -- --quick`
//!
//! Cases: 1920x1080 RGBA -> 1280x720 I420 (camera to encoder) and 1280x720 I420 ->
//! 640x360 I420 (a lower simulcast layer). Without any GPU adapter only the CPU rows run.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use sottovoce::gpu::GpuContext;
use sottovoce::video::{ConverterConfig, PathPreference, PixelFormat, VideoConverter, VideoFrame};

fn frame(format: PixelFormat, w: u32, h: u32) -> VideoFrame {
    let len = format.packed_len(w, h);
    // Smooth-ish varying content; speed does not depend on it.
    let data: Vec<u8> = (0..len).map(|i| ((i * 7 + i / 4096) % 251) as u8).collect();
    VideoFrame::from_packed(format, w, h, &data, Instant::now(), 0).expect("valid frame")
}

fn cases() -> [(&'static str, VideoFrame, ConverterConfig); 2] {
    [
        (
            "rgba_1080p_to_i420_720p",
            frame(PixelFormat::Rgba, 1920, 1080),
            ConverterConfig::new(PixelFormat::I420, 1280, 720),
        ),
        (
            "i420_720p_to_i420_360p",
            frame(PixelFormat::I420, 1280, 720),
            ConverterConfig::new(PixelFormat::I420, 640, 360),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let gpu = GpuContext::shared();
    match &gpu {
        Ok(g) => eprintln!("GPU adapter: {}", g.adapter()),
        Err(e) => eprintln!("no GPU adapter ({e}); only the CPU path is measured"),
    }
    for (name, input, config) in cases() {
        let mut group = c.benchmark_group(name);
        group.sample_size(10).warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(4));

        let mut cpu = VideoConverter::cpu(config).expect("cpu converter");
        group.bench_function("cpu", |b| {
            b.iter(|| black_box(cpu.convert(black_box(&input)).expect("convert")))
        });

        if let Ok(g) = &gpu {
            let pipelined = config.path(PathPreference::Gpu).in_flight(3);
            let mut on_gpu = VideoConverter::new(pipelined, Ok(g.clone())).expect("gpu converter");
            group.bench_function("gpu_pipelined", |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    let mut done = 0u64;
                    for _ in 0..iters {
                        on_gpu
                            .submit(&input, &mut |f| {
                                black_box(f);
                                done += 1;
                            })
                            .expect("submit");
                    }
                    on_gpu
                        .finish(&mut |f| {
                            black_box(f);
                            done += 1;
                        })
                        .expect("finish");
                    assert_eq!(done, iters);
                    start.elapsed()
                })
            });
            let mut sync = VideoConverter::new(config.path(PathPreference::Gpu), Ok(g.clone()))
                .expect("gpu converter");
            group.bench_function("gpu_sync", |b| {
                b.iter(|| black_box(sync.convert(black_box(&input)).expect("convert")))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
