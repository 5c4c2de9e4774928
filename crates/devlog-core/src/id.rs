//! Identity: the global entry id, human handles, key slugs, and parsing what users type.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// The globally unique, never-changing id of an entry (a random UUID).
///
/// Random rather than time-ordered so that short prefixes are unique in practice: people and
/// agents can type the first few characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryId(Uuid);

/// Namespace for ids derived from the original devlog's integer ids (UUID v5).
const LEGACY_NAMESPACE: Uuid = Uuid::from_u128(0x5d1b_7c1e_0e7a_4c4e_9a55_64e5_1d3f_0a01);

impl EntryId {
    /// A fresh random id.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id an entry of the original devlog gets: derived from its integer id and creation
    /// time, so importing the same folder twice, or in two clones, yields the same ids.
    pub fn from_legacy(legacy_id: u64, created_at: &str) -> Self {
        Self(Uuid::new_v5(
            &LEGACY_NAMESPACE,
            format!("devlog-legacy:{legacy_id}:{created_at}").as_bytes(),
        ))
    }

    /// The entry id that is this UUID (one derived by [`crate::event::WriteMeta::derived_id`]).
    pub fn from_uuid(id: Uuid) -> Self {
        Self(id)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }

    /// The first 8 hex digits: enough to tell entries apart in any realistic store.
    pub fn short(&self) -> String {
        self.0.simple().to_string()[..8].to_string()
    }

    /// The id as 32 hex digits without hyphens, the form prefix matching works on.
    pub fn simple(&self) -> String {
        self.0.simple().to_string()
    }
}

/// An id as entry files hold it: the hyphenated UUID.
#[cfg(feature = "schemars")]
impl schemars::JsonSchema for EntryId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "EntryId".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "format": "uuid" })
    }
}

impl fmt::Display for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for EntryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryId({})", self.0.hyphenated())
    }
}

impl FromStr for EntryId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::parse_str(s.trim()).map(Self)
    }
}

impl Serialize for EntryId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0.hyphenated())
    }
}

impl<'de> Deserialize<'de> for EntryId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        s.parse().map_err(|_| {
            serde::de::Error::custom(format!(
                "`{s}` is not an entry id (expected a UUID such as 3f2b1c9e-...)"
            ))
        })
    }
}

/// What a user (or agent) typed to name an entry, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryRef {
    /// `#42` or `42`: a handle, or failing that an imported original integer id.
    Number(u64),
    /// A whole UUID.
    Id(EntryId),
    /// Hex digits that may be an id prefix or a key (e.g. `cafe`).
    Prefix(String),
    /// A key slug such as `fix-login-timeout`.
    Key(String),
}

/// Shortest id prefix accepted; shorter strings are too likely to match many entries.
pub const MIN_PREFIX: usize = 4;

impl EntryRef {
    /// Classifies `input`. Returns `None` for an empty string.
    pub fn parse(input: &str) -> Option<Self> {
        let s = input.trim();
        let s = s.strip_prefix("devlog-").unwrap_or(s);
        if s.is_empty() {
            return None;
        }
        let digits = s.strip_prefix('#').unwrap_or(s);
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && let Ok(n) = digits.parse()
        {
            return Some(EntryRef::Number(n));
        }
        if let Ok(id) = s.parse::<EntryId>() {
            return Some(EntryRef::Id(id));
        }
        let hex = s.replace('-', "");
        if hex.len() >= MIN_PREFIX && hex.len() < 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some(EntryRef::Prefix(hex.to_ascii_lowercase()));
        }
        Some(EntryRef::Key(s.to_ascii_lowercase()))
    }
}

impl fmt::Display for EntryRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryRef::Number(n) => write!(f, "#{n}"),
            EntryRef::Id(id) => write!(f, "{id}"),
            EntryRef::Prefix(p) | EntryRef::Key(p) => f.write_str(p),
        }
    }
}

/// Maximum length of a key slug; the original devlog cut file names at 50 characters.
pub const MAX_SLUG: usize = 50;

