//! Work item descriptions as HTML (`System.Description`): rendered from devlog's text form
//! through the typed document model the Jira integration uses ([`devlog_jira::adf`]: blocks
//! and marked text, never string concatenation of user text) and read back to it.
//!
//! Written: `<p>` (lines joined by `<br>`), `<h1>`…`<h6>`, `<ul>`/`<ol>` with `<li>`,
//! `<pre><code class="language-x">`, `<hr>`, `<strong>`, `<em>`, `<code>`, `<s>` and
//! `<a href>` (http, https and mailto only). Every text is escaped, so the HTML is sanitized
//! by construction. Read: the same, plus what people write in Azure DevOps' editor (`<div>`,
//! `<b>`, `<i>`, `<del>`, `<span>`, `&nbsp;`, …), tolerantly: unknown tags are read as their
//! text, never an error. [`to_text`]`(`[`from_text`]`(t)) == t` for text in devlog's form, and
//! any text is stable after one round trip (property tests below), so a sync never churns on
//! its own output.

use devlog_jira::adf::{self, Block, Doc, Inline, Mark};

// ---- document → HTML ----

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

fn safe_href(href: &str) -> bool {
    let h = href.to_ascii_lowercase();
    h.starts_with("https://") || h.starts_with("http://") || h.starts_with("mailto:")
}

fn inlines_html(content: &[Inline], out: &mut String) {
    for i in content {
        match i {
            Inline::Text { text, marks } => {
                let mut close = Vec::new();
                for m in marks {
                    match m {
                        Mark::Strong => {
                            out.push_str("<strong>");
                            close.push("</strong>");
                        }
                        Mark::Em => {
                            out.push_str("<em>");
                            close.push("</em>");
                        }
                        Mark::Code => {
                            out.push_str("<code>");
                            close.push("</code>");
                        }
                        Mark::Strike => {
                            out.push_str("<s>");
                            close.push("</s>");
                        }
                        Mark::Link(href) if safe_href(href) => {
                            out.push_str("<a href=\"");
                            escape(href, out);
                            out.push_str("\">");
                            close.push("</a>");
                        }
                        Mark::Link(_) => {}
                    }
                }
                escape(text, out);
                for c in close.iter().rev() {
                    out.push_str(c);
                }
            }
            Inline::HardBreak => out.push_str("<br>"),
            Inline::Other(v) => {
                let t = adf::to_text(&Doc {
                    content: vec![Block::Other(v.clone())],
                });
                escape(&t, out);
            }
        }
    }
}

fn block_html(b: &Block, out: &mut String) {
    match b {
        Block::Paragraph(c) => {
            out.push_str("<p>");
            inlines_html(c, out);
            out.push_str("</p>");
        }
        Block::Heading { level, content } => {
            let n = (*level).clamp(1, 6);
            out.push_str(&format!("<h{n}>"));
            inlines_html(content, out);
            out.push_str(&format!("</h{n}>"));
        }
        Block::BulletList(items) | Block::OrderedList(items) => {
            let tag = if matches!(b, Block::BulletList(_)) {
                "ul"
            } else {
                "ol"
            };
            out.push_str(&format!("<{tag}>"));
            for item in items {
                out.push_str("<li>");
                match item.as_slice() {
                    [Block::Paragraph(c)] => inlines_html(c, out),
                    blocks => blocks.iter().for_each(|b| block_html(b, out)),
                }
                out.push_str("</li>");
            }
            out.push_str(&format!("</{tag}>"));
        }
        Block::CodeBlock { language, text } => {
            out.push_str("<pre><code");
            if let Some(l) = language {
                out.push_str(" class=\"language-");
                escape(l, out);
                out.push('"');
            }
            out.push('>');
            escape(text, out);
            out.push_str("</code></pre>");
        }
        Block::Rule => out.push_str("<hr>"),
        Block::Other(v) => {
            let t = adf::to_text(&Doc {
                content: vec![Block::Other(v.clone())],
            });
            if !t.is_empty() {
                out.push_str("<p>");
                escape(&t, out);
                out.push_str("</p>");
            }
        }
    }
}

/// The document as HTML.
pub fn to_html(doc: &Doc) -> String {
    let mut out = String::new();
    for b in &doc.content {
        block_html(b, &mut out);
    }
    out
}

