//! Conformance cases for relations between entries (issue 16, item 4): every backend stores
//! links on both entries, refuses cycles and keeps a parent open while subtasks are.

use std::path::Path;

use devlog_core::entry::{DependencyType, EntryType, Level, Status, Transition};
use devlog_core::error::ErrorKind;
use devlog_core::ops::{Devlog, Edit};
use devlog_core::relations::{LinkKind, Links, NewDependency, NewRisk};
use devlog_core::store::{Filter, ListQuery};
use devlog_core::{Entry, StoreError};

use super::{Opener, cli, new_entry};

async fn make(app: &Devlog, title: &str) -> Entry {
    app.create(new_entry(title, EntryType::Task), &cli())
        .await
        .unwrap()
        .into_entry()
}

async fn feed_len(app: &Devlog) -> usize {
    app.store().events(0, 10_000).await.unwrap().len()
}

fn invalid(err: StoreError, wants: &str) -> String {
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(wants), "`{msg}` does not say `{wants}`");
    msg
}

pub async fn links_are_stored_on_both_entries(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let a = make(&app, "Parser rewrite").await;
    let b = make(&app, "Release 2.0").await;
    let c = make(&app, "Lexer tokens").await;
    let d = make(&app, "Old parser bug").await;

    let out = app
        .link(a.id, LinkKind::Blocks, &b.handle.to_string(), &cli())
        .await
        .unwrap();
    assert!(out.changed);
    // The original's format: a dependency on each side, the other's id in `id`.
    let dep = &out.entry.context.dependencies[0];
    assert_eq!(
        (dep.id.as_str(), dep.kind),
        (b.id.to_string().as_str(), DependencyType::Blocks)
    );
    let back = &out.other.context.dependencies[0];
    assert_eq!(
        (back.id.as_str(), back.kind),
        (a.id.to_string().as_str(), DependencyType::BlockedBy)
    );
    app.link(a.id, LinkKind::Relates, &c.key, &cli())
        .await
        .unwrap();
    app.link(d.id, LinkKind::Duplicates, &b.id.to_string(), &cli())
        .await
        .unwrap();
    app.link(c.id, LinkKind::Parent, &a.handle_str(), &cli())
        .await
        .unwrap();

    // Linking again writes nothing.
    let before = feed_len(&app).await;
    let again = app
        .link(a.id, LinkKind::Blocks, &b.handle.to_string(), &cli())
        .await
        .unwrap();
    assert!(!again.changed);
    assert_eq!(feed_len(&app).await, before, "a repeated link wrote events");

    // Read back from a reopened store: both sides of each link.
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let get = |id| {
        let store = app.store().clone();
        async move { Links::of(&store.get(id).await.unwrap()) }
    };
    let (la, lb, lc, ld) = (
        get(a.id).await,
        get(b.id).await,
        get(c.id).await,
        get(d.id).await,
    );
    assert_eq!(la.blocks, vec![b.id]);
    assert_eq!(lb.blocked_by, vec![a.id]);
    assert_eq!(la.related, vec![c.id]);
    assert_eq!(lc.related, vec![a.id]);
    assert_eq!(ld.duplicate_of, Some(b.id));
    assert_eq!(lb.duplicated_by, vec![d.id]);
    assert_eq!(lc.parent, Some(a.id));
    assert_eq!(la.children, vec![c.id]);
    let stored = app.store().get(a.id).await.unwrap();
    assert_eq!(
        stored.related_devlogs,
        vec![serde_json::json!(c.id.to_string())]
    );

    let rel = app.relations(b.id).await.unwrap();
    assert_eq!(rel.blocked_by.len(), 1);
    assert_eq!(rel.blocked_by[0].entry.as_ref().unwrap().handle, a.handle);
    assert_eq!(rel.open_blockers, 1);
    assert_eq!(rel.duplicated_by[0].id, d.id);
    let rel_a = app.relations(a.id).await.unwrap();
    assert_eq!(rel_a.progress.unwrap().to_string(), "0/1 done");

    // Unlinking one kind leaves the others; unlinking all empties both sides.
    let un = app
        .unlink(b.id, &a.handle_str(), Some(LinkKind::BlockedBy), &cli())
        .await
        .unwrap();
    assert_eq!(un.removed, vec![LinkKind::BlockedBy]);
    assert!(Links::of(&un.entry).blocked_by.is_empty());
    assert!(Links::of(&un.other).blocks.is_empty());
    let un = app.unlink(c.id, &a.key, None, &cli()).await.unwrap();
    assert_eq!(un.removed, vec![LinkKind::Relates, LinkKind::Parent]);
    assert_eq!(Links::of(&un.other), Links::default());
    assert!(!un.other.extra.contains_key("children"));
    let none = app.unlink(c.id, &a.key, None, &cli()).await.unwrap();
    assert!(none.removed.is_empty());

    // A missing entry is refused with suggestions; an entry is not linked to itself.
    let before = feed_len(&app).await;
    let err = app
        .link(a.id, LinkKind::Blocks, "Release", &cli())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("did you mean #2"), "{err}");
    invalid(
        app.link(a.id, LinkKind::Relates, &a.handle_str(), &cli())
            .await
            .unwrap_err(),
        "itself",
    );
    assert_eq!(feed_len(&app).await, before, "a refused link wrote events");

    // A new parent replaces the old one on all three entries.
    app.link(c.id, LinkKind::Parent, &a.handle_str(), &cli())
        .await
        .unwrap();
    let moved = app
        .link(c.id, LinkKind::Parent, &b.handle_str(), &cli())
        .await
        .unwrap();
    assert_eq!(moved.replaced.unwrap().id, a.id);
    assert_eq!(get(c.id).await.parent, Some(b.id));
    assert_eq!(get(b.id).await.children, vec![c.id]);
    assert!(get(a.id).await.children.is_empty());
}

