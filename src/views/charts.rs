//! Server-rendered SVG charts for the results pages: the pass rate of recent
//! runs (line and area), run durations (bars), a test's durations with its
//! median, and a status strip (one square per run). Pure string building, no
//! I/O; every chart has a fixed `viewBox` so CSS scales it, `role="img"`, an
//! `aria-label` and a `<title>` that say in words what it shows, and points
//! that link to their run with a `<title>` tooltip. Colours are presentation
//! attributes (the Content-Security-Policy forbids inline `style`), so a chart
//! reads right even without the stylesheet.
//!
//! # Escaping invariant
//!
//! Templates print a [`Chart`] with askama's `|safe` filter, which turns off
//! HTML escaping. That is sound only because a `Chart` can be made by this
//! module alone (its field is private), and this module builds every chart
//! from (1) fixed markup, (2) numbers it formats itself and (3) caller text
//! (labels, ticks, links) passed through [`esc`] first. Keep it that way: no
//! constructor that takes markup, no caller string formatted in unescaped.

mod scale;
#[cfg(test)]
mod tests;

use std::fmt;

pub use scale::{axis_ms, human_ms, median, nice_ms_axis};
use scale::{esc, num};

/// Finished markup: an `<svg>` element, or a `<p class="chart-empty">` when
/// there is too little data for a chart. Safe to print unescaped (see the
/// module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart(String);

impl Chart {
    fn empty(message: &str) -> Chart {
        Chart(format!("<p class=\"chart-empty\">{}</p>", esc(message)))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a chart rather than the empty-state sentence.
    pub fn is_svg(&self) -> bool {
        self.0.starts_with("<svg")
    }
}

impl fmt::Display for Chart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a run or result is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Passed: green.
    Ok,
    /// Failed, or a test that errored: red.
    Fail,
    /// Flaky: amber.
    Flaky,
    /// Skipped, running, or a run that errored before reporting: grey.
    Neutral,
}

impl Tone {
    /// From a run status (`running passed failed errored`) or a result
    /// status (`passed failed error skipped flaky`).
    pub fn of_status(status: &str) -> Tone {
        match status {
            "passed" => Tone::Ok,
            "failed" | "error" => Tone::Fail,
            "flaky" => Tone::Flaky,
            _ => Tone::Neutral,
        }
    }

    fn class(self) -> &'static str {
        match self {
            Tone::Ok => "ok",
            Tone::Fail => "fail",
            Tone::Flaky => "flaky",
            Tone::Neutral => "neutral",
        }
    }

    fn fill(self) -> &'static str {
        match self {
            Tone::Ok => "#1a7f4b",
            Tone::Fail => "#b42318",
            Tone::Flaky => "#d08c00",
            Tone::Neutral => "#98a2b3",
        }
    }
}

/// One run (or one result of a test), oldest first in every slice.
#[derive(Debug, Clone)]
pub struct Point {
    /// Where the point links (the run's page).
    pub href: String,
    /// The tooltip: what the point is, in words.
    pub label: String,
    /// A short x-axis label ("12 Mar"); the first, middle and last are shown.
    pub tick: String,
    pub tone: Tone,
    /// 0–100; `None` when there were no tests to pass.
    pub pass_rate: Option<f64>,
    pub duration_ms: Option<i64>,
}

const WIDTH: f64 = 960.0;
const LEFT: f64 = 52.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 24.0;
const GRID: &str = "#e3e6eb";
const INK: &str = "#667085";

fn open(class: &str, height: f64, summary: &str) -> String {
    let summary = esc(summary);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart {class}\" viewBox=\"0 0 {WIDTH} {h}\" \
         role=\"img\" aria-label=\"{summary}\" font-family=\"system-ui, sans-serif\" font-size=\"11\">\
         <title>{summary}</title>",
        h = num(height)
    )
}

/// A horizontal grid line at `y` with `label` left of the plot.
fn grid_line(svg: &mut String, y: f64, label: &str) {
    svg.push_str(&format!(
        "<line x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{GRID}\"/>\
         <text x=\"{tx}\" y=\"{ty}\" text-anchor=\"end\" fill=\"{INK}\">{label}</text>",
        x2 = num(WIDTH - RIGHT),
        y = num(y),
        tx = num(LEFT - 6.0),
        ty = num(y + 4.0),
        label = esc(label),
    ));
}

/// The first, middle (from five points on) and last tick labels under the plot.
fn x_ticks(svg: &mut String, points: &[Point], height: f64, x: impl Fn(usize) -> f64) {
    let last = points.len() - 1;
    let mut shown = vec![(0, "start")];
    if points.len() >= 5 {
        shown.push((last / 2, "middle"));
    }
    if last > 0 {
        shown.push((last, "end"));
    }
    let mut previous = None;
    for (i, anchor) in shown {
        // Runs of one day share a tick; say it once.
        if previous == Some(&points[i].tick) {
            continue;
        }
        previous = Some(&points[i].tick);
        svg.push_str(&format!(
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" fill=\"{INK}\">{}</text>",
            num(x(i)),
            num(height - 7.0),
            esc(&points[i].tick)
        ));
    }
}

