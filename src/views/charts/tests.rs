//! Chart tests: well-formed XML, escaping of every caller string, empty
//! states, axis rounding and duration wording.

use quick_xml::events::Event;
use quick_xml::Reader;

use super::*;

const NASTY: &str = "<script>alert(1)</script> & \"quotes\" 'single'";

fn point(i: usize, status: &str, rate: Option<f64>, ms: Option<i64>) -> Point {
    Point {
        href: format!("/projects/p/runs/{i}?a=1&b=2"),
        label: format!("run {i} {NASTY}"),
        tick: format!("day {i} <b>"),
        tone: Tone::of_status(status),
        pass_rate: rate,
        duration_ms: ms,
    }
}

/// Parses the markup as XML; panics when it is not well-formed. Returns the
/// element names in document order.
fn elements(chart: &Chart) -> Vec<String> {
    let mut reader = Reader::from_str(chart.as_str());
    let mut names = Vec::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) | Ok(Event::Empty(e)) => {
                names.push(e.name().as_ref().to_string());
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => panic!("not well-formed: {e}\n{}", chart.as_str()),
        }
    }
    names
}

fn assert_safe(chart: &Chart) {
    let s = chart.as_str();
    assert!(!s.contains("<script"), "{s}");
    assert!(!s.contains("<b>"), "{s}");
    assert!(!s.contains("&b="), "raw ampersand: {s}");
    assert!(!s.contains("style="), "inline style is blocked by the CSP: {s}");
    elements(chart);
}

fn sample() -> Vec<Point> {
    vec![
        point(0, "passed", Some(100.0), Some(61_000)),
        point(1, "failed", Some(82.5), Some(83_000)),
        point(2, "errored", None, None),
        point(3, "passed", Some(100.0), Some(59_000)),
        point(4, "running", Some(97.0), Some(90_500)),
    ]
}

#[test]
fn pass_rate_chart_is_accessible_well_formed_and_escaped() {
    let chart = pass_rate_chart(&sample());
    assert!(chart.is_svg());
    assert_safe(&chart);
    let s = chart.as_str();
    assert!(s.contains("role=\"img\""));
    assert!(s.contains("aria-label=\"Pass rate of the last 5 runs: latest 97%, lowest 82.5%; 1 failed; the axis runs from 50% to 100%\""), "{s}");
    assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; &#39;single&#39;"));
    assert!(s.contains("data-href=\"/projects/p/runs/1?a=1&amp;b=2\""));
    for label in ["50%", "75%", "100%", "axis from 50%"] {
        assert!(s.contains(&format!(">{label}</text>")), "{label}");
    }
    // One marker per run, the failed one red; the errored run breaks the line.
    let names = elements(&chart);
    assert_eq!(names.iter().filter(|n| *n == "circle").count(), 5);
    assert_eq!(names.iter().filter(|n| *n == "a").count(), 0, "no link inside the image");
    assert_eq!(s.matches("class=\"line\"").count(), 2);
    assert!(s.contains("class=\"pt fail\" data-href=\"") && s.contains("r=\"6\" fill=\"#b42318\""));
    assert_eq!(names[0], "svg");
    assert_eq!(names[1], "title");
}

#[test]
fn too_little_data_gives_a_sentence_not_a_chart() {
    for points in [vec![], vec![point(0, "passed", Some(100.0), Some(10))]] {
        for chart in [pass_rate_chart(&points), run_duration_chart(&points), test_duration_chart(&points, "t")] {
            assert!(!chart.is_svg(), "{chart}");
            assert!(chart.as_str().starts_with("<p class=\"chart-empty\">"));
            elements(&chart);
        }
    }
    let no_rates = vec![point(0, "errored", None, None), point(1, "errored", None, None)];
    assert!(!pass_rate_chart(&no_rates).is_svg());
    assert!(!run_duration_chart(&no_rates).is_svg());
    assert_eq!(status_strip(&[], "runs").as_str(), "<p class=\"chart-empty\">No runs yet.</p>");
    // A single square is a fine strip.
    assert!(status_strip(&no_rates[..1], "runs").is_svg());
}

#[test]
fn duration_charts_round_the_axis_and_draw_the_median() {
    let chart = run_duration_chart(&sample());
    assert_safe(&chart);
    let s = chart.as_str();
    // Longest 90.5 s: ticks every minute up to 2 min.
    for label in [">0<", ">1 min<", ">2 min<"] {
        assert!(s.contains(label), "{label} in {s}");
    }
    assert!(s.contains("latest 1m 30s, longest 1m 30s"), "{s}");
    assert_eq!(elements(&chart).iter().filter(|n| *n == "rect").count(), 4, "no bar without a duration");

    let test = test_duration_chart(&sample(), NASTY);
    assert_safe(&test);
    let s = test.as_str();
    assert!(s.contains("class=\"p50\""));
    assert!(s.contains(">p50 1m 01s</text>"), "{s}");
    assert!(s.contains("<title>Duration of &lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;quotes&quot; &#39;single&#39; in its last 5 results; median (p50) 1m 01s</title>"), "{s}");
}

