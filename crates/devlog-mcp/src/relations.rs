//! The relation tools: link and unlink entries (blocks, blocked-by, relates, duplicates,
//! parent/child subtasks), read an entry's relations, and set its free dependencies and
//! risks. The rules are devlog-core's ([`devlog_core::relations`]); this file is wiring.

use devlog_core::entry::{DependencyType, Level};
use devlog_core::relations::{LinkKind, Linked, NewDependency, NewRisk, Relations};
use rmcp::model::CallToolResult;
use rmcp::{tool, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

use crate::args::{Args, IdArg, input_schema};
use crate::server::DevlogMcp;
use crate::tools::{Outcome, Reply, finish};

macro_rules! arg_of {
    ($name:ident, $inner:ty) => {
        /// One of the core's closed value sets; a wrong value is answered with the allowed ones.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct $name(pub $inner);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d).map_err(|_| {
                    serde::de::Error::custom(format!(
                        "expected a string, one of: {}",
                        <$inner>::allowed().join(", ")
                    ))
                })?;
                s.parse::<$inner>()
                    .map($name)
                    .map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
                <$inner as JsonSchema>::json_schema(g)
            }
        }
    };
}

arg_of!(LinkKindArg, LinkKind);
arg_of!(DependencyTypeArg, DependencyType);
arg_of!(LevelArg, Level);

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinkArgs {
    /// The entry the link is made from: a handle (42 or "#42"), the original devlog's integer
    /// id after import, a full id, an id prefix (4+ hex digits) or a key slug.
    pub id: IdArg,
    /// How `id` relates to `other`: blocks (other cannot finish first), blocked-by (id waits on
    /// other), relates, duplicates, duplicated-by, parent (id is a subtask of other), child
    /// (other is a subtask of id).
    pub kind: LinkKindArg,
    /// The other entry, named like `id`.
    pub other: IdArg,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UnlinkArgs {
    /// One of the two entries: a handle (42 or "#42"), an id, an id prefix or a key slug.
    pub id: IdArg,
    /// The other entry.
    pub other: IdArg,
    /// Only remove this kind of link (seen from `id`); every link between the two by default.
    #[serde(default)]
    pub kind: Option<LinkKindArg>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RelationsArgs {
    /// The entry: a handle (42 or "#42"), an id, an id prefix or a key slug.
    pub id: IdArg,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddDependencyArgs {
    /// The entry: a handle (42 or "#42"), an id, an id prefix or a key slug.
    pub id: IdArg,
    /// What the work depends on, outside this devlog: a library release, another team's change.
    /// (A dependency on another entry is a link: link_entries with kind blocked-by.)
    pub description: String,
    /// blocked-by (the default: the entry waits on it), blocks or related-to.
    #[serde(default, rename = "type")]
    pub kind: Option<DependencyTypeArg>,
    /// Its id in another system, e.g. "JIRA-12" or "owner/repo#5".
    #[serde(default)]
    pub external_id: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AddRiskArgs {
    /// The entry: a handle (42 or "#42"), an id, an id prefix or a key slug.
    pub id: IdArg,
    /// What could go wrong.
    pub description: String,
    /// How bad it would be.
    pub impact: LevelArg,
    /// How likely it is.
    pub probability: LevelArg,
    /// How it is made less likely or less bad.
    #[serde(default)]
    pub mitigation: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RemoveItemArgs {
    /// The entry: a handle (42 or "#42"), an id, an id prefix or a key slug.
    pub id: IdArg,
    /// The id of the dependency or risk (as get_devlog shows it in context.dependencies or
    /// context.risks), or a unique start of it.
    pub item_id: String,
}

const LINK: &str = "Link two devlog entries, on both of them: kind blocks / blocked-by (one waits on the other; get_relations and list_devlogs with blocked: true show waiting work), relates, duplicates / duplicated-by, parent / child (subtasks: a parent cannot be completed or closed while a subtask is open unless force is given). Linking again changes nothing; a new parent replaces the old one. Refused, naming the entries, when the link would make a cycle of parents or blockers, when an entry is linked to itself, or when the other entry does not exist (with suggestions).";
const UNLINK: &str = "Remove the links between two devlog entries, on both of them: every link between the two, or only the given kind (seen from id). Answers which kinds were removed (none when they were not linked).";
const RELATIONS: &str = "The relations of one devlog entry, each linked entry with its handle, title and status: parent, subtasks (children) with progress (\"2/5 done\"), what it is blocked by (and how many of those are still open), what it blocks, related entries and duplicates.";
const ADD_DEPENDENCY: &str = "Record that a devlog entry depends on something outside this devlog (a release, another team's change, an issue elsewhere), stored in context.dependencies. For a dependency on another entry use link_entries (kind blocked-by) instead, which records it on both entries.";
const REMOVE_DEPENDENCY: &str = "Remove a dependency added with add_dependency, by its id (context.dependencies[].id, or a unique start of it). Links to other entries are removed with unlink_entries.";
const ADD_RISK: &str = "Record a risk of a devlog entry: what could go wrong, its impact and probability (low, medium, high) and the mitigation, stored in context.risks.";
const REMOVE_RISK: &str =
    "Remove a risk of a devlog entry by its id (context.risks[].id, or a unique start of it).";

/// One linked entry, one line: `#7 Index words [done] (2/3 done)`.
pub fn linked_line(l: &Linked) -> String {
    match &l.entry {
        Some(e) => format!(
            "#{} {} [{}]{}",
            e.handle,
            e.title,
            e.status,
            l.progress.map(|p| format!(" ({p})")).unwrap_or_default()
        ),
        None => format!("{} (not in this store)", l.id),
    }
}

/// The relations as text for an assistant (empty when there are none).
pub fn relations_text(r: &Relations) -> String {
    let mut s = String::new();
    let mut put = |label: &str, items: &[Linked]| {
        if !items.is_empty() {
            let list: Vec<String> = items.iter().map(linked_line).collect();
            s.push_str(&format!("{label}: {}\n", list.join("; ")));
        }
    };
    put("Parent", r.parent.as_slice());
    let sub = match r.progress {
        Some(p) => format!("Subtasks ({p})"),
        None => "Subtasks".into(),
    };
    put(&sub, &r.children);
    put("Blocked by", &r.blocked_by);
    put("Blocks", &r.blocks);
    put("Related", &r.related);
    put("Duplicate of", r.duplicate_of.as_slice());
    put("Duplicated by", &r.duplicated_by);
    s
}

#[tool_router(router = relations_router, vis = "pub(crate)")]
impl DevlogMcp {
    #[tool(
        name = "link_entries",
        description = LINK,
        input_schema = input_schema::<LinkArgs>(),
        annotations(read_only_hint = false, destructive_hint = false, idempotent_hint = true)
    )]
    async fn link_entries(&self, Args(a): Args<LinkArgs>) -> CallToolResult {
        finish(self.link(a).await)
    }

    #[tool(
        name = "unlink_entries",
        description = UNLINK,
        input_schema = input_schema::<UnlinkArgs>(),
        annotations(read_only_hint = false, destructive_hint = true, idempotent_hint = true)
    )]
    async fn unlink_entries(&self, Args(a): Args<UnlinkArgs>) -> CallToolResult {
        finish(self.unlink(a).await)
    }

    #[tool(
        name = "get_relations",
        description = RELATIONS,
        input_schema = input_schema::<RelationsArgs>(),
        annotations(read_only_hint = true)
    )]
    async fn get_relations(&self, Args(a): Args<RelationsArgs>) -> CallToolResult {
        finish(self.relations(a).await)
    }

    #[tool(
        name = "add_dependency",
        description = ADD_DEPENDENCY,
        input_schema = input_schema::<AddDependencyArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn add_dependency(&self, Args(a): Args<AddDependencyArgs>) -> CallToolResult {
        finish(self.add_dep(a).await)
    }

    #[tool(
        name = "remove_dependency",
        description = REMOVE_DEPENDENCY,
        input_schema = input_schema::<RemoveItemArgs>(),
        annotations(read_only_hint = false, destructive_hint = true)
    )]
    async fn remove_dependency(&self, Args(a): Args<RemoveItemArgs>) -> CallToolResult {
        finish(self.remove_dep(a).await)
    }

    #[tool(
        name = "add_risk",
        description = ADD_RISK,
        input_schema = input_schema::<AddRiskArgs>(),
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn add_risk(&self, Args(a): Args<AddRiskArgs>) -> CallToolResult {
        finish(self.add_risk_to(a).await)
    }

    #[tool(
        name = "remove_risk",
        description = REMOVE_RISK,
        input_schema = input_schema::<RemoveItemArgs>(),
        annotations(read_only_hint = false, destructive_hint = true)
    )]
    async fn remove_risk(&self, Args(a): Args<RemoveItemArgs>) -> CallToolResult {
        finish(self.remove_risk_from(a).await)
    }
}

