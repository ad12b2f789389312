//! Self-service for data subjects under `/.well-known/pdgate/v1/` on the proxy listener (SPEC 5,
//! 11): a subject token lists consents and withdraws one in a single call — as easy as giving it.
//! The token an intake returns opens only the consents that intake recorded (anyone can type
//! someone else's e-mail into a form); a link the operator minted (`POST /admin/v1/subjects/links`)
//! opens all of the subject's, until it expires or is revoked, and each use is audited. Receipts
//! and the exact consent texts are readable by their ids.

use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde::Serialize;

use super::{ApiError, Body, Gateway};
use pdgate_app::audit::AuditEvent;
use pdgate_core::consent::{receipt, Grant};
use pdgate_core::requests::notify::{self, RightsEvent};
use pdgate_http::respond;
use pdgate_store::{Backend, Change, ConsentRecord, ConsentStatus, Rights, SubjectId};

pub(crate) use pdgate_core::consent::SELF_SERVICE_PREFIX as PREFIX;

pub(crate) async fn handle(gw: &Gateway, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path()[PREFIX.len()..].to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let result = match (req.method(), segments.as_slice()) {
        (&Method::GET, ["manage"]) => Ok(page(MANAGE_HTML, "text/html; charset=utf-8")),
        (&Method::GET, ["manage.js"]) => Ok(page(MANAGE_JS, "text/javascript; charset=utf-8")),
        (&Method::GET, ["consents"]) => list(gw, &req).await,
        (&Method::POST, ["consents", purpose, "withdraw"]) => withdraw(gw, &req, purpose).await,
        (&Method::GET, ["receipts", id]) => receipt(gw, id).await,
        // Text ids are paths (`consents/marketing.md`): encoded or not, the rest is the id.
        (&Method::GET, ["texts", id @ ..]) if !id.is_empty() => text(gw, &req, &id.join("/")).await,
        (
            _,
            ["manage" | "manage.js" | "consents"]
            | ["consents", _, "withdraw"]
            | ["receipts", _]
            | ["texts", _, ..],
        ) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found(
            "not_found",
            "no such self-service endpoint",
        )),
    };
    result.unwrap_or_else(respond::failure)
}

/// The page a self-service link opens (`manage#token=…`) and its script.
const MANAGE_HTML: &str = include_str!("manage/index.html");
const MANAGE_JS: &str = include_str!("manage/manage.js");

