//! Conformance of API token storage (issue 20): every backend keeps only the hash, lists
//! revoked tokens too, never lets a last-used update undo a revocation, and keeps names unique
//! among active tokens. Tokens survive reopening (a team on one database shares them).

use std::path::Path;

use devlog_core::auth::{Denied, NewToken, Role, Token, TokenSecret, issue};
use devlog_core::error::ErrorKind;
use devlog_core::time::Timestamp;
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::Opener;

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(1_800_000_000_000 + ms).expect("a valid time")
}

fn token(name: &str, role: Role, seed: u64, expires: Option<Timestamp>) -> (Token, TokenSecret) {
    issue(
        NewToken {
            name: name.parse().expect("a valid name"),
            role,
            scope: Some("team".into()),
            expires_at: expires,
            created_by: Some("ann".into()),
        },
        at(seed as i64),
        &mut StdRng::seed_from_u64(seed),
    )
}

pub async fn tokens_are_kept_as_hashes_listed_and_revoked(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let tokens = store.tokens().expect("every backend keeps API tokens");
    assert!(!tokens.has_tokens().await.unwrap());
    assert!(tokens.list_tokens().await.unwrap().is_empty());

    let (ci, ci_secret) = token("ci", Role::Editor, 1, None);
    let (bot, _) = token("bot", Role::Viewer, 2, Some(at(100_000)));
    tokens.insert_token(&ci).await.unwrap();
    tokens.insert_token(&bot).await.unwrap();
    assert!(tokens.has_tokens().await.unwrap());

    let got = tokens.get_token(&ci.id).await.unwrap().expect("stored");
    assert_eq!(got, ci);
    assert_eq!(got.check(&ci_secret, at(10)), Ok(()));
    let listed = tokens.list_tokens().await.unwrap();
    assert_eq!(
        listed.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        ["ci", "bot"],
        "oldest first"
    );
    assert_eq!(listed[1], bot);

    // Last use moves forward only.
    tokens.touch_token(&ci.id, at(5_000)).await.unwrap();
    tokens.touch_token(&ci.id, at(4_000)).await.unwrap();
    let got = tokens.get_token(&ci.id).await.unwrap().unwrap();
    assert_eq!(got.last_used_at, Some(at(5_000)));

    // Revocation: once, the first time kept, never undone by a later use.
    assert!(tokens.revoke_token(&ci.id, at(6_000)).await.unwrap());
    assert!(!tokens.revoke_token(&ci.id, at(7_000)).await.unwrap());
    tokens.touch_token(&ci.id, at(8_000)).await.unwrap();
    let got = tokens.get_token(&ci.id).await.unwrap().unwrap();
    assert_eq!(got.revoked_at, Some(at(6_000)));
    assert_eq!(got.last_used_at, Some(at(8_000)));
    assert_eq!(
        got.check(&ci_secret, at(9_000)),
        Err(Denied::Revoked("ci".into()))
    );

    let unknown = token("x", Role::Viewer, 3, None).0;
    assert_eq!(tokens.get_token(&unknown.id).await.unwrap(), None);
    let e = tokens.revoke_token(&unknown.id, at(1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");

    // Reopened (another process, another server on the same database): all still there.
    drop(store);
    let store = open(dir.to_path_buf()).await;
    let tokens = store.tokens().unwrap();
    assert!(tokens.has_tokens().await.unwrap());
    let listed = tokens.list_tokens().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].revoked_at, Some(at(6_000)));
    assert_eq!(listed[1], bot);
    assert!(!tokens.token_location().is_empty());
}

pub async fn token_names_are_unique_among_active_tokens(open: Opener, dir: &Path) {
    let store = open(dir.to_path_buf()).await;
    let tokens = store.tokens().expect("every backend keeps API tokens");
    let (first, _) = token("deploy", Role::Admin, 11, None);
    tokens.insert_token(&first).await.unwrap();
    let (second, _) = token("deploy", Role::Viewer, 12, None);
    let e = tokens.insert_token(&second).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert!(e.to_string().contains("`deploy`"), "{e}");
    assert_eq!(
        tokens.list_tokens().await.unwrap().len(),
        1,
        "nothing stored"
    );
    // Once revoked, the name is free again; the old token stays listed.
    tokens.revoke_token(&first.id, at(20)).await.unwrap();
    tokens.insert_token(&second).await.unwrap();
    let listed = tokens.list_tokens().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|t| t.name.as_str() == "deploy"));
}
