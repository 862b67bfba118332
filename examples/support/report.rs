//! The final table and `--plot` of the example calls.

use std::path::Path;
use std::time::Duration;

use sottovoce::call::CallStats;
use sottovoce::call::probe::{LatencyRecorder, ProbeSummary};
use sottovoce::transport::impair::ImpairmentCounters;

type BoxError = Box<dyn std::error::Error>;

/// Everything measured for one direction of a call (one sender, one receiver).
pub struct DirectionReport {
    /// "alice -> bob".
    pub name: String,
    /// Media time of the call.
    pub seconds: f64,
    /// Statistics of the sending call (capture stages, bytes sent).
    pub sender: CallStats,
    /// Statistics of the receiving call (jitter buffer, decode, playout).
    pub receiver: CallStats,
    /// Mouth-to-ear measurements (audio markers), when audio was probed.
    pub mouth_to_ear: Option<LatencyRecorder>,
    /// Glass-to-glass measurements (frame-id stamps), when video was probed.
    pub glass_to_glass: Option<LatencyRecorder>,
    /// Jitter-buffer level sampled once per second (call time, level).
    pub jitter_buffer: Vec<(Duration, Duration)>,
    /// What the impairing relay did to this direction, if there was one.
    pub relay: Option<ImpairmentCounters>,
    /// Extra lines (video counters) printed under the table.
    pub notes: Vec<String>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn probe_row(label: &str, s: &ProbeSummary) -> String {
    if s.count == 0 {
        return format!("{label:<22} no measurement ({} probes missed)", s.missed);
    }
    format!(
        "{label:<22} p50 {:>6.1} ms  p95 {:>6.1} ms  p99 {:>6.1} ms  (min {:.1}, max {:.1}; {} measured, {} missed)",
        ms(s.p50),
        ms(s.p95),
        ms(s.p99),
        ms(s.min),
        ms(s.max),
        s.count,
        s.missed
    )
}

impl DirectionReport {
    /// Prints the table of this direction.
    pub fn print(&self) {
        let (tx, rx) = (&self.sender, &self.receiver);
        let j = &rx.jitter;
        println!("\n=== {} ({:.1} s) ===", self.name, self.seconds);
        if let Some(r) = &self.mouth_to_ear {
            println!("{}", probe_row("mouth-to-ear", &r.summary()));
        }
        if let Some(r) = &self.glass_to_glass {
            println!("{}", probe_row("glass-to-glass", &r.summary()));
        }
        let kbps = |bytes: u64| bytes as f64 * 8.0 / self.seconds.max(1e-3) / 1e3;
        println!(
            "audio bitrate (SRTP) sent {:.1} kbit/s, received {:.1} kbit/s; packets sent {}, received {}",
            kbps(tx.bytes_sent),
            kbps(rx.bytes_received),
            tx.packets_sent,
            rx.packets_received
        );
        if let (Some(vt), Some(vr)) = (&tx.video, &rx.video) {
            println!(
                "video bitrate (SRTP, with RTX) sent {:.1} kbit/s, received {:.1} kbit/s; encoder target {:.0} kbit/s, bandwidth estimate {:.0} kbit/s",
                kbps(vt.bytes_sent),
                kbps(vr.bytes_received),
                vt.encoder_bitrate_bps as f64 / 1e3,
                vt.estimated_bandwidth_bps as f64 / 1e3
            );
        }
        println!(
            "RTT (RTCP) {}, peer-reported loss audio {:.1} %, video {:.1} %",
            rx.rtt.map_or("-".into(), |r| format!("{:.1} ms", ms(r))),
            100.0 * tx.remote_audio_loss,
            100.0 * tx.remote_video_loss
        );
        if let Some(c) = &self.relay {
            println!(
                "network (relay): {} sent, {} lost ({:.1} %), {} queue drops, {} duplicated, {} reordered",
                c.sent,
                c.lost,
                100.0 * c.lost as f64 / c.sent.max(1) as f64,
                c.queue_drops,
                c.duplicated,
                c.reordered
            );
        }
        let expected = j.received + j.lost;
        println!(
            "audio receive: lost {} of {} ({:.1} %), FEC-recovered {}, late {}, concealed {:.0} ms, underflows {}",
            j.lost,
            expected,
            100.0 * j.lost as f64 / expected.max(1) as f64,
            j.fec_recovered,
            j.late,
            ms(j.concealed),
            j.underflows
        );
        println!(
            "jitter buffer: level {:.0} ms (target {:.0} ms), jitter {:.1} ms, accelerate {}, stretch {}, declined {}",
            ms(j.current_delay),
            ms(j.target_delay),
            ms(j.jitter),
            j.accelerated,
            j.stretched,
            j.time_scale_declined
        );
        println!(
            "errors: auth {} replay {} malformed {} send {} decode {}",
            rx.auth_failures, rx.replays, rx.malformed, tx.send_errors, rx.decode_errors
        );
        for note in &self.notes {
            println!("{note}");
        }
        println!(
            "{:<22} {:>8} {:>10} {:>10} {:>10}",
            "stage (processing)", "count", "p50", "p95", "p99"
        );
        for (stage, s) in self.stages() {
            println!(
                "{:<22} {:>8} {:>9.3}ms {:>9.3}ms {:>9.3}ms",
                stage,
                s.count,
                ms(s.p50),
                ms(s.p95),
                ms(s.p99)
            );
        }
    }

