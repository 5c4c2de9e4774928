//! A typed model of the Atlassian Document Format (the subset devlog writes: doc, paragraph,
//! heading, bulletList, orderedList, listItem, codeBlock, rule, text with strong/em/code/
//! strike/link marks, hardBreak), rendered from devlog's plain text and read back to it.
//!
//! Text form (what devlog keeps in an entry): blocks separated by one blank line; `# ` … `###### `
//! headings; `- ` and `1. ` list items (a line right after an item continues it); fenced code
//! blocks (```` ```lang ````); `---` rules; inline `**strong**`, `_em_`, `` `code` ``,
//! `~~strike~~` and `[text](https://…)` links, recognised only when complete (a lone `*` stays
//! text). [`to_text`]`(`[`from_text`]`(t)) == t` for text in that form (the property test below),
//! and for any text after one round trip, so a sync never churns on its own output.
//!
//! Nodes devlog does not model (panels, tables, mentions, …) are kept as JSON
//! ([`Block::Other`], [`Inline::Other`]) and read as their plain text.

use serde_json::{Map, Value, json};

/// A document (`{"type":"doc","version":1,"content":[…]}`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Doc {
    pub content: Vec<Block>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    Paragraph(Vec<Inline>),
    Heading {
        level: u8,
        content: Vec<Inline>,
    },
    /// Items, each a list of blocks (devlog writes one paragraph per item).
    BulletList(Vec<Vec<Block>>),
    OrderedList(Vec<Vec<Block>>),
    CodeBlock {
        language: Option<String>,
        text: String,
    },
    Rule,
    /// A node devlog does not model, as Jira sent it.
    Other(Value),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Inline {
    Text { text: String, marks: Vec<Mark> },
    HardBreak,
    Other(Value),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mark {
    Strong,
    Em,
    Code,
    Strike,
    Link(String),
}

impl Inline {
    pub fn text(s: &str) -> Self {
        Self::Text {
            text: s.to_string(),
            marks: Vec::new(),
        }
    }
}

// ---- JSON ----

impl Doc {
    pub fn to_json(&self) -> Value {
        json!({"type": "doc", "version": 1, "content": self.content.iter().map(Block::to_json).collect::<Vec<_>>()})
    }

    /// Reads a document; `null` (an issue without description) is the empty document. Anything
    /// that is not a `doc` node is an error naming what was found.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        match v {
            Value::Null => Ok(Self::default()),
            Value::Object(m) if m.get("type").and_then(Value::as_str) == Some("doc") => Ok(Self {
                content: children(m).iter().map(Block::from_json).collect(),
            }),
            // Jira Data Center (API v2) answers plain strings.
            Value::String(s) => Ok(from_text(s)),
            other => Err(format!(
                "not an Atlassian document: {}",
                other.get("type").unwrap_or(other)
            )),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.content.is_empty()
    }
}

