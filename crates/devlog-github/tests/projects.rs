//! GitHub Projects v2 over GraphQL, over real HTTP against the test kit's fake GitHub (REST)
//! and its fake GraphQL endpoint. Every request is checked when the rig is dropped: GraphQL
//! bodies against GitHub's GraphQL schema, the rest against the REST OpenAPI description.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use devlog_core::entry::{Priority, Status};
use devlog_core::integration::SyncErrorKind;
use devlog_github::{GithubConfig, GithubIntegration};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_testkit::fake_github::{self, FakeGithub};
use devlog_testkit::fake_github_graphql::{FakeGithubGraphql, check_graphql_requests};
use devlog_testkit::fake_remote::{FakeRemote, Fault};
use serde_json::{Value, json};

const TOKEN: &str = "ghp_test_token_value_1234";
/// The project of the official `projects_v2_item` example payloads (archived, converted, …).
const PROJECT: &str = "PVT_kwDOAWcTxs4ACgDd";

struct Rig {
    remote: FakeRemote,
    gh: FakeGithub,
    board: FakeGithubGraphql,
    github: GithubIntegration,
}

impl Drop for Rig {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let requests = self.remote.requests();
        let (graphql, rest): (Vec<_>, Vec<_>) = requests
            .into_iter()
            .partition(|r| r.path.ends_with("/graphql"));
        let mut violations = check_graphql_requests(&graphql);
        violations.extend(fake_github::check_requests(&rest));
        assert!(
            violations.is_empty(),
            "requests GitHub's API descriptions do not allow:\n{}",
            violations.join("\n")
        );
        // Checked here, so the REST fake's own check (older versions of it do not know
        // `/graphql`) has nothing left to judge.
        self.remote.clear_requests();
    }
}

fn config(url: &str, token: &str) -> GithubConfig {
    let mut c = GithubConfig::new("acme/widgets", SecretString::from(token.to_string())).unwrap();
    c.api_url = url.to_string();
    c.project_id = Some(PROJECT.to_string());
    c
}

async fn rig_with(edit: impl FnOnce(&mut GithubConfig, &str)) -> Rig {
    let b = FakeRemote::builder().without_tracker();
    let gh = FakeGithub::new(b.state(), "acme", "widgets", TOKEN);
    let board = FakeGithubGraphql::new(b.state(), gh.clone(), "acme/widgets", TOKEN, PROJECT);
    let remote = b.routes(gh.router().merge(board.router())).start().await;
    let mut cfg = config(&remote.url(), TOKEN);
    edit(&mut cfg, &remote.url());
    let github = GithubIntegration::with_limits(cfg, RateLimitConfig::unpaced()).unwrap();
    Rig {
        remote,
        gh,
        board,
        github,
    }
}

async fn rig() -> Rig {
    rig_with(|_, _| {}).await
}

impl Rig {
    fn graphql_requests(&self) -> usize {
        self.remote.requests_matching("POST /graphql").len()
    }

    /// An issue on the board: (number, item id).
    async fn card(&self, title: &str) -> (u64, String) {
        let issue = self.gh.insert_issue(title, "", false);
        let item = self
            .github
            .project_add_issue(&format!("I_{}", issue.number))
            .await
            .unwrap();
        (issue.number, item)
    }
}

#[tokio::test]
async fn adding_an_issue_returns_its_item_and_adding_it_again_returns_the_same() {
    let r = rig().await;
    let (n, item) = r.card("Card").await;
    assert_eq!(r.board.item_for_issue(n).unwrap().id, item);
    let again = r.github.project_add_issue(&format!("I_{n}")).await.unwrap();
    assert_eq!(again, item);
    assert_eq!(r.board.items().len(), 1);
    assert_eq!(r.graphql_requests(), 2, "one request per add");
}

#[tokio::test]
async fn removing_a_card_twice_is_fine_and_leaves_the_issue() {
    let r = rig().await;
    let (n, item) = r.card("Card").await;
    r.github.project_remove_item(&item).await.unwrap();
    assert_eq!(r.board.item_for_issue(n), None);
    r.github.project_remove_item(&item).await.unwrap();
    assert!(r.gh.issue(n).is_some());
}

