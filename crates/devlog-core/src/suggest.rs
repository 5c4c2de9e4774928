//! "Did you mean": the known name closest to a mistyped one, for error messages that name it
//! (integration tables, workflow trigger fields).

/// Levenshtein distance between two texts, in characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

/// The name of `known` closest to `name` (case aside), when it is close enough to be what was
/// meant: at most two edits, or a third of the known name's length for long names. Ties go
/// to the name first in alphabetical order.
pub fn closest<'a>(name: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let name = name.to_lowercase();
    known
        .into_iter()
        .map(|k| (edit_distance(&name, &k.to_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.chars().count() / 3))
        .min()
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_closest_name_is_suggested_only_when_it_is_close() {
        assert_eq!(edit_distance("githb", "github"), 1);
        assert_eq!(edit_distance("", "ado"), 3);
        let known = ["priority", "points", "title", "context.businessContext"];
        assert_eq!(closest("priorty", known), Some("priority"));
        assert_eq!(closest("Title", known), Some("title"));
        assert_eq!(
            closest("context.bussinesContext", known),
            Some("context.businessContext")
        );
        assert_eq!(closest("milestone", known), None);
    }
}
