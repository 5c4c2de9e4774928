//! The audit log records REST writes with the client's actor and TCP address, served by the
//! real accept loop (which sets the address per connection).

use std::sync::Arc;

use devlog_core::audit::Stored;
use devlog_core::{Devlog, EventKind, Origin, Store};
use devlog_server::{Listener, Server, ServerOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rest_write_is_audited_with_actor_and_client_address() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(
        devlog_store::JsonStore::open(&dir.path().join(".devlog"))
            .await
            .unwrap(),
    );
    let listener = Listener::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = listener.local_addr();
    let server = Server::new(Devlog::new(store.clone()), ServerOptions::default());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));

    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    let client = conn.local_addr().unwrap().to_string();
    let body = r#"{"title":"Made over REST","type":"task"}"#;
    let req = format!(
        "POST /api/v1/entries HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         X-Devlog-Actor: rest-user\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).await.unwrap();
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");

    let log = store.audit_log().unwrap();
    let items = log.audit_page(0, 10).await.unwrap();
    let [Stored::Record(r)] = items.as_slice() else {
        panic!("one record expected, got {items:?}");
    };
    assert_eq!(r.what, EventKind::Created);
    assert_eq!(r.origin, Origin::Http);
    assert_eq!(r.actor.as_deref(), Some("rest-user"));
    assert_eq!(r.source.client.as_deref(), Some(client.as_str()));

    let _ = stop.send(());
    task.await.unwrap().unwrap();
}