pub async fn link_cycles_are_refused_and_named(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let a = make(&app, "Epic").await;
    let b = make(&app, "Story").await;
    let c = make(&app, "Task").await;
    app.link(b.id, LinkKind::Parent, &a.handle_str(), &cli())
        .await
        .unwrap();
    app.link(a.id, LinkKind::Child, &b.handle_str(), &cli())
        .await
        .unwrap();
    app.link(c.id, LinkKind::Parent, &b.handle_str(), &cli())
        .await
        .unwrap();
    let before = feed_len(&app).await;
    let name = |e: &Entry| e.handle_str();
    let msg = invalid(
        app.link(a.id, LinkKind::Parent, &c.handle_str(), &cli())
            .await
            .unwrap_err(),
        "cycle",
    );
    let cycle = format!("{} → {} → {} → {}", name(&a), name(&c), name(&b), name(&a));
    assert!(msg.contains(&cycle), "{msg} (wanted {cycle})");
    invalid(
        app.link(c.id, LinkKind::Child, &a.handle_str(), &cli())
            .await
            .unwrap_err(),
        &cycle,
    );

    // Blockers: a blocks b blocks c; c blocks a (or a blocked-by c) would close the loop.
    app.link(a.id, LinkKind::Blocks, &b.handle_str(), &cli())
        .await
        .unwrap();
    app.link(c.id, LinkKind::BlockedBy, &b.handle_str(), &cli())
        .await
        .unwrap();
    let before_blocks = feed_len(&app).await;
    let cycle = format!("{} → {} → {} → {}", name(&c), name(&a), name(&b), name(&c));
    invalid(
        app.link(c.id, LinkKind::Blocks, &a.handle_str(), &cli())
            .await
            .unwrap_err(),
        &cycle,
    );
    invalid(
        app.link(a.id, LinkKind::BlockedBy, &c.handle_str(), &cli())
            .await
            .unwrap_err(),
        &cycle,
    );
    assert_eq!(
        feed_len(&app).await,
        before_blocks,
        "a refused cycle wrote events"
    );
    assert!(before_blocks > before);
    // Relations that are not ordered may go both ways.
    app.link(c.id, LinkKind::Relates, &a.handle_str(), &cli())
        .await
        .unwrap();
}