/// Longest key accepted when reading (a slug plus a `-N` suffix, or a hand-written key).
pub const MAX_KEY: usize = 100;

/// Names Windows reserves for devices, whatever the extension; never used as a key, since
/// keys end up in file and branch names.
const DEVICE_NAMES: &[&str] = &[
    "con", "prn", "aux", "nul", "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
    "com8", "com9", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
    "conin$", "conout$",
];

/// Checks a stored key. Keys become parts of file names (`042-<key>.json`) and branch names,
/// and arrive in files from `git pull` or `devlog import`, so a key is 1 to [`MAX_KEY`]
/// ASCII letters, digits, `-` and `_`, and not a device name: no path separator, `.`,
/// `..`, drive letter, control character or other character that a file system or git
/// might interpret. The error says what is wrong and suggests a valid key.
pub fn validate_key(key: &str) -> Result<(), String> {
    let suggest = || format!("use a key such as `{}`", slugify(key));
    if key.is_empty() {
        return Err(format!("must not be empty; {}", suggest()));
    }
    if key.chars().count() > MAX_KEY {
        return Err(format!(
            "is longer than {MAX_KEY} characters; {}",
            suggest()
        ));
    }
    if let Some(bad) = key
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "`{}` contains {}, but a key may only contain ASCII letters, digits, `-` and `_`; {}",
            key.escape_debug(),
            match bad {
                '/' | '\\' => "a path separator".to_string(),
                '.' => "a dot".to_string(),
                c if c.is_control() => format!("the control character {:?}", c),
                c => format!("`{c}`"),
            },
            suggest()
        ));
    }
    if DEVICE_NAMES.contains(&key.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "`{key}` is a device name on Windows; use a key such as `{key}-entry`"
        ));
    }
    Ok(())
}

/// The slug of a title: lowercase ASCII letters and digits separated by single hyphens. The
/// result is always a valid key (see [`validate_key`]).
pub fn slugify(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    let mut pending_dash = false;
    for ch in title.chars() {
        if ch.is_ascii_alphanumeric() {
            if pending_dash && !out.is_empty() {
                out.push('-');
            }
            pending_dash = false;
            out.push(ch.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
        if out.len() >= MAX_SLUG {
            break;
        }
    }
    out.truncate(MAX_SLUG);
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push_str("entry");
    }
    if DEVICE_NAMES.contains(&out.as_str()) {
        out.push_str("-entry");
    }
    out
}

/// The form of a title used to detect a retried create: case, punctuation and spacing ignored.
pub fn normalize_title(title: &str) -> String {
    let mut out = String::with_capacity(title.len());
    for word in title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().flat_map(char::to_lowercase));
    }
    out
}