#[tokio::test]
async fn status_and_priority_are_set_through_the_mappings_in_one_request() {
    let r = rig().await;
    let (n, item) = r.card("Card").await;
    let issue_updated = r.gh.issue(n).unwrap().updated_at;
    r.remote.clear_requests();

    r.github
        .project_set_fields(&item, Some(Status::InReview), Some(Priority::High))
        .await
        .unwrap();
    assert_eq!(
        r.board.field_value(n, "Status").as_deref(),
        Some("In Progress")
    );
    assert_eq!(r.board.field_value(n, "Priority").as_deref(), Some("High"));
    assert_eq!(
        r.graphql_requests(),
        2,
        "the fields lookup, then one mutation"
    );

    r.github
        .project_set_fields(&item, Some(Status::Done), Some(Priority::Critical))
        .await
        .unwrap();
    assert_eq!(r.board.field_value(n, "Status").as_deref(), Some("Done"));
    assert_eq!(
        r.board.field_value(n, "Priority").as_deref(),
        Some("Critical")
    );
    assert_eq!(r.graphql_requests(), 3, "the fields are cached");
    assert_eq!(
        r.gh.issue(n).unwrap().updated_at,
        issue_updated,
        "board fields are not the issue's"
    );
}

#[tokio::test]
async fn unmapped_values_are_left_alone_without_a_request() {
    let r = rig_with(|c, _| {
        c.project_status_mapping.remove(&Status::Blocked);
    })
    .await;
    let (n, item) = r.card("Card").await;
    r.github
        .project_set_fields(&item, Some(Status::New), None)
        .await
        .unwrap();
    let before = r.graphql_requests();
    r.github
        .project_set_fields(&item, Some(Status::Blocked), None)
        .await
        .unwrap();
    assert_eq!(r.graphql_requests(), before, "nothing to set, nothing sent");
    assert_eq!(r.board.field_value(n, "Status").as_deref(), Some("Todo"));
}

#[tokio::test]
async fn a_project_without_a_priority_field_gets_only_the_status() {
    let r = rig().await;
    r.board.remove_field("Priority");
    let (n, item) = r.card("Card").await;
    r.github
        .project_set_fields(&item, Some(Status::InProgress), Some(Priority::High))
        .await
        .unwrap();
    assert_eq!(
        r.board.field_value(n, "Status").as_deref(),
        Some("In Progress")
    );
    assert_eq!(r.board.field_value(n, "Priority"), None);
    let fields = r.github.project_fields().await.unwrap();
    assert!(fields.priority.is_none());
    assert_eq!(fields.status.name, "Status");
    assert_eq!(fields.status.options.len(), 3);
}

#[tokio::test]
async fn a_board_move_shows_up_once_in_project_changes() {
    let r = rig().await;
    let (n, item) = r.card("Card").await;
    let (other, _) = r.card("Other").await;
    r.github
        .project_set_fields(&item, Some(Status::New), Some(Priority::High))
        .await
        .unwrap();
    let (first, cursor) = r.github.project_changes(None).await.unwrap();
    assert_eq!(first.len(), 2);
    let cursor = cursor.unwrap();

    let issue_updated = r.gh.issue(n).unwrap().updated_at;
    r.board.move_item(n, "Done").unwrap();
    assert_eq!(
        r.gh.issue(n).unwrap().updated_at,
        issue_updated,
        "a card move does not touch the issue"
    );

    let (moves, next) = r.github.project_changes(Some(&cursor)).await.unwrap();
    assert_eq!(moves.len(), 1, "{moves:?}");
    let m = &moves[0];
    assert_eq!(m.item_id, item);
    assert_eq!(m.issue_number, n);
    assert_eq!(m.issue_node_id, format!("I_{n}"));
    assert_eq!(m.status, Some(Status::Done));
    assert_eq!(m.status_option.as_deref(), Some("Done"));
    assert_eq!(m.priority, Some(Priority::High));
    let next = next.unwrap();
    assert!(next > cursor);

    // The cursor is inclusive (GitHub's `updatedAt` has one-second resolution): the newest
    // card is read again, and nothing older; its move is applied once per key by the engine.
    let (again, same) = r.github.project_changes(Some(&next)).await.unwrap();
    assert_eq!(again, moves, "only the card at the cursor's second");
    assert_eq!(same.as_deref(), Some(next.as_str()));
    assert!(other != n);
}

