//! devlog's own word index, shared by every backend: the SQLite backend and the JSON
//! backend's index (`terms` table, `crate::index`) and the server backends (`devlog_terms`,
//! `server/store_impl.rs`). One tokenizer for writes, for rebuilding existing rows and for
//! queries, and one score, so a search ranks the same on every backend
//! (docs/performance.md, "Search on the servers" and "Search from devlog's own index").

/// Longest term the search index keeps, in characters: longer words are indexed (and looked
/// up) by their first `MAX_TERM_CHARS` characters, which keeps index keys small on both
/// servers (MySQL's `VARCHAR(64)`).
pub(crate) const MAX_TERM_CHARS: usize = 64;

/// Weights of an entry's text fields in a term's weight: a title word counts most, then the
/// description, then notes, then the context (the weights the FULLTEXT ranking used).
const FIELD_WEIGHTS: [f64; 4] = [10.0, 4.0, 2.0, 1.5];

/// `word` as the search index keeps it: lowercased, diacritics removed (`Café` → `cafe`, as
/// SQLite's `unicode61 remove_diacritics 2` tokenizer does), at most `MAX_TERM_CHARS`
/// characters.
pub(crate) fn fold(word: &str) -> String {
    crate::snippet::fold(word)
        .chars()
        .take(MAX_TERM_CHARS)
        .collect()
}

/// Runs of letters and digits: the words of a text, for the index and for queries alike.
fn words_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The words of a search, folded (see [`fold`]): every run of letters and digits. Everything
/// else (quotes, operators, punctuation) only separates words, so user input is always
/// literal. Each word matches as a prefix of an indexed term.
pub(crate) fn search_words(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in words_of(text).map(fold) {
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// The rows of the search index (`devlog_terms`) for one entry: each distinct folded word of
/// its text with its weight, the sum over its occurrences of the field's weight
/// (`FIELD_WEIGHTS`), sorted by term. One tokenizer for writes and for the rebuild of
/// existing rows, and the same word rules as queries (`search_words`).
pub(crate) fn index_terms(text: &devlog_core::entry::SearchText) -> Vec<(String, f64)> {
    let mut terms: std::collections::BTreeMap<String, f64> = std::collections::BTreeMap::new();
    let fields = [
        text.title.as_str(),
        text.description.as_str(),
        text.notes.as_str(),
        text.context.as_str(),
    ];
    for (field, weight) in fields.iter().zip(FIELD_WEIGHTS) {
        for w in words_of(field) {
            *terms.entry(fold(w)).or_insert(0.0) += weight;
        }
    }
    terms.into_iter().collect()
}

/// A word's contribution to a hit's score from the weight of the entry's heaviest term it
/// matches (as a prefix): saturating, like bm25's term-frequency part (a second mention adds less than
/// the first), so a title hit (10 → 0.83) outranks one mention in a note (2 → 0.5) and no
/// single word dominates a multi-word search.
pub(crate) fn word_score(weight: f64) -> f64 {
    weight / (weight + 2.0)
}

/// The range of indexed terms that start with `word` (`term >= lo AND term < hi`): every
/// backend compares terms by code point (SQLite's `BINARY`, PostgreSQL `COLLATE "C"`, MySQL
/// `utf8mb4_bin`), and no term holds U+10FFFF, which is not a letter or digit. A range
/// rather than `LIKE`, so that an index on `term` is read.
pub(crate) fn term_range(word: &str) -> (String, String) {
    (word.to_string(), format!("{word}\u{10FFFF}"))
}

/// Most indexed terms a search word is expanded to; a word with more is matched by its
/// term range ([`term_range`]), which cannot be read in handle order.
pub(crate) const MAX_EXPANSIONS: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        search_words(s)
    }

    #[test]
    fn search_words_drop_every_operator() {
        assert_eq!(
            w("Kube* \"manif\" -x +y (z) a:b"),
            ["kube", "manif", "x", "y", "z", "a", "b"]
        );
        assert!(w("\" * - ((( ").is_empty());
        assert_eq!(w("Straße ÉTÉ"), ["straße", "ete"]);
    }

    #[test]
    fn words_are_folded_and_cut_like_index_terms() {
        assert_eq!(w("Café CAFE naïve"), ["cafe", "naive"]);
        let long = "x".repeat(100);
        assert_eq!(w(&long), ["x".repeat(MAX_TERM_CHARS)]);
        assert_eq!(fold("ÅNGSTRÖM"), "angstrom");
    }

    #[test]
    fn index_terms_weigh_fields_and_count_repeats() {
        let text = devlog_core::entry::SearchText {
            title: "Kubernetes pods".into(),
            description: "pods, pods and Café".into(),
            notes: "café\n".into(),
            context: "x".into(),
        };
        let terms = index_terms(&text);
        let get = |t: &str| terms.iter().find(|(k, _)| k == t).map(|(_, v)| *v);
        assert_eq!(get("kubernetes"), Some(10.0));
        assert_eq!(get("pods"), Some(10.0 + 4.0 + 4.0));
        assert_eq!(get("cafe"), Some(4.0 + 2.0));
        assert_eq!(get("x"), Some(1.5));
        assert_eq!(get("Café"), None);
        assert!(
            terms.windows(2).all(|p| p[0].0 < p[1].0),
            "sorted, distinct"
        );
        assert!(word_score(10.0) > word_score(2.0));
    }
}