/// Devlog's text form as HTML.
pub fn from_text(text: &str) -> String {
    to_html(&adf::from_text(text))
}

/// HTML read back to devlog's text form.
pub fn to_text(html: &str) -> String {
    adf::to_text(&parse(html))
}

// ---- HTML → document ----

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Element {
        name: String,
        attrs: Vec<(String, String)>,
        children: Vec<Node>,
    },
    Text(String),
}

/// Elements nested deeper than this are read as their text.
const MAX_DEPTH: usize = 64;

/// An element being read: its name, attributes and children so far.
type Open = (String, Vec<(String, String)>, Vec<Node>);

const VOID: [&str; 8] = ["br", "hr", "img", "input", "meta", "link", "col", "wbr"];

fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[..rest.len().min(12)].find(';');
        let decoded = end.and_then(|e| {
            let name = &rest[1..e];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                // The editor writes spaces people typed twice as `&nbsp;`: they are spaces.
                "nbsp" => Some(' '),
                _ => name
                    .strip_prefix("#x")
                    .or_else(|| name.strip_prefix("#X"))
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, e))
        });
        match decoded {
            Some((c, e)) => {
                out.push(c);
                rest = &rest[e + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse_attrs(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_ascii_lowercase();
        rest = rest[name_end..].trim_start();
        let mut value = String::new();
        if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            let (v, after) = match r.chars().next() {
                Some(q @ ('"' | '\'')) => {
                    let body = &r[1..];
                    let end = body.find(q).unwrap_or(body.len());
                    (&body[..end], body.get(end + 1..).unwrap_or(""))
                }
                _ => {
                    let end = r.find(char::is_whitespace).unwrap_or(r.len());
                    (&r[..end], &r[end..])
                }
            };
            value = decode_entities(v);
            rest = after.trim_start();
        }
        if !name.is_empty() {
            out.push((name, value));
        }
    }
    out
}

/// A tolerant tree of the HTML: unclosed elements close with their parent, stray closing
/// tags are ignored, comments and `<script>`/`<style>` contents dropped.
fn dom(html: &str) -> Vec<Node> {
    // Stack of open elements: (name, attrs, children).
    let mut stack: Vec<Open> = vec![(String::new(), Vec::new(), Vec::new())];
    let mut rest = html;
    fn close_top(stack: &mut Vec<Open>) {
        if stack.len() > 1
            && let Some((name, attrs, children)) = stack.pop()
            && let Some(parent) = stack.last_mut()
        {
            parent.2.push(Node::Element {
                name,
                attrs,
                children,
            });
        }
    }
    // Text next to text (around a lone `<`) is one text.
    fn push_text(stack: &mut [Open], t: String) {
        if let Some(top) = stack.last_mut() {
            match top.2.last_mut() {
                Some(Node::Text(prev)) => prev.push_str(&t),
                _ => top.2.push(Node::Text(t)),
            }
        }
    }
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            push_text(&mut stack, decode_entities(rest));
            break;
        };
        if lt > 0 {
            push_text(&mut stack, decode_entities(&rest[..lt]));
        }
        rest = &rest[lt..];
        if let Some(r) = rest.strip_prefix("<!--") {
            rest = r.find("-->").map_or("", |e| &r[e + 3..]);
            continue;
        }
        let is_tag = rest[1..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '/' || c == '!');
        let Some(gt) = rest.find('>').filter(|_| is_tag) else {
            // A lone `<` is text.
            push_text(&mut stack, "<".into());
            rest = &rest[1..];
            continue;
        };
        let inner = &rest[1..gt];
        rest = &rest[gt + 1..];
        if inner.starts_with('!') {
            continue; // <!DOCTYPE …>
        }
        if let Some(name) = inner.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            if let Some(at) = stack.iter().rposition(|(n, _, _)| *n == name)
                && at > 0
            {
                while stack.len() > at {
                    close_top(&mut stack);
                }
            }
            continue;
        }
        let self_closing = inner.ends_with('/');
        let inner = inner.trim_end_matches('/');
        let name_end = inner
            .find(|c: char| c.is_whitespace())
            .unwrap_or(inner.len());
        let name = inner[..name_end].to_ascii_lowercase();
        let attrs = parse_attrs(&inner[name_end..]);
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            let lower = rest.to_ascii_lowercase();
            rest = match lower.find(&close) {
                Some(at) => rest[at..].find('>').map_or("", |e| &rest[at + e + 1..]),
                None => "",
            };
            continue;
        }
        // A new list item or paragraph closes an open one (as browsers do).
        if matches!(name.as_str(), "li" | "p") && stack.last().is_some_and(|(n, _, _)| *n == name) {
            close_top(&mut stack);
        }
        if self_closing || VOID.contains(&name.as_str()) {
            if let Some(top) = stack.last_mut() {
                top.2.push(Node::Element {
                    name,
                    attrs,
                    children: Vec::new(),
                });
            }
        } else if stack.len() <= MAX_DEPTH {
            stack.push((name, attrs, Vec::new()));
        }
        // Deeper elements are read as their text: the reader recurses per level, and no
        // description nests this deep but a hostile one.
    }
    while stack.len() > 1 {
        close_top(&mut stack);
    }
    stack.pop().map(|(_, _, c)| c).unwrap_or_default()
}