/// `shape` with the point's tooltip, opened by a click (`data-href`, read by
/// static/app.js). Points are for the mouse, and not links: a chart is an
/// image to assistive technology (`role="img"` and its summary in words),
/// and a link inside it would be an interactive element inside another.
/// The table beside every chart has the same links for the keyboard and
/// screen readers.
fn linked(svg: &mut String, p: &Point, shape: &str, attrs: String) {
    svg.push_str(&format!(
        "<{shape} class=\"pt {}\" data-href=\"{}\" {attrs}><title>{}</title></{shape}>",
        p.tone.class(),
        esc(&p.href),
        esc(&p.label)
    ));
}

/// Pass rate (0–100 %) of recent runs as a line over a light area, one
/// marker per run linking to it; failed runs are red, larger markers. Runs
/// without tests break the line and sit on the baseline in their colour.
pub fn pass_rate_chart(points: &[Point]) -> Chart {
    let rates: Vec<f64> = points.iter().filter_map(|p| p.pass_rate).collect();
    if points.len() < 2 || rates.is_empty() {
        return Chart::empty("The pass-rate chart appears after two finished runs.");
    }
    let height = 200.0;
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, height - TOP - BOTTOM);
    // Slot centres, as in the duration bars, so one run sits at the same x in both charts.
    let slot = plot_w / points.len() as f64;
    let x = |i: usize| LEFT + slot * (i as f64 + 0.5);
    let lowest = rates.iter().copied().fold(100.0, f64::min);
    let bottom = axis_floor(lowest);
    let y = |rate: f64| TOP + plot_h * (1.0 - ((rate - bottom) / (100.0 - bottom)).clamp(0.0, 1.0));
    let failed = points.iter().filter(|p| p.tone == Tone::Fail).count();
    let axis = if bottom > 0.0 { format!("; the axis runs from {}% to 100%", num(bottom)) } else { String::new() };
    let summary = format!(
        "Pass rate of the last {} runs: latest {}%, lowest {}%; {failed} failed{axis}",
        points.len(),
        num(*rates.last().unwrap_or(&0.0)),
        num(lowest)
    );
    let mut svg = open("pass-rate", height, &summary);
    for rate in [bottom, (bottom + 100.0) / 2.0, 100.0] {
        grid_line(&mut svg, y(rate), &format!("{}%", num(rate)));
    }
    if bottom > 0.0 {
        svg.push_str(&format!(
            "<text class=\"axis-note\" x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"{INK}\">axis from {}%</text>",
            num(WIDTH - RIGHT),
            num(TOP + 10.0),
            num(bottom)
        ));
    }
    // Each run of consecutive rated points is one line with its area.
    let mut start = 0;
    while start < points.len() {
        if points[start].pass_rate.is_none() {
            start += 1;
            continue;
        }
        let end = (start..points.len()).find(|&i| points[i].pass_rate.is_none()).unwrap_or(points.len());
        let line: Vec<String> =
            (start..end).map(|i| format!("{},{}", num(x(i)), num(y(points[i].pass_rate.unwrap_or(0.0))))).collect();
        svg.push_str(&format!(
            "<path class=\"area\" d=\"M{},{} L{} L{},{} Z\" fill=\"#1a7f4b\" fill-opacity=\"0.10\"/>\
             <path class=\"line\" d=\"M{}\" fill=\"none\" stroke=\"#1a7f4b\" stroke-width=\"2\" stroke-linejoin=\"round\"/>",
            num(x(start)),
            num(y(bottom)),
            line.join(" L"),
            num(x(end - 1)),
            num(y(bottom)),
            line.join(" L"),
        ));
        start = end;
    }
    for (i, p) in points.iter().enumerate() {
        let r = if p.tone == Tone::Fail { 6.0 } else { 4.5 };
        let attrs = format!(
            "cx=\"{}\" cy=\"{}\" r=\"{r}\" fill=\"{}\" stroke=\"#fff\" stroke-width=\"1.5\"",
            num(x(i)),
            num(y(p.pass_rate.unwrap_or(bottom))),
            p.tone.fill()
        );
        linked(&mut svg, p, "circle", attrs);
    }
    x_ticks(&mut svg, points, height, x);
    svg.push_str("</svg>");
    Chart(svg)
}

/// Where the pass-rate axis starts: 0 % unless every run is high, then the
/// highest of 50, 80, 90, 95, 98 and 99 % that leaves the lowest run a
/// quarter of its distance to 100 % above the axis, so runs between 98 %
/// and 100 % do not sit on one line.
pub fn axis_floor(lowest: f64) -> f64 {
    let margin = (100.0 - lowest) * 0.25;
    [99.0, 98.0, 95.0, 90.0, 80.0, 50.0].into_iter().find(|f| *f <= lowest - margin).unwrap_or(0.0)
}

