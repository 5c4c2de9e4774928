//! MCP over a byte stream of newline-delimited JSON-RPC messages (stdio): every line gets an
//! answer.
//!
//! rmcp's own stdio transport drops what it cannot parse without a word (invalid JSON, invalid
//! UTF-8, a number out of range, nesting deeper than the parser allows, a line over its size
//! limit), so the client waits forever for an answer. This transport reads the lines itself and
//! answers each one it cannot hand to the server: a JSON-RPC parse error (-32700) for a line that
//! is not JSON, an invalid request (-32600) for JSON that is not a request, carrying the request's
//! id when it can be read (`null` otherwise). Notifications (no id) get no answer, as JSON-RPC
//! says. When the stream itself fails, the reason is logged on stderr before the session ends.

use std::sync::Arc;

use rmcp::RoleServer;
use rmcp::model::{ClientJsonRpcMessage, ErrorCode, ServerJsonRpcMessage};
use rmcp::transport::Transport;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

/// The largest message accepted: 16 MiB, as rmcp's stdio transport and HTTP client.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// A server transport over a reader (the client's messages, one per line) and a writer (ours).
pub struct LineTransport<R, W> {
    read: BufReader<R>,
    line: Vec<u8>,
    max_line: usize,
    /// Set while the rest of an oversized line is skipped.
    discarding: bool,
    write: Arc<Mutex<Option<W>>>,
    /// Answers to lines the server never saw, being written. `receive` runs inside rmcp's
    /// `select!` and may be cancelled at any await, so they are written by their own tasks.
    replies: Vec<JoinHandle<()>>,
}

enum Read {
    Line,
    Oversized,
    Eof,
    Io(std::io::Error),
}

impl<R, W> LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    pub fn new(read: R, write: W) -> Self {
        Self {
            read: BufReader::new(read),
            line: Vec::new(),
            max_line: MAX_MESSAGE_BYTES,
            discarding: false,
            write: Arc::new(Mutex::new(Some(write))),
            replies: Vec::new(),
        }
    }

    /// Overrides the largest accepted message (for tests).
    pub fn with_max_message_bytes(mut self, max: usize) -> Self {
        self.max_line = max;
        self
    }

    /// Reads one line into `self.line` without letting it grow past `max_line`; cancel-safe (a
    /// partial line stays in the buffer for the next call). A last line without a newline at
    /// the end of the stream counts as a line.
    async fn read_line(&mut self) -> Read {
        loop {
            let (consumed, done) = {
                let available = match self.read.fill_buf().await {
                    Ok(a) => a,
                    Err(e) => return Read::Io(e),
                };
                if available.is_empty() {
                    if self.discarding {
                        self.discarding = false;
                        return Read::Eof;
                    }
                    return if self.line.is_empty() {
                        Read::Eof
                    } else {
                        Read::Line
                    };
                }
                let newline = available.iter().position(|b| *b == b'\n');
                let take = newline.map_or(available.len(), |i| i + 1);
                if self.discarding {
                    if newline.is_some() {
                        self.discarding = false;
                    }
                    (take, None)
                } else if self.line.len().saturating_add(take) > self.max_line {
                    self.line.clear();
                    self.discarding = newline.is_none();
                    (take, Some(Read::Oversized))
                } else {
                    self.line.extend_from_slice(&available[..take]);
                    (take, newline.map(|_| Read::Line))
                }
            };
            self.read.consume(consumed);
            if let Some(done) = done {
                return done;
            }
        }
    }

    /// Writes `reply` on its own task (see `replies`).
    fn reply(&mut self, reply: Value) {
        self.replies.retain(|h| !h.is_finished());
        let write = self.write.clone();
        self.replies.push(tokio::spawn(async move {
            let bytes = line_of(&reply);
            if let Err(e) = write_line(&write, &bytes).await {
                tracing::error!("cannot write to the MCP client: {e}");
            }
        }));
    }

    /// Waits until every answer to a rejected line is written.
    async fn flush_replies(&mut self) {
        for handle in self.replies.drain(..) {
            let _ = handle.await;
        }
    }
}

fn line_of(v: &impl serde::Serialize) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(v).unwrap_or_else(|e| {
        serde_json::to_vec(&error_reply(
            Value::Null,
            ErrorCode::INTERNAL_ERROR,
            format!("cannot encode the answer: {e}"),
        ))
        .unwrap_or_default()
    });
    bytes.push(b'\n');
    bytes
}

async fn write_line<W: AsyncWrite + Unpin>(
    write: &Mutex<Option<W>>,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut guard = write.lock().await;
    let Some(w) = guard.as_mut() else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotConnected,
            "the transport is closed",
        ));
    };
    w.write_all(bytes).await?;
    w.flush().await
}

fn error_reply(id: Value, code: ErrorCode, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code.0, "message": message}})
}

/// What to do with one line.
enum Verdict {
    Deliver(Box<ClientJsonRpcMessage>),
    Ignore,
    Answer(Value),
}