fn is_block(name: &str) -> bool {
    matches!(
        name,
        "p" | "div"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "ul"
            | "ol"
            | "li"
            | "pre"
            | "hr"
            | "blockquote"
            | "table"
            | "thead"
            | "tbody"
            | "tr"
            | "td"
            | "th"
            | "section"
            | "article"
            | "body"
            | "html"
    )
}

fn has_block(children: &[Node]) -> bool {
    children
        .iter()
        .any(|n| matches!(n, Node::Element { name, .. } if is_block(name)))
}

fn attr<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Inline content with the marks in force.
fn inlines(nodes: &[Node], marks: &[Mark], out: &mut Vec<Inline>) {
    for n in nodes {
        match n {
            Node::Text(t) => {
                let t = fold_newlines(t);
                if t.is_empty() {
                    continue;
                }
                out.push(Inline::Text {
                    text: t,
                    marks: marks.to_vec(),
                });
            }
            Node::Element {
                name,
                attrs,
                children,
            } => {
                let mark = match name.as_str() {
                    "br" => {
                        out.push(Inline::HardBreak);
                        continue;
                    }
                    "strong" | "b" => Some(Mark::Strong),
                    "em" | "i" => Some(Mark::Em),
                    "code" | "tt" | "kbd" => Some(Mark::Code),
                    "s" | "del" | "strike" => Some(Mark::Strike),
                    "a" => attr(attrs, "href")
                        .filter(|h| safe_href(h))
                        .map(|h| Mark::Link(h.to_string())),
                    _ => None,
                };
                let mut m = marks.to_vec();
                if let Some(mark) = mark
                    && !m.contains(&mark)
                {
                    m.push(mark);
                }
                inlines(children, &m, out);
            }
        }
    }
}

/// Stands for whitespace with a line break in it (how other editors indent their HTML; devlog
/// writes none outside code): a space inside a paragraph, nothing at its edges.
const FOLDED: char = '\u{E000}';

