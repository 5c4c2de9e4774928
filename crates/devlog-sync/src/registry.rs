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
            let Some((descriptor, factory)) = self.entries.get(name) else {
                let known: Vec<&str> = self.entries.keys().map(String::as_str).collect();
                problems.push(ConfigProblem {
                    key,
                    message: format!(
                        "unknown integration `{name}`; this build knows: {}",
                        if known.is_empty() {
                            "none yet".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
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
}