#[tokio::test]
async fn an_option_no_status_maps_to_reads_back_as_none() {
    let r = rig_with(|c, _| {
        c.project_status_mapping.remove(&Status::Done);
        c.project_status_mapping.remove(&Status::Closed);
    })
    .await;
    let (n, _) = r.card("Card").await;
    r.board.move_item(n, "Done").unwrap();
    let (moves, _) = r.github.project_changes(None).await.unwrap();
    assert_eq!(moves[0].status, None);
    assert_eq!(moves[0].status_option.as_deref(), Some("Done"));
    assert_eq!(moves[0].priority, None);
}

#[tokio::test]
async fn project_changes_pages_through_the_board_100_items_a_request() {
    let r = rig().await;
    for i in 0..150 {
        let issue = r.gh.insert_issue(&format!("Issue {i}"), "", false);
        r.board.add_item(issue.number);
    }
    let (moves, _) = r.github.project_changes(None).await.unwrap();
    assert_eq!(moves.len(), 150);
    assert_eq!(r.graphql_requests(), 2);
}

#[tokio::test]
async fn project_item_reads_one_card_and_a_deleted_one_is_none() {
    let r = rig().await;
    let (n, item) = r.card("Card").await;
    r.board.move_item(n, "In Progress").unwrap();
    let m = r.github.project_item(&item).await.unwrap().unwrap();
    assert_eq!(m.issue_number, n);
    assert_eq!(m.status, Some(Status::InProgress));
    assert_eq!(r.github.project_item("PVTI_404").await.unwrap(), None);
}

#[tokio::test]
async fn a_mapping_to_a_missing_option_names_the_option_the_field_and_the_key() {
    let r = rig_with(|c, _| {
        c.project_status_mapping
            .insert(Status::Done, "Shipped".to_string());
    })
    .await;
    let e = r.github.project_fields().await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Permanent);
    for want in [
        "`Shipped`",
        "`Status`",
        "projectStatusMapping.done",
        "`Todo`",
    ] {
        assert!(e.message.contains(want), "{want} not in: {}", e.message);
    }
}

#[tokio::test]
async fn a_missing_status_field_names_the_config_key() {
    let r = rig_with(|c, _| c.project_status_field = "Stage".into()).await;
    let e = r.github.project_fields().await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Permanent);
    assert!(e.message.contains("`Stage`"), "{}", e.message);
    assert!(e.message.contains("projectStatusField"), "{}", e.message);
}

#[tokio::test]
async fn an_unknown_project_is_a_permanent_error_naming_project_id() {
    let r = rig_with(|c, _| c.project_id = Some("PVT_nope".into())).await;
    let e = r.github.project_fields().await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Permanent);
    assert!(e.message.contains("PVT_nope"), "{}", e.message);
    assert!(
        e.message.contains("integrations.github.projectId"),
        "{}",
        e.message
    );
    let e = r.github.project_changes(None).await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Permanent);
    assert!(e.message.contains("PVT_nope"), "{}", e.message);
    let issue = r.gh.insert_issue("Card", "", false);
    let e = r
        .github
        .project_add_issue(&format!("I_{}", issue.number))
        .await
        .unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Permanent);
}

#[tokio::test]
async fn no_project_configured_is_a_clear_error() {
    let r = rig_with(|c, _| c.project_id = None).await;
    let e = r.github.project_changes(None).await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Permanent);
    assert!(e.message.contains("projectId"), "{}", e.message);
    assert_eq!(r.graphql_requests(), 0);
}

#[tokio::test]
async fn a_wrong_token_is_an_auth_error_without_the_token() {
    let r = rig_with(|c, url| *c = config(url, "ghp_wrong_token_5678")).await;
    let e = r.github.project_fields().await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Auth);
    assert!(
        e.message.contains("integrations.github.token"),
        "{}",
        e.message
    );
    assert!(!e.message.contains("ghp_wrong_token_5678"));
}

