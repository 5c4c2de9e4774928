//! MCP over a real byte stream, as `devlog mcp` speaks it on stdin/stdout: every line the
//! client sends gets an answer, whatever it holds.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::sync::Arc;

use devlog_core::{Devlog, Store};
use devlog_mcp::lines::{LineTransport, MAX_MESSAGE_BYTES};
use devlog_mcp::transport::serve_lines;
use devlog_mcp::{DevlogMcp, Options};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream, ReadHalf, WriteHalf};

struct Client {
    write: WriteHalf<DuplexStream>,
    read: BufReader<ReadHalf<DuplexStream>>,
    server: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Client {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(
            devlog_store::JsonStore::open(&dir.path().join(".devlog"))
                .await
                .unwrap(),
        );
        let server = DevlogMcp::new(Devlog::new(store), Options::default());
        let (server_io, client_io) = tokio::io::duplex(1 << 16);
        let (sr, sw) = tokio::io::split(server_io);
        let server = tokio::spawn(async move {
            serve_lines(server, LineTransport::new(sr, sw))
                .await
                .unwrap();
        });
        let (cr, cw) = tokio::io::split(client_io);
        let mut c = Self {
            write: cw,
            read: BufReader::new(cr),
            server,
            _dir: dir,
        };
        let init = c
            .request(
                json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "stdio-test", "version": "1"}}}),
            )
            .await;
        assert_eq!(init["result"]["serverInfo"]["name"], "devlog", "{init}");
        c.send_line(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
        c
    }

    async fn send_line(&mut self, bytes: &[u8]) {
        self.write.write_all(bytes).await.unwrap();
        self.write.write_all(b"\n").await.unwrap();
        self.write.flush().await.unwrap();
    }

    async fn answer(&mut self) -> Value {
        let mut line = String::new();
        let n = self.read.read_line(&mut line).await.unwrap();
        assert!(n > 0, "the server closed the stream without answering");
        serde_json::from_str(&line).unwrap()
    }

    async fn request(&mut self, v: Value) -> Value {
        self.send_line(v.to_string().as_bytes()).await;
        self.answer().await
    }

    /// The session is still alive: a ping is answered with its id.
    async fn assert_alive(&mut self, id: u64) {
        let pong = self
            .request(json!({"jsonrpc": "2.0", "id": id, "method": "ping"}))
            .await;
        assert_eq!(pong["id"], id, "{pong}");
        assert!(pong.get("result").is_some(), "{pong}");
    }
}

fn code(answer: &Value) -> i64 {
    answer["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {answer}"))
}

#[tokio::test]
async fn non_object_tool_arguments_are_invalid_params_not_an_unknown_method() {
    let mut c = Client::start().await;
    let a = c
        .request(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_devlog", "arguments": "oops"}}))
        .await;
    assert_eq!(code(&a), -32602, "{a}");
    assert_eq!(a["id"], 1);
    let message = a["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("tools/call") && message.contains("arguments"),
        "{message}"
    );
    // A method that does not exist is still "method not found", naming it.
    let a = c
        .request(json!({"jsonrpc": "2.0", "id": 2, "method": "devlog/nothing"}))
        .await;
    assert_eq!(code(&a), -32601, "{a}");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("devlog/nothing"),
        "{a}"
    );
    c.assert_alive(3).await;
}

#[tokio::test]
async fn a_message_over_16_mib_is_answered_and_the_session_goes_on() {
    let mut c = Client::start().await;
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":5,"method":"ping","params":{{"pad":"{}"}}}}"#,
        "x".repeat(MAX_MESSAGE_BYTES)
    );
    c.send_line(big.as_bytes()).await;
    let a = c.answer().await;
    assert_eq!(code(&a), -32600, "{a}");
    assert_eq!(a["id"], Value::Null);
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("larger than"),
        "{a}"
    );
    c.assert_alive(6).await;
}

#[tokio::test]
async fn unparsable_lines_get_a_parse_error() {
    let mut c = Client::start().await;
    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":7,"method":"ping","params":{{"x":{}1{}}}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "a number out of range",
            br#"{"jsonrpc":"2.0","id":8,"method":"ping","params":{"x":1e400}}"#.to_vec(),
        ),
        ("very deep nesting", deep.into_bytes()),
        (
            "invalid UTF-8",
            b"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\",\"params\":{\"x\":\"\xff\"}}"
                .to_vec(),
        ),
        ("not JSON", b"{oops".to_vec()),
    ];
    for (i, (what, line)) in cases.into_iter().enumerate() {
        c.send_line(&line).await;
        let a = c.answer().await;
        assert_eq!(code(&a), -32700, "{what}: {a}");
        assert_eq!(a["id"], Value::Null, "{what}: {a}");
        c.assert_alive(100 + i as u64).await;
    }
}

#[tokio::test]
async fn json_that_is_not_a_request_is_an_invalid_request_with_its_id() {
    let mut c = Client::start().await;
    let a = c
        .request(json!({"jsonrpc": "2.0", "id": 11, "method": 42}))
        .await;
    assert_eq!(code(&a), -32600, "{a}");
    assert_eq!(a["id"], 11);
    // An id too large to be one is not echoed.
    c.send_line(br#"{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}"#)
        .await;
    let a = c.answer().await;
    assert_eq!(code(&a), -32600, "{a}");
    assert_eq!(a["id"], Value::Null);
    let a = c.request(json!([1, 2])).await;
    assert_eq!(code(&a), -32600, "{a}");
    c.assert_alive(12).await;
}

#[tokio::test]
async fn a_last_line_without_a_newline_is_answered_before_the_session_ends() {
    let mut c = Client::start().await;
    c.write.write_all(b"{oops").await.unwrap();
    c.write.shutdown().await.unwrap();
    let a = c.answer().await;
    assert_eq!(code(&a), -32700, "{a}");
    tokio::time::timeout(std::time::Duration::from_secs(30), &mut c.server)
        .await
        .expect("the session ends at the end of its input")
        .unwrap();
}