/// The entry references in a text (a commit message), each once, in order: `devlog-<id, id prefix
/// (4+ hex digits) or handle>` and `#<handle>` (not inside a word, so `a#1` and `&#39;` are not).
pub fn mentions(message: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |r: String| {
        if !out.contains(&r) {
            out.push(r);
        }
    };
    let bytes = message.as_bytes();
    let boundary = |i: usize| {
        i == 0
            || !(bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'&'
                || bytes[i - 1] == b'-'
                || bytes[i - 1] == b'/')
    };
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'#' && boundary(i) {
            let digits: String = message[i + 1..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            let after = i + 1 + digits.len();
            let ends_word = after >= bytes.len() || !bytes[after].is_ascii_alphanumeric();
            if !digits.is_empty() && ends_word && !digits.trim_start_matches('0').is_empty() {
                push(format!("#{digits}"));
            }
            i = after.max(i + 1);
            continue;
        }
        if !message.is_char_boundary(i) {
            i += 1;
            continue;
        }
        if message
            .get(i..i + 7)
            .is_some_and(|w| w.eq_ignore_ascii_case("devlog-"))
            && boundary(i)
        {
            let token: String = message[i + 7..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            let len = token.len();
            if let Some(r) = id_like(token.trim_end_matches('-')) {
                push(format!("devlog-{r}"));
            }
            i += 7 + len;
            continue;
        }
        i += 1;
    }
    out
}

/// The part of `token` that names an entry: a whole UUID, digits (a handle), or 4+ hex digits
/// (an id prefix), possibly followed by `-words`.
fn id_like(token: &str) -> Option<String> {
    let is_hex = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit());
    let groups: Vec<&str> = token.split('-').collect();
    let uuid_shape = [8, 4, 4, 4, 12];
    if groups.len() >= 5
        && groups[..5]
            .iter()
            .zip(uuid_shape)
            .all(|(g, n)| g.len() == n && is_hex(g))
    {
        return Some(groups[..5].join("-").to_ascii_lowercase());
    }
    let first = groups.first()?;
    if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
        return Some((*first).to_string());
    }
    if first.len() >= 4 && is_hex(first) {
        return Some(first.to_ascii_lowercase());
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn mentions_in_non_ascii_text_do_not_panic() {
        assert!(mentions("é").is_empty());
        assert_eq!(
            mentions("Füge Übersetzung hinzu (#12) — danke €€€ devlog-3f2a9c1e"),
            ["#12", "devlog-3f2a9c1e"]
        );
        assert_eq!(mentions("What’s new 🎉\n- Fixes #12"), ["#12"]);
        assert_eq!(mentions("ÜÜÜdevlog-42"), ["devlog-42"]);
    }

    use super::*;

    #[test]
    fn slugs_are_valid_keys_even_for_device_names() {
        for title in ["Con", "nul", "LPT1", "a/b", "../..", "", "Fix the login"] {
            let key = slugify(title);
            assert_eq!(validate_key(&key), Ok(()), "{title:?} -> {key:?}");
        }
        assert_eq!(slugify("Con"), "con-entry");
        assert!(
            validate_key("x/../PWNED")
                .unwrap_err()
                .contains("path separator")
        );
        assert!(validate_key("aux").unwrap_err().contains("device name"));
        assert!(validate_key("original-key-ending-in-dash-").is_ok());
    }

    #[test]
    fn parses_every_reference_form() {
        assert_eq!(EntryRef::parse("#42"), Some(EntryRef::Number(42)));
        assert_eq!(EntryRef::parse(" 7 "), Some(EntryRef::Number(7)));
        assert_eq!(EntryRef::parse("devlog-7"), Some(EntryRef::Number(7)));
        let id = EntryId::new_random();
        assert_eq!(EntryRef::parse(&id.to_string()), Some(EntryRef::Id(id)));
        assert_eq!(
            EntryRef::parse("CAFE12"),
            Some(EntryRef::Prefix("cafe12".into()))
        );
        assert_eq!(EntryRef::parse("abc"), Some(EntryRef::Key("abc".into())));
        assert_eq!(
            EntryRef::parse("fix-login"),
            Some(EntryRef::Key("fix-login".into()))
        );
        assert_eq!(EntryRef::parse("  "), None);
    }

    #[test]
    fn slugs_match_the_original_file_names() {
        assert_eq!(
            slugify("Implement GitHub Issues Storage Provider"),
            "implement-github-issues-storage-provider"
        );
        // The original cut at 50 characters: "003-implement-markdown-rendering-for-devlog-detail-fie.json".
        assert_eq!(
            slugify("Implement markdown rendering for devlog detail fields"),
            "implement-markdown-rendering-for-devlog-detail-fie"
        );
        assert_eq!(slugify("!!!"), "entry");
    }

    #[test]
    fn normalized_titles_ignore_case_punctuation_and_spacing() {
        assert_eq!(normalize_title("Fix  login!"), normalize_title("fix login"));
        assert_ne!(normalize_title("Fix login"), normalize_title("Fix logout"));
    }

    #[test]
    fn legacy_ids_are_deterministic() {
        let a = EntryId::from_legacy(49, "2025-07-10T13:32:52.345Z");
        let b = EntryId::from_legacy(49, "2025-07-10T13:32:52.345Z");
        let c = EntryId::from_legacy(50, "2025-07-10T13:32:52.345Z");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