fn children(m: &Map<String, Value>) -> &[Value] {
    m.get("content")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn inlines_json(content: &[Inline]) -> Vec<Value> {
    content.iter().map(Inline::to_json).collect()
}

fn with_content(mut node: Value, content: Vec<Value>) -> Value {
    if !content.is_empty() {
        node["content"] = Value::Array(content);
    }
    node
}

fn items_json(items: &[Vec<Block>]) -> Vec<Value> {
    items
        .iter()
        .map(|blocks| {
            json!({"type": "listItem", "content": blocks.iter().map(Block::to_json).collect::<Vec<_>>()})
        })
        .collect()
}

impl Block {
    pub fn to_json(&self) -> Value {
        match self {
            Self::Paragraph(c) => with_content(json!({"type": "paragraph"}), inlines_json(c)),
            Self::Heading { level, content } => with_content(
                json!({"type": "heading", "attrs": {"level": level}}),
                inlines_json(content),
            ),
            Self::BulletList(items) => json!({"type": "bulletList", "content": items_json(items)}),
            Self::OrderedList(items) => {
                json!({"type": "orderedList", "attrs": {"order": 1}, "content": items_json(items)})
            }
            Self::CodeBlock { language, text } => {
                let mut node = json!({"type": "codeBlock"});
                if let Some(l) = language {
                    node["attrs"] = json!({"language": l});
                }
                let content = if text.is_empty() {
                    Vec::new()
                } else {
                    vec![json!({"type": "text", "text": text})]
                };
                with_content(node, content)
            }
            Self::Rule => json!({"type": "rule"}),
            Self::Other(v) => v.clone(),
        }
    }

    fn from_json(v: &Value) -> Self {
        let Some(m) = v.as_object() else {
            return Self::Other(v.clone());
        };
        let inlines = || children(m).iter().map(Inline::from_json).collect();
        let items = || {
            children(m)
                .iter()
                .map(|item| match item.as_object() {
                    Some(i) if i.get("type").and_then(Value::as_str) == Some("listItem") => {
                        children(i).iter().map(Block::from_json).collect()
                    }
                    _ => vec![Block::from_json(item)],
                })
                .collect()
        };
        match m.get("type").and_then(Value::as_str) {
            Some("paragraph") => Self::Paragraph(inlines()),
            Some("heading") => Self::Heading {
                level: m
                    .get("attrs")
                    .and_then(|a| a.get("level"))
                    .and_then(Value::as_u64)
                    .map_or(1, |l| l.clamp(1, 6) as u8),
                content: inlines(),
            },
            Some("bulletList") => Self::BulletList(items()),
            Some("orderedList") => Self::OrderedList(items()),
            Some("codeBlock") => Self::CodeBlock {
                language: m
                    .get("attrs")
                    .and_then(|a| a.get("language"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                text: children(m)
                    .iter()
                    .filter_map(|t| t.get("text").and_then(Value::as_str))
                    .collect(),
            },
            Some("rule") => Self::Rule,
            _ => Self::Other(v.clone()),
        }
    }
}

impl Mark {
    fn to_json(&self) -> Value {
        match self {
            Self::Strong => json!({"type": "strong"}),
            Self::Em => json!({"type": "em"}),
            Self::Code => json!({"type": "code"}),
            Self::Strike => json!({"type": "strike"}),
            Self::Link(href) => json!({"type": "link", "attrs": {"href": href}}),
        }
    }

    fn from_json(v: &Value) -> Option<Self> {
        Some(match v.get("type")?.as_str()? {
            "strong" => Self::Strong,
            "em" => Self::Em,
            "code" => Self::Code,
            "strike" => Self::Strike,
            "link" => Self::Link(v.get("attrs")?.get("href")?.as_str()?.to_string()),
            // underline, textColor, …: the text is kept, the mark is not devlog's.
            _ => return None,
        })
    }
}

impl Inline {
    pub fn to_json(&self) -> Value {
        match self {
            Self::Text { text, marks } => {
                let mut node = json!({"type": "text", "text": text});
                if !marks.is_empty() {
                    node["marks"] = marks.iter().map(Mark::to_json).collect();
                }
                node
            }
            Self::HardBreak => json!({"type": "hardBreak"}),
            Self::Other(v) => v.clone(),
        }
    }

    fn from_json(v: &Value) -> Self {
        match v.get("type").and_then(Value::as_str) {
            Some("text") => Self::Text {
                text: v
                    .get("text")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                marks: v
                    .get("marks")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Mark::from_json)
                    .collect(),
            },
            Some("hardBreak") => Self::HardBreak,
            _ => Self::Other(v.clone()),
        }
    }
}

// ---- text → document ----

fn heading_of(line: &str) -> Option<(u8, &str)> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    if (1..=6).contains(&hashes) {
        line[hashes..]
            .strip_prefix(' ')
            .filter(|rest| !rest.trim().is_empty())
            .map(|rest| (hashes as u8, rest))
    } else {
        None
    }
}

fn bullet_of(line: &str) -> Option<&str> {
    line.strip_prefix("- ").filter(|r| !r.trim().is_empty())
}

fn ordered_of(line: &str) -> Option<&str> {
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 || digits > 9 {
        return None;
    }
    line[digits..]
        .strip_prefix(". ")
        .filter(|r| !r.trim().is_empty())
}

fn fence_of(line: &str) -> Option<&str> {
    line.strip_prefix("```")
        .filter(|l| !l.contains('`') && !l.contains(' '))
}

/// Lines joined by hard breaks, with inline marks.
fn paragraph(lines: &[&str]) -> Vec<Inline> {
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        if i > 0 {
            out.push(Inline::HardBreak);
        }
        out.extend(inline_from_text(l));
    }
    out
}