fn fold_newlines(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        if run.contains(['\n', '\r']) {
            out.push(FOLDED);
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in t.chars() {
        if c.is_whitespace() {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

/// Folded line breaks: dropped at the edges of the content, spaces inside.
fn unfold(content: &mut [Inline]) {
    let texts: Vec<usize> = content
        .iter()
        .enumerate()
        .filter(|(_, i)| matches!(i, Inline::Text { .. }))
        .map(|(n, _)| n)
        .collect();
    for (k, n) in texts.iter().enumerate() {
        let first = k == 0 || (*n > 0 && matches!(content[n - 1], Inline::HardBreak));
        if first && let Inline::Text { text, .. } = &mut content[*n] {
            *text = text.trim_start_matches(FOLDED).to_string();
        }
    }
    for (k, n) in texts.iter().enumerate().rev() {
        let last = k + 1 == texts.len() || matches!(content.get(n + 1), Some(Inline::HardBreak));
        if let Inline::Text { text, .. } = &mut content[*n] {
            if last {
                *text = text.trim_end_matches(FOLDED).to_string();
            }
            *text = text.replace(FOLDED, " ");
        }
    }
}

fn paragraph_of(nodes: &[Node]) -> Option<Block> {
    let mut content = Vec::new();
    inlines(nodes, &[], &mut content);
    unfold(&mut content);
    content.retain(|i| !matches!(i, Inline::Text { text, .. } if text.is_empty()));
    // Breaks at the edges and blank texts carry nothing.
    while matches!(content.last(), Some(Inline::HardBreak)) {
        content.pop();
    }
    while matches!(content.first(), Some(Inline::HardBreak)) {
        content.remove(0);
    }
    let blank = content.iter().all(|i| match i {
        Inline::Text { text, .. } => text.trim().is_empty(),
        _ => false,
    });
    (!blank).then_some(Block::Paragraph(content))
}

fn text_of(nodes: &[Node]) -> String {
    nodes
        .iter()
        .map(|n| match n {
            Node::Text(t) => t.clone(),
            Node::Element { name, children, .. } if name == "br" && children.is_empty() => {
                "\n".into()
            }
            Node::Element { children, .. } => text_of(children),
        })
        .collect()
}

/// Blocks of a container: block elements become blocks, runs of inline content between them
/// paragraphs.
fn blocks(nodes: &[Node], out: &mut Vec<Block>) {
    let mut run: Vec<Node> = Vec::new();
    let flush = |run: &mut Vec<Node>, out: &mut Vec<Block>| {
        if let Some(p) = paragraph_of(run) {
            out.push(p);
        }
        run.clear();
    };
    for n in nodes {
        let Node::Element {
            name,
            attrs,
            children,
        } = n
        else {
            run.push(n.clone());
            continue;
        };
        if !is_block(name) {
            run.push(n.clone());
            continue;
        }
        flush(&mut run, out);
        match name.as_str() {
            "p" => out.extend(paragraph_of(children)),
            "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => {
                let level = name[1..].parse().unwrap_or(1);
                let mut content = Vec::new();
                inlines(children, &[], &mut content);
                unfold(&mut content);
                content.retain(|i| !matches!(i, Inline::Text { text, .. } if text.is_empty()));
                if !content.is_empty() {
                    out.push(Block::Heading { level, content });
                }
            }
            "ul" | "ol" => {
                let items: Vec<Vec<Block>> = children
                    .iter()
                    .filter_map(|c| match c {
                        Node::Element { name, children, .. } if name == "li" => {
                            let mut item = Vec::new();
                            if has_block(children) {
                                blocks(children, &mut item);
                            } else {
                                item.extend(paragraph_of(children));
                            }
                            Some(item)
                        }
                        _ => None,
                    })
                    .collect();
                if !items.is_empty() {
                    out.push(if name == "ul" {
                        Block::BulletList(items)
                    } else {
                        Block::OrderedList(items)
                    });
                }
            }
            "pre" => {
                let code = children.iter().find_map(|c| match c {
                    Node::Element {
                        name,
                        attrs,
                        children,
                    } if name == "code" => Some((attrs, children)),
                    _ => None,
                });
                let (language, text) = match code {
                    Some((a, c)) if children.len() == 1 => (
                        attr(a, "class")
                            .and_then(|c| {
                                c.split_whitespace()
                                    .find_map(|w| w.strip_prefix("language-"))
                            })
                            .map(str::to_string),
                        text_of(c),
                    ),
                    _ => (None, text_of(children)),
                };
                let _ = attrs;
                out.push(Block::CodeBlock { language, text });
            }
            "hr" => out.push(Block::Rule),
            // div, li, blockquote, table parts, …: their own blocks, or one paragraph.
            _ => {
                if has_block(children) {
                    blocks(children, out);
                } else {
                    out.extend(paragraph_of(children));
                }
            }
        }
    }
    flush(&mut run, out);
}

/// Reads HTML into the document model.
pub fn parse(html: &str) -> Doc {
    let mut content = Vec::new();
    blocks(&dom(html), &mut content);
    Doc { content }
}

/// A work item's description as devlog writes it: the entry's description, then (when there
/// is any) a rule and the context and acceptance criteria under their headings
/// ([`adf::details`]).
pub fn render_description(
    description: &str,
    business: &str,
    technical: &str,
    acceptance: &[String],
) -> String {
    to_html(&adf::render_description(
        description,
        business,
        technical,
        acceptance,
    ))
}

/// Splits a description into the entry's description (as text) and devlog's details section
/// as HTML (kept as it is when the description is rewritten).
pub fn split_description(html: &str) -> (String, String) {
    let (text, details) = adf::split_description(&parse(html));
    (text, to_html(&Doc { content: details }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn text_renders_as_escaped_html() {
        let html = from_text(
            "Fix the **login** timeout, see [the ticket](https://example.com/t?a=1&b=2).\nSecond <line>.\n\n## Steps\n\n1. open `app`\n2. wait\n\n```rust\nfn main() { a < b }\n```\n\n---\n\n- _one_\n- ~~two~~",
        );
        assert_eq!(
            html,
            "<p>Fix the <strong>login</strong> timeout, see <a href=\"https://example.com/t?a=1&amp;b=2\">the ticket</a>.<br>Second &lt;line&gt;.</p>\
             <h2>Steps</h2><ol><li>open <code>app</code></li><li>wait</li></ol>\
             <pre><code class=\"language-rust\">fn main() { a &lt; b }</code></pre><hr>\
             <ul><li><em>one</em></li><li><s>two</s></li></ul>"
        );
        // Script-like text stays text.
        assert_eq!(
            from_text("<script>alert(1)</script>"),
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
        );
        assert_eq!(
            from_text("[x](javascript:alert(1))"),
            "<p>[x](javascript:alert(1))</p>"
        );
    }

    #[test]
    fn what_people_write_in_azure_devops_reads_as_text() {
        let html = "<div>First&nbsp;line<br/>second <b>bold</b> and <i>it</i></div>\n\
                    <div><span style=\"color:red\">Red</span> &amp; &#x27;quoted&#39;</div>\
                    <ul>\n  <li>a\n  <li>b</ul><!-- a comment --><script>evil()</script>\
                    <p>x <a href=\"javascript:evil()\">link</a> <a href='https://e.com/'>ok</a></p>\
                    <table><tr><td>cell</td></tr></table><pre>raw\n  code</pre>";
        assert_eq!(
            to_text(html),
            "First line\nsecond **bold** and _it_\n\nRed & 'quoted'\n\n- a\n- b\n\nx link [ok](https://e.com/)\n\ncell\n\n```\nraw\n  code\n```"
        );
        // Broken markup never fails.
        assert_eq!(to_text("<p>a < b</p><p>c"), "a < b\n\nc");
        assert_eq!(to_text("plain text"), "plain text");
        assert_eq!(to_text(""), "");
        assert_eq!(to_text("</div>x<"), "x<");
        // Hostile nesting is read as text, without exhausting the stack.
        let deep = format!(
            "{}deep{}",
            "<div><b>".repeat(50_000),
            "</b></div>".repeat(50_000)
        );
        assert_eq!(to_text(&deep), "**deep**");
    }

    #[test]
    fn the_details_section_is_split_off() {
        let html = render_description("The work.", "Users drop off.", "", &["No timeout".into()]);
        assert!(html.contains("<hr><h3>Business context</h3>"), "{html}");
        let (text, details) = split_description(&html);
        assert_eq!(text, "The work.");
        assert!(details.starts_with("<hr><h3>"), "{details}");
        assert!(details.contains("<li>No timeout</li>"), "{details}");
        assert_eq!(
            split_description("<p>Only</p>"),
            ("Only".into(), String::new())
        );
    }

    fn word() -> impl Strategy<Value = String> {
        "[A-Za-z<>&\"][A-Za-z0-9.,:!?'<>&\"]{0,8}"
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
            1 => ("[A-Za-z]{1,8}", "[a-z]{1,8}").prop_map(|(w, p)| format!("[{w}](https://example.com/{p}?a=1&b=2)")),
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
        fn text_in_devlogs_form_round_trips_through_html(blocks in prop::collection::vec(block(), 0..6)) {
            let text = blocks.join("\n\n");
            let html = from_text(&text);
            prop_assert_eq!(parse(&html), adf::from_text(&text));
            prop_assert_eq!(to_text(&html), text);
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
            let html = render_description(&description, &business.join("\n"), "", &criteria);
            let (text, _) = split_description(&html);
            prop_assert_eq!(text, description);
        }
    }
}
