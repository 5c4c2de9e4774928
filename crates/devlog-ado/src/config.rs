//! `[integrations.azure-devops]` (alias `[integrations.ado]`): the table as one struct
//! (`AdoTable`) whose JSON Schema is derived from it, parsing with errors that name the dotted
//! key, and the defaults (docs/azure-devops.md).
//!
//! The original devlog's keys (`organization`, `project`, `personalAccessToken`) are read as
//! they are: `organization` is the organization's name (or its URL), `personalAccessToken`
//! another name for `pat`.

use std::collections::BTreeMap;
use std::fmt;

use devlog_core::entry::{EntryType, Status};
use devlog_http::{Auth, SecretString};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// The table names the integration is configured under (`[integrations.<name>]`).
pub const TABLES: [&str; 2] = ["azure-devops", "ado"];

/// How devlog authenticates to Azure DevOps. `Debug` never shows the secret.
#[derive(Clone)]
pub enum AdoAuth {
    /// A personal access token (`Authorization: Basic` with an empty user name).
    Pat(SecretString),
    /// An OAuth 2.0 / Microsoft Entra access token (`Authorization: Bearer`).
    Token(SecretString),
}

impl AdoAuth {
    pub fn to_http(&self) -> Auth {
        match self {
            Self::Pat(t) => Auth::Basic {
                username: String::new(),
                password: t.clone(),
            },
            Self::Token(t) => Auth::Bearer(t.clone()),
        }
    }
}

impl fmt::Debug for AdoAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pat(_) => f.write_str("Pat([redacted])"),
            Self::Token(_) => f.write_str("Token([redacted])"),
        }
    }
}

/// Entry fields that can be mapped to work item fields (`fields` keys). The variants carry
/// plain comments: doc comments would make their schema a `oneOf`, not the key set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, JsonSchema)]
pub enum MappedField {
    // `estimatedHours` (default Microsoft.VSTS.Scheduling.OriginalEstimate).
    #[serde(rename = "estimatedHours")]
    EstimatedHours,
    // `actualHours` (default Microsoft.VSTS.Scheduling.CompletedWork).
    #[serde(rename = "actualHours")]
    ActualHours,
    // `context.acceptanceCriteria` (default Microsoft.VSTS.Common.AcceptanceCriteria).
    #[serde(rename = "acceptanceCriteria")]
    AcceptanceCriteria,
    // `dueDate` (default Microsoft.VSTS.Scheduling.DueDate).
    #[serde(rename = "dueDate")]
    DueDate,
    // `storyPoints`: the entry's estimate in points (default Microsoft.VSTS.Scheduling.StoryPoints).
    #[serde(rename = "storyPoints")]
    StoryPoints,
}

impl MappedField {
    pub const ALL: [MappedField; 5] = [
        Self::EstimatedHours,
        Self::ActualHours,
        Self::AcceptanceCriteria,
        Self::DueDate,
        Self::StoryPoints,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Self::EstimatedHours => "estimatedHours",
            Self::ActualHours => "actualHours",
            Self::AcceptanceCriteria => "acceptanceCriteria",
            Self::DueDate => "dueDate",
            Self::StoryPoints => "storyPoints",
        }
    }

    /// The system field it goes to unless `fields` names another.
    pub fn default_field(&self) -> &'static str {
        match self {
            Self::EstimatedHours => "Microsoft.VSTS.Scheduling.OriginalEstimate",
            Self::ActualHours => "Microsoft.VSTS.Scheduling.CompletedWork",
            Self::AcceptanceCriteria => "Microsoft.VSTS.Common.AcceptanceCriteria",
            Self::DueDate => "Microsoft.VSTS.Scheduling.DueDate",
            Self::StoryPoints => "Microsoft.VSTS.Scheduling.StoryPoints",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// Where new work items go on the iteration axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IterationPath {
    /// The team's current iteration, looked up when an item is created.
    Current,
    /// A fixed path (`Project\Sprint 12`).
    Path(String),
}

