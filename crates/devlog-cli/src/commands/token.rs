//! `devlog token`: API tokens for `devlog serve` (devlog-core `auth`; docs/security.md).

use clap::{Args, Subcommand};
use devlog_core::auth::{NewToken, Role, Token, TokenName, TokenStore, find, issue, parse_expiry};
use devlog_core::time::{Clock, SystemClock, Timestamp};
use serde::Serialize;

use super::Ctx;
use crate::error::CliError;
use crate::output::{Table, write_stdout};

/// API tokens for the HTTP server: create (the secret is shown once), list, revoke
///
/// Requests to `devlog serve` send a token as `Authorization: Bearer <token>`. Once the
/// store holds any token, every request needs one, also on loopback (see docs/security.md).
/// Only a SHA-256 hash of each token is stored, with the workspace's data (a team sharing a
/// database shares its tokens).
#[derive(Debug, Args)]
pub struct TokenArgs {
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print its secret (shown only this once)
    Create(CreateArgs),
    /// List tokens (never their secrets), revoked and expired ones too
    List,
    /// Revoke a token by name or id; requests with it are refused from then on
    Revoke(RevokeArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// A name for the token (letters, digits, `-_.@`): recorded as the actor of its changes
    #[arg(long)]
    pub name: TokenName,
    /// What it may do: viewer (read), editor (also write entries and run sync), admin (also
    /// tokens, integrations, audit, bulk changes, purge)
    #[arg(long, value_parser = parse_role)]
    pub role: Role,
    /// When it stops working: a duration (90d, 12h, 2w, 1y), a date (2027-01-31) or never
    #[arg(long, default_value = "never")]
    pub expires: String,
    /// The workspace it is limited to (a server serving another one refuses it)
    #[arg(long, value_name = "WORKSPACE")]
    pub scope: Option<String>,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The token's name or id (see `devlog token list`)
    pub token: String,
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse()
}

/// A token as `list --json` and `create --json` show it: never the hash or the secret.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenView<'a> {
    id: &'a str,
    name: &'a str,
    role: Role,
    #[serde(skip_serializing_if = "Option::is_none")]
    scope: Option<&'a str>,
    created_at: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    created_by: Option<&'a str>,
    expires_at: Option<Timestamp>,
    last_used_at: Option<Timestamp>,
    revoked_at: Option<Timestamp>,
    /// active, revoked or expired
    state: &'static str,
}

fn state(t: &Token, now: Timestamp) -> &'static str {
    if t.revoked_at.is_some() {
        "revoked"
    } else if !t.is_active(now) {
        "expired"
    } else {
        "active"
    }
}

fn view(t: &Token, now: Timestamp) -> TokenView<'_> {
    TokenView {
        id: t.id.as_str(),
        name: t.name.as_str(),
        role: t.role,
        scope: t.scope.as_deref(),
        created_at: t.created_at,
        created_by: t.created_by.as_deref(),
        expires_at: t.expires_at,
        last_used_at: t.last_used_at,
        revoked_at: t.revoked_at,
        state: state(t, now),
    }
}

pub async fn run(ctx: &Ctx, a: TokenArgs) -> Result<(), CliError> {
    let store = ctx.store().await?;
    let Some(tokens) = store.tokens() else {
        return Err(CliError::Usage(format!(
            "the {} store keeps no API tokens",
            store.describe().backend
        )));
    };
    let now = SystemClock.now();
    let audit = Audit {
        ctx,
        store: &*store,
        now,
    };
    match a.command {
        TokenCommand::Create(c) => create(ctx, tokens, c, now, &audit).await,
        TokenCommand::List => list(ctx, tokens, now).await,
        TokenCommand::Revoke(r) => revoke(ctx, tokens, &r.token, now, &audit).await,
    }
}

/// Records token changes in the audit log (name, role, limits; never the secret or its
/// hash), then signs a checkpoint.
struct Audit<'a> {
    ctx: &'a Ctx,
    store: &'a dyn devlog_core::store::Store,
    now: Timestamp,
}

impl Audit<'_> {
    async fn record(&self, action: devlog_core::audit::Action) {
        let draft = devlog_core::audit::Draft::action(
            self.now,
            self.ctx.actor.clone(),
            devlog_core::event::Origin::Cli,
            action,
        );
        // The token change is made; a missing record is said loudly.
        super::audit::record_in(self.ctx, self.store, vec![draft]).await
    }
}

