//! Charts as SVG drawn on the server from aggregated numbers (counts per value, points per
//! period): no script, nothing to download, readable without colour (every bar and point
//! carries its number as text and a `<title>`). Colours come from classes in dashboard.css,
//! so light and dark follow the system; the page's CSP forbids inline styles.

use std::fmt::Write as _;

/// Escapes text for SVG/HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Horizontal bars, one per `(label, value)`, longest scaled to the width.
pub fn bars(title: &str, rows: &[(String, f64)]) -> String {
    let row_h = 22.0;
    let label_w = 110.0;
    let width = 360.0;
    let bar_w = width - label_w - 50.0;
    let height = (rows.len().max(1) as f64) * row_h + 4.0;
    let max = rows.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart bars\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"{}\"><title>{}</title>",
        esc(title),
        esc(title)
    );
    if rows.is_empty() {
        let _ = write!(s, "<text x=\"0\" y=\"16\" class=\"muted\">no data</text>");
    }
    for (i, (label, value)) in rows.iter().enumerate() {
        let y = i as f64 * row_h + 2.0;
        let w = if max > 0.0 { value / max * bar_w } else { 0.0 };
        let _ = write!(
            s,
            "<g><title>{}: {}</title><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
             <rect class=\"bar\" x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" rx=\"2\"/>\
             <text x=\"{:.1}\" y=\"{}\">{}</text></g>",
            esc(label),
            number(*value),
            label_w - 6.0,
            y + 15.0,
            esc(label),
            row_h - 6.0,
            label_w + w + 4.0,
            y + 15.0,
            number(*value),
        );
    }
    s.push_str("</svg>");
    s
}

/// Columns over time (throughput per period and the like): one column per `(label, value)`
/// in order, with the first and last labels under the axis.
pub fn columns(title: &str, points: &[(String, f64)], unit: &str) -> String {
    let width = 360.0;
    let height = 150.0;
    let plot_h = 110.0;
    let n = points.len().max(1) as f64;
    let step = width / n;
    let max = points.iter().map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart columns\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         aria-label=\"{}\"><title>{}</title><line class=\"axis\" x1=\"0\" y1=\"{plot_h}\" \
         x2=\"{width}\" y2=\"{plot_h}\"/>",
        esc(title),
        esc(title)
    );
    if points.is_empty() {
        let _ = write!(s, "<text x=\"0\" y=\"16\" class=\"muted\">no data</text>");
    }
    for (i, (label, value)) in points.iter().enumerate() {
        let h = if max > 0.0 {
            value / max * (plot_h - 16.0)
        } else {
            0.0
        };
        let x = i as f64 * step;
        let _ = write!(
            s,
            "<g><title>{}: {} {}</title><rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" \
             width=\"{:.1}\" height=\"{h:.1}\"/></g>",
            esc(label),
            number(*value),
            esc(unit),
            x + step * 0.1,
            plot_h - h,
            step * 0.8,
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\">{}</text><text x=\"{width}\" y=\"{}\" \
             text-anchor=\"end\">{}</text><text x=\"{width}\" y=\"12\" text-anchor=\"end\" \
             class=\"muted\">max {} {}</text>",
            plot_h + 18.0,
            esc(&first.0),
            plot_h + 18.0,
            esc(&last.0),
            number(max),
            esc(unit),
        );
    }
    s.push_str("</svg>");
    s
}