#[test]
fn zero_durations_still_draw() {
    let points = vec![point(0, "passed", Some(100.0), Some(0)), point(1, "passed", Some(100.0), Some(0))];
    let chart = run_duration_chart(&points);
    assert!(chart.is_svg());
    assert_safe(&chart);
    assert!(!chart.as_str().contains("NaN") && !chart.as_str().contains("inf"));
}

#[test]
fn status_strip_colours_each_status() {
    let points: Vec<Point> = ["passed", "failed", "error", "flaky", "skipped", "errored", "running"]
        .iter()
        .enumerate()
        .map(|(i, s)| point(i, s, None, None))
        .collect();
    let chart = status_strip(&points, "results <i>");
    assert_safe(&chart);
    let s = chart.as_str();
    assert!(s.contains("1 passed, 2 failed, 1 flaky, 3 other"), "{s}");
    assert!(s.contains("results &lt;i&gt;"));
    assert_eq!(s.matches("fill=\"#1a7f4b\"").count(), 1);
    assert_eq!(s.matches("fill=\"#b42318\"").count(), 2);
    assert_eq!(s.matches("fill=\"#d08c00\"").count(), 1);
    assert_eq!(s.matches("fill=\"#98a2b3\"").count(), 3);
    assert_eq!(s.matches("<title>").count(), 8);
}

#[test]
fn axis_steps_are_round() {
    assert_eq!(nice_ms_axis(0, 3), (1_000, 1_000));
    assert_eq!(nice_ms_axis(7, 3), (5, 10));
    assert_eq!(nice_ms_axis(950, 3), (500, 1_000));
    assert_eq!(nice_ms_axis(83_000, 3), (30_000, 90_000));
    assert_eq!(nice_ms_axis(90_500, 3), (60_000, 120_000));
    assert_eq!(nice_ms_axis(3_500_000, 3), (1_800_000, 3_600_000));
    let (step, top) = nice_ms_axis(10 * 86_400_000, 3);
    assert!(top >= 10 * 86_400_000 && top / step <= 3);
    assert_eq!(axis_ms(0), "0");
    assert_eq!(axis_ms(200), "200 ms");
    assert_eq!(axis_ms(15_000), "15 s");
    assert_eq!(axis_ms(90_000), "1.5 min");
    assert_eq!(axis_ms(7_200_000), "2 h");
}

#[test]
fn durations_read_like_people_write_them() {
    assert_eq!(human_ms(-5), "0 ms");
    assert_eq!(human_ms(450), "450 ms");
    assert_eq!(human_ms(2_345), "2.3 s");
    assert_eq!(human_ms(42_000), "42 s");
    assert_eq!(human_ms(83_000), "1m 23s");
    assert_eq!(human_ms(7_500_000), "2h 05m");
    assert_eq!(median([5, 1, 3]), Some(3));
    assert_eq!(median([4, 1, 3, 2]), Some(2));
    assert_eq!(median(std::iter::empty()), None);
}

#[test]
fn the_pass_rate_axis_is_scaled_to_the_data_and_says_so() {
    assert_eq!(axis_floor(0.0), 0.0);
    assert_eq!(axis_floor(40.0), 0.0);
    assert_eq!(axis_floor(75.0), 50.0);
    assert_eq!(axis_floor(98.0), 95.0, "98-100 % spread over a 95-100 % axis");
    assert_eq!(axis_floor(100.0), 99.0);
    let mut points = sample();
    for (i, p) in points.iter_mut().enumerate() {
        p.pass_rate = Some(98.0 + (i % 3) as f64);
    }
    let chart = pass_rate_chart(&points);
    assert!(chart.as_str().contains("axis from 95%"), "{}", chart.as_str());
    assert!(chart.as_str().contains("the axis runs from 95% to 100%"));
    let ys: std::collections::BTreeSet<String> = chart
        .as_str()
        .split("<circle")
        .skip(1)
        .map(|c| c.split("cy=\"").nth(1).unwrap().split('"').next().unwrap().to_string())
        .collect();
    assert_eq!(ys.len(), 3, "98, 99 and 100 % at three heights: {ys:?}");
}
