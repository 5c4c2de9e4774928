//! Terminal output: aligned tables, colour only on a terminal, JSON when asked.
//!
//! Security: human output goes through [`write_stdout`], which neutralises terminal control
//! characters coming from data (see [`clean`]); JSON is written as serialized, where serde
//! escapes them.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};

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
        COLOR.store(color, Ordering::Relaxed);
        Self { json, color }
    }

    /// Prints a value as pretty JSON on stdout (as serialized: control characters in strings
    /// are JSON escapes, never raw).
    pub fn json<T: Serialize + ?Sized>(&self, v: &T) -> anyhow::Result<()> {
        let mut s = serde_json::to_string_pretty(v)?;
        s.push('\n');
        write_raw(s.as_bytes())
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

/// Whether [`Out::new`] chose colour, so [`write_stdout`] knows which escape sequences are ours.
static COLOR: AtomicBool = AtomicBool::new(false);

/// Writes human output to stdout with control characters from data neutralised ([`clean`]),
/// treating a closed pipe (`devlog list | head`) as success.
pub fn write_stdout(s: &str) -> anyhow::Result<()> {
    write_raw(clean(s, COLOR.load(Ordering::Relaxed)).as_bytes())
}

/// Writes bytes to stdout as they are; a closed pipe is success (the reader has gone away,
/// as with `git log | head`: nothing to report, nothing to panic about).
pub fn write_raw(bytes: &[u8]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// Prints `warning: <message>` on stderr, control characters neutralised.
pub fn warn(message: &str) {
    eprintln!("warning: {}", clean(message, false));
}

/// `text` made safe for a terminal: every control character that could move the cursor,
/// clear the screen, retitle the window, write the clipboard or start a hyperlink — C0 other
/// than newline and tab, DEL, C1, and so every ESC/CSI/OSC sequence — is shown as a visible
/// symbol instead (ESC as `␛`, BEL as `␇`, C1 and DEL as `�`), one character for one, so
/// table widths hold. With `color`, the only escape sequences kept are the plain SGR colour
/// and weight codes [`Out::paint`] writes (`ESC [ n m` with n in 0, 1, 2, 22, 30–39, 90–97):
/// data can at most colour its own text.
pub fn clean(text: &str, color: bool) -> std::borrow::Cow<'_, str> {
    // `is_control` is Unicode's Cc: C0, DEL and C1.
    let unsafe_char = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !text.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if color
            && c == '\x1b'
            && let Some(len) = our_sgr(rest)
        {
            out.push_str(&rest[..len]);
            rest = &rest[len..];
            continue;
        }
        out.push(match c {
            '\0'..='\x1f' if c != '\n' && c != '\t' => {
                char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}')
            }
            c if unsafe_char(c) => '\u{fffd}',
            c => c,
        });
        rest = &rest[c.len_utf8()..];
    }
    std::borrow::Cow::Owned(out)
}

/// The length of the SGR sequence `s` starts with, if it is one [`Out::paint`] may write.
fn our_sgr(s: &str) -> Option<usize> {
    let body = s.strip_prefix("\x1b[")?;
    let end = body.find('m')?;
    let n: u8 = body[..end].parse().ok()?;
    matches!(n, 0 | 1 | 2 | 22 | 30..=39 | 90..=97).then_some(2 + end + 1)
}

/// `n` and the noun, singular or plural: `1 note`, `3 notes`.
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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

    /// Adds a row of `(shown, plain)` cells: `plain` is measured, `shown` printed. Line
    /// breaks and tabs in a cell become spaces, so a row stays one line.
    pub fn row(&mut self, cells: Vec<(String, String)>) {
        let one_line = |s: String| {
            if s.contains(['\n', '\r', '\t']) {
                s.replace(['\n', '\r', '\t'], " ")
            } else {
                s
            }
        };
        self.rows.push(
            cells
                .into_iter()
                .map(|(shown, plain)| (one_line(shown), width(&plain)))
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

#[cfg(test)]
mod tests {
    use super::*;

    const ATTACK: &str = "Fix \x1b]0;pwned\x07\x1b[2Jlogin\r\u{9b}31m\u{7f}";

    #[test]
    fn clean_neutralises_escape_sequences_from_data() {
        let s = clean(ATTACK, false);
        assert!(!s.chars().any(|c| c.is_control()), "{s:?}");
        assert_eq!(s, "Fix ␛]0;pwned␇␛[2Jlogin␍\u{fffd}31m\u{fffd}");
        assert_eq!(width(&s), width(ATTACK), "one symbol per character");
        assert_eq!(clean("a\n\tb", false), "a\n\tb");
    }

    #[test]
    fn clean_keeps_only_our_colour_codes_when_colouring() {
        let out = Out {
            json: false,
            color: true,
        };
        let painted = format!(
            "{} {}",
            out.status(Status::Done),
            out.priority(Priority::Critical)
        );
        assert_eq!(clean(&painted, true), painted);
        assert_eq!(clean(&out.dim("x"), true), out.dim("x"));
        // Anything else from data is shown, not obeyed, even with colour on.
        let s = clean("\x1b[8mhidden\x1b[2J\x1b]8;;http://x\x1b\\", true);
        assert!(!s.contains('\x1b'), "{s:?}");
        // Without colour, no escape sequence is ours.
        assert!(!clean("\x1b[1mbold\x1b[0m", false).contains('\x1b'));
    }

    #[test]
    fn count_agrees_in_number() {
        assert_eq!(count(1, "note", "notes"), "1 note");
        assert_eq!(count(0, "note", "notes"), "0 notes");
        assert_eq!(count(2, "entry", "entries"), "2 entries");
    }
}
