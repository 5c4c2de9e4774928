//! Search snippets, made the same way for every backend: a window of about a dozen words of
//! an entry's text around the query's words, matches in `[` `]`, `…` where text was cut.
//!
//! The SQLite backend and the JSON backend's index keep no copy of the text in the full-text
//! index (a contentless FTS5 table, docs/performance.md), so FTS5's `snippet()` cannot be
//! used; the server backends never had one. Words are found the way the SQLite index's
//! tokenizer (`unicode61 remove_diacritics 2`) finds them: runs of letters and digits,
//! compared without case and without diacritics, each query word as a prefix.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// Words in a snippet.
const WIDTH: usize = 12;
/// Words shown before the first match, when there are that many.
const BEFORE: usize = 3;

/// The words of a search, lowercased: every run of letters and digits. Everything else
/// (quotes, operators, punctuation) only separates words, so user input is always literal.
/// (Searches use `terms::search_words`, which also folds; this one is the tests' reader.)
#[cfg(test)]
pub(crate) fn search_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// The snippet of an entry's searchable text for `words` (as [`search_words`] makes them).
///
/// `fields` are the entry's title, description, notes and context
/// ([`devlog_core::entry::SearchText`] order). The window with the most different query
/// words wins; the description, notes and context are tried before the title (which is
/// shown beside every hit anyway), so among equal windows the first of those is taken.
/// Text without any match (a match the database found by rules these do not follow) shows
/// the start of the description, or of the first field that has text.
pub(crate) fn snippet(fields: &[&str], words: &[String]) -> String {
    let folded: Vec<String> = words.iter().map(|w| fold(w)).collect();
    let order = fields
        .iter()
        .enumerate()
        .skip(1)
        .chain(fields.iter().enumerate().take(1));
    let mut best: Option<(Score, usize, Vec<Token>, usize)> = None;
    for (f, text) in order {
        let tokens = tokens(text, &folded);
        let Some((score, start)) = best_window(&tokens) else {
            continue;
        };
        if best.as_ref().is_none_or(|(s, ..)| score > *s) {
            best = Some((score, f, tokens, start));
        }
    }
    if let Some((_, f, tokens, start)) = best {
        return render(fields[f], &tokens, start);
    }
    let text = fields
        .get(1)
        .filter(|d| !d.trim().is_empty())
        .or_else(|| fields.iter().find(|f| !f.trim().is_empty()))
        .copied()
        .unwrap_or("");
    render(text, &tokens(text, &folded), 0)
}

/// How good a window is: different query words in it, then matching tokens in it.
type Score = (u32, usize);

/// One word of a text: its bytes and which query words it matches (bit `i` for word `i`;
/// words past the 64th share the last bit).
#[derive(Debug, Clone, Copy)]
struct Token {
    start: usize,
    end: usize,
    matches: u64,
}

fn tokens(text: &str, words: &[String]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut start = None;
    let mut push = |s: usize, e: usize, out: &mut Vec<Token>| {
        buf.clear();
        fold_into(&text[s..e], &mut buf);
        let matches = words
            .iter()
            .enumerate()
            .filter(|(_, w)| !w.is_empty() && buf.starts_with(w.as_str()))
            .fold(0u64, |m, (i, _)| m | 1 << i.min(63));
        out.push(Token {
            start: s,
            end: e,
            matches,
        });
    };
    for (i, c) in text.char_indices() {
        // Combining marks belong to the word they decorate (FTS5 drops them with the
        // diacritics), so `e` + U+0301 is one word.
        let word_char = c.is_alphanumeric() || (start.is_some() && is_combining_mark(c));
        match (word_char, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                push(s, i, &mut out);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        push(s, text.len(), &mut out);
    }
    out
}

/// A word as the index compares it: lowercase, diacritics removed (`Éte` → `ete`).
pub(crate) fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    fold_into(word, &mut out);
    out
}

fn fold_into(word: &str, out: &mut String) {
    if word.is_ascii() {
        out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
        return;
    }
    for c in word.nfd().filter(|c| !is_combining_mark(*c)) {
        out.extend(c.to_lowercase());
    }
}

/// The best window of [`WIDTH`] tokens that starts [`BEFORE`] tokens before a match (at the
/// start of the text, or [`WIDTH`] tokens before its end, when that is nearer): its score and
/// first token. `None` when nothing matches.
fn best_window(tokens: &[Token]) -> Option<(Score, usize)> {
    let mut best: Option<(Score, usize)> = None;
    for (i, t) in tokens.iter().enumerate() {
        if t.matches == 0 {
            continue;
        }
        let start = i
            .saturating_sub(BEFORE)
            .min(tokens.len().saturating_sub(WIDTH));
        let window = &tokens[start..(start + WIDTH).min(tokens.len())];
        let seen = window.iter().fold(0u64, |m, t| m | t.matches);
        let hits = window.iter().filter(|t| t.matches != 0).count();
        let score = (seen.count_ones(), hits);
        if best.is_none_or(|(s, _)| score > s) {
            best = Some((score, start));
        }
    }
    best
}

