//! The `Integration` conformance suite (devlog-testkit) against `GithubIntegration` over the
//! test kit's fake GitHub, whose every request is checked against GitHub's OpenAPI
//! description when the fake is dropped.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_core::integration::Integration;
use devlog_github::{GithubConfig, GithubIntegration};
use devlog_http::{RateLimitConfig, SecretString};
use devlog_testkit::integration_conformance::GithubProbe;

const TOKEN: &str = "ghp_conformance_token_1234";

async fn github() -> (Arc<dyn Integration>, GithubProbe) {
    let probe = GithubProbe::start("acme", "widgets", TOKEN).await;
    let mut config =
        GithubConfig::new("acme/widgets", SecretString::from(TOKEN.to_string())).unwrap();
    config.api_url = probe.remote.url();
    let github = GithubIntegration::with_limits(config, RateLimitConfig::unpaced()).unwrap();
    (Arc::new(github), probe)
}

devlog_testkit::integration_conformance!(github_conformance, github);
