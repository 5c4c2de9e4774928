//! The `Integration` conformance suite (devlog-testkit) against `AdoIntegration` over the
//! test kit's fake Azure DevOps, whose every request is checked against Microsoft's API
//! descriptions when the fake is dropped.
//! Every case runs (milestones are iterations: `iterations.rs`).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_ado::{AdoAuth, AdoConfig, AdoIntegration};
use devlog_core::integration::Integration;
use devlog_http::{RateLimitConfig, SecretString};
use devlog_testkit::fake_ado::{AdoProbe, FakeProcess};

const PAT: &str = "ado_conformance_pat_1234";

async fn ado() -> (Arc<dyn Integration>, AdoProbe) {
    let probe = AdoProbe::start("acme", "Fabrikam", FakeProcess::Agile).await;
    let config = AdoConfig::new(
        &probe.organization_url(),
        "Fabrikam",
        AdoAuth::Pat(SecretString::from(PAT.to_string())),
    )
    .unwrap();
    let ado = AdoIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    (Arc::new(ado), probe)
}

devlog_testkit::integration_conformance!(@cases ado_conformance ado;
    create_stores_a_marker_that_find_by_marker_finds,
    find_by_marker_of_an_unknown_entry_is_none,
    update_sends_only_the_changed_fields,
    pull_pages_are_idempotent,
    notes_become_comments_when_the_integration_syncs_notes,
    deleted_notes_delete_their_comments_or_say_they_cannot,
    milestones_travel_with_the_item,
    failures_are_classified,
);
