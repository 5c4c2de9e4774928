//! Terminal output: aligned tables, colour only on a terminal, JSON when asked.

use std::io::{IsTerminal, Write};

use anstyle::{AnsiColor, Style};
use devlog_core::entry::{Priority, Status};
use serde::Serialize;

/// How to print.
#[derive(Debug, Clone, Copy)]
pub struct Out {
    pub json: bool,
    pub color: bool,
}

impl Out {
    pub fn new(json: bool, no_color: bool) -> Self {
        let color = !json
            && !no_color
            && std::env::var_os("NO_COLOR").is_none()
            && std::io::stdout().is_terminal();
        Self { json, color }
    }

    /// Prints a value as pretty JSON on stdout.
    pub fn json<T: Serialize + ?Sized>(&self, v: &T) -> anyhow::Result<()> {
        let mut s = serde_json::to_string_pretty(v)?;
        s.push('\n');
        write_stdout(&s)
    }

    pub fn paint(&self, text: &str, style: Style) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }

    pub fn bold(&self, text: &str) -> String {
        self.paint(text, Style::new().bold())
    }

    pub fn dim(&self, text: &str) -> String {
        self.paint(text, Style::new().dimmed())
    }

    pub fn status(&self, s: Status) -> String {
        let c = match s {
            Status::New => AnsiColor::Cyan,
            Status::InProgress => AnsiColor::Yellow,
            Status::Blocked => AnsiColor::Red,
            Status::InReview | Status::Testing => AnsiColor::Magenta,
            Status::Done => AnsiColor::Green,
            Status::Closed => AnsiColor::BrightBlack,
        };
        self.paint(s.as_str(), Style::new().fg_color(Some(c.into())))
    }

    pub fn priority(&self, p: Priority) -> String {
        let style = match p {
            Priority::Critical => Style::new().bold().fg_color(Some(AnsiColor::Red.into())),
            Priority::High => Style::new().fg_color(Some(AnsiColor::Red.into())),
            Priority::Medium => Style::new(),
            Priority::Low => Style::new().dimmed(),
        };
        self.paint(p.as_str(), style)
    }
}

/// Writes to stdout, treating a closed pipe (`devlog list | head`) as success.
pub fn write_stdout(s: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(s.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// A table whose columns are padded to their widest cell. Cells may carry ANSI colour; the
/// width is measured on the visible text.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<(String, usize)>>,
}

impl Table {
    pub fn header(out: &Out, cols: &[&str]) -> Self {
        let mut t = Table::default();
        t.rows
            .push(cols.iter().map(|c| (out.bold(c), width(c))).collect());
        t
    }

    /// Adds a row of `(shown, plain)` cells: `plain` is measured, `shown` printed.
    pub fn row(&mut self, cells: Vec<(String, String)>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|(shown, plain)| (shown, width(&plain)))
                .collect(),
        );
    }

    pub fn render(&self) -> String {
        let ncol = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let mut widths = vec![0; ncol];
        for r in &self.rows {
            for (i, (_, w)) in r.iter().enumerate() {
                widths[i] = widths[i].max(*w);
            }
        }
        let mut s = String::new();
        for r in &self.rows {
            let mut line = String::new();
            for (i, (shown, w)) in r.iter().enumerate() {
                line.push_str(shown);
                if i + 1 < r.len() {
                    line.push_str(&" ".repeat(widths[i] - w + 2));
                }
            }
            s.push_str(line.trim_end());
            s.push('\n');
        }
        s
    }
}

/// Visible width in terminal columns, approximated by characters.
pub fn width(s: &str) -> usize {
    s.chars().count()
}

/// `s` cut to `max` characters with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// A compact "how long ago" for tables.
pub fn ago(t: devlog_core::Timestamp, now: devlog_core::Timestamp) -> String {
    let s = (now.millis() - t.millis()) / 1000;
    match s {
        i64::MIN..=59 => "just now".into(),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        86_400..=2_591_999 => format!("{}d ago", s / 86_400),
        _ => t.as_datetime().format("%Y-%m-%d").to_string(),
    }
}
