//! String templates in steps (`text: "Closed critical {{ entry.title }}"`): minijinja, parsed
//! when the file is read (syntax errors name file, line and key), rendered strictly — an
//! unknown variable is an error, not an empty string — with bounded work (`fuel`).

use std::fmt;

use minijinja::{Environment, UndefinedBehavior};
use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The fuel a render may use (minijinja's unit: about one instruction).
pub const FUEL: u64 = 50_000;
/// The longest template source (characters).
pub const MAX_TEMPLATE: usize = 16 * 1024;

/// A template checked for syntax.
#[derive(Clone, PartialEq, Eq)]
pub struct Template(String);

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Template").field(&self.0).finish()
    }
}

impl Template {
    pub fn new(source: impl Into<String>) -> Result<Self, String> {
        let source = source.into();
        if source.chars().count() > MAX_TEMPLATE {
            return Err(format!(
                "the template is longer than {MAX_TEMPLATE} characters"
            ));
        }
        let env = Environment::new();
        env.template_from_str(&source)
            .map_err(|e| format!("template error: {}", describe(&e)))?;
        Ok(Self(source))
    }

    pub fn source(&self) -> &str {
        &self.0
    }
}

fn describe(e: &minijinja::Error) -> String {
    let mut s = e.kind().to_string();
    if let Some(d) = e.detail() {
        s.push_str(": ");
        s.push_str(d);
    }
    s
}

/// A template that could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template `{source_text}`: {message}")]
pub struct RenderError {
    pub source_text: String,
    pub message: String,
}

/// Renders templates: strict undefined, no auto-escaping (the output is plain text), fuel.
#[derive(Debug)]
pub struct Renderer {
    env: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        // The data is JSON (entries, events, step outputs) and conditions are CEL: booleans
        // and null are spelled as there (`true`, `null`), not Python's `True` / `None`.
        env.set_formatter(|out, state, value| {
            if value.is_none() {
                return out.write_str("null").map_err(minijinja::Error::from);
            }
            if value.kind() == minijinja::value::ValueKind::Bool {
                let text = if value.is_true() { "true" } else { "false" };
                return out.write_str(text).map_err(minijinja::Error::from);
            }
            minijinja::escape_formatter(out, state, value)
        });
        Self { env }
    }
}

impl Renderer {
    /// Renders `t` with the variables of `ctx` (a JSON object).
    pub fn render(&self, t: &Template, ctx: &Value) -> Result<String, RenderError> {
        self.env
            .render_str(&t.0, minijinja::Value::from(minijinja::value::Serde(ctx)))
            .map_err(|e| RenderError {
                source_text: t.0.clone(),
                message: describe(&e),
            })
    }
}

impl Serialize for Template {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Template {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Template::new(s).map_err(D::Error::custom)
    }
}

impl JsonSchema for Template {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Template".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "maxLength": MAX_TEMPLATE,
            "description": "Text with minijinja templates: {{ entry.title }}, {{ vars.x }}"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_entry_fields() {
        let t = Template::new("Closed critical {{ entry.title }}").unwrap();
        let out = Renderer::default()
            .render(&t, &json!({"entry": {"title": "Login fails"}}))
            .unwrap();
        assert_eq!(out, "Closed critical Login fails");
    }

    #[test]
    fn an_unknown_variable_is_an_error_not_an_empty_string() {
        let t = Template::new("Hello {{ entry.nope }}").unwrap();
        let e = Renderer::default()
            .render(&t, &json!({"entry": {"title": "x"}}))
            .unwrap_err();
        assert!(e.message.contains("undefined"), "{e}");
        let t = Template::new("{{ nothing }}").unwrap();
        assert!(Renderer::default().render(&t, &json!({})).is_err());
    }

    #[test]
    fn booleans_and_null_are_spelled_as_in_json() {
        let t =
            Template::new("{{ a }} {{ b }} {{ n }} {{ 1 }} {{ s }} {{ [true] | tojson }}").unwrap();
        let out = Renderer::default()
            .render(&t, &json!({"a": true, "b": false, "n": null, "s": "x"}))
            .unwrap();
        assert_eq!(out, "true false null 1 x [true]");
    }

    #[test]
    fn syntax_errors_are_found_when_reading() {
        let e = Template::new("{{ entry.title ").unwrap_err();
        assert!(e.contains("syntax"), "{e}");
    }

    #[test]
    fn fuel_bounds_the_work() {
        let t = Template::new("{% for i in range(100000) %}{{ i }}{% endfor %}").unwrap();
        let e = Renderer::default().render(&t, &json!({})).unwrap_err();
        assert!(e.message.contains("fuel"), "{e}");
    }
}