/// Lines over time, one per series `(name, values)`, all over the same `labels` (a
/// burndown's scope, done and remaining; work in progress per status). Series are told
/// apart by class (colour and dash pattern in dashboard.css) and by the legend's text; a
/// missing value (`None`) breaks the line.
pub fn lines(title: &str, labels: &[String], series: &[(String, Vec<Option<f64>>)]) -> String {
    let width = 360.0;
    let plot_h = 120.0;
    let legend_h = 16.0 * series.len() as f64;
    let height = plot_h + 24.0 + legend_h;
    let n = labels.len();
    let step = if n > 1 { width / (n - 1) as f64 } else { 0.0 };
    let max = series
        .iter()
        .flat_map(|(_, vs)| vs.iter().flatten())
        .copied()
        .fold(0.0_f64, f64::max);
    let y = |v: f64| {
        if max > 0.0 {
            plot_h - v / max * (plot_h - 16.0)
        } else {
            plot_h
        }
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg class=\"chart lines\" viewBox=\"-4 0 {} {height}\" role=\"img\" \
         aria-label=\"{}\"><title>{}</title><line class=\"axis\" x1=\"0\" y1=\"{plot_h}\" \
         x2=\"{width}\" y2=\"{plot_h}\"/>",
        width + 8.0,
        esc(title),
        esc(title)
    );
    if n == 0 || series.is_empty() {
        let _ = write!(s, "<text x=\"0\" y=\"16\" class=\"muted\">no data</text>");
    }
    for (k, (name, values)) in series.iter().enumerate() {
        let mut d = String::new();
        let mut pen_down = false;
        for (i, v) in values.iter().enumerate().take(n) {
            match v {
                Some(v) => {
                    let _ = write!(
                        d,
                        "{}{:.1} {:.1} ",
                        if pen_down { "L" } else { "M" },
                        i as f64 * step,
                        y(*v)
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        let last = values.iter().rev().flatten().next().copied();
        let _ = write!(
            s,
            "<g class=\"series series-{k}\"><title>{}: {}</title><path d=\"{}\"/>\
             <line x1=\"0\" x2=\"24\" y1=\"{ly}\" y2=\"{ly}\"/>\
             <text x=\"30\" y=\"{ty}\">{}{}</text></g>",
            esc(name),
            values
                .iter()
                .zip(labels)
                .map(|(v, l)| format!("{l} {}", v.map_or("–".to_string(), number)))
                .collect::<Vec<_>>()
                .join(", "),
            d.trim_end(),
            esc(name),
            last.map(|v| format!(" (last {})", number(v)))
                .unwrap_or_default(),
            ly = plot_h + 28.0 + 16.0 * k as f64,
            ty = plot_h + 32.0 + 16.0 * k as f64,
        );
    }
    if let (Some(first), Some(last)) = (labels.first(), labels.last()) {
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\">{}</text><text x=\"{width}\" y=\"{}\" \
             text-anchor=\"end\">{}</text><text x=\"{width}\" y=\"12\" text-anchor=\"end\" \
             class=\"muted\">max {}</text>",
            plot_h + 16.0,
            esc(first),
            plot_h + 16.0,
            esc(last),
            number(max),
        );
    }
    s.push_str("</svg>");
    s
}

/// A number as people read it: whole numbers without decimals, others with one.
pub fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_values_shown() {
        let svg = bars(
            "By <status>",
            &[("<script>".into(), 3.0), ("done".into(), 1.5)],
        );
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"), "{svg}");
        assert!(
            svg.contains(">3</text>") && svg.contains(">1.5</text>"),
            "{svg}"
        );
        assert!(
            !svg.contains("style="),
            "inline styles break the CSP: {svg}"
        );
    }

    #[test]
    fn columns_scale_to_the_largest_value() {
        let svg = columns("t", &[("a".into(), 0.0), ("b".into(), 10.0)], "entries");
        assert!(svg.contains("height=\"94.0\""), "{svg}");
        assert!(svg.contains("max 10 entries"), "{svg}");
        assert!(columns("t", &[], "x").contains("no data"));
    }

    #[test]
    fn lines_break_at_missing_values_and_name_each_series() {
        let labels: Vec<String> = ["d1", "d2", "d3"].map(String::from).to_vec();
        let svg = lines(
            "Burn <down>",
            &labels,
            &[
                ("scope".into(), vec![Some(10.0), Some(10.0), Some(12.0)]),
                ("ideal".into(), vec![Some(10.0), None, Some(0.0)]),
            ],
        );
        assert!(svg.contains("Burn &lt;down&gt;"), "{svg}");
        // Scaled to the largest value (12 at the top, 16 px below the frame).
        assert!(svg.contains("L360.0 16.0"), "{svg}");
        // The gap starts a new line instead of drawing through it.
        assert!(svg.contains("d=\"M0.0 33.3 M360.0 120.0\""), "{svg}");
        assert!(
            svg.contains("scope (last 12)") && svg.contains("series-1"),
            "{svg}"
        );
        assert!(!svg.contains("style="), "{svg}");
        assert!(lines("t", &[], &[]).contains("no data"));
    }
}