/// Bars of durations on a rounded time axis, coloured by status, with an
/// optional dashed median line.
fn duration_bars(points: &[Point], class: &str, height: f64, summary: &str, p50: Option<i64>) -> Chart {
    let max = points.iter().filter_map(|p| p.duration_ms).max().unwrap_or(0);
    let (step, top_ms) = nice_ms_axis(max, 3);
    let (plot_w, plot_h) = (WIDTH - LEFT - RIGHT, height - TOP - BOTTOM);
    let y = |ms: i64| TOP + plot_h * (1.0 - ms.clamp(0, top_ms) as f64 / top_ms as f64);
    let mut svg = open(class, height, summary);
    for k in 0..=top_ms / step {
        grid_line(&mut svg, y(k * step), &axis_ms(k * step));
    }
    let slot = plot_w / points.len() as f64;
    let bar = (slot * 0.7).clamp(1.0, 28.0);
    let centre = |i: usize| LEFT + slot * (i as f64 + 0.5);
    for (i, p) in points.iter().enumerate() {
        let Some(ms) = p.duration_ms else { continue };
        // A zero-length bar would vanish; keep a sliver to hover.
        let top = y(ms).min(y(0) - 1.5);
        let attrs = format!(
            "x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"1.5\" fill=\"{}\"",
            num(centre(i) - bar / 2.0),
            num(top),
            num(bar),
            num(y(0) - top),
            p.tone.fill()
        );
        linked(&mut svg, p, "rect", attrs);
    }
    if let Some(p50) = p50 {
        let py = num(y(p50));
        svg.push_str(&format!(
            "<line class=\"p50\" x1=\"{LEFT}\" x2=\"{x2}\" y1=\"{py}\" y2=\"{py}\" stroke=\"#2f5bd3\" \
             stroke-width=\"1.5\" stroke-dasharray=\"5 4\"/>\
             <text x=\"{x2}\" y=\"{ty}\" text-anchor=\"end\" fill=\"#2f5bd3\">p50 {label}</text>",
            x2 = num(WIDTH - RIGHT),
            ty = num((y(p50) - 4.0).max(TOP - 2.0)),
            label = esc(&human_ms(p50)),
        ));
    }
    x_ticks(&mut svg, points, height, centre);
    svg.push_str("</svg>");
    Chart(svg)
}

/// Total duration of recent runs, one bar per run.
pub fn run_duration_chart(points: &[Point]) -> Chart {
    let known: Vec<i64> = points.iter().filter_map(|p| p.duration_ms).collect();
    if points.len() < 2 || known.is_empty() {
        return Chart::empty("The duration chart appears after two finished runs.");
    }
    let summary = format!(
        "Duration of the last {} runs: latest {}, longest {}",
        points.len(),
        human_ms(*known.last().unwrap_or(&0)),
        human_ms(known.iter().copied().max().unwrap_or(0))
    );
    duration_bars(points, "durations", 130.0, &summary, None)
}

/// One test's duration in its recent results, with the median (p50) line;
/// `test` names it in the summary.
pub fn test_duration_chart(points: &[Point], test: &str) -> Chart {
    let p50 = median(points.iter().filter_map(|p| p.duration_ms));
    let Some(p50) = p50.filter(|_| points.len() >= 2) else {
        return Chart::empty("The duration chart appears after two results with a duration.");
    };
    let summary = format!("Duration of {test} in its last {} results; median (p50) {}", points.len(), human_ms(p50));
    duration_bars(points, "test-durations", 170.0, &summary, Some(p50))
}

/// One square per run or result, oldest left: green passed, red failed or
/// error, amber flaky, grey skipped, errored or running. `what` names the
/// squares in the summary ("runs", "results").
pub fn status_strip(points: &[Point], what: &str) -> Chart {
    if points.is_empty() {
        return Chart::empty(&format!("No {what} yet."));
    }
    let (size, gap) = (14.0, 4.0);
    let width = points.len() as f64 * (size + gap) - gap;
    let count = |tone: Tone| points.iter().filter(|p| p.tone == tone).count();
    let summary = format!(
        "Status of the last {} {what}, oldest first: {} passed, {} failed, {} flaky, {} other",
        points.len(),
        count(Tone::Ok),
        count(Tone::Fail),
        count(Tone::Flaky),
        count(Tone::Neutral)
    );
    let summary = esc(&summary);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart strip\" viewBox=\"0 0 {w} {size}\" \
         width=\"{w}\" height=\"{size}\" role=\"img\" aria-label=\"{summary}\"><title>{summary}</title>",
        w = num(width)
    );
    for (i, p) in points.iter().enumerate() {
        let attrs = format!(
            "x=\"{}\" y=\"0\" width=\"{size}\" height=\"{size}\" rx=\"3\" fill=\"{}\"",
            num(i as f64 * (size + gap)),
            p.tone.fill()
        );
        linked(&mut svg, p, "rect", attrs);
    }
    svg.push_str("</svg>");
    Chart(svg)
}