/// Reads a list item's text from its line (`- ` or `1. `).
type ItemOf = fn(&str) -> Option<&str>;

/// Parses devlog's text form into a document (see the module's documentation).
pub fn from_text(text: &str) -> Doc {
    let lines: Vec<&str> = text.lines().collect();
    let blank = |l: &str| l.trim().is_empty();
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if blank(line) {
            i += 1;
            continue;
        }
        if let Some(lang) = fence_of(line) {
            let mut code = Vec::new();
            i += 1;
            while i < lines.len() && lines[i] != "```" {
                code.push(lines[i]);
                i += 1;
            }
            i += 1; // the closing fence (or the end)
            blocks.push(Block::CodeBlock {
                language: (!lang.is_empty()).then(|| lang.to_string()),
                text: code.join("\n"),
            });
            continue;
        }
        if line == "---" {
            blocks.push(Block::Rule);
            i += 1;
            continue;
        }
        if let Some((level, rest)) = heading_of(line) {
            blocks.push(Block::Heading {
                level,
                content: inline_from_text(rest),
            });
            i += 1;
            continue;
        }
        let list: Option<(ItemOf, bool)> = if bullet_of(line).is_some() {
            Some((bullet_of, false))
        } else if ordered_of(line).is_some() {
            Some((ordered_of, true))
        } else {
            None
        };
        if let Some((item_of, ordered)) = list {
            let mut items: Vec<Vec<&str>> = Vec::new();
            while i < lines.len() && !blank(lines[i]) {
                let l = lines[i];
                match item_of(l) {
                    Some(rest) => items.push(vec![rest]),
                    None if starts_block(l) => break,
                    // A line right after an item continues it.
                    None => items.last_mut().map_or((), |it| it.push(l)),
                }
                i += 1;
            }
            let items = items
                .iter()
                .map(|it| vec![Block::Paragraph(paragraph(it))])
                .collect();
            blocks.push(if ordered {
                Block::OrderedList(items)
            } else {
                Block::BulletList(items)
            });
            continue;
        }
        let mut para = Vec::new();
        while i < lines.len() && !blank(lines[i]) && (para.is_empty() || !starts_block(lines[i])) {
            para.push(lines[i]);
            i += 1;
        }
        blocks.push(Block::Paragraph(paragraph(&para)));
    }
    Doc { content: blocks }
}

fn starts_block(l: &str) -> bool {
    fence_of(l).is_some()
        || l == "---"
        || heading_of(l).is_some()
        || bullet_of(l).is_some()
        || ordered_of(l).is_some()
}

const PAIRS: [(&str, Mark); 4] = [
    ("**", Mark::Strong),
    ("~~", Mark::Strike),
    ("_", Mark::Em),
    ("`", Mark::Code),
];

/// Inline marks of one line: complete pairs only; anything else is text.
pub fn inline_from_text(s: &str) -> Vec<Inline> {
    let mut out: Vec<Inline> = Vec::new();
    let mut plain = String::new();
    let mut rest = s;
    let flush = |plain: &mut String, out: &mut Vec<Inline>| {
        if !plain.is_empty() {
            out.push(Inline::text(plain));
            plain.clear();
        }
    };
    'outer: while let Some(c) = rest.chars().next() {
        if c == '['
            && let Some((label, href, after)) = link_at(rest)
        {
            flush(&mut plain, &mut out);
            out.push(Inline::Text {
                text: label.to_string(),
                marks: vec![Mark::Link(href.to_string())],
            });
            rest = after;
            continue;
        }
        for (delim, mark) in &PAIRS {
            // `_` inside a word (snake_case) is text.
            let in_word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
            if let Some(after) = rest.strip_prefix(delim)
                && let Some(end) = after.find(delim)
                && (*delim != "_"
                    || !(in_word(plain.chars().last()) || in_word(after[end + 1..].chars().next())))
                && end > 0
                && !after[..end].contains('\n')
                && valid_inner(&after[..end], delim)
            {
                flush(&mut plain, &mut out);
                out.push(Inline::Text {
                    text: after[..end].to_string(),
                    marks: vec![mark.clone()],
                });
                rest = &after[end + delim.len()..];
                continue 'outer;
            }
        }
        plain.push(c);
        rest = &rest[c.len_utf8()..];
    }
    flush(&mut plain, &mut out);
    out
}

