//! The workflow file format: the issue's example, and errors naming file, line and key.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use devlog_core::Status;
use devlog_workflow::format::{Action, Trigger, parse};

const EXAMPLE: &str = r#"name: critical-done
on:
  status_changed:
    to: done
if: entry.priority == "critical"
steps:
  - add_note:
      category: solution
      text: "Closed critical {{ entry.title }}"
"#;

#[test]
fn the_issues_example_parses_exactly_as_written() {
    let w = parse("critical-done.yml", EXAMPLE).unwrap();
    assert_eq!(w.workflow.name.as_str(), "critical-done");
    assert_eq!(w.triggers.len(), 1);
    match &w.triggers[0] {
        Trigger::StatusChanged(f) => {
            assert_eq!(f.to, Some(Status::Done));
            assert_eq!(f.from, None);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        w.workflow.condition.as_ref().unwrap().source(),
        r#"entry.priority == "critical""#
    );
    assert!(matches!(w.workflow.steps[0].action, Action::AddNote(_)));
}

#[test]
fn keys_without_a_value_match_everything_of_their_kind() {
    let w = parse(
        "a.yml",
        "name: a\non:\n  created:\n  completed:\n  manual:\nsteps:\n  - fail: x\n",
    )
    .unwrap();
    let names: Vec<_> = w.triggers.iter().map(|t| t.name()).collect();
    assert_eq!(names, ["created", "completed", "manual"]);
}

fn err(text: &str) -> devlog_workflow::FormatError {
    parse("wf.yml", text).unwrap_err()
}

#[test]
fn a_cel_syntax_error_names_file_line_and_key() {
    let e = err("name: a\non:\n  created:\nif: entry.priority == \nsteps:\n  - fail: x\n");
    assert_eq!(e.file, "wf.yml");
    assert_eq!(e.key, "if");
    assert_eq!(e.line, Some(4), "{e}");
    assert!(e.message.contains("CEL syntax error"), "{e}");
    let shown = e.to_string();
    assert!(
        shown.starts_with("wf.yml:4: if: CEL syntax error"),
        "{shown}"
    );
}

#[test]
fn a_nested_condition_error_names_its_step() {
    let e = err(
        "name: a\non:\n  created:\nsteps:\n  - add_note:\n      category: idea\n      text: hi\n  - if: \"((\"\n    then:\n      - fail: x\n",
    );
    assert_eq!(e.key, "steps[1].if", "{e}");
    assert_eq!(e.line, Some(8), "{e}");
}

#[test]
fn unknown_keys_are_rejected_with_their_place() {
    let e = err(
        "name: a\non:\n  created:\nsteps:\n  - add_note:\n      category: idea\n      txt: hi\n",
    );
    assert_eq!(e.key, "steps[0].add_note.txt", "{e}");
    assert_eq!(e.line, Some(7), "{e}");
    assert!(e.message.contains("unknown field `txt`"), "{e}");
    let e = err("name: a\non:\n  status_change:\n    to: done\nsteps:\n  - fail: x\n");
    assert_eq!(e.key, "on.status_change", "{e}");
    assert_eq!(e.line, Some(3), "{e}");
    let e = err("name: a\nonn:\n  created:\nsteps:\n  - fail: x\n");
    assert!(e.message.contains("unknown field `onn`"), "{e}");
}

#[test]
fn bad_values_name_the_allowed_ones() {
    let e = err("name: a\non:\n  status_changed:\n    to: finished\nsteps:\n  - fail: x\n");
    assert_eq!(e.key, "on.status_changed.to", "{e}");
    assert!(e.message.contains("done"), "{e}");
    assert_eq!(e.line, Some(4), "{e}");
}

#[test]
fn a_template_syntax_error_is_found_when_reading() {
    let e = err(
        "name: a\non:\n  created:\nsteps:\n  - add_note:\n      category: idea\n      text: \"{{ entry.title \"\n",
    );
    assert_eq!(e.key, "steps[0].add_note.text", "{e}");
    assert_eq!(e.line, Some(7), "{e}");
    assert!(e.message.contains("syntax"), "{e}");
}

#[test]
fn a_step_has_exactly_one_action() {
    let e = err("name: a\non:\n  created:\nsteps:\n  - fail: x\n    set_var: {a: b}\n");
    assert_eq!(e.key, "steps[0]", "{e}");
    assert!(e.message.contains("make them two steps"), "{e}");
    let e = err("name: a\non:\n  created:\nsteps:\n  - id: x\n");
    assert!(e.message.contains("needs one action"), "{e}");
    let e = err("name: a\non:\n  created:\nsteps:\n  - if: \"true\"\n");
    assert!(e.message.contains("needs `then`"), "{e}");
}

#[test]
fn no_trigger_no_steps_and_bad_names_are_errors() {
    let e = err("name: a\non: {}\nsteps:\n  - fail: x\n");
    assert_eq!((e.key.as_str(), e.line), ("on", Some(2)), "{e}");
    let e = err("name: a\non:\n  created:\nsteps: []\n");
    assert_eq!(e.key, "steps", "{e}");
    let e = err("name: a b\non:\n  created:\nsteps:\n  - fail: x\n");
    assert_eq!(e.key, "name", "{e}");
    let e = err("name: [1\n");
    assert!(e.line.is_some(), "{e}");
}

#[test]
fn the_schema_is_derived_and_rejects_unknown_keys() {
    let s = devlog_workflow::schema();
    let text = s.to_string();
    assert!(text.contains("status_changed"), "{text}");
    assert!(text.contains("add_note"));
    assert_eq!(s["additionalProperties"], serde_json::json!(false));
    // The closed value sets come from devlog-core's types.
    assert!(text.contains("in-progress"));
    // The steps outside the store, with their keys, from their structs.
    for (def, key) in [
        ("BranchStep", "checkout"),
        ("PullRequestStep", "draft"),
        ("PipelineStep", "pipeline"),
    ] {
        let d = &s["$defs"][def];
        assert!(d["properties"][key].is_object(), "{def}: {d}");
        assert_eq!(d["additionalProperties"], serde_json::json!(false), "{def}");
    }
    assert_eq!(
        s["$defs"]["PipelineStep"]["required"],
        serde_json::json!(["pipeline"])
    );
}

#[test]
fn a_misspelt_updated_field_is_refused_with_the_closest_name() {
    let e = err("name: a\non:\n  updated:\n    fields: [title, priorty]\nsteps:\n  - fail: x\n");
    assert_eq!(e.key, "on.updated.fields[1]", "{e}");
    assert_eq!(e.line, Some(4), "{e}");
    assert!(
        e.message
            .contains("unknown field `priorty` (did you mean `priority`?)"),
        "{e}"
    );
    assert!(
        !e.message.contains("worklogs"),
        "a close name, not the whole list: {e}"
    );
    // Nothing close: the whole list.
    let far = err("name: a\non:\n  updated:\n    fields: [qqqqqqqqqq]\nsteps:\n  - fail: x\n");
    assert!(
        far.message.contains("the fields are: actualHours") && far.message.contains("worklogs"),
        "{far}"
    );
    assert!(
        e.to_string()
            .starts_with("wf.yml:4: on.updated.fields[1]: unknown field")
    );
    // A list written one item a line: the item's own line.
    let e = err(
        "name: a\non:\n  updated:\n    fields:\n      - title\n      - context.bussinessContext\nsteps:\n  - fail: x\n",
    );
    assert_eq!(e.key, "on.updated.fields[1]", "{e}");
    assert_eq!(e.line, Some(6), "{e}");
    assert!(
        e.message
            .contains("(did you mean `context.businessContext`?)"),
        "{e}"
    );
    // With a close name, where to find them all (not the whole list); `status` points to
    // its own trigger.
    assert!(e.message.contains("`devlog workflow schema`"), "{e}");
    assert!(!e.message.contains("dueDate"), "{e}");
    let e = err("name: a\non:\n  updated:\n    fields: [status]\nsteps:\n  - fail: x\n");
    assert!(e.message.contains("`status_changed`"), "{e}");
    // Nested names and the nested parts as a whole are accepted.
    let ok = parse(
        "wf.yml",
        "name: a\non:\n  updated:\n    fields: [priority, context, aiContext.currentSummary, parent]\nsteps:\n  - fail: x\n",
    );
    assert!(ok.is_ok(), "{ok:?}");
}

#[test]
fn the_schema_lists_the_updated_fields() {
    let s = devlog_workflow::schema();
    let names = &s["$defs"]["FieldName"]["enum"];
    let names: Vec<&str> = names
        .as_array()
        .unwrap_or_else(|| panic!("no enum of field names: {s}"))
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert_eq!(names, devlog_workflow::format::field_names());
    assert!(names.contains(&"context.businessContext"), "{names:?}");
    assert!(!names.contains(&"status"), "{names:?}");
}