/// Decides what one line is: a message for the server, nothing (a blank line, a notification
/// the server does not know), or an error to answer.
fn classify(line: &[u8]) -> Verdict {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if line.iter().all(u8::is_ascii_whitespace) {
        return Verdict::Ignore;
    }
    let parse_error = |why: String| {
        Verdict::Answer(error_reply(
            Value::Null,
            ErrorCode::PARSE_ERROR,
            format!("Parse error: {why}"),
        ))
    };
    let text = match std::str::from_utf8(line) {
        Ok(t) => t,
        Err(e) => {
            return parse_error(format!(
                "the message is not valid UTF-8 (invalid byte at offset {}); MCP messages are \
                 UTF-8 JSON, one per line",
                e.valid_up_to()
            ));
        }
    };
    // serde_json refuses nesting deeper than 128 levels and numbers beyond f64's range.
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return parse_error(format!("the message is not valid JSON: {e}")),
    };
    let Some(object) = value.as_object() else {
        return Verdict::Answer(error_reply(
            Value::Null,
            ErrorCode::INVALID_REQUEST,
            "Invalid Request: a message must be one JSON-RPC object per line (batches are not \
             supported)"
                .into(),
        ));
    };
    let id = object.get("id").cloned();
    match serde_json::from_value::<ClientJsonRpcMessage>(value.clone()) {
        Ok(message) => Verdict::Deliver(Box::new(message)),
        // A notification gets no answer, not even an error.
        Err(e) if id.is_none() => {
            tracing::debug!("ignoring a notification that cannot be read: {e}");
            Verdict::Ignore
        }
        Err(e) => {
            let why = match (
                object.get("jsonrpc"),
                object.get("method"),
                object.get("params"),
            ) {
                (v, _, _) if v != Some(&json!("2.0")) => "`jsonrpc` must be \"2.0\"".to_string(),
                (_, Some(m), _) if !m.is_string() => "`method` must be a string".to_string(),
                (_, _, Some(p)) if !p.is_object() && !p.is_null() => {
                    "`params` must be an object".to_string()
                }
                _ => e.to_string(),
            };
            let id = match id {
                Some(id @ (Value::String(_) | Value::Number(_))) if readable_id(&id) => id,
                _ => Value::Null,
            };
            Verdict::Answer(error_reply(
                id,
                ErrorCode::INVALID_REQUEST,
                format!(
                    "Invalid Request: {why}; a request is {{\"jsonrpc\": \"2.0\", \"id\": <number or \
                     string>, \"method\": ..., \"params\": {{...}}}}"
                ),
            ))
        }
    }
}

/// An id the client can match an answer to: a string or an integer.
fn readable_id(id: &Value) -> bool {
    match id {
        Value::String(_) => true,
        Value::Number(n) => n.is_i64() || n.is_u64(),
        _ => false,
    }
}

impl<R, W> Transport<RoleServer> for LineTransport<R, W>
where
    R: AsyncRead + Send + Unpin + 'static,
    W: AsyncWrite + Send + Unpin + 'static,
{
    type Error = std::io::Error;

    fn send(
        &mut self,
        item: ServerJsonRpcMessage,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send + 'static {
        let write = self.write.clone();
        async move {
            if let ServerJsonRpcMessage::Error(e) = &item {
                // Errors the client caused are routine; the server logs its own failures.
                tracing::debug!(code = e.error.code.0, message = %e.error.message, "error answer");
            }
            let result = write_line(&write, &line_of(&item)).await;
            if let Err(e) = &result {
                tracing::error!("cannot write to the MCP client, ending the session: {e}");
            }
            result
        }
    }

    async fn receive(&mut self) -> Option<ClientJsonRpcMessage> {
        loop {
            let read = self.read_line().await;
            match read {
                Read::Line => {}
                Read::Oversized => {
                    tracing::info!(
                        limit = self.max_line,
                        "rejected a message over the size limit"
                    );
                    let limit = self.max_line;
                    self.reply(error_reply(
                        Value::Null,
                        ErrorCode::INVALID_REQUEST,
                        format!(
                            "Invalid Request: the message is larger than {limit} bytes, the \
                             limit of this server; it was skipped"
                        ),
                    ));
                    continue;
                }
                Read::Eof => {
                    self.flush_replies().await;
                    tracing::info!("the MCP client closed its input; ending the session");
                    return None;
                }
                Read::Io(e) => {
                    self.flush_replies().await;
                    tracing::error!("cannot read from the MCP client, ending the session: {e}");
                    return None;
                }
            }
            let verdict = classify(&self.line);
            self.line.clear();
            match verdict {
                Verdict::Deliver(message) => return Some(*message),
                Verdict::Ignore => {}
                Verdict::Answer(reply) => {
                    tracing::info!(answer = %reply, "rejected a message");
                    self.reply(reply);
                }
            }
        }
    }

    async fn close(&mut self) -> Result<(), Self::Error> {
        self.flush_replies().await;
        let mut guard = self.write.lock().await;
        if let Some(mut w) = guard.take() {
            w.flush().await?;
        }
        Ok(())
    }
}

impl<R, W> std::fmt::Debug for LineTransport<R, W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineTransport")
            .field("max_line", &self.max_line)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(line: &[u8]) -> Value {
        match classify(line) {
            Verdict::Answer(v) => v,
            Verdict::Deliver(_) => panic!("delivered"),
            Verdict::Ignore => panic!("ignored"),
        }
    }

    #[test]
    fn unreadable_lines_are_answered() {
        assert_eq!(answer(b"{oops\n")["error"]["code"], -32700);
        assert_eq!(answer(b"\xff\xfe\n")["error"]["code"], -32700);
        assert_eq!(answer(b"[1,2]\n")["error"]["code"], -32600);
        let a = answer(br#"{"jsonrpc":"2.0","id":7,"method":5}"#);
        assert_eq!(a["error"]["code"], -32600);
        assert_eq!(a["id"], 7);
        let a = answer(br#"{"jsonrpc":"2.0","id":1.5,"method":5}"#);
        assert_eq!(a["id"], Value::Null);
    }

    #[test]
    fn blank_lines_and_unknown_notifications_get_no_answer() {
        assert!(matches!(classify(b"  \r\n"), Verdict::Ignore));
        assert!(matches!(
            classify(br#"{"jsonrpc":"2.0","method":5}"#),
            Verdict::Ignore
        ));
        assert!(matches!(
            classify(b"\xEF\xBB\xBF{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}\r\n"),
            Verdict::Deliver(_)
        ));
    }
}