/// The parsed configuration. `Debug` never shows the token or the service hook secret.
#[derive(Clone)]
pub struct AdoConfig {
    /// The table it was read from (`azure-devops` or `ado`): errors name its keys.
    pub table: &'static str,
    /// The organization's URL without a trailing slash (`https://dev.azure.com/acme`, an Azure
    /// DevOps Server collection URL, or a test server).
    pub organization_url: String,
    pub project: String,
    /// The team whose settings (current iteration) and WIQL context are used; default
    /// `<project> Team`, the project's default team's name.
    pub team: String,
    pub auth: AdoAuth,
    /// Devlog type → work item type name, where configured; the rest defaults per process
    /// ([`crate::process::Process::default_type`]).
    pub work_item_types: BTreeMap<EntryType, String>,
    pub area_path: Option<String>,
    pub iteration_path: Option<IterationPath>,
    /// Devlog status → state name, where configured; the rest defaults per process and state
    /// category ([`crate::process::StateMap`]).
    pub state_mapping: BTreeMap<Status, String>,
    /// Entry field → field reference name.
    pub fields: BTreeMap<MappedField, String>,
    pub service_hook_secret: Option<SecretString>,
    /// Notes ⇄ work item comments (default on).
    pub sync_notes: bool,
}

impl fmt::Debug for AdoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdoConfig")
            .field("organization_url", &self.organization_url)
            .field("project", &self.project)
            .field("team", &self.team)
            .field("auth", &self.auth)
            .field("work_item_types", &self.work_item_types)
            .field("area_path", &self.area_path)
            .field("iteration_path", &self.iteration_path)
            .field("state_mapping", &self.state_mapping)
            .field("fields", &self.fields)
            .field(
                "service_hook_secret",
                &self.service_hook_secret.as_ref().map(|_| "[redacted]"),
            )
            .field("sync_notes", &self.sync_notes)
            .finish()
    }
}

impl AdoConfig {
    /// A configuration with defaults for everything but the organization, the project and
    /// the auth.
    pub fn new(organization_url: &str, project: &str, auth: AdoAuth) -> Result<Self, String> {
        Self::in_table(TABLES[0], organization_url, project, auth)
    }

    fn in_table(
        table: &'static str,
        organization_url: &str,
        project: &str,
        auth: AdoAuth,
    ) -> Result<Self, String> {
        if !(organization_url.starts_with("https://") || organization_url.starts_with("http://")) {
            return Err(format!(
                "integrations.{table}.organizationUrl: `{organization_url}` is not an http(s) URL (e.g. \"https://dev.azure.com/acme\")"
            ));
        }
        let url = organization_url.trim_end_matches('/');
        let has_org = url
            .split_once("://")
            .is_some_and(|(_, rest)| rest.split('/').filter(|s| !s.is_empty()).count() >= 2);
        if !has_org {
            return Err(format!(
                "integrations.{table}.organizationUrl: `{organization_url}` names no organization or collection (e.g. \"https://dev.azure.com/acme\")"
            ));
        }
        if project.trim().is_empty() || project.contains(['/', '\\', '?', '#']) {
            return Err(format!(
                "integrations.{table}.project: `{project}` is not a project name"
            ));
        }
        Ok(Self {
            table,
            organization_url: url.to_string(),
            project: project.to_string(),
            team: format!("{project} Team"),
            auth,
            work_item_types: BTreeMap::new(),
            area_path: None,
            iteration_path: None,
            state_mapping: BTreeMap::new(),
            fields: BTreeMap::new(),
            service_hook_secret: None,
            sync_notes: true,
        })
    }

    /// Parses a `[integrations.azure-devops]` table (usually already validated against
    /// [`schema`]); errors name the dotted key and what to fix.
    pub fn from_table(table: &Value) -> Result<Self, String> {
        Self::from_table_named(table, TABLES[0])
    }

