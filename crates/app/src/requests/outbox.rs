//! Delivers erasure and rectification webhooks from the durable outbox: each row is retried with
//! exponential backoff until the upstream answers 2xx, across restarts (the row is the state).
//! Several replicas may run this loop on one database: rows are claimed by moving their next
//! attempt forward before sending, so one replica sends each at a time (receivers still get an
//! `event_id` to deduplicate the rare redelivery after a crash mid-send).
//!
//! Each delivery is signed: `X-Pdgate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 over
//! "<t>.<body>">` with the shared `[webhooks] secret_file`, as Stripe and GitHub sign theirs.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use sha2::Sha256;
use zeroize::Zeroizing;

use pdgate_core::Millis;
use pdgate_http::{Body, Client};
use pdgate_store::rights::{Attempt, OutboxRow};
use pdgate_store::{Rights, Store, StoreError};

/// Rows taken per poll.
const BATCH: i64 = 32;
/// How long a claimed row is reserved for the claiming replica: longer than a batch can take
/// (a batch's rows for one upstream are sent one after another, each within the two limits).
const LEASE_MS: Millis =
    2 * BATCH * (REQUEST_LIMIT.as_millis() + ANSWER_LIMIT.as_millis()) as Millis;
/// How long a send waits for the upstream's answer, then for its body.
const REQUEST_LIMIT: Duration = Duration::from_secs(10);
const ANSWER_LIMIT: Duration = Duration::from_secs(5);
/// Longest wait between attempts.
const MAX_BACKOFF_MS: Millis = 3_600_000;

/// The shared secret upstreams verify signatures with (at least 32 bytes).
pub struct Secret(Zeroizing<Vec<u8>>);

/// Why `[webhooks] secret_file` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("[webhooks] secret_file {}: {source}", path.display())]
    Read {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("[webhooks] secret_file {}: at least 32 bytes are needed", path.display())]
    Short { path: std::path::PathBuf },
}

/// Why one webhook was not delivered (recorded with the attempt, retried later).
#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("bad webhook URL: {0}")]
    Url(#[source] http::Error),
    #[error("timed out after {} s", REQUEST_LIMIT.as_secs())]
    Timeout,
    #[error("connection failed: {0}")]
    Connection(#[source] hyper_util::client::legacy::Error),
}

impl Secret {
    pub fn from_file(path: &std::path::Path) -> Result<Secret, SecretError> {
        let bytes = std::fs::read(path).map_err(|source| SecretError::Read {
            path: path.to_owned(),
            source,
        })?;
        let trimmed = bytes.trim_ascii().to_vec();
        if trimmed.len() < 32 {
            return Err(SecretError::Short {
                path: path.to_owned(),
            });
        }
        Ok(Secret(Zeroizing::new(trimmed)))
    }

    /// The signature header value for `body` sent at unix second `t`.
    pub fn sign(&self, t: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(t.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!(
            "t={t},v1={}",
            data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes())
        )
    }
}

/// Wait before attempt `attempts + 1`: 2 s, 4 s, 8 s … capped at an hour.
pub fn backoff(attempts: i64) -> Millis {
    (2_000i64 << attempts.clamp(0, 21)).min(MAX_BACKOFF_MS)
}

/// Polls the outbox every `poll` until `stop` resolves. A poll that finds a full batch due takes
/// the next one at once: a sweep queues one webhook per erased subject and upstream, thousands at
/// a time, which a batch per poll would deliver over hours.
pub async fn run(
    store: Store,
    client: Client,
    secret: Option<Arc<Secret>>,
    poll: Duration,
    stop: impl std::future::Future<Output = ()>,
) {
    if secret.is_none() {
        tracing::warn!(
            "no [webhooks] secret_file: erasure webhooks stay queued until one is configured"
        );
    }
    tokio::pin!(stop);
    let mut tick = tokio::time::interval(poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick() => {}
        }
        let Some(secret) = secret.as_deref() else {
            continue;
        };
        loop {
            match deliver_due(&store, &client, secret).await {
                Ok(taken) if taken == BATCH as usize => {}
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "webhook outbox: store unavailable; retrying");
                    break;
                }
            }
            // Between batches, a stop is not kept waiting for the backlog.
            if futures_util::FutureExt::now_or_never(stop.as_mut()).is_some() {
                return;
            }
        }
    }
}

