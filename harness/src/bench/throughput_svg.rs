//! The throughput plot: items written per second of a sync against the throttle ceiling, drawn
//! as a small hand-written SVG (a stepped area per one-second bin, a dashed stepped ceiling line,
//! axes with round ticks). Pure: timestamps in, SVG text out. Hand-written rather than a plotting
//! crate: one chart of two lines does not justify a dependency tree.

use std::fmt::Write;

/// What to draw.
#[derive(Debug, Clone)]
pub struct Plot {
    /// First title line.
    pub title: String,
    /// Second, smaller line (sizes, plan, date).
    pub subtitle: String,
    /// Items in each one-second bin from the start.
    pub per_second: Vec<f64>,
    /// The most the throttle allows in each bin, items/s (the last value holds for later bins).
    pub ceiling: Vec<f64>,
    /// What the ceiling line is.
    pub ceiling_label: String,
}

const W: f64 = 800.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 64.0;
const BOTTOM: f64 = 52.0;

/// Counts the timestamps (unix ms) in one-second bins from `start_ms`; earlier ones are dropped.
pub fn per_second(at_ms: impl IntoIterator<Item = i64>, start_ms: i64) -> Vec<f64> {
    let mut bins: Vec<f64> = Vec::new();
    for at in at_ms.into_iter().filter(|a| *a >= start_ms) {
        let i = ((at - start_ms) / 1000) as usize;
        if bins.len() <= i {
            bins.resize(i + 1, 0.0);
        }
        bins[i] += 1.0;
    }
    bins
}

/// A round step giving about `n` ticks over `range`: 1, 2 or 5 times a power of ten.
fn tick_step(range: f64, n: f64) -> f64 {
    let raw = (range / n).max(1e-9);
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].into_iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The plot as an SVG document.
pub fn render(plot: &Plot) -> String {
    let seconds = plot.per_second.len().max(1) as f64;
    let peak = plot.per_second.iter().chain(&plot.ceiling).copied().fold(1.0, f64::max);
    let y_step = tick_step(peak * 1.08, 6.0);
    let y_max = (peak * 1.08 / y_step).ceil() * y_step;
    let x_step = tick_step(seconds, 10.0).max(1.0);
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |t: f64| LEFT + t / seconds * pw;
    let y = |v: f64| TOP + ph - v / y_max * ph;

    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="Helvetica, Arial, sans-serif" font-size="12">
<rect width="{W}" height="{H}" fill="#ffffff"/>
<text x="{LEFT}" y="24" font-size="16" font-weight="bold">{}</text>
<text x="{LEFT}" y="44" fill="#555555">{}</text>
"##,
        escape(&plot.title),
        escape(&plot.subtitle)
    );
    // Grid and y ticks.
    let mut v = 0.0;
    while v <= y_max + 1e-9 {
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{LEFT}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}</text>"##,
            W - RIGHT,
            LEFT - 6.0,
            yy + 4.0
        );
        v += y_step;
    }
    let mut t = 0.0;
    while t <= seconds + 1e-9 {
        let xx = x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{xx:.1}" y1="{:.1}" x2="{xx:.1}" y2="{:.1}" stroke="#999999"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{t}</text>"##,
            TOP + ph,
            TOP + ph + 5.0,
            TOP + ph + 19.0
        );
        t += x_step;
    }
    // The measured series as a stepped area: each second's bin is flat over that second.
    let mut path = format!("M{:.1},{:.1}", x(0.0), y(0.0));
    for (i, n) in plot.per_second.iter().enumerate() {
        let _ = write!(path, " L{:.1},{:.1} L{:.1},{:.1}", x(i as f64), y(*n), x(i as f64 + 1.0), y(*n));
    }
    let _ = write!(path, " L{:.1},{:.1} Z", x(plot.per_second.len() as f64), y(0.0));
    let _ =
        writeln!(s, r##"<path d="{path}" fill="#4c78a8" fill-opacity="0.35" stroke="#4c78a8" stroke-width="1.5"/>"##);
    let limit = |i: usize| plot.ceiling.get(i).or(plot.ceiling.last()).copied().unwrap_or(0.0);
    let mut line = format!("M{:.1},{:.1}", x(0.0), y(limit(0)));
    for i in 0..seconds as usize {
        let _ = write!(line, " L{:.1},{:.1} L{:.1},{:.1}", x(i as f64), y(limit(i)), x(i as f64 + 1.0), y(limit(i)));
    }
    let _ = writeln!(s, r##"<path d="{line}" fill="none" stroke="#d62728" stroke-width="2" stroke-dasharray="7 5"/>"##);
    let _ = writeln!(
        s,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="end" fill="#d62728">{}</text>"##,
        W - RIGHT - 4.0,
        y(limit(usize::MAX)) - 8.0,
        escape(&plot.ceiling_label)
    );
    // Axes and their titles.
    let _ = write!(
        s,
        r##"<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#333333"/>
<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333333"/>
<text x="{:.1}" y="{:.1}" text-anchor="middle">seconds since the job started</text>
<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">items written per second</text>
</svg>
"##,
        TOP + ph,
        TOP + ph,
        W - RIGHT,
        TOP + ph,
        LEFT + pw / 2.0,
        H - 10.0,
        TOP + ph / 2.0
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_fall_into_one_second_bins_from_the_start() {
        assert_eq!(per_second([999, 1000, 1500, 1999, 3000, 4200], 1000), vec![3.0, 0.0, 1.0, 1.0]);
        assert!(per_second(Vec::new(), 0).is_empty());
    }

    #[test]
    fn ticks_are_one_two_or_five_times_a_power_of_ten() {
        for (range, n, expect) in [(2750.0, 6.0, 500.0), (38.0, 10.0, 5.0), (7.0, 10.0, 1.0), (130.0, 6.0, 50.0)] {
            assert_eq!(tick_step(range, n), expect, "{range}/{n}");
        }
    }

    #[test]
    fn the_plot_is_an_svg_with_the_series_and_the_ceiling_line() {
        let plot = Plot {
            title: "CUSTOMER_SYNC <throughput>".into(),
            subtitle: "s".into(),
            per_second: vec![2500.0, 250.0, 250.0],
            ceiling: vec![2750.0, 250.0],
            ceiling_label: "ceiling 250/s".into(),
        };
        let svg = render(&plot);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(
            svg.contains("&lt;throughput&gt;") && svg.contains("ceiling 250/s") && svg.contains("stroke-dasharray")
        );
        assert_eq!(svg.matches("<path").count(), 2);
    }
}