    /// Like [`from_table`](Self::from_table) for the table named `name` (`ado`, the alias):
    /// errors name its keys.
    pub fn from_table_named(table: &Value, name: &str) -> Result<Self, String> {
        let name: &'static str = TABLES.into_iter().find(|t| *t == name).unwrap_or(TABLES[0]);
        let t: AdoTable = serde_path_to_error::deserialize(table).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                format!("integrations.{name}: {}", e.inner())
            } else {
                format!("integrations.{name}.{path}: {}", e.inner())
            }
        })?;
        t.into_config(name)
    }

    /// The field reference name an entry field goes to.
    pub fn field(&self, f: MappedField) -> &str {
        self.fields
            .get(&f)
            .map(String::as_str)
            .unwrap_or(f.default_field())
    }
}

fn valid_reference_name(s: &str) -> bool {
    let mut parts = s.split('.');
    let first_ok = parts
        .next()
        .is_some_and(|p| p.starts_with(|c: char| c.is_ascii_alphabetic()));
    let rest: Vec<&str> = parts.collect();
    first_ok
        && !rest.is_empty()
        && s.split('.')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

/// `[integrations.azure-devops]` as written. Its JSON Schema ([`schema`]) is derived from this
/// struct, so a key exists in the schema exactly when it is parsed here; the doc comments are
/// the schema's descriptions. Mapping keys are read as strings and turned into devlog values
/// by [`AdoTable::into_config`], so an error names the key (`stateMapping.finished`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(
    title = "[integrations.azure-devops]",
    description = "devlog's Azure DevOps integration: work items of one project (docs/azure-devops.md)"
)]
struct AdoTable {
    /// false: configured but not used.
    #[allow(dead_code)] // read by the registry, which skips a disabled table
    enabled: Option<bool>,
    /// The organization ("https://dev.azure.com/acme"), an Azure DevOps Server collection
    /// ("https://tfs.example.com/DefaultCollection") or a test server.
    #[schemars(regex(pattern = "^https?://"))]
    organization_url: Option<String>,
    /// The original devlog's key: the organization's name ("acme", for
    /// https://dev.azure.com/acme), or its URL.
    #[schemars(length(min = 1))]
    organization: Option<String>,
    /// The project whose work items entries sync with.
    #[schemars(required, length(min = 1))]
    project: Option<String>,
    /// The team (current iteration, WIQL context); default "<project> Team".
    #[schemars(length(min = 1))]
    team: Option<String>,
    /// A personal access token (use "${ADO_PAT}"): Basic auth with an empty user.
    /// Scopes: Work Items (read & write).
    #[schemars(length(min = 1))]
    pat: Option<String>,
    /// The original devlog's name for `pat`.
    #[schemars(length(min = 1))]
    personal_access_token: Option<String>,
    /// Instead of a PAT: an OAuth 2.0 / Microsoft Entra access token (Bearer).
    #[schemars(length(min = 1))]
    token: Option<String>,
    /// Devlog type → work item type name (default per process: feature → User Story /
    /// Product Backlog Item / Requirement / Issue, bugfix → Bug (Basic: Issue), others → Task).
    #[schemars(with = "Option<BTreeMap<EntryType, Name>>")]
    work_item_types: Option<BTreeMap<String, String>>,
    /// The area path of new work items ("Project\\Team A").
    #[schemars(length(min = 1))]
    area_path: Option<String>,
    /// The iteration path of new work items, or "@current" for the team's current iteration.
    #[schemars(length(min = 1))]
    iteration_path: Option<String>,
    /// Devlog status → state name ("": use the process default / state category).
    #[schemars(with = "Option<BTreeMap<Status, String>>")]
    state_mapping: Option<BTreeMap<String, String>>,
    /// Entry field → work item field reference name ("Custom.Effort").
    #[schemars(with = "Option<BTreeMap<MappedField, Name>>")]
    fields: Option<BTreeMap<String, String>>,
    /// The password of the Basic credentials set on the Web Hooks service hook subscription
    /// (any user name); without it service hooks are refused (`POST /webhooks/azure-devops`).
    service_hook_secret: Option<String>,
    /// Notes ⇄ work item comments (default true).
    sync_notes: Option<bool>,
}