/// One pass over up to [`BATCH`] due rows: claimed in one statement, sent — one upstream's in
/// the order they were queued (a rectification before a later erasure), different upstreams at
/// once — and their outcomes recorded in one transaction: two commits a batch, not two a
/// webhook, beside the intake writer. Returns how many were due (delivered or not). A crash
/// mid-batch leaves its rows claimed until the lease ends, then sends them again: receivers
/// deduplicate by `event_id`.
pub async fn deliver_due(
    store: &Store,
    client: &Client,
    secret: &Secret,
) -> Result<usize, StoreError> {
    let now = pdgate_core::now_millis();
    let rows = store.outbox_claim_due(now, now + LEASE_MS, BATCH).await?;
    let mut by_upstream: Vec<Vec<&OutboxRow>> = Vec::new();
    for row in &rows {
        match by_upstream
            .iter_mut()
            .find(|g| g[0].upstream == row.upstream)
        {
            Some(g) => g.push(row),
            None => by_upstream.push(vec![row]),
        }
    }
    let sends = by_upstream.into_iter().map(|group| async move {
        let mut attempts = Vec::with_capacity(group.len());
        for row in group {
            let result = send(client, secret, row).await;
            attempts.push(outcome(row, result, pdgate_core::now_millis()));
        }
        attempts
    });
    let attempts: Vec<Attempt> = futures_util::future::join_all(sends)
        .await
        .into_iter()
        .flatten()
        .collect();
    store.outbox_attempted(&attempts).await?;
    Ok(rows.len())
}

/// What one attempt to send `row` at `at` comes to, logged.
fn outcome(row: &OutboxRow, result: Result<StatusCode, SendError>, at: Millis) -> Attempt {
    match result {
        Ok(status) if status.is_success() => {
            tracing::info!(event_id = %row.event_id, upstream = %row.upstream, event = %row.event, attempts = row.attempts + 1, "webhook delivered");
            Attempt {
                id: row.id,
                delivered_at: Some(at),
                next_attempt_at: at,
                status: Some(i64::from(status.as_u16())),
                error: None,
            }
        }
        other => {
            let (status, error) = match other {
                Ok(s) => (
                    Some(i64::from(s.as_u16())),
                    format!("upstream answered {s}"),
                ),
                Err(e) => (None, e.to_string()),
            };
            tracing::warn!(event_id = %row.event_id, upstream = %row.upstream, attempts = row.attempts + 1, error = %error, "webhook not delivered; will retry");
            Attempt {
                id: row.id,
                delivered_at: None,
                next_attempt_at: at + backoff(row.attempts),
                status,
                error: Some(error),
            }
        }
    }
}

async fn send(client: &Client, secret: &Secret, row: &OutboxRow) -> Result<StatusCode, SendError> {
    let body = Bytes::from(row.payload.clone());
    let t = pdgate_core::now_millis() / 1000;
    let req = Request::post(&row.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header("x-pdgate-event", &row.event)
        .header("x-pdgate-event-id", &row.event_id)
        .header("x-pdgate-signature", secret.sign(t, &body))
        .body(Body::full(body))
        .map_err(SendError::Url)?;
    let resp = tokio::time::timeout(REQUEST_LIMIT, client.request(req))
        .await
        .map_err(|_| SendError::Timeout)?
        .map_err(SendError::Connection)?;
    let status = resp.status();
    // Read (and discard) a bounded response so the connection can be reused.
    let _ = tokio::time::timeout(
        ANSWER_LIMIT,
        http_body_util::Limited::new(resp.into_body(), 64 * 1024).collect(),
    )
    .await;
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), 2_000);
        assert_eq!(backoff(1), 4_000);
        assert_eq!(backoff(5), 64_000);
        assert_eq!(backoff(40), MAX_BACKOFF_MS);
    }

    #[test]
    fn signature_is_hmac_over_time_and_body() {
        let s = Secret(Zeroizing::new(vec![7u8; 32]));
        let sig = s.sign(1_700_000_000, b"{}");
        let mut mac = Hmac::<Sha256>::new_from_slice(&[7u8; 32]).unwrap();
        mac.update(b"1700000000.{}");
        let want = data_encoding::HEXLOWER.encode(&mac.finalize().into_bytes());
        assert_eq!(sig, format!("t=1700000000,v1={want}"));
        assert_ne!(s.sign(1_700_000_001, b"{}"), sig);
    }
}
