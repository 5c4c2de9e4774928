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
}
