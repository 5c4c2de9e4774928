//! The integration registry: factories by name, validation of each `[integrations.<name>]`
//! table against the integration's JSON Schema, and construction of the enabled ones.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use devlog_core::integration::{Descriptor, Integration};
use serde_json::Value;

/// Builds an integration from its validated configuration table.
pub type Factory = Arc<dyn Fn(&Value) -> Result<Arc<dyn Integration>, String> + Send + Sync>;

/// A problem with one integration's configuration: which key, what is wrong, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Dotted key, e.g. `integrations.github.repository`.
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Known integrations.
#[derive(Clone, Default)]
pub struct Registry {
    entries: BTreeMap<String, (Descriptor, Factory)>,
    /// Other `[integrations.<name>]` tables the caller handles itself (local automation,
    /// integrations not available yet), with what each is: named when a table is unknown.
    accepted: BTreeMap<String, String>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.entries.keys()).finish()
    }
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, descriptor: Descriptor, factory: Factory) {
        self.entries
            .insert(descriptor.name.clone(), (descriptor, factory));
    }

    /// Accepts `[integrations.<name>]` as a table handled elsewhere (`what` says by what):
    /// [`Registry::build`] skips it, and names it among the known ones when a table is unknown.
    pub fn accept(&mut self, name: &str, what: &str) {
        self.accepted.insert(name.to_string(), what.to_string());
    }

    pub fn descriptors(&self) -> Vec<&Descriptor> {
        self.entries.values().map(|(d, _)| d).collect()
    }

    /// Validates every `[integrations.*]` table and builds the enabled integrations.
    /// `tables` maps integration names to their (already `${VAR}`-expanded) tables.
    pub fn build(
        &self,
        tables: &BTreeMap<String, Value>,
    ) -> Result<Vec<Arc<dyn Integration>>, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let mut out = Vec::new();
        for (name, table) in tables {
            let key = format!("integrations.{name}");
            if self.accepted.contains_key(name) {
                continue;
            }
            let Some((descriptor, factory)) = self.entries.get(name) else {
                problems.push(ConfigProblem {
                    key,
                    message: self.unknown(name),
                });
                continue;
            };
            if table.get("enabled").and_then(Value::as_bool) == Some(false) {
                continue;
            }
            let found = validate(&descriptor.config_schema, table, &key);
            if !found.is_empty() {
                problems.extend(found);
                continue;
            }
            match factory(table) {
                Ok(i) => out.push(i),
                Err(message) => problems.push(ConfigProblem { key, message }),
            }
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(problems)
        }
    }
}

impl Registry {
    /// Why `name` is not a table this build accepts: the closest known name, and all of them.
    fn unknown(&self, name: &str) -> String {
        let names = self.entries.keys().chain(self.accepted.keys());
        let closest = names
            .map(|k| (edit_distance(&name.to_ascii_lowercase(), k), k))
            .filter(|(d, k)| *d <= 2.max(k.len() / 3))
            .min();
        let mut known: Vec<String> = self.entries.keys().cloned().collect();
        known.extend(
            self.accepted
                .iter()
                .map(|(k, what)| format!("{k} ({what})")),
        );
        format!(
            "unknown integration `{name}`{}; this build knows: {}",
            closest.map_or(String::new(), |(_, k)| format!(" (did you mean `{k}`?)")),
            if known.is_empty() {
                "none yet".to_string()
            } else {
                known.join(", ")
            }
        )
    }
}

/// Levenshtein distance, for "did you mean".
fn edit_distance(a: &str, b: &str) -> usize {
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

/// Checks `instance` against a JSON Schema; each error names the key under `prefix`.
pub fn validate(schema: &Value, instance: &Value, prefix: &str) -> Vec<ConfigProblem> {
    let validator = match jsonschema::validator_for(schema) {
        Ok(v) => v,
        Err(e) => {
            return vec![ConfigProblem {
                key: prefix.to_string(),
                message: format!("the integration's schema is invalid ({e}); report this as a bug"),
            }];
        }
    };
    validator
        .iter_errors(instance)
        .map(|e| {
            let path = e.instance_path().to_string();
            let key = if path.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}{}", path.replace('/', "."))
            };
            ConfigProblem {
                key,
                message: e.to_string(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schema_errors_name_the_key() {
        let schema = json!({
            "type": "object",
            "properties": {"repository": {"type": "string", "pattern": "^[^/]+/[^/]+$"}, "enabled": {"type": "boolean"}},
            "required": ["repository"],
            "additionalProperties": false
        });
        let p = validate(
            &schema,
            &json!({"repository": "nope"}),
            "integrations.github",
        );
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "integrations.github.repository");
        let p = validate(&schema, &json!({"repo": "a/b"}), "integrations.github");
        assert!(p.iter().any(|x| x.message.contains("repository")), "{p:?}");
        assert!(p.iter().any(|x| x.message.contains("repo")), "{p:?}");
        assert!(validate(&schema, &json!({"repository": "a/b"}), "x").is_empty());
    }

    #[test]
    fn unknown_integrations_list_the_known_ones() {
        let r = Registry::new();
        let mut t = BTreeMap::new();
        t.insert("jira".to_string(), json!({}));
        let err = r.build(&t).unwrap_err();
        assert!(
            err[0].message.contains("unknown integration `jira`"),
            "{err:?}"
        );
    }

    #[test]
    fn a_misspelt_integration_is_an_error_naming_the_closest_and_the_known_ones() {
        let mut r = Registry::new();
        r.accept("git", "local git automation");
        r.accept("jira", "not available in this version yet");
        let mut t = BTreeMap::new();
        t.insert("githb".to_string(), json!({}));
        t.insert("jira".to_string(), json!({"anything": 1}));
        let err = r.build(&t).unwrap_err();
        assert_eq!(err.len(), 1, "accepted tables are skipped: {err:?}");
        assert_eq!(err[0].key, "integrations.githb");
        let m = &err[0].message;
        assert!(
            m.contains("unknown integration `githb` (did you mean `git`?)"),
            "{m}"
        );
        assert!(
            m.contains("git (local git automation), jira (not available in this version yet)"),
            "{m}"
        );
        t.remove("githb");
        assert!(r.build(&t).unwrap().is_empty());
        assert_eq!(edit_distance("githb", "github"), 1);
        assert_eq!(edit_distance("", "ado"), 3);
    }
}