#[tokio::test]
async fn missing_project_scope_is_an_auth_error_naming_the_scope() {
    let r = rig().await;
    r.remote.inject(
        Fault::on("POST /graphql").status(200).body(
            r#"{"errors":[{"type":"INSUFFICIENT_SCOPES","message":"Your token has not been granted the required scopes to execute this query. The 'field' field requires one of the following scopes: ['read:project'], but your token has only been granted the: ['repo'] scopes."}]}"#,
        ),
    );
    let e = r.github.project_fields().await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::Auth);
    assert!(e.message.contains("`project` scope"), "{}", e.message);
}

#[tokio::test]
async fn a_graphql_rate_limit_is_rate_limited_with_a_wait() {
    let r = rig().await;
    r.remote.inject(
        Fault::on("POST /graphql")
            .status(200)
            .header("retry-after", "30")
            .body(r#"{"errors":[{"type":"RATE_LIMITED","message":"API rate limit exceeded for user ID 1."}]}"#),
    );
    let e = r.github.project_changes(None).await.unwrap_err();
    assert_eq!(e.kind, SyncErrorKind::RateLimited);
    assert_eq!(e.retry_after_ms, Some(30_000));
}

#[tokio::test]
async fn github_enterprise_server_uses_api_graphql() {
    let r = rig_with(|c, url| c.api_url = format!("{url}/api/v3")).await;
    let fields = r.github.project_fields().await.unwrap();
    assert_eq!(fields.project_id, PROJECT);
    assert_eq!(r.remote.requests_matching("POST /api/graphql").len(), 1);
}

// ---- webhooks ----

fn example(name: &str) -> Value {
    let path = format!(
        "{}/../../../shared/apispecs/github/webhooks/examples/projects_v2_item/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn integration(project: Option<&str>) -> GithubIntegration {
    let mut c = config("https://api.github.com", TOKEN);
    c.project_id = project.map(str::to_string);
    GithubIntegration::new(c).unwrap()
}

#[test]
fn webhook_examples_about_an_issue_card_of_the_project_are_read() {
    let gh = integration(Some(PROJECT));
    for (file, action) in [
        ("archived.1.json", "archived"),
        ("converted.1.json", "converted"),
        ("reordered.1.json", "reordered"),
        ("restored.1.json", "restored"),
    ] {
        let ev = gh.project_move_from_webhook(&example(file)).unwrap();
        assert_eq!(ev.action, action);
        assert_eq!(ev.item_id, "PVTI_lADOAWcTxs4ACgDdzgBWqxo");
        assert_eq!(ev.content_node_id.as_deref(), Some("I_kwDOCG5vGM5La0aB"));
        assert_eq!(ev.field_node_id, None);
    }
    let restored = gh
        .project_move_from_webhook(&example("restored.1.json"))
        .unwrap();
    assert!(restored.may_change_fields());
    let reordered = gh
        .project_move_from_webhook(&example("reordered.1.json"))
        .unwrap();
    assert!(!reordered.may_change_fields());
}

#[test]
fn webhook_examples_about_drafts_or_other_projects_are_ignored() {
    let gh = integration(Some(PROJECT));
    for f in ["created.1.json", "created.2.json", "edited.1.json"] {
        assert_eq!(gh.project_move_from_webhook(&example(f)), None, "{f}");
    }
    // No project configured: nothing is about us.
    let none = integration(None);
    assert_eq!(
        none.project_move_from_webhook(&example("archived.1.json")),
        None
    );
}

#[test]
fn an_edited_field_value_names_the_field() {
    // edited.1.json is a draft's; the same event for an issue card.
    let mut p = example("edited.1.json");
    p["projects_v2_item"]["content_type"] = json!("Issue");
    p["projects_v2_item"]["content_node_id"] = json!("I_kwDOCG5vGM5La0aB");
    let project = p["projects_v2_item"]["project_node_id"]
        .as_str()
        .unwrap()
        .to_string();
    let gh = integration(Some(&project));
    let ev = gh.project_move_from_webhook(&p).unwrap();
    assert_eq!(ev.action, "edited");
    assert_eq!(
        ev.field_node_id.as_deref(),
        Some("PVTF_lADOAWcTxs07G84AAali")
    );
    assert!(ev.may_change_fields());
}

#[test]
fn webhook_payloads_with_missing_or_null_fields_do_not_panic() {
    let gh = integration(Some(PROJECT));
    assert_eq!(gh.project_move_from_webhook(&json!({})), None);
    assert_eq!(
        gh.project_move_from_webhook(&json!({"projects_v2_item": null})),
        None
    );
    assert_eq!(
        gh.project_move_from_webhook(&json!({"projects_v2_item": {"node_id": null}})),
        None
    );
    let ev = gh
        .project_move_from_webhook(&json!({
            "action": "edited",
            "projects_v2_item": {"node_id": "PVTI_x", "content_node_id": null,
                                 "project_node_id": null, "content_type": null},
            "changes": {"field_value": null}
        }))
        .unwrap();
    assert_eq!(ev.item_id, "PVTI_x");
    assert_eq!(ev.content_node_id, None);
    assert_eq!(ev.field_node_id, None);
    // Every official example parses without panicking.
    let dir = format!(
        "{}/../../../shared/apispecs/github/webhooks/examples/projects_v2_item",
        env!("CARGO_MANIFEST_DIR")
    );
    for f in std::fs::read_dir(dir).unwrap() {
        let name = f.unwrap().file_name().into_string().unwrap();
        let _ = gh.project_move_from_webhook(&example(&name));
    }
}

// ---- config ----

#[test]
fn project_keys_are_read_from_the_table_with_defaults() {
    let c = GithubConfig::from_table(&json!({
        "repository": "acme/widgets",
        "token": TOKEN,
        "projectId": PROJECT,
        "projectStatusField": "Stage",
        "projectStatusMapping": {"blocked": "Blocked", "testing": ""},
        "projectPriorityMapping": {"low": "P3"}
    }))
    .unwrap();
    assert_eq!(c.project_status_field, "Stage");
    assert_eq!(c.project_priority_field, "Priority");
    assert_eq!(c.project_status_mapping[&Status::Blocked], "Blocked");
    assert_eq!(c.project_status_mapping[&Status::New], "Todo");
    assert!(!c.project_status_mapping.contains_key(&Status::Testing));
    assert_eq!(c.project_priority_mapping[&Priority::Low], "P3");
    assert_eq!(c.project_priority_mapping[&Priority::Critical], "Critical");
    let d = format!("{c:?}");
    assert!(d.contains("project_status_mapping") && !d.contains(TOKEN));

    let e = GithubConfig::from_table(&json!({
        "repository": "acme/widgets", "token": TOKEN,
        "projectStatusMapping": {"shipping": "Done"}
    }))
    .unwrap_err();
    assert!(e.contains("projectStatusMapping.shipping"), "{e}");
}

#[test]
fn the_schema_knows_the_project_keys_and_still_rejects_unknown_ones() {
    let schema = devlog_github::config::schema();
    let keys = schema["properties"].as_object().unwrap();
    for k in [
        "projectStatusField",
        "projectStatusMapping",
        "projectPriorityField",
        "projectPriorityMapping",
    ] {
        assert!(keys.contains_key(k), "{k}");
    }
    assert_eq!(schema["additionalProperties"], json!(false));
    assert_eq!(
        schema["properties"]["projectStatusMapping"]["additionalProperties"],
        json!(false)
    );
}

#[tokio::test]
async fn the_contract_check_sees_a_request_the_schema_rejects() {
    let r = rig().await;
    r.github.project_fields().await.unwrap();
    assert!(check_graphql_requests(&r.remote.requests()).is_empty());
    let bad = json!({"query": "query { viewer { loginn } }", "variables": {}});
    r.github
        .client()
        .post("/graphql")
        .json(&bad)
        .send()
        .await
        .unwrap();
    let violations = check_graphql_requests(&r.remote.requests());
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert!(violations[0].contains("loginn"), "{}", violations[0]);
    r.remote.clear_requests();
}
