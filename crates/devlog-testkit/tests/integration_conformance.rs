//! The `Integration` conformance suite against the test tracker (`tracker.rs`) over the fake
//! remote's generic tracker API: the reference every real integration is compared with.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_core::integration::Integration;
use devlog_http::RateLimitConfig;
use devlog_testkit::fake_remote::FakeRemote;
use devlog_testkit::tracker::TrackerIntegration;

async fn tracker() -> (Arc<dyn Integration>, FakeRemote) {
    let remote = FakeRemote::start().await;
    let tracker =
        TrackerIntegration::with_limits(&remote.url(), RateLimitConfig::unpaced()).unwrap();
    (Arc::new(tracker), remote)
}

devlog_testkit::integration_conformance!(tracker_conformance, tracker);