/// `text` from token `start` for [`WIDTH`] tokens, with matches marked.
fn render(text: &str, tokens: &[Token], start: usize) -> String {
    let window = &tokens[start.min(tokens.len())..(start + WIDTH).min(tokens.len())];
    let (Some(first), Some(last)) = (window.first(), window.last()) else {
        return String::new();
    };
    // A window at an end of the text keeps the punctuation around its first or last word.
    let begin = if start == 0 {
        text.len() - text.trim_start().len()
    } else {
        first.start
    };
    let reaches_end = start + window.len() >= tokens.len();
    let finish = if reaches_end {
        text.trim_end().len()
    } else {
        last.end
    };
    let mut out = String::with_capacity(finish - begin + 8);
    if start > 0 {
        out.push('…');
    }
    let mut at = begin;
    for t in window.iter().filter(|t| t.matches != 0) {
        out.push_str(&text[at..t.start]);
        out.push('[');
        out.push_str(&text[t.start..t.end]);
        out.push(']');
        at = t.end;
    }
    out.push_str(&text[at..finish]);
    if !reaches_end {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snip(fields: &[&str], query: &str) -> String {
        snippet(fields, &search_words(query))
    }

    #[test]
    fn matches_are_marked_in_a_window_of_twelve_words() {
        let text = "one two three four five six seven eight nine Kubernetes-based ten eleven \
                    twelve thirteen fourteen fifteen sixteen";
        assert_eq!(
            snip(&["Title", text], "kube"),
            "…seven eight nine [Kubernetes]-based ten eleven twelve thirteen fourteen \
             fifteen sixteen"
        );
        // Punctuation between the words is kept as written.
        assert_eq!(
            snip(&["T", "Fix \"login\" now, (please)."], "log"),
            "Fix \"[login]\" now, (please)."
        );
        assert_eq!(snip(&["T", "a b c"], "b"), "a [b] c");
    }

    #[test]
    fn a_window_near_the_end_shows_the_last_twelve_words() {
        let text = (1..=20)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            snip(&["T", &text], "w19"),
            "…w9 w10 w11 w12 w13 w14 w15 w16 w17 w18 [w19] w20"
        );
    }

    #[test]
    fn diacritics_and_case_do_not_matter() {
        assert_eq!(snip(&["T", "Café au lait"], "cafe"), "[Café] au lait");
        assert_eq!(snip(&["T", "un CAFE noir"], "café"), "un [CAFE] noir");
        // Decomposed text: the combining accent stays inside the marked word.
        assert_eq!(
            snip(&["T", "le cafe\u{301} noir"], "cafe"),
            "le [cafe\u{301}] noir"
        );
        assert_eq!(snip(&["T", "Ärger über Öl"], "uber"), "Ärger [über] Öl");
    }

    #[test]
    fn every_word_is_a_prefix_and_each_word_counts_once() {
        assert_eq!(
            snip(&["T", "logging into the login page"], "log"),
            "[logging] into the [login] page"
        );
        // Two different words beat two hits of one.
        let text = "pod pod pod one two three four five six seven eight nine ten eleven \
                    twelve kubernetes pod";
        assert_eq!(
            snip(&["T", text], "kube pod"),
            "…three four five six seven eight nine ten eleven twelve [kubernetes] [pod]"
        );
    }

    #[test]
    fn multi_byte_text_is_cut_on_word_boundaries() {
        let text = "日本語 テキスト の 検索 は 単語 で 区切る ことが できる はず です ね よろしく";
        assert_eq!(
            snip(&["T", text], "検索"),
            "日本語 テキスト の [検索] は 単語 で 区切る ことが できる はず です…"
        );
        assert_eq!(
            snip(&["T", "emoji 🚀 launch"], "launch"),
            "emoji 🚀 [launch]"
        );
    }

    #[test]
    fn very_long_text_gives_a_short_snippet() {
        let mut text = "filler ".repeat(200_000);
        text.push_str("needle at the very end");
        let s = snip(&["T", &text], "needle");
        assert_eq!(
            s,
            format!("…{}[needle] at the very end", "filler ".repeat(7))
        );
    }

    #[test]
    fn the_best_field_wins_and_the_title_comes_last() {
        // The title matches too, but the description is shown (the title is beside it).
        assert_eq!(
            snip(
                &["Fix WebSocket reconnects", "The WebSocket drops", "", ""],
                "websocket"
            ),
            "The [WebSocket] drops"
        );
        // Notes with both words beat a description with one.
        assert_eq!(
            snip(&["T", "a timeout", "the pod timeout", ""], "pod timeout"),
            "the [pod] [timeout]"
        );
        // Only the title matches.
        assert_eq!(
            snip(&["Fix login", "nothing here", "", ""], "login"),
            "Fix [login]"
        );
    }

    #[test]
    fn no_match_shows_the_start_of_the_description() {
        let desc = "one two three four five six seven eight nine ten eleven twelve thirteen";
        assert_eq!(
            snip(&["Title", desc, "notes", ""], "absent"),
            "one two three four five six seven eight nine ten eleven twelve…"
        );
        assert_eq!(snip(&["Title only", "", "", ""], "absent"), "Title only");
        assert_eq!(snip(&["", "", ""], "x"), "");
        assert_eq!(snip(&["T", "text"], ""), "text");
    }

    #[test]
    fn search_words_drop_operators() {
        assert_eq!(
            search_words("Kube* \"manif\" -x +y (z) a:b"),
            ["kube", "manif", "x", "y", "z", "a", "b"]
        );
        assert!(search_words("\" * - ((( ").is_empty());
        assert_eq!(search_words("Straße ÉTÉ"), ["straße", "été"]);
    }
}
