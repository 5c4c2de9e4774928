//! Conditions in CEL (`if:`, `for_each.items`): compiled when the file is read, so a syntax
//! error names the file, line and key; evaluated against `entry`, `event`, `vars`, `now`,
//! `steps` and loop items. CEL has no I/O and no unbounded loops (macros iterate over the
//! given lists only); the source length is capped and the parser's nesting is bounded.

use std::fmt;
use std::sync::Arc;

use schemars::JsonSchema;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// The longest expression accepted (characters).
pub const MAX_EXPR: usize = 2_000;

/// A compiled CEL expression with its source.
#[derive(Clone)]
pub struct Condition {
    source: String,
    program: Arc<cel::Program>,
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition").field(&self.source).finish()
    }
}

/// A condition that could not be evaluated: a type error, an unknown key, a result that is
/// not what the step needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{source_text}`: {message}")]
pub struct EvalError {
    pub source_text: String,
    pub message: String,
}

impl Condition {
    pub fn new(source: impl Into<String>) -> Result<Self, String> {
        let source = source.into();
        if source.trim().is_empty() {
            return Err("the expression is empty".into());
        }
        if source.chars().count() > MAX_EXPR {
            return Err(format!(
                "the expression is longer than {MAX_EXPR} characters"
            ));
        }
        let program = cel::Program::compile(&source).map_err(|e| {
            format!(
                "CEL syntax error in `{source}`: {}",
                one_line(&e.to_string())
            )
        })?;
        Ok(Self {
            source,
            program: Arc::new(program),
        })
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    fn err(&self, message: impl Into<String>) -> EvalError {
        EvalError {
            source_text: self.source.clone(),
            message: message.into(),
        }
    }

    /// Evaluates to a boolean; anything else is an error (CEL has no truthiness).
    pub fn eval_bool(&self, ctx: &cel::Context<'_, '_>) -> Result<bool, EvalError> {
        match self.program.execute(ctx) {
            Ok(cel::Value::Bool(b)) => Ok(b),
            Ok(other) => Err(self.err(format!(
                "gives {}, not a boolean (true or false)",
                other.type_of()
            ))),
            Err(e) => Err(self.err(e.to_string())),
        }
    }

    /// Evaluates to a point in time (`wait.until`): a CEL timestamp, or an RFC 3339 text.
    pub fn eval_time(
        &self,
        ctx: &cel::Context<'_, '_>,
    ) -> Result<chrono::DateTime<chrono::Utc>, EvalError> {
        match self.program.execute(ctx) {
            Ok(cel::Value::Timestamp(t)) => Ok(t.with_timezone(&chrono::Utc)),
            Ok(cel::Value::String(s)) => chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|e| self.err(format!("gives {s:?}, not an RFC 3339 time: {e}"))),
            Ok(other) => Err(self.err(format!(
                "gives {}, not a timestamp (`now + duration(\"72h\")`, `timestamp(\"…\")`)",
                other.type_of()
            ))),
            Err(e) => Err(self.err(e.to_string())),
        }
    }

    /// Evaluates to a JSON value (`for_each.items`).
    pub fn eval_json(&self, ctx: &cel::Context<'_, '_>) -> Result<Value, EvalError> {
        let v = self
            .program
            .execute(ctx)
            .map_err(|e| self.err(e.to_string()))?;
        v.json().map_err(|e| self.err(e.to_string()))
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Serialize for Condition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for Condition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Condition::new(s).map_err(D::Error::custom)
    }
}

impl JsonSchema for Condition {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Condition".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "maxLength": MAX_EXPR,
            "description": "A CEL expression over entry, event, vars, now and steps"
        })
    }
}

/// The variables of an evaluation. Values are converted to CEL once per scope.
pub fn context_with(
    vars: &[(&str, &Value)],
    now: chrono::DateTime<chrono::Utc>,
) -> cel::Context<'static, 'static> {
    let mut ctx = cel::Context::default();
    for (name, value) in vars {
        // A serde_json::Value always converts (maps have string keys).
        if let Err(e) = ctx.add_variable(*name, *value) {
            tracing::warn!("workflow variable {name} could not be given to CEL: {e}");
        }
    }
    ctx.add_variable_from_value("now", cel::Value::Timestamp(now.fixed_offset()));
    ctx
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    #[test]
    fn the_issues_condition_reads_the_entrys_priority() {
        let c = Condition::new(r#"entry.priority == "critical""#).unwrap();
        let critical = json!({"priority": "critical"});
        let low = json!({"priority": "low"});
        assert!(
            c.eval_bool(&context_with(&[("entry", &critical)], now()))
                .unwrap()
        );
        assert!(
            !c.eval_bool(&context_with(&[("entry", &low)], now()))
                .unwrap()
        );
    }

    #[test]
    fn syntax_errors_are_found_when_compiling() {
        let e = Condition::new("entry.priority == ").unwrap_err();
        assert!(e.contains("CEL syntax error"), "{e}");
        assert!(Condition::new("").is_err());
        assert!(
            Condition::new("a".repeat(MAX_EXPR + 1))
                .unwrap_err()
                .contains("longer")
        );
    }

    #[test]
    fn type_errors_and_non_booleans_are_errors_at_run_time() {
        let entry = json!({"priority": "critical"});
        let ctx = context_with(&[("entry", &entry)], now());
        let e = Condition::new("entry.priority + 1 == 2")
            .unwrap()
            .eval_bool(&ctx)
            .unwrap_err();
        assert!(e.message.contains("Unsupported binary operator"), "{e}");
        let e = Condition::new("entry.priority")
            .unwrap()
            .eval_bool(&ctx)
            .unwrap_err();
        assert!(e.message.contains("not a boolean"), "{e}");
        let e = Condition::new("entry.nothing == 1")
            .unwrap()
            .eval_bool(&ctx)
            .unwrap_err();
        assert!(e.message.contains("nothing"), "{e}");
    }

    #[test]
    fn now_is_a_timestamp() {
        let c = Condition::new("now > timestamp('2020-01-01T00:00:00Z')").unwrap();
        assert!(c.eval_bool(&context_with(&[], now())).unwrap());
    }

    #[test]
    fn lists_come_back_as_json() {
        let entry = json!({"tags": ["a", "b"]});
        let c = Condition::new("entry.tags.map(t, t + '!')").unwrap();
        assert_eq!(
            c.eval_json(&context_with(&[("entry", &entry)], now()))
                .unwrap(),
            json!(["a!", "b!"])
        );
    }
}