/// A non-empty name (only its schema is used).
#[allow(dead_code)]
#[derive(JsonSchema)]
#[schemars(transparent)]
struct Name(#[schemars(length(min = 1))] String);

fn mapped<K>(
    map: Option<BTreeMap<String, String>>,
    table: &str,
    key: &str,
    parse: impl Fn(&str) -> Result<K, String>,
) -> Result<Vec<(K, String, String)>, String> {
    map.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| {
            let dotted = format!("integrations.{table}.{key}.{k}");
            let parsed = parse(&k).map_err(|e| format!("{dotted}: {e}"))?;
            Ok((parsed, v, dotted))
        })
        .collect()
}

impl AdoTable {
    fn into_config(self, table: &'static str) -> Result<AdoConfig, String> {
        let from_org = |o: &str| {
            if o.starts_with("https://") || o.starts_with("http://") {
                o.trim_end_matches('/').to_string()
            } else {
                format!("https://dev.azure.com/{o}")
            }
        };
        let url = match (self.organization_url, self.organization) {
            (Some(u), Some(o)) if u.trim_end_matches('/') != from_org(&o) => {
                return Err(format!(
                    "integrations.{table}.organization: `{o}` is not the organization of organizationUrl `{u}`; keep one (organization is the original devlog's key)"
                ));
            }
            (Some(u), _) => u,
            (None, Some(o)) => {
                if o.contains(['/', ' ']) && !o.starts_with("http") {
                    return Err(format!(
                        "integrations.{table}.organization: `{o}` is not an organization name (e.g. \"acme\" for https://dev.azure.com/acme)"
                    ));
                }
                from_org(&o)
            }
            (None, None) => {
                return Err(format!(
                    "integrations.{table}.organizationUrl: required (e.g. \"https://dev.azure.com/acme\")"
                ));
            }
        };
        let project = self.project.ok_or(format!(
            "integrations.{table}.project: required (the project's name)"
        ))?;
        let pat = match (self.pat, self.personal_access_token) {
            (Some(a), Some(b)) if a != b => {
                return Err(format!(
                    "integrations.{table}.personalAccessToken: differs from integrations.{table}.pat; keep one (personalAccessToken is the original devlog's name for pat)"
                ));
            }
            (a, b) => a.or(b),
        };
        let auth = match (pat, self.token) {
            (Some(_), Some(_)) => {
                return Err(format!(
                    "integrations.{table}.token: set either token (Bearer) or pat (personal access token), not both"
                ));
            }
            (Some(p), None) => AdoAuth::Pat(SecretString::from(p)),
            (None, Some(t)) => AdoAuth::Token(SecretString::from(t)),
            (None, None) => {
                return Err(format!(
                    "integrations.{table}.pat: required (use \"${{ADO_PAT}}\"), or set token for Bearer auth"
                ));
            }
        };
        let mut c = AdoConfig::in_table(table, &url, &project, auth)?;
        if let Some(team) = self.team {
            c.team = team;
        }
        for (t, v, _) in mapped(self.work_item_types, table, "workItemTypes", |k| {
            k.parse::<EntryType>().map_err(|e| e.to_string())
        })? {
            c.work_item_types.insert(t, v);
        }
        for (s, v, _) in mapped(self.state_mapping, table, "stateMapping", |k| {
            k.parse::<Status>().map_err(|e| e.to_string())
        })? {
            if !v.is_empty() {
                c.state_mapping.insert(s, v);
            }
        }
        for (f, v, dotted) in mapped(self.fields, table, "fields", |k| {
            MappedField::parse(k).ok_or_else(|| {
                format!(
                    "unknown entry field `{k}`; one of {}",
                    MappedField::ALL.map(|m| m.as_str()).join(", ")
                )
            })
        })? {
            if !valid_reference_name(&v) {
                return Err(format!(
                    "{dotted}: `{v}` is not a field reference name (e.g. \"Custom.Effort\" or \"Microsoft.VSTS.Scheduling.Effort\")"
                ));
            }
            c.fields.insert(f, v);
        }
        c.area_path = self.area_path;
        c.iteration_path = self.iteration_path.map(|p| {
            if p.eq_ignore_ascii_case("@current") || p.eq_ignore_ascii_case("@currentiteration") {
                IterationPath::Current
            } else {
                IterationPath::Path(p)
            }
        });
        c.service_hook_secret = self
            .service_hook_secret
            .filter(|s| !s.is_empty())
            .map(SecretString::from);
        if let Some(b) = self.sync_notes {
            c.sync_notes = b;
        }
        Ok(c)
    }
}