    /// Per-stage figures along the path: the sender's capture and send stages, then the
    /// receiver's.
    pub fn stages(&self) -> Vec<(String, sottovoce::pipeline::LatencySummary)> {
        // Stages on the sending side of the path; the rest run at the receiver.
        let send_side = |name: &str| {
            name.starts_with("capture")
                || matches!(
                    name,
                    "send" | "video.convert" | "video.encode" | "video.send" | "video.pacer"
                )
        };
        let mut out: Vec<_> = self
            .sender
            .stages
            .iter()
            .filter(|(name, s)| send_side(name) && s.count > 0)
            .map(|(name, s)| (format!("tx {name}"), *s))
            .collect();
        out.extend(
            self.receiver
                .stages
                .iter()
                .filter(|(name, s)| !send_side(name) && s.count > 0)
                .map(|(name, s)| (format!("rx {name}"), *s)),
        );
        out
    }
}

/// Video counters of one direction (sender's encoder, receiver's assembly and display).
pub fn video_notes(sender: &CallStats, receiver: &CallStats, seconds: f64) -> Vec<String> {
    let (Some(tx), Some(rx)) = (&sender.video, &receiver.video) else {
        return Vec::new();
    };
    vec![
        format!(
            "video send: {} captured, {} dropped before encode, {} encoded ({} keyframes, {:.1} fps), {} RTX sent for {} NACKed, {} keyframe requests, conversion on {}",
            tx.frames_captured,
            tx.frames_dropped_before_encode,
            tx.frames_encoded,
            tx.keyframes_encoded,
            tx.frames_encoded as f64 / seconds.max(1e-3),
            tx.retransmissions_sent,
            tx.nacked_by_peer,
            tx.keyframe_requests_received,
            tx.conversion_path
        ),
        format!(
            "video receive: {} decoded ({:.1} fps), {} lost, {} dropped before display, {} NACKs, {} RTX received, {} given up, {} PLI/FIR, {} freezes, frozen {:.0} ms, A/V offset {}",
            rx.frames_decoded,
            rx.frames_decoded as f64 / seconds.max(1e-3),
            rx.frames_lost,
            rx.frames_dropped_before_display,
            rx.nacks_sent,
            rx.retransmissions_received,
            rx.packets_given_up,
            rx.keyframe_requests_sent,
            rx.freezes,
            ms(rx.frozen),
            rx.av_offset_ms.map_or("-".into(), |o| format!("{o:.0} ms"))
        ),
    ]
}

/// Per direction (first, second): mouth-to-ear, glass-to-glass, jitter buffer.
const COLORS: [[plotters::style::RGBColor; 3]; 2] = [
    [
        plotters::style::RGBColor(190, 20, 20),
        plotters::style::RGBColor(240, 140, 0),
        plotters::style::RGBColor(230, 120, 120),
    ],
    [
        plotters::style::RGBColor(20, 40, 190),
        plotters::style::RGBColor(0, 170, 170),
        plotters::style::RGBColor(120, 140, 230),
    ],
];

/// Draws latency over time (mouth-to-ear, glass-to-glass, jitter-buffer level) and the
/// per-stage breakdown (p50 and p95) to `path`: PNG when the name ends in `.png`, SVG
/// otherwise (text laid out with DejaVu Sans, Debian `fonts-dejavu-core`).
pub fn plot(path: &Path, reports: &[DirectionReport]) -> Result<(), BoxError> {
    use plotters::prelude::*;
    let stage_rows = stage_rows(reports);
    let size = (1100, 480 + 22 * stage_rows.len() as u32 + 80);
    // Text is laid out with ab_glyph for both backends, so a font is needed either way.
    register_font()?;
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        let mut rgb = vec![0u8; (size.0 * size.1 * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut rgb, size).into_drawing_area();
            draw(&root, reports, &stage_rows)?;
            root.present()?;
        }
        let file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let mut encoder = png::Encoder::new(file, size.0, size.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.write_header()?.write_image_data(&rgb)?;
    } else {
        let root = SVGBackend::new(path, size).into_drawing_area();
        draw(&root, reports, &stage_rows)?;
        root.present()?;
    }
    Ok(())
}

/// Gives the bitmap backend a font (plotters draws no text without one).
fn register_font() -> Result<(), BoxError> {
    const FONTS: [&str; 2] = [
        "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
        "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    ];
    let bytes = FONTS.iter().find_map(|p| std::fs::read(p).ok()).ok_or(
        "PNG plots need DejaVu Sans (apt-get install fonts-dejavu-core); use --plot FILE.svg",
    )?;
    // plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", plotters::style::FontStyle::Normal, bytes)
        .map_err(|_| "DejaVu Sans could not be parsed")?;
    Ok(())
}

fn stage_rows(reports: &[DirectionReport]) -> Vec<(String, f64, f64)> {
    reports
        .iter()
        .flat_map(|r| {
            let short = r.name.replace(' ', "");
            r.stages()
                .into_iter()
                .map(move |(name, s)| (format!("{short} {name}"), ms(s.p50), ms(s.p95)))
        })
        .collect()
}

fn draw<DB: plotters::prelude::DrawingBackend>(
    root: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    reports: &[DirectionReport],
    stage_rows: &[(String, f64, f64)],
) -> Result<(), BoxError>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    root.fill(&WHITE)?;
    let (upper, lower) = root.split_vertically(480);
    let seconds = reports.iter().map(|r| r.seconds).fold(1.0, f64::max);
    // (label, points, colour, whether they are measurements drawn with dots)
    type Series = (String, Vec<(f64, f64)>, RGBColor, bool);
    let mut series: Vec<Series> = Vec::new();
    for (d, r) in reports.iter().enumerate() {
        let colors = COLORS[d % COLORS.len()];
        if let Some(rec) = &r.mouth_to_ear {
            series.push((
                format!("mouth-to-ear {}", r.name),
                points(rec.series()),
                colors[0],
                true,
            ));
        }
        if let Some(rec) = &r.glass_to_glass {
            let label = format!("glass-to-glass {}", r.name);
            series.push((label, points(rec.series()), colors[1], true));
        }
        let label = format!("jitter buffer {}", r.name);
        series.push((label, points(&r.jitter_buffer), colors[2], false));
    }
    let y_max =
        series.iter().flat_map(|(_, p, _, _)| p.iter().map(|&(_, y)| y)).fold(50.0, f64::max) * 1.1;
    let mut chart = ChartBuilder::on(&upper)
        .caption("latency over the call", ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..seconds * 1.05, 0.0..y_max)?;
    chart.configure_mesh().x_desc("call time (s)").y_desc("ms").draw()?;
    for (label, pts, color, markers) in series {
        let style = if markers { color.stroke_width(2) } else { color.mix(0.5).stroke_width(1) };
        chart
            .draw_series(LineSeries::new(pts.clone(), style))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        if markers {
            chart.draw_series(pts.iter().map(|&p| Circle::new(p, 2, color.filled())))?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 13))
        .draw()?;

    let rows = stage_rows.len().max(1) as f64;
    let x_max = stage_rows.iter().map(|r| r.2).fold(1.0, f64::max) * 1.6;
    let mut bars = ChartBuilder::on(&lower)
        .caption("per-stage processing time (bar: p50, black line: p95)", ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(35)
        .y_label_area_size(10)
        .build_cartesian_2d(0.0..x_max, 0.0..rows)?;
    bars.configure_mesh().disable_y_mesh().disable_y_axis().x_desc("ms").draw()?;
    let first = reports.first().map(|r| r.name.replace(' ', "")).unwrap_or_default();
    for (i, (name, p50, p95)) in stage_rows.iter().enumerate() {
        let y = rows - i as f64 - 1.0;
        let color = COLORS[usize::from(!name.starts_with(&first))][0];
        bars.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y + 0.15), (*p50, y + 0.85)],
            color.mix(0.6).filled(),
        )))?;
        bars.draw_series(std::iter::once(PathElement::new(
            vec![(*p95, y + 0.1), (*p95, y + 0.9)],
            BLACK.stroke_width(2),
        )))?;
        bars.draw_series(std::iter::once(Text::new(
            format!("{name}  {p50:.3} / {p95:.3} ms"),
            (p95.max(*p50) + x_max * 0.01, y + 0.75),
            ("sans-serif", 13),
        )))?;
    }
    Ok(())
}

fn points(series: &[(Duration, Duration)]) -> Vec<(f64, f64)> {
    series.iter().map(|&(t, l)| (t.as_secs_f64(), ms(l))).collect()
}