/// A static self-service asset: its own script and same-origin calls only, never framed, never
/// cached, no Referer (the page's URL held the link's token before the script removed it).
fn page(body: &'static str, content_type: &'static str) -> Response<Body> {
    let mut r = respond::document(content_type, body, None);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// The bearer of a valid subject token: whose consents, and which of them.
struct Caller {
    name: String,
    id: SubjectId,
    grant: Grant,
}

impl Caller {
    /// The records this caller may see and act on: all of a link's subject, or those of the
    /// intake's own receipts.
    fn visible(&self, records: Vec<ConsentRecord>) -> Vec<ConsentRecord> {
        match &self.grant {
            Grant::Link(_) => records,
            Grant::Receipts(r) => records
                .into_iter()
                .filter(|c| r.contains(&c.receipt_id))
                .collect(),
        }
    }
}

/// The caller named by a valid subject token; a link must be live in the store, and its use
/// (`action`) is audited before anything is shown or done.
async fn caller<B>(gw: &Gateway, req: &Request<B>, action: &str) -> Result<Caller, ApiError> {
    let unauthorized = || {
        pdgate_http::auth::unauthorized(
            "unauthorized",
            "a valid subject token is required (Authorization: Bearer …)",
        )
    };
    let token = pdgate_http::auth::bearer(req.headers()).ok_or_else(unauthorized)?;
    let access =
        pdgate_core::consent::verify_subject_token(&gw.keys, token).ok_or_else(unauthorized)?;
    let id = pdgate_core::intake::subject_id_of(&access.sub).ok_or_else(unauthorized)?;
    if let Grant::Link(link) = &access.grant {
        let now = pdgate_core::now_millis();
        let live =
            gw.store.link(link).await?.is_some_and(|l| {
                l.subject_id == id && l.revoked_at.is_none() && l.expires_at > now
            });
        if !live {
            return Err(pdgate_http::auth::unauthorized(
                "link_revoked",
                "this link has been revoked or has expired; ask for a new one",
            ));
        }
        let used = AuditEvent::LinkUsed {
            link_id: link.clone(),
            subject: pdgate_core::intake::pseudonym(&id),
            action: action.to_owned(),
        };
        gw.committer.audit(now, used).await?;
    }
    Ok(Caller {
        name: access.sub,
        id,
        grant: access.grant,
    })
}

#[derive(Serialize)]
struct ConsentView {
    purpose: String,
    description: String,
    state: String,
    receipt_id: String,
    receipt_url: String,
    text_id: String,
    text_version: i64,
    text_sha256: String,
    given_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    withdrawn_at: Option<String>,
    method: String,
    route: String,
    withdraw_url: String,
}

async fn list<B>(gw: &Gateway, req: &Request<B>) -> Result<Response<Body>, ApiError> {
    let who = caller(gw, req, "list").await?;
    let records = who.visible(gw.store.consents_of(&who.id).await?);
    let base = base_url(gw);
    let consents: Vec<ConsentView> = receipt::current(&records)
        .into_values()
        .map(|(grant, last)| ConsentView {
            purpose: last.purpose.clone(),
            description: gw
                .policy
                .purposes
                .iter()
                .find(|p| p.def.id == last.purpose)
                .map(|p| p.def.description.clone())
                .unwrap_or_default(),
            state: last.state.as_str().to_owned(),
            receipt_id: grant.receipt_id.clone(),
            receipt_url: format!("{base}/receipts/{}", grant.receipt_id),
            text_id: grant.text_id.clone(),
            text_version: grant.text_version,
            text_sha256: grant.text_sha256.clone(),
            given_at: pdgate_core::rfc3339(grant.at),
            withdrawn_at: (last.state == ConsentStatus::Withdrawn)
                .then(|| pdgate_core::rfc3339(last.at)),
            method: grant.method.clone(),
            route: grant.route.clone(),
            withdraw_url: format!("{base}/consents/{}/withdraw", last.purpose),
        })
        .collect();
    Ok(respond::json(
        StatusCode::OK,
        &serde_json::json!({"subject": who.name, "consents": consents}),
    ))
}

async fn withdraw<B>(
    gw: &Gateway,
    req: &Request<B>,
    purpose: &str,
) -> Result<Response<Body>, ApiError> {
    let who = caller(gw, req, &format!("withdraw:{purpose}")).await?;
    let records = who.visible(gw.store.consents_of(&who.id).await?);
    let now = pdgate_core::now_millis();
    let Some(w) = receipt::withdraw(&records, &who.id, purpose, now, "self_service") else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_consent",
            format!("no consent to purpose `{purpose}` is on record for this subject"),
        ));
    };
    if !w.write.consents.is_empty() {
        // Like a withdrawal the DPO registers, it is sent to the upstreams the subject came
        // through, in the same transaction as the ledger records.
        let values = gw.store.values_of(&who.id).await?;
        let notice = notify::Notice {
            event: RightsEvent::ConsentWithdrawn,
            reference: &w.receipt_id,
            request: None,
            pseudonym: who.name.as_str(),
            purposes: &[purpose.to_owned()],
            at: now,
        };
        let change = Change {
            at: now,
            outbox: notify::webhooks(&gw.policy, (&values, &records), &notice),
            consents: w.write.consents,
            audit: w.write.audit,
            ..Change::default()
        };
        gw.committer.apply(change).await?;
        tracing::info!(subject = %who.name, purpose, "consent withdrawn");
    }
    let (name, receipt_id, withdrawn_at) = (who.name, w.receipt_id, w.withdrawn_at);
    Ok(respond::json(
        StatusCode::OK,
        &serde_json::json!({
            "subject": name,
            "purpose": purpose,
            "state": "withdrawn",
            "receipt_id": receipt_id,
            "withdrawn_at": pdgate_core::rfc3339(withdrawn_at),
        }),
    ))
}

async fn receipt(gw: &Gateway, id: &str) -> Result<Response<Body>, ApiError> {
    let records = gw.store.consents_by_receipt(id).await?;
    let base = base_url(gw);
    match receipt::build(&gw.policy, &records, &base) {
        Some(r) => Ok(respond::json(StatusCode::OK, &r)),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_receipt",
            "no consent receipt has this id",
        )),
    }
}

/// The exact consent text shown under a version (`?version=`; default: the current one).
async fn text<B>(gw: &Gateway, req: &Request<B>, id: &str) -> Result<Response<Body>, ApiError> {
    let id = percent_encoding::percent_decode_str(id).decode_utf8_lossy();
    let version = match respond::query_param(req.uri(), "version") {
        Some(v) => v.parse::<i64>().ok(),
        None => gw
            .policy
            .consent_texts
            .iter()
            .filter(|t| t.id == id)
            .map(|t| i64::from(t.version))
            .max(),
    };
    let found = match version {
        Some(v) => gw.store.consent_text(&id, v).await?,
        None => None,
    };
    let Some((sha, body)) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_text",
            "no consent text has this id and version",
        ));
    };
    let mut r = Response::new(Body::full(body));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/markdown; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&sha) {
        h.insert("x-pdgate-text-sha256", v);
    }
    Ok(r)
}

/// `scheme://host/.well-known/pdgate/v1`, from the request (links in answers must work for the
/// subject's browser, which reached pdgate through this host).
/// The base of self-service links: the configured `public_url`, never the request's `Host` (a
/// forged one would put an attacker's origin into a subject's receipt); without it, paths only.
fn base_url(gw: &Gateway) -> String {
    format!("{}{PREFIX}", gw.public_url.as_deref().unwrap_or(""))
}
