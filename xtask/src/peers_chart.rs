//! The chart of a `cargo xtask bench peers` run: an SVG (plotters) of
//! records/s and CPU seconds per million records, per client and codec,
//! one column per mode (consume, produce). Bars are medians over the runs,
//! whiskers the min and max.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// What one bar shows: a client's median and spread for one codec.
pub(crate) struct Bar {
    pub(crate) client: String,
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

/// One mode's figures for one metric: per codec, a bar per client.
pub(crate) struct Panel {
    pub(crate) mode: String,
    pub(crate) metric: Metric,
    pub(crate) codecs: Vec<(String, Vec<Bar>)>,
}

/// What a panel measures.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Metric {
    RecordsPerSecond,
    CpuPerMillion,
}

impl Metric {
    fn title(self) -> &'static str {
        match self {
            Metric::RecordsPerSecond => "records/s (higher is better)",
            Metric::CpuPerMillion => "client CPU s per 1M records (lower is better)",
        }
    }

    fn label(self, value: f64) -> String {
        match self {
            _ if value == 0.0 => "0".into(),
            Metric::RecordsPerSecond if value >= 1e6 => format!("{:.2}M", value / 1e6),
            Metric::RecordsPerSecond => format!("{:.0}k", value / 1e3),
            Metric::CpuPerMillion => format!("{value:.2}"),
        }
    }
}

/// Each client's colour, the same in every chart.
fn colour(client: &str) -> RGBColor {
    match client {
        "vltava" => RGBColor(0xd9, 0x5f, 0x02),
        "franz-go" => RGBColor(0x1b, 0x9e, 0x77),
        "rdkafka" => RGBColor(0x75, 0x70, 0xb3),
        "java" => RGBColor(0xe7, 0x29, 0x8a),
        "krafka" => RGBColor(0x66, 0xa6, 0x1e),
        "confluent-kafka" => RGBColor(0xa6, 0x76, 0x1d),
        _ => RGBColor(0x66, 0x66, 0x66),
    }
}

const WIDTH: u32 = 1200;
const PANEL_HEIGHT: u32 = 340;
const HEADER: u32 = 70;

/// Draws `panels` (rows: records/s, then CPU; columns: modes) under
/// `title`, with a legend of `clients`, to `path`.
pub(crate) fn write(
    path: &Path,
    title: &str,
    subtitle: &str,
    clients: &[String],
    panels: &[Panel],
) -> Result<(), String> {
    let modes: Vec<&str> = {
        let mut modes: Vec<&str> = Vec::new();
        for panel in panels {
            if !modes.contains(&panel.mode.as_str()) {
                modes.push(&panel.mode);
            }
        }
        modes
    };
    if modes.is_empty() {
        return Err("no results to chart".into());
    }
    let height = HEADER + 2 * PANEL_HEIGHT;
    let root = SVGBackend::new(path, (WIDTH, height)).into_drawing_area();
    draw(&root, title, subtitle, clients, &modes, panels)
        .map_err(|e| format!("drawing {}: {e}", path.display()))?;
    root.present()
        .map_err(|e| format!("writing {}: {e}", path.display()))
}

type Area<DB> = DrawingArea<DB, plotters::coord::Shift>;

fn draw<DB: DrawingBackend>(
    root: &Area<DB>,
    title: &str,
    subtitle: &str,
    clients: &[String],
    modes: &[&str],
    panels: &[Panel],
) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let (header, body) = root.split_vertically(HEADER);
    header
        .draw(&Text::new(title, (20, 10), ("sans-serif", 20).into_font()))
        .map_err(|e| fail(&e))?;
    header
        .draw(&Text::new(
            subtitle,
            (20, 36),
            ("sans-serif", 13)
                .into_font()
                .color(&RGBColor(0x44, 0x44, 0x44)),
        ))
        .map_err(|e| fail(&e))?;
    // The legend, top right: a swatch and the name, each as wide as it needs.
    let entry = |client: &String| 30 + 8 * client.len() as i32;
    let mut x = WIDTH as i32 - 20 - clients.iter().map(entry).sum::<i32>();
    for client in clients {
        header
            .draw(&Rectangle::new(
                [(x, 56), (x + 14, 68)],
                colour(client).filled(),
            ))
            .map_err(|e| fail(&e))?;
        header
            .draw(&Text::new(
                client.as_str(),
                (x + 20, 55),
                ("sans-serif", 13).into_font(),
            ))
            .map_err(|e| fail(&e))?;
        x += entry(client);
    }
    let cells = body.split_evenly((2, modes.len()));
    for (row, metric) in [Metric::RecordsPerSecond, Metric::CpuPerMillion]
        .into_iter()
        .enumerate()
    {
        for (column, mode) in modes.iter().enumerate() {
            let cell = &cells[row * modes.len() + column];
            let panel = panels
                .iter()
                .find(|p| p.mode == *mode && p.metric == metric);
            if let Some(panel) = panel {
                draw_panel(cell, root, panel, clients).map_err(|e| fail(&e))?;
            }
        }
    }
    Ok(())
}

/// The top of a panel's value axis: above every whisker, unless one
/// client's figures dwarf the others' (over 2.5 times the next client's
/// highest), which are then drawn to a scale of their own and the
/// outlier's bars cut at the top.
fn axis_top(panel: &Panel, clients: &[String]) -> f64 {
    let mut highest: Vec<f64> = clients
        .iter()
        .map(|client| {
            panel
                .codecs
                .iter()
                .flat_map(|(_, bars)| bars.iter().filter(|b| &b.client == client))
                .map(|b| b.max)
                .fold(0.0_f64, f64::max)
        })
        .collect();
    highest.sort_by(|a, b| b.total_cmp(a));
    let top = match highest.as_slice() {
        [first, second, ..] if *second > 0.0 && *first > 2.5 * second => second * 1.3,
        [first, ..] => first * 1.15,
        [] => 0.0,
    };
    if top > 0.0 { top } else { 1.0 }
}