impl DevlogMcp {
    async fn link(&self, a: LinkArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let out = self
            .app()
            .link(s.id, a.kind.0, &a.other.reference(), &self.meta())
            .await?;
        let mut text = format!(
            "{} #{} {} {} #{} {}",
            if out.changed {
                "Linked:"
            } else {
                "Already linked:"
            },
            out.entry.handle,
            out.entry.title,
            out.kind,
            out.other.handle,
            out.other.title
        );
        if let Some(r) = &out.replaced {
            text.push_str(&format!("\nNo longer linked to #{} {}", r.handle, r.title));
        }
        Ok(Reply::new(
            text,
            json!({
                "changed": out.changed,
                "kind": out.kind,
                "entry": out.entry.summary(),
                "other": out.other.summary(),
                "replaced": out.replaced,
            }),
        ))
    }

    async fn unlink(&self, a: UnlinkArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let out = self
            .app()
            .unlink(
                s.id,
                &a.other.reference(),
                a.kind.map(|k| k.0),
                &self.meta(),
            )
            .await?;
        let text = if out.removed.is_empty() {
            format!(
                "#{} and #{} were not linked; nothing changed",
                out.entry.handle, out.other.handle
            )
        } else {
            let kinds: Vec<&str> = out.removed.iter().map(|k| k.as_str()).collect();
            format!(
                "Unlinked #{} and #{} (removed: {})",
                out.entry.handle,
                out.other.handle,
                kinds.join(", ")
            )
        };
        Ok(Reply::new(
            text,
            json!({
                "removed": out.removed,
                "entry": out.entry.summary(),
                "other": out.other.summary(),
            }),
        ))
    }