async fn create(
    ctx: &Ctx,
    tokens: &dyn TokenStore,
    c: CreateArgs,
    now: Timestamp,
    audit: &Audit<'_>,
) -> Result<(), CliError> {
    let expires_at =
        parse_expiry(&c.expires, now).map_err(|e| CliError::Usage(format!("--expires: {e}")))?;
    let scope = c
        .scope
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let (token, secret) = issue(
        NewToken {
            name: c.name,
            role: c.role,
            scope,
            expires_at,
            created_by: ctx.actor.clone(),
        },
        now,
        &mut rand::rng(),
    );
    tokens.insert_token(&token).await?;
    audit
        .record(devlog_core::audit::Action::TokenCreated {
            token_id: token.id.to_string(),
            name: token.name.to_string(),
            role: token.role,
            scope: token.scope.clone(),
            expires_at: token.expires_at,
        })
        .await;
    if ctx.out.json {
        #[derive(Serialize)]
        struct Created<'a> {
            #[serde(flatten)]
            token: TokenView<'a>,
            /// The secret: shown here once, never stored.
            secret: &'a str,
        }
        ctx.out.json(&Created {
            token: view(&token, now),
            secret: secret.expose(),
        })?;
    } else {
        let until = match token.expires_at {
            Some(e) => format!("until {e}"),
            None => "without expiry".into(),
        };
        write_stdout(&format!(
            "{}\n\nCreated token `{}` ({}, {until}, id {}). This is the only time its secret \
             is shown: store it now (a CI secret, a password manager).\nSend it as \
             `Authorization: Bearer <token>`. Every request to `devlog serve` now needs a token.\n",
            secret.expose(),
            token.name,
            token.role,
            token.id
        ))?;
    }
    Ok(())
}

async fn list(ctx: &Ctx, tokens: &dyn TokenStore, now: Timestamp) -> Result<(), CliError> {
    let all = tokens.list_tokens().await?;
    if ctx.out.json {
        let views: Vec<TokenView<'_>> = all.iter().map(|t| view(t, now)).collect();
        ctx.out.json(&views)?;
        return Ok(());
    }
    if all.is_empty() {
        write_stdout(
            "No API tokens: a loopback `devlog serve` answers without authentication. \
             `devlog token create --name NAME --role viewer|editor|admin` creates one.\n",
        )?;
        return Ok(());
    }
    let mut t = Table::header(
        &ctx.out,
        &[
            "ID",
            "NAME",
            "ROLE",
            "STATE",
            "SCOPE",
            "CREATED",
            "EXPIRES",
            "LAST USED",
        ],
    );
    let day = |t: Option<Timestamp>| {
        t.map(|t| t.as_datetime().format("%Y-%m-%d %H:%M").to_string())
            .unwrap_or_else(|| "-".into())
    };
    for tok in &all {
        let cells = [
            tok.id.to_string(),
            tok.name.to_string(),
            tok.role.to_string(),
            state(tok, now).to_string(),
            tok.scope.clone().unwrap_or_else(|| "-".into()),
            day(Some(tok.created_at)),
            tok.expires_at
                .map_or_else(|| "never".into(), |e| day(Some(e))),
            day(tok.last_used_at),
        ];
        t.row(cells.into_iter().map(|c| (c.clone(), c)).collect());
    }
    write_stdout(&t.render())?;
    Ok(())
}

async fn revoke(
    ctx: &Ctx,
    tokens: &dyn TokenStore,
    reference: &str,
    now: Timestamp,
    audit: &Audit<'_>,
) -> Result<(), CliError> {
    let all = tokens.list_tokens().await?;
    let token = find(&all, reference, now)?;
    let changed = tokens.revoke_token(&token.id, now).await?;
    if changed {
        audit
            .record(devlog_core::audit::Action::TokenRevoked {
                token_id: token.id.to_string(),
                name: token.name.to_string(),
            })
            .await;
    }
    let after = tokens
        .get_token(&token.id)
        .await?
        .unwrap_or_else(|| token.clone());
    if ctx.out.json {
        ctx.out.json(&view(&after, now))?;
    } else if changed {
        write_stdout(&format!(
            "Revoked token `{}` ({}, id {}): requests with it are refused from now on.\n",
            token.name, token.role, token.id
        ))?;
    } else {
        write_stdout(&format!(
            "Token `{}` (id {}) was already revoked{}.\n",
            token.name,
            token.id,
            after
                .revoked_at
                .map(|t| format!(" at {t}"))
                .unwrap_or_default()
        ))?;
    }
    Ok(())
}