/// One panel: a group of bars per codec, codec names under the axis.
fn draw_panel<DB: DrawingBackend>(
    cell: &Area<DB>,
    root: &Area<DB>,
    panel: &Panel,
    clients: &[String],
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let top = axis_top(panel, clients);
    let groups = panel.codecs.len().max(1) as f64;
    let mut chart = ChartBuilder::on(cell)
        .caption(
            format!("{}: {}", panel.mode, panel.metric.title()),
            ("sans-serif", 15),
        )
        .margin(12)
        .x_label_area_size(24)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..groups, 0.0..top)?;
    let metric = panel.metric;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(6)
        .y_label_formatter(&|v| metric.label(*v))
        .label_style(("sans-serif", 12))
        .draw()?;
    // Each codec's group spans 0.8 of its unit; bars in client order, a
    // slot kept for a client without a result so colours line up.
    let width = 0.8 / clients.len().max(1) as f64;
    for (group, (codec, bars)) in panel.codecs.iter().enumerate() {
        let left = group as f64 + 0.1;
        for (slot, client) in clients.iter().enumerate() {
            let Some(bar) = bars.iter().find(|b| &b.client == client) else {
                continue;
            };
            let x0 = left + slot as f64 * width;
            let x1 = x0 + width * 0.9;
            let centre = (x0 + x1) / 2.0;
            let style = ("sans-serif", 10).into_font().into_text_style(cell);
            if bar.median > top {
                // Off the scale (the JVM's CPU): cut at the top, with its
                // value written inside.
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x1, top)],
                    colour(client).filled(),
                )))?;
                chart.draw_series(std::iter::once(Text::new(
                    format!("{} ↑", metric.label(bar.median)),
                    (centre, top * 0.98),
                    style.pos(Pos::new(HPos::Center, VPos::Top)),
                )))?;
                continue;
            }
            chart.draw_series(std::iter::once(Rectangle::new(
                [(x0, 0.0), (x1, bar.median)],
                colour(client).filled(),
            )))?;
            let whisker = BLACK.stroke_width(1);
            let high = bar.max.min(top);
            chart.draw_series([
                PathElement::new(vec![(centre, bar.min), (centre, high)], whisker),
                PathElement::new(
                    vec![(centre - width * 0.2, high), (centre + width * 0.2, high)],
                    whisker,
                ),
                PathElement::new(
                    vec![
                        (centre - width * 0.2, bar.min),
                        (centre + width * 0.2, bar.min),
                    ],
                    whisker,
                ),
            ])?;
            chart.draw_series(std::iter::once(Text::new(
                metric.label(bar.median),
                (centre, high),
                style.pos(Pos::new(HPos::Center, VPos::Bottom)),
            )))?;
        }
        // The codec's name under its group, in the root's pixels.
        let (px, py) = chart.backend_coord(&(group as f64 + 0.5, 0.0));
        root.draw(&Text::new(
            codec.as_str(),
            (px, py + 6),
            ("sans-serif", 13)
                .into_font()
                .into_text_style(root)
                .pos(Pos::new(HPos::Center, VPos::Top)),
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(client: &str, median: f64) -> Bar {
        Bar {
            client: client.into(),
            median,
            min: median * 0.9,
            max: median * 1.1,
        }
    }

    fn panel(mode: &str, metric: Metric, java: f64) -> Panel {
        Panel {
            mode: mode.into(),
            metric,
            codecs: ["none", "zstd"]
                .into_iter()
                .map(|codec| {
                    let bars = vec![bar("vltava", 2.0), bar("franz-go", 1.0), bar("java", java)];
                    (codec.to_owned(), bars)
                })
                .collect(),
        }
    }

    #[test]
    fn the_chart_has_every_mode_codec_and_client_and_cuts_an_outlier() {
        let clients: Vec<String> = ["vltava", "franz-go", "java"].map(String::from).to_vec();
        let panels = vec![
            panel("consume", Metric::RecordsPerSecond, 1.5),
            panel("consume", Metric::CpuPerMillion, 20.0),
            panel("produce", Metric::RecordsPerSecond, 1.5),
            panel("produce", Metric::CpuPerMillion, 1.5),
        ];
        let path = std::env::temp_dir().join(format!("peers-chart-{}.svg", std::process::id()));
        write(&path, "title", "subtitle", &clients, &panels).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        for text in [
            "consume: records/s",
            "produce: client CPU s per 1M records",
            "none",
            "zstd",
            "vltava",
            "franz-go",
            "java",
        ] {
            assert!(svg.contains(text), "no `{text}` in the chart");
        }
        // The JVM's 20 s is cut (on the consume CPU panel only, twice).
        assert_eq!(svg.matches("20.00 ↑").count(), 2);
        assert_eq!(svg.matches('↑').count(), 2);
    }

    #[test]
    fn the_axis_follows_the_highest_whisker_unless_one_client_dwarfs_the_rest() {
        let clients: Vec<String> = ["vltava", "franz-go", "java"].map(String::from).to_vec();
        let even = panel("produce", Metric::CpuPerMillion, 1.5);
        assert!((axis_top(&even, &clients) - 2.2 * 1.15).abs() < 1e-9);
        let outlier = panel("produce", Metric::CpuPerMillion, 20.0);
        assert!((axis_top(&outlier, &clients) - 2.2 * 1.3).abs() < 1e-9);
    }

    #[test]
    fn nothing_to_chart_is_an_error() {
        let path = std::env::temp_dir().join("peers-chart-empty.svg");
        assert!(write(&path, "t", "s", &[], &[]).is_err());
    }
}
