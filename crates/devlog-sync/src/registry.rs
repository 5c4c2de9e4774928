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
    /// Other names an integration's table may have (`ado` for `azure-devops`): alias → (the
    /// integration's name, the factory that builds it from a table of that name, so its
    /// errors name the keys as written).
    aliases: BTreeMap<String, (String, Factory)>,
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

    /// Accepts `[integrations.<alias>]` as the table of the registered integration `name`:
    /// validated against its schema with errors naming `integrations.<alias>.…`, built by
    /// `factory`. Configuring both names is an error naming them.
    pub fn alias(&mut self, alias: &str, name: &str, factory: Factory) {
        self.aliases
            .insert(alias.to_string(), (name.to_string(), factory));
    }

    /// The integration a table name configures, `(name, through an alias)`, if any.
    pub fn resolve(&self, table: &str) -> Option<(&str, bool)> {
        if let Some((name, _)) = self.entries.get_key_value(table) {
            return Some((name.as_str(), false));
        }
        self.aliases
            .get(table)
            .map(|(name, _)| (name.as_str(), true))
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
            let found = match self.aliases.get(name) {
                Some((target, factory)) => {
                    if tables.contains_key(target) {
                        problems.push(ConfigProblem {
                            key,
                            message: format!(
                                "`{name}` is another name of [integrations.{target}], which is \
                                 configured too: keep one of the two tables"
                            ),
                        });
                        continue;
                    }
                    self.entries.get(target).map(|(d, _)| (d, factory))
                }
                None => self.entries.get(name).map(|(d, f)| (d, f)),
            };
            let Some((descriptor, factory)) = found else {
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
        let names = self
            .entries
            .keys()
            .chain(self.accepted.keys())
            .chain(self.aliases.keys());
        let closest = devlog_core::suggest::closest(name, names.map(String::as_str));
        let mut known: Vec<String> = self
            .entries
            .keys()
            .map(|k| {
                let aliases: Vec<&str> = self
                    .aliases
                    .iter()
                    .filter(|(_, (n, _))| n == k)
                    .map(|(a, _)| a.as_str())
                    .collect();
                if aliases.is_empty() {
                    k.clone()
                } else {
                    format!("{k} (also [integrations.{}])", aliases.join("], ["))
                }
            })
            .collect();
        known.extend(
            self.accepted
                .iter()
                .map(|(k, what)| format!("{k} ({what})")),
        );
        format!(
            "unknown integration `{name}`{}; this build knows: {}",
            closest.map_or(String::new(), |k| format!(" (did you mean `{k}`?)")),
            if known.is_empty() {
                "none yet".to_string()
            } else {
                known.join(", ")
            }
        )
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
    }

    #[test]
    fn an_alias_builds_the_integration_and_names_its_own_keys() {
        use devlog_core::integration::{Descriptor, Integration};
        let schema = json!({
            "type": "object",
            "properties": {"project": {"type": "string"}, "enabled": {"type": "boolean"}},
            "required": ["project"],
            "additionalProperties": false
        });
        let d = Descriptor {
            name: "azure-devops".into(),
            version: "1".into(),
            description: "d".into(),
            config_schema: schema,
            triggers: Vec::new(),
            capabilities: Vec::new(),
        };
        let fail = |which: &'static str| -> Factory {
            Arc::new(move |_t: &Value| -> Result<Arc<dyn Integration>, String> {
                Err(format!("built as {which}"))
            })
        };
        let mut r = Registry::new();
        r.register(d, fail("main"));
        r.alias("ado", "azure-devops", fail("alias"));
        assert_eq!(r.resolve("ado"), Some(("azure-devops", true)));
        assert_eq!(r.resolve("azure-devops"), Some(("azure-devops", false)));
        assert_eq!(r.resolve("jira"), None);
        let one = |name: &str, t: Value| {
            let mut m = BTreeMap::new();
            m.insert(name.to_string(), t);
            r.build(&m).err().unwrap()
        };
        // Validated against the integration's schema, under the alias's name.
        let err = one("ado", json!({"colour": 1}));
        assert!(err.iter().any(|p| p.key == "integrations.ado"), "{err:?}");
        // Built by the alias's factory.
        let err = one("ado", json!({"project": "P"}));
        assert_eq!(err[0].message, "built as alias");
        let err = one("azure-devops", json!({"project": "P"}));
        assert_eq!(err[0].message, "built as main");
        // Both names at once: named.
        let mut both = BTreeMap::new();
        both.insert("ado".to_string(), json!({"project": "P"}));
        both.insert("azure-devops".to_string(), json!({"project": "P"}));
        let err = r.build(&both).unwrap_err();
        assert!(
            err.iter()
                .any(|p| p.key == "integrations.ado"
                    && p.message.contains("keep one of the two tables")),
            "{err:?}"
        );
        let err = one("azuredevops", json!({}));
        assert!(
            err[0]
                .message
                .contains("azure-devops (also [integrations.ado])"),
            "{err:?}"
        );
    }
}