/// The text between a pair of delimiters: not blank at its edges (so `a * b * c` and
/// `snake_case_names` stay text), and without the other delimiters (one mark per text).
fn valid_inner(inner: &str, delim: &str) -> bool {
    !inner.starts_with(char::is_whitespace)
        && !inner.ends_with(char::is_whitespace)
        && !inner.contains(['[', ']'])
        && !PAIRS.iter().any(|(d, _)| *d != delim && inner.contains(*d))
}

/// `[label](href)` at the start of `s`, with an http(s) or mailto href.
fn link_at(s: &str) -> Option<(&str, &str, &str)> {
    let close = s.find("](")?;
    let label = &s[1..close];
    let after = &s[close + 2..];
    let end = after.find(')')?;
    let href = &after[..end];
    let ok = !label.is_empty()
        && !label.contains(['[', ']', '\n'])
        && !PAIRS.iter().any(|(d, _)| label.contains(*d))
        && (href.starts_with("https://")
            || href.starts_with("http://")
            || href.starts_with("mailto:"))
        && !href.contains([' ', '(', ')']);
    ok.then_some((label, href, &after[end + 1..]))
}

// ---- document → text ----

/// The document in devlog's text form (see the module's documentation).
pub fn to_text(doc: &Doc) -> String {
    blocks_text(&doc.content)
}

fn blocks_text(blocks: &[Block]) -> String {
    blocks
        .iter()
        .map(block_text)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n\n")
}

fn block_text(b: &Block) -> String {
    match b {
        Block::Paragraph(c) => inline_text(c),
        Block::Heading { level, content } => {
            format!(
                "{} {}",
                "#".repeat(usize::from(*level)),
                inline_text(content)
            )
        }
        Block::BulletList(items) => items
            .iter()
            .map(|it| format!("- {}", item_text(it)))
            .collect::<Vec<_>>()
            .join("\n"),
        Block::OrderedList(items) => items
            .iter()
            .enumerate()
            .map(|(n, it)| format!("{}. {}", n + 1, item_text(it)))
            .collect::<Vec<_>>()
            .join("\n"),
        Block::CodeBlock { language, text } => format!(
            "```{}\n{text}\n```",
            language.as_deref().unwrap_or_default()
        ),
        Block::Rule => "---".into(),
        Block::Other(v) => plain_text(v),
    }
}

