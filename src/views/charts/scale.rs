//! Numbers for charts and tables: durations in words people read at a glance
//! ("1m 23s", "450 ms"), round axis maxima for durations, and the XML
//! escaping every piece of caller text goes through.

/// Escapes text for XML element content and attribute values alike.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0; drop them.
            c if c.is_control() && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

/// A duration for tables: "0 ms", "450 ms", "2.3 s", "42 s", "1m 23s", "2h 05m".
pub fn human_ms(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=9_999 => format!("{:.1} s", ms as f64 / 1000.0),
        10_000..=59_999 => format!("{} s", ms / 1000),
        60_000..=3_599_999 => format!("{}m {:02}s", ms / 60_000, (ms / 1000) % 60),
        _ => format!("{}h {:02}m", ms / 3_600_000, (ms / 60_000) % 60),
    }
}

/// A duration as an axis label, for the round values [`nice_ms_axis`] picks:
/// "0", "200 ms", "30 s", "2 min", "1.5 h".
pub fn axis_ms(ms: i64) -> String {
    let trim = |v: f64| {
        let s = format!("{v:.1}");
        s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
    };
    match ms {
        i64::MIN..=0 => "0".to_string(),
        1..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{} s", trim(ms as f64 / 1000.0)),
        60_000..=3_599_999 => format!("{} min", trim(ms as f64 / 60_000.0)),
        _ => format!("{} h", trim(ms as f64 / 3_600_000.0)),
    }
}

/// Steps that make readable duration ticks: 1-2-5 below a second, then the
/// units clocks use (15 s, 30 s, 1 min, 5 min, 15 min, 1 h, ...).
const STEPS_MS: &[i64] = &[
    1, 2, 5, 10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000,
    900_000, 1_800_000, 3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000,
];

/// The tick step and the axis top (a multiple of the step, at least `max`)
/// with at most `max_ticks` steps above zero.
pub fn nice_ms_axis(max: i64, max_ticks: i64) -> (i64, i64) {
    let max_ticks = max_ticks.max(1);
    if max <= 0 {
        return (1_000, 1_000);
    }
    let step = STEPS_MS.iter().copied().find(|s| (max + s - 1) / s <= max_ticks).unwrap_or_else(|| {
        let day = 86_400_000;
        (max + day * max_ticks - 1) / (day * max_ticks) * day
    });
    (step, (max + step - 1) / step * step)
}

/// The median of the known values (the lower middle for an even count).
pub fn median(values: impl IntoIterator<Item = i64>) -> Option<i64> {
    let mut v: Vec<i64> = values.into_iter().collect();
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    Some(v[(v.len() - 1) / 2])
}

/// A coordinate with at most one decimal, so the markup stays small.
pub fn num(v: f64) -> String {
    let s = format!("{:.1}", v);
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}