/// JSON Schema (draft 2020-12) of `[integrations.azure-devops]`, derived from the table's
/// struct (`additionalProperties: false` at every level; subschemas inlined).
pub fn schema() -> Value {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| s.inline_subschemas = true)
        .into_generator();
    let schema = generator.into_root_schema_for::<AdoTable>();
    serde_json::to_value(schema).unwrap_or(Value::Bool(false))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is the failure report
    use serde_json::json;

    use super::*;

    fn table(extra: Value) -> Value {
        let mut t = json!({"organizationUrl": "https://dev.azure.com/acme", "project": "Fabrikam",
                           "pat": "s3cr3t-pat-value"});
        t.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        t
    }

    fn valid(t: &Value) -> bool {
        jsonschema::validator_for(&schema()).unwrap().is_valid(t)
    }

    #[test]
    fn the_schema_is_derived_and_closed() {
        let s = schema();
        assert_eq!(s["additionalProperties"], json!(false));
        assert_eq!(s["required"], json!(["project"]));
        let keys = |k: &str| -> Vec<String> {
            let mut v: Vec<String> = s["properties"][k]["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            v.sort();
            v
        };
        let mut types = EntryType::allowed();
        types.sort();
        assert_eq!(keys("workItemTypes"), types);
        let mut statuses = Status::allowed();
        statuses.sort();
        assert_eq!(keys("stateMapping"), statuses);
        assert_eq!(
            keys("fields"),
            [
                "acceptanceCriteria",
                "actualHours",
                "dueDate",
                "estimatedHours",
                "storyPoints"
            ]
        );
        assert!(valid(&table(json!({"iterationPath": "@current"}))));
        assert!(!valid(&table(json!({"iterationpath": "@current"}))));
        assert!(!valid(&table(
            json!({"stateMapping": {"finished": "Closed"}})
        )));
        assert!(!valid(&table(
            json!({"organizationUrl": "dev.azure.com/acme"})
        )));
    }

    #[test]
    fn the_originals_keys_are_read_as_they_are() {
        let c = AdoConfig::from_table(&json!({
            "organization": "acme", "project": "Fabrikam",
            "personalAccessToken": "s3cr3t-pat-value"
        }))
        .unwrap();
        assert_eq!(c.organization_url, "https://dev.azure.com/acme");
        assert_eq!(c.project, "Fabrikam");
        assert_eq!(c.team, "Fabrikam Team");
        assert!(matches!(&c.auth, AdoAuth::Pat(_)));
        // The PAT goes as Basic with an empty user name.
        assert!(matches!(c.auth.to_http(), Auth::Basic { username, .. } if username.is_empty()));
        // An organization URL in `organization` is read as one; agreeing keys are fine.
        let c = AdoConfig::from_table(&table(json!({"organization": "acme"}))).unwrap();
        assert_eq!(c.organization_url, "https://dev.azure.com/acme");
        let c = AdoConfig::from_table(&json!({
            "organization": "https://tfs.example.com/DefaultCollection/", "project": "P", "pat": "x"
        }))
        .unwrap();
        assert_eq!(
            c.organization_url,
            "https://tfs.example.com/DefaultCollection"
        );
    }

    #[test]
    fn errors_name_the_dotted_key() {
        for (extra, key) in [
            (json!({"colour": "x"}), "integrations.azure-devops.colour"),
            (
                json!({"stateMapping": {"finished": "Closed"}}),
                "integrations.azure-devops.stateMapping.finished",
            ),
            (
                json!({"workItemTypes": {"epic": "Epic"}}),
                "integrations.azure-devops.workItemTypes.epic",
            ),
            (
                json!({"fields": {"team": "Custom.Team"}}),
                "integrations.azure-devops.fields.team",
            ),
            (
                json!({"fields": {"storyPoints": "Story Points"}}),
                "integrations.azure-devops.fields.storyPoints",
            ),
            (
                json!({"token": "bearer-t0ken"}),
                "integrations.azure-devops.token",
            ),
            (
                json!({"personalAccessToken": "another-pat"}),
                "integrations.azure-devops.personalAccessToken",
            ),
            (
                json!({"organization": "contoso"}),
                "integrations.azure-devops.organization",
            ),
            (
                json!({"organizationUrl": "dev.azure.com/acme"}),
                "integrations.azure-devops.organizationUrl",
            ),
            (
                json!({"organizationUrl": "https://dev.azure.com/"}),
                "integrations.azure-devops.organizationUrl",
            ),
            (json!({"team": 7}), "integrations.azure-devops.team"),
        ] {
            let err = AdoConfig::from_table(&table(extra.clone())).unwrap_err();
            assert!(err.starts_with(key), "{extra}: {err}");
            assert!(!err.contains("s3cr3t"), "{err}");
        }
        let err = AdoConfig::from_table(
            &json!({"organizationUrl": "https://dev.azure.com/acme", "project": "P"}),
        )
        .unwrap_err();
        assert!(
            err.starts_with("integrations.azure-devops.pat: required"),
            "{err}"
        );
        let err = AdoConfig::from_table(&json!({"project": "P", "pat": "x"})).unwrap_err();
        assert!(
            err.starts_with("integrations.azure-devops.organizationUrl: required"),
            "{err}"
        );
        let err = AdoConfig::from_table(&json!({"organization": "acme", "pat": "x"})).unwrap_err();
        assert!(
            err.starts_with("integrations.azure-devops.project: required"),
            "{err}"
        );
        // Under the alias, errors name the alias's keys.
        let err = AdoConfig::from_table_named(&table(json!({"colour": 1})), "ado").unwrap_err();
        assert!(err.starts_with("integrations.ado.colour"), "{err}");
    }

    #[test]
    fn the_table_sets_what_it_names_and_debug_hides_secrets() {
        let c = AdoConfig::from_table(&table(json!({
            "pat": null, "token": "bearer-s3cr3t-value", "serviceHookSecret": "hook-s3cr3t-value",
            "team": "Platform",
            "workItemTypes": {"docs": "Documentation"},
            "stateMapping": {"in-review": "In Review", "new": ""},
            "fields": {"storyPoints": "Custom.Effort"},
            "areaPath": "Fabrikam\\Platform", "iterationPath": "@current", "syncNotes": false
        })))
        .unwrap();
        assert!(matches!(c.auth, AdoAuth::Token(_)));
        assert_eq!(c.team, "Platform");
        assert_eq!(c.work_item_types[&EntryType::Docs], "Documentation");
        assert_eq!(
            c.state_mapping.get(&Status::InReview).map(String::as_str),
            Some("In Review")
        );
        assert_eq!(c.state_mapping.get(&Status::New), None);
        assert_eq!(c.field(MappedField::StoryPoints), "Custom.Effort");
        assert_eq!(
            c.field(MappedField::AcceptanceCriteria),
            "Microsoft.VSTS.Common.AcceptanceCriteria"
        );
        assert_eq!(c.area_path.as_deref(), Some("Fabrikam\\Platform"));
        assert_eq!(c.iteration_path, Some(IterationPath::Current));
        assert!(!c.sync_notes);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        let c =
            AdoConfig::from_table(&table(json!({"iterationPath": "Fabrikam\\Sprint 3"}))).unwrap();
        assert_eq!(
            c.iteration_path,
            Some(IterationPath::Path("Fabrikam\\Sprint 3".into()))
        );
        assert!(!format!("{c:?}").contains("s3cr3t"));
    }
}