fn item_text(blocks: &[Block]) -> String {
    blocks
        .iter()
        .map(block_text)
        .filter(|t| !t.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

fn inline_text(content: &[Inline]) -> String {
    let mut s = String::new();
    for i in content {
        match i {
            Inline::Text { text, marks } => {
                let mut t = text.clone();
                for m in marks {
                    t = match m {
                        Mark::Strong => format!("**{t}**"),
                        Mark::Em => format!("_{t}_"),
                        Mark::Code => format!("`{t}`"),
                        Mark::Strike => format!("~~{t}~~"),
                        Mark::Link(href) => format!("[{t}]({href})"),
                    };
                }
                s.push_str(&t);
            }
            Inline::HardBreak => s.push('\n'),
            Inline::Other(v) => s.push_str(&plain_text(v)),
        }
    }
    s
}

/// The text of a node devlog does not model: its text nodes, a mention's or emoji's `text`.
fn plain_text(v: &Value) -> String {
    if let Some(t) = v.get("text").and_then(Value::as_str) {
        return t.to_string();
    }
    if let Some(t) = v
        .get("attrs")
        .and_then(|a| a.get("text"))
        .and_then(Value::as_str)
    {
        return t.to_string();
    }
    let parts: Vec<String> = v
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(plain_text)
        .filter(|t| !t.is_empty())
        .collect();
    let block = matches!(
        v.get("type").and_then(Value::as_str),
        Some(
            "panel" | "table" | "tableRow" | "tableCell" | "tableHeader" | "blockquote" | "expand"
        )
    );
    parts.join(if block { "\n" } else { "" })
}

// ---- an entry's description ----

/// The section headings devlog writes below a rule after the description.
pub const BUSINESS: &str = "Business context";
pub const TECHNICAL: &str = "Technical context";
pub const ACCEPTANCE: &str = "Acceptance criteria";

/// An issue's description as devlog writes it: the entry's description, then (when there is
/// any) a rule and the context and acceptance criteria under their headings.
pub fn render_description(
    description: &str,
    business: &str,
    technical: &str,
    acceptance: &[String],
) -> Doc {
    let mut doc = from_text(description);
    doc.content.extend(details(business, technical, acceptance));
    doc
}

/// The details section (rule, headings, texts, criteria list); empty when there is nothing.
pub fn details(business: &str, technical: &str, acceptance: &[String]) -> Vec<Block> {
    let mut out = Vec::new();
    let heading = |t: &str| Block::Heading {
        level: 3,
        content: vec![Inline::text(t)],
    };
    for (title, text) in [(BUSINESS, business), (TECHNICAL, technical)] {
        if !text.trim().is_empty() {
            out.push(heading(title));
            out.extend(from_text(text).content);
        }
    }
    let criteria: Vec<Vec<Block>> = acceptance
        .iter()
        .filter(|c| !c.trim().is_empty())
        .map(|c| vec![Block::Paragraph(paragraph(&c.lines().collect::<Vec<_>>()))])
        .collect();
    if !criteria.is_empty() {
        out.push(heading(ACCEPTANCE));
        out.push(Block::BulletList(criteria));
    }
    if !out.is_empty() {
        out.insert(0, Block::Rule);
    }
    out
}

/// Splits an issue description into the entry's description (as text) and devlog's details
/// section (kept as it is when the description is rewritten): the details start at the last
/// top-level rule followed by one of devlog's section headings.
pub fn split_description(doc: &Doc) -> (String, Vec<Block>) {
    let is_ours = |b: Option<&Block>| match b {
        Some(Block::Heading { level: 3, content }) => {
            matches!(
                inline_text(content).as_str(),
                BUSINESS | TECHNICAL | ACCEPTANCE
            )
        }
        _ => false,
    };
    let at = (0..doc.content.len())
        .rev()
        .find(|i| doc.content[*i] == Block::Rule && is_ours(doc.content.get(i + 1)));
    match at {
        Some(i) => (blocks_text(&doc.content[..i]), doc.content[i..].to_vec()),
        None => (to_text(doc), Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn a_description_renders_as_typed_nodes() {
        let doc = render_description(
            "Fix the **login** timeout, see [the ticket](https://example.com/t/1).\nSecond line.\n\n## Steps\n\n1. open `app`\n2. wait\n\n```rust\nfn main() {}\n```",
            "Users drop off.",
            "",
            &["No timeout after 30s".into(), "A _clear_ error".into()],
        );
        let j = doc.to_json();
        assert_eq!(j["type"], "doc");
        assert_eq!(j["version"], 1);
        let c = j["content"].as_array().unwrap();
        let types: Vec<&str> = c.iter().map(|n| n["type"].as_str().unwrap()).collect();
        assert_eq!(
            types,
            [
                "paragraph",
                "heading",
                "orderedList",
                "codeBlock",
                "rule",
                "heading",
                "paragraph",
                "heading",
                "bulletList"
            ]
        );
        assert_eq!(c[0]["content"][1]["marks"][0]["type"], "strong");
        assert_eq!(
            c[0]["content"][3]["marks"][0]["attrs"]["href"],
            "https://example.com/t/1"
        );
        assert_eq!(c[0]["content"][5]["type"], "hardBreak");
        assert_eq!(c[3]["attrs"]["language"], "rust");
        assert_eq!(
            c[8]["content"][1]["content"][0]["content"][1]["marks"][0]["type"],
            "em"
        );
        // Read back: the description part is the text as written; the details are kept.
        let (text, details) = split_description(&Doc::from_json(&j).unwrap());
        assert!(text.starts_with("Fix the **login** timeout"), "{text}");
        assert!(text.ends_with("```rust\nfn main() {}\n```"), "{text}");
        assert_eq!(details.len(), 5);
    }

    #[test]
    fn lone_markers_and_foreign_nodes_stay_text() {
        for t in [
            "a * b * c",
            "snake_case_name and x_y",
            "1 < 2 ** 3",
            "[not a link](ftp://x)",
            "`unclosed",
        ] {
            assert_eq!(to_text(&from_text(t)), t);
        }
        let foreign = json!({"type": "doc", "version": 1, "content": [
            {"type": "panel", "attrs": {"panelType": "info"}, "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "Note "},
                 {"type": "mention", "attrs": {"id": "5b10", "text": "@Ann"}},
                 {"type": "text", "text": " here", "marks": [{"type": "underline"}]}]}]}]});
        let doc = Doc::from_json(&foreign).unwrap();
        assert_eq!(to_text(&doc), "Note @Ann here");
        // Kept as sent when written back.
        assert_eq!(doc.to_json(), foreign);
        assert!(Doc::from_json(&json!({"type": "paragraph"})).is_err());
        assert_eq!(Doc::from_json(&Value::Null).unwrap(), Doc::default());
    }

    fn word() -> impl Strategy<Value = String> {
        "[A-Za-z][A-Za-z0-9.,:!?']{0,8}"
    }

    fn words() -> impl Strategy<Value = String> {
        prop::collection::vec(word(), 1..5).prop_map(|w| w.join(" "))
    }

    fn inline() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => words(),
            1 => words().prop_map(|w| format!("**{w}**")),
            1 => words().prop_map(|w| format!("_{w}_")),
            1 => words().prop_map(|w| format!("`{w}`")),
            1 => words().prop_map(|w| format!("~~{w}~~")),
            1 => (words(), "[a-z]{1,8}").prop_map(|(w, p)| format!("[{w}](https://example.com/{p})")),
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        prop::collection::vec(inline(), 1..4).prop_map(|p| p.join(" "))
    }

    /// Text in devlog's form: what it writes, and what reads back unchanged.
    fn block() -> impl Strategy<Value = String> {
        prop_oneof![
            4 => prop::collection::vec(line(), 1..3).prop_map(|l| l.join("\n")),
            1 => (1u8..=6, line()).prop_map(|(n, l)| format!("{} {l}", "#".repeat(n.into()))),
            1 => prop::collection::vec(line(), 1..4)
                .prop_map(|items| items.iter().map(|i| format!("- {i}")).collect::<Vec<_>>().join("\n")),
            1 => prop::collection::vec(line(), 1..4).prop_map(|items| items
                .iter()
                .enumerate()
                .map(|(n, i)| format!("{}. {i}", n + 1))
                .collect::<Vec<_>>()
                .join("\n")),
            1 => ("(rust|sh)?", prop::collection::vec("[ -_a-~]{0,20}", 1..4))
                .prop_map(|(lang, l)| format!("```{lang}\n{}\n```", l.join("\n"))),
            1 => Just("---".to_string()),
        ]
    }

    proptest! {
        #[test]
        fn text_in_devlogs_form_round_trips_through_adf(blocks in prop::collection::vec(block(), 0..6)) {
            let text = blocks.join("\n\n");
            let doc = from_text(&text);
            // Through JSON too: what Jira stores is what is read back.
            let back = Doc::from_json(&doc.to_json()).unwrap();
            prop_assert_eq!(&back, &doc);
            prop_assert_eq!(to_text(&back), text);
        }

        #[test]
        fn any_text_is_stable_after_one_round_trip(text in "[ -~\n]{0,120}") {
            let once = to_text(&from_text(&text));
            prop_assert_eq!(to_text(&from_text(&once)), once.clone());
        }

        #[test]
        fn the_description_part_reads_back_as_written(
            blocks in prop::collection::vec(block(), 0..4),
            business in prop::collection::vec(line(), 0..2),
            criteria in prop::collection::vec(line(), 0..3),
        ) {
            let description = blocks.join("\n\n");
            let doc = render_description(&description, &business.join("\n"), "", &criteria);
            let (text, _) = split_description(&Doc::from_json(&doc.to_json()).unwrap());
            prop_assert_eq!(text, description);
        }
    }
}
