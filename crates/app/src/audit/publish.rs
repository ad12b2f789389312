//! Signed checkpoints written outside the database (issue 28): someone who can write to the
//! database can drop a whole chain or cut its tail, and the log alone cannot show what is not in
//! it. Each checkpoint the writer commits is also appended to `[audit] checkpoint_file` (one JSON
//! line, synced to disk) and posted to `[audit] checkpoint_webhook_url`, where
//! `pdgate audit verify --checkpoints` later finds every chain and length the log must still hold.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use pdgate_core::audit::SignedHead;
use pdgate_http::{Body, Client};

/// Attempts at the webhook for one checkpoint, 1 s, 2 s, 4 s … apart; the file is the record that
/// does not depend on another system being up.
const WEBHOOK_ATTEMPTS: u32 = 6;
const REQUEST_LIMIT: Duration = Duration::from_secs(10);

/// Where checkpoints go besides the database.
pub struct Publisher {
    pub file: Option<PathBuf>,
    pub webhook: Option<Webhook>,
}

/// `X-Pdgate-Signature` of a body sent at Unix second `t` (the webhooks' secret's `sign`).
pub type Signer = Arc<dyn Fn(i64, &[u8]) -> String + Send + Sync>;

pub struct Webhook {
    pub client: Client,
    pub url: String,
    /// Signs each delivery like the other webhooks, when a webhook secret is configured.
    pub sign: Option<Signer>,
}

impl Publisher {
    /// Checks the file can be appended to before the process starts serving.
    pub async fn open(&self) -> std::io::Result<()> {
        if let Some(f) = &self.file {
            append(f, b"").await?;
        }
        Ok(())
    }

    /// Publishes every checkpoint `rx` brings until the writer stops.
    pub async fn run(self, mut rx: mpsc::UnboundedReceiver<SignedHead>) {
        while let Some(head) = rx.recv().await {
            let mut line = serde_json::to_vec(&head).expect("a checkpoint serializes");
            line.push(b'\n');
            if let Some(f) = &self.file {
                if let Err(e) = append(f, &line).await {
                    tracing::error!(error = %e, file = %f.display(), "audit checkpoint not written to the checkpoint file");
                }
            }
            if let Some(w) = &self.webhook {
                w.deliver(Bytes::from(line)).await;
            }
        }
    }
}

async fn append(path: &std::path::Path, line: &[u8]) -> std::io::Result<()> {
    let mut f = tokio::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .await?;
    f.write_all(line).await?;
    f.sync_data().await
}

impl Webhook {
    async fn deliver(&self, body: Bytes) {
        let mut wait = Duration::from_secs(1);
        for attempt in 1..=WEBHOOK_ATTEMPTS {
            match self.send(body.clone()).await {
                Ok(()) => return,
                Err(e) if attempt == WEBHOOK_ATTEMPTS => {
                    tracing::error!(error = %e, attempts = attempt, "audit checkpoint not delivered to the checkpoint webhook");
                }
                Err(_) => {
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
            }
        }
    }

    async fn send(&self, body: Bytes) -> Result<(), String> {
        let mut req = Request::post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header("x-pdgate-event", "audit.checkpoint");
        if let Some(sign) = &self.sign {
            let t = pdgate_core::now_millis() / 1000;
            req = req.header("x-pdgate-signature", sign(t, &body));
        }
        let req = req.body(Body::full(body)).map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(REQUEST_LIMIT, self.client.request(req))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| e.to_string())?;
        match resp.status().is_success() {
            true => Ok(()),
            false => Err(format!("answered {}", resp.status())),
        }
    }
}