    async fn relations(&self, a: RelationsArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let r = self.app().relations(s.id).await?;
        let body = relations_text(&r);
        let text = if body.is_empty() {
            format!("#{} {} has no relations.", s.handle, s.title)
        } else {
            format!("Relations of #{} {}:\n{body}", s.handle, s.title)
        };
        Ok(Reply::new(text, json!({ "entry": s, "relations": r })))
    }

    async fn add_dep(&self, a: AddDependencyArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let input = NewDependency {
            description: a.description,
            kind: a.kind.map(|k| k.0),
            external_id: a.external_id,
        };
        let (e, d) = self.app().add_dependency(s.id, input, &self.meta()).await?;
        Ok(Reply::new(
            format!(
                "Added dependency {} to #{}: {} {}",
                d.id, e.handle, d.kind, d.description
            ),
            json!({ "entry": e.summary(), "dependency": d }),
        ))
    }

    async fn remove_dep(&self, a: RemoveItemArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let (e, d) = self
            .app()
            .remove_dependency(s.id, &a.item_id, &self.meta())
            .await?;
        Ok(Reply::new(
            format!(
                "Removed dependency {} from #{}: {}",
                d.id, e.handle, d.description
            ),
            json!({ "entry": e.summary(), "dependency": d }),
        ))
    }

    async fn add_risk_to(&self, a: AddRiskArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let input = NewRisk {
            description: a.description,
            impact: a.impact.0,
            probability: a.probability.0,
            mitigation: a.mitigation.unwrap_or_default(),
        };
        let (e, r) = self.app().add_risk(s.id, input, &self.meta()).await?;
        Ok(Reply::new(
            format!(
                "Added risk {} to #{}: {} (impact {}, probability {})",
                r.id, e.handle, r.description, r.impact, r.probability
            ),
            json!({ "entry": e.summary(), "risk": r }),
        ))
    }

    async fn remove_risk_from(&self, a: RemoveItemArgs) -> Outcome {
        let s = self.app().resolve_summary(&a.id.reference()).await?;
        let (e, r) = self
            .app()
            .remove_risk(s.id, &a.item_id, &self.meta())
            .await?;
        Ok(Reply::new(
            format!(
                "Removed risk {} from #{}: {}",
                r.id, e.handle, r.description
            ),
            json!({ "entry": e.summary(), "risk": r }),
        ))
    }
}