pub async fn a_parent_stays_open_while_subtasks_are(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let parent = make(&app, "Ship search").await;
    let mut input = new_entry("Index words", EntryType::Task);
    input.parent = Some(parent.handle_str());
    let child = app.create(input, &cli()).await.unwrap().into_entry();
    assert_eq!(Links::of(&child).parent, Some(parent.id));
    let mut input = new_entry("Rank hits", EntryType::Task);
    input.parent = Some(parent.key.clone());
    let second = app.create(input, &cli()).await.unwrap().into_entry();
    let p = app.store().get(parent.id).await.unwrap();
    assert_eq!(Links::of(&p).children, vec![child.id, second.id]);
    // A missing parent is refused before the entry is created.
    let mut input = new_entry("Orphan", EntryType::Task);
    input.parent = Some("#999".into());
    let err = app.create(input, &cli()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(app.store().count().await.unwrap(), 3);

    app.complete(child.id, None, &cli()).await.unwrap();
    let before = feed_len(&app).await;
    let open_one = format!("{} (new)", second.handle_str());
    invalid(
        app.complete(parent.id, None, &cli()).await.unwrap_err(),
        &open_one,
    );
    invalid(
        app.transition(parent.id, Transition::Close, Some("x".into()), &cli())
            .await
            .unwrap_err(),
        "open subtask",
    );
    let done = Edit {
        status: Some(Status::Done),
        ..Edit::default()
    };
    invalid(
        app.edit(parent.id, done.clone(), &cli()).await.unwrap_err(),
        "--force",
    );
    assert_eq!(
        feed_len(&app).await,
        before,
        "a refused finish wrote events"
    );
    assert_eq!(
        app.store().get(parent.id).await.unwrap().status,
        Status::New
    );
    // Statuses that do not finish work are not held back.
    app.transition(parent.id, Transition::Start, None, &cli())
        .await
        .unwrap();
    let rel = app.relations(parent.id).await.unwrap();
    assert_eq!(rel.progress.unwrap().to_string(), "1/2 done");

    // --force lets it through; so does finishing the last subtask.
    let forced = app
        .clone()
        .allowing_open_children(true)
        .edit(parent.id, done.clone(), &cli())
        .await
        .unwrap();
    assert_eq!(forced.status, Status::Done);
    app.transition(parent.id, Transition::Reopen, None, &cli())
        .await
        .unwrap();
    app.transition(second.id, Transition::Close, None, &cli())
        .await
        .unwrap();
    let finished = app.complete(parent.id, None, &cli()).await.unwrap();
    assert_eq!(finished.status, Status::Done);
}

pub async fn blocked_lists_entries_waiting_on_open_blockers(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let waiting = make(&app, "Waiting on the API").await;
    let api = make(&app, "The API").await;
    let free = make(&app, "Waiting on finished work").await;
    let finished = make(&app, "Finished work").await;
    let alone = make(&app, "No blockers").await;
    app.link(waiting.id, LinkKind::BlockedBy, &api.handle_str(), &cli())
        .await
        .unwrap();
    app.link(finished.id, LinkKind::Blocks, &free.handle_str(), &cli())
        .await
        .unwrap();
    app.complete(finished.id, None, &cli()).await.unwrap();
    let q = ListQuery {
        filter: Filter {
            open_only: true,
            ..Filter::default()
        },
        limit: 50,
        ..ListQuery::default()
    };
    let page = app.blocked(&q).await.unwrap();
    let ids: Vec<_> = page.items.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![waiting.id]);
    assert_eq!(page.total, 1);
    assert!(!ids.contains(&alone.id));
    app.complete(api.id, None, &cli()).await.unwrap();
    assert!(app.blocked(&q).await.unwrap().items.is_empty());

    // The tree puts children right under their parent.
    app.link(free.id, LinkKind::Parent, &waiting.handle_str(), &cli())
        .await
        .unwrap();
    let all = app
        .store()
        .list(&ListQuery {
            sort: devlog_core::store::SortKey::Handle,
            ascending: true,
            ..q.clone()
        })
        .await
        .unwrap();
    let tree: Vec<(usize, u64)> = app
        .tree(all.items)
        .await
        .unwrap()
        .into_iter()
        .map(|(d, s)| (d, s.handle))
        .collect();
    assert_eq!(
        tree,
        vec![(0, waiting.handle), (1, free.handle), (0, alone.handle)]
    );
}

pub async fn dependencies_and_risks_are_set_and_removed(open: Opener, dir: &Path) {
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let e = make(&app, "Upgrade the driver").await;
    let other = make(&app, "Other").await;
    app.link(e.id, LinkKind::BlockedBy, &other.handle_str(), &cli())
        .await
        .unwrap();
    let (_, dep) = app
        .add_dependency(
            e.id,
            NewDependency {
                description: "sqlx 0.9 release".into(),
                kind: None,
                external_id: Some("launchbadge/sqlx#1".into()),
            },
            &cli(),
        )
        .await
        .unwrap();
    assert!(dep.id.starts_with("dep-"));
    assert_eq!(dep.kind, DependencyType::BlockedBy);
    let (_, risk) = app
        .add_risk(
            e.id,
            NewRisk {
                description: "breaking API".into(),
                impact: Level::High,
                probability: Level::Low,
                mitigation: "pin the version".into(),
            },
            &cli(),
        )
        .await
        .unwrap();
    let app = Devlog::new(open(dir.to_path_buf()).await);
    let stored = app.store().get(e.id).await.unwrap();
    assert_eq!(stored.context.dependencies.len(), 2);
    assert_eq!(stored.context.risks, vec![risk.clone()]);
    // A free dependency is not an entry link.
    assert_eq!(Links::of(&stored).blocked_by, vec![other.id]);

    // A link is removed with unlink, not as a free dependency.
    let link_id = other.id.to_string();
    invalid(
        app.remove_dependency(e.id, &link_id, &cli())
            .await
            .unwrap_err(),
        "unlink",
    );
    invalid(
        app.remove_risk(e.id, "nope", &cli()).await.unwrap_err(),
        &risk.id,
    );
    invalid(
        app.add_risk(
            e.id,
            NewRisk {
                description: " ".into(),
                impact: Level::Low,
                probability: Level::Low,
                mitigation: String::new(),
            },
            &cli(),
        )
        .await
        .unwrap_err(),
        "description",
    );
    let (after, removed) = app
        .remove_dependency(e.id, &dep.id[..8], &cli())
        .await
        .unwrap();
    assert_eq!(removed, dep);
    assert_eq!(after.context.dependencies.len(), 1);
    let (after, _) = app.remove_risk(e.id, &risk.id, &cli()).await.unwrap();
    assert!(after.context.risks.is_empty());
}
