//! Markdown in entry fields, rendered for the dashboard without letting the text inject
//! markup: raw HTML in the text (blocks and inline tags) is shown as text, link and image
//! URLs other than `http`, `https`, `mailto` and relative ones are dropped (no `javascript:`
//! or `data:`), and images become links (the page's CSP would block remote images anyway).
//! Everything else is escaped by pulldown-cmark's HTML writer.

use pulldown_cmark::{CowStr, Event, LinkType, Options, Parser, Tag, TagEnd, html};

/// Whether a link target may be followed from the dashboard.
pub fn safe_url(url: &str) -> bool {
    let u = url.trim();
    // Browsers ignore tabs and newlines inside a scheme (`java\tscript:`): judge without them.
    let squeezed: String = u
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    match squeezed.split_once(':') {
        // A colon before any `/`, `?` or `#` is a scheme.
        Some((scheme, _)) if !scheme.contains(['/', '?', '#']) => {
            matches!(scheme, "http" | "https" | "mailto")
        }
        _ => !squeezed.starts_with("//") || squeezed.starts_with("///"),
    }
}

/// `text` as HTML safe to put into a page.
pub fn render(text: &str) -> String {
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    options.insert(Options::ENABLE_TASKLISTS);
    let events = Parser::new_ext(text, options).map(|event| match event {
        // Raw HTML is shown, not interpreted.
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: checked(dest_url),
            title,
            id,
        }),
        // An image becomes a link to it, its alt text the link's text.
        Event::Start(Tag::Image {
            dest_url,
            title,
            id,
            ..
        }) => Event::Start(Tag::Link {
            link_type: LinkType::Inline,
            dest_url: checked(dest_url),
            title,
            id,
        }),
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        other => other,
    });
    let mut out = String::with_capacity(text.len() * 3 / 2);
    html::push_html(&mut out, events);
    out
}

fn checked(url: CowStr<'_>) -> CowStr<'_> {
    if safe_url(&url) {
        url
    } else {
        CowStr::Borrowed("#unsafe-link-removed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_is_rendered() {
        let h = render("# Title\n\nSome *emphasis* and `code`.\n\n- one\n- two\n");
        assert!(h.contains("<h1>Title</h1>"), "{h}");
        assert!(h.contains("<em>emphasis</em>"), "{h}");
        assert!(h.contains("<code>code</code>"), "{h}");
        assert!(h.contains("<li>one</li>"), "{h}");
    }

    #[test]
    fn raw_html_is_escaped() {
        for attack in [
            "<script>alert(1)</script>",
            "hello <img src=x onerror=alert(1)> world",
            "<iframe src=\"https://evil.example\"></iframe>",
            "<div onclick=\"alert(1)\">x</div>\n\ntext",
            "<svg/onload=alert(1)>",
            "<a href=\"javascript:alert(1)\">x</a>",
        ] {
            let h = render(attack);
            for bad in [
                "<script",
                "<img",
                "<iframe",
                "<div",
                "<svg",
                "<a href=\"javascript",
            ] {
                assert!(!h.contains(bad), "{attack:?} rendered as {h:?}");
            }
            assert!(h.contains("&lt;"), "{attack:?} rendered as {h:?}");
        }
    }

    #[test]
    fn dangerous_link_targets_are_removed() {
        for attack in [
            "[x](javascript:alert(1))",
            "[x](JavaScript:alert(1))",
            "[x](java\tscript:alert(1))",
            "[x](data:text/html;base64,PHNjcmlwdD4=)",
            "[x](vbscript:msgbox)",
            "![x](javascript:alert(1))",
            "<javascript:alert(1)>",
            "[x](//evil.example/path)",
        ] {
            let h = render(attack);
            // Text that is not a link (a tab inside the target stops it being one) is
            // harmless; every link target must be safe.
            for href in h.split("href=\"").skip(1) {
                let target = href.split('"').next().unwrap_or("").to_ascii_lowercase();
                assert!(
                    !target.contains("script:")
                        && !target.starts_with("data:")
                        && !target.starts_with("//"),
                    "{attack:?} rendered as {h:?}"
                );
            }
            assert!(!h.contains("src="), "{attack:?} rendered as {h:?}");
        }
    }

    #[test]
    fn safe_links_are_kept_and_images_become_links() {
        let h = render("[docs](https://example.com/a?b=1&c=2) and [rel](/entries/1)");
        assert!(
            h.contains("href=\"https://example.com/a?b=1&amp;c=2\""),
            "{h}"
        );
        assert!(h.contains("href=\"/entries/1\""), "{h}");
        let h = render("![diagram](https://example.com/d.png)");
        assert!(!h.contains("<img"), "{h}");
        assert!(
            h.contains("<a href=\"https://example.com/d.png\">diagram</a>"),
            "{h}"
        );
    }

    #[test]
    fn attribute_quotes_cannot_break_out() {
        let h = render("[x](https://e.example/\"onmouseover=\"alert(1))");
        assert!(!h.contains("\"onmouseover"), "{h}");
    }
}
