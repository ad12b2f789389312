//! The intake pipeline at the edge: read and parse the body within limits, ask [`pdgate_core::intake`]
//! what to do, find or create the subject, commit everything durably, then forward the rewritten
//! body. Any failure before the commit returns a JSON error (a page for a browser's form post:
//! [`super::refusal`]) and forwards nothing.

use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::BodyDataStream;
use hyper::body::Incoming;

use super::{ConnInfo, Gateway};
use pdgate_app::audit::AuditEvent;
use pdgate_app::forms::multipart::{self, FilePolicy};
use pdgate_app::forms::{json, urlencoded, Codec, Encoded, Leaf};
use pdgate_core::actions::{self, Action};
use pdgate_core::intake::{self, Evaluation, RequestFacts, SubjectCtx};
use pdgate_core::policy::{Route, UnknownFields};
use pdgate_http::headers::{
    X_PDGATE_CONSENT, X_PDGATE_PURPOSES, X_PDGATE_RECEIPT, X_PDGATE_REFS, X_PDGATE_REQUEST_ID,
    X_PDGATE_SUBJECT, X_PDGATE_SUBJECT_TOKEN,
};
use pdgate_http::ApiError;
use pdgate_http::{Body, Lingering};
use pdgate_store::{Backend, IntakeOutcome, StoreError, SubjectId, SubjectWrite};

/// How many times an intake is re-decided when another request created its subject first.
const SUBJECT_RETRIES: usize = 3;

/// An intake route's request; `upstream` is the route's (its [`pdgate_core::policy::RouteKind::Intake`]).
pub(super) async fn handle(
    gw: &Arc<Gateway>,
    route: &Route,
    upstream: usize,
    req: Request<Incoming>,
    conn: ConnInfo,
) -> Response<Body> {
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let started = std::time::Instant::now();
    let browser = super::refusal::browser_form(req.headers());
    let (mut resp, forwarded) = match run(gw, route, upstream, req, conn, &request_id).await {
        Ok(resp) => (resp, true),
        Err(e) => {
            tracing::info!(route = %route.id, request_id = %request_id, code = e.code, status = e.status.as_u16(), "intake refused");
            e.log_cause();
            let resp = match &browser {
                Some(langs) => super::refusal::respond(route.on_refusal.as_ref(), &e, langs),
                None => e.into_response(),
            };
            (resp, false)
        }
    };
    gw.metrics
        .request(&route.id, resp.status().as_u16(), forwarded);
    if forwarded {
        gw.metrics
            .intake_latency(&route.id, started.elapsed().as_secs_f64());
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(X_PDGATE_REQUEST_ID.clone(), v);
    }
    resp
}

enum Parsed {
    Form(Vec<Leaf>),
    Json(json::Document, Vec<Leaf>),
    Multipart(multipart::Parsed),
}

impl Parsed {
    fn leaves(&self) -> &[Leaf] {
        match self {
            Parsed::Form(l) | Parsed::Json(_, l) => l,
            Parsed::Multipart(m) => &m.leaves,
        }
    }
}

async fn run(
    gw: &Arc<Gateway>,
    route: &Route,
    upstream: usize,
    req: Request<Incoming>,
    conn: ConnInfo,
    request_id: &str,
) -> Result<Response<Body>, ApiError> {
    let (mut parts, body) = req.into_parts();
    let parsed = read_body(gw, route, &parts.headers, body).await?;
    // The query string is part of the form: its parameters are fields like the body's, after
    // them, so that a personal value in `?email=` is tokenized too (or refused, or dropped).
    let query = match parts.uri.query() {
        Some(q) if !q.is_empty() => urlencoded::parse(q.as_bytes(), &gw.limits.codec())?,
        _ => Vec::new(),
    };
    let in_body = parsed.leaves().len();
    let leaves: std::borrow::Cow<'_, [Leaf]> = match query.is_empty() {
        true => std::borrow::Cow::Borrowed(parsed.leaves()),
        false => parsed.leaves().iter().chain(&query).cloned().collect(),
    };
    let policy = &gw.policy;
    let mut eval = intake::evaluate(policy, route, &leaves)?;
    if route.age.is_some() {
        // A minor's consent counts with a guardian's, on the operator's day.
        let today = gw.transfers.zone().day_of(pdgate_core::now_millis());
        eval.guardian = intake::minor::check(policy, route, &leaves, &eval, today)?;
    }
    let upstream = policy.upstream(upstream);
    for &p in &eval.active {
        let purpose = &policy.purpose(p).def.id;
        let (id, country) = (&upstream.id, &upstream.country);
        gw.transfers
            .enforce(&gw.committer, "route", id, country, purpose)
            .await?;
    }
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (user_agent, origin) = (header(header::USER_AGENT), header(header::ORIGIN));
    let facts = RequestFacts {
        now: pdgate_core::now_millis(),
        request_id,
        client_ip: Some(conn.peer.ip()),
        user_agent: user_agent.as_deref(),
        origin: origin.as_deref(),
    };
    let (plan, committed) = commit(gw, route, &eval, &leaves, facts).await?;
    let all_outputs = intake::render(&plan, &committed.tokens);
    let (outputs, query_outputs) = all_outputs.split_at(in_body.min(all_outputs.len()));
    if !query.is_empty() {
        set_query(&mut parts.uri, &urlencoded::encode(&query, query_outputs))?;
    }
    drop(leaves);
    let (body, len) = encode(parsed, outputs)?;
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    let extra = pdgate_headers(&plan, &committed.tokens, request_id);
    let forwarded = gw.forward(upstream, parts, body, conn, &extra).await;
    let wait = std::time::Duration::from_millis(gw.limits.upstream_timeout_ms);
    let settled = match forwarded {
        Ok(r) => pdgate_http::upstream::settle(r, pdgate_http::upstream::SETTLE_BYTES, wait).await,
        Err(e) => Err(e),
    };
    let mut resp = match settled {
        Ok(r) => r,
        Err(e) => return Err(not_delivered(gw, route, request_id, e).await),
    };
    if !plan.receipts.is_empty() {
        let h = resp.headers_mut();
        h.insert(X_PDGATE_RECEIPT.clone(), hv(&plan.receipts.join(", ")));
        let token = pdgate_core::consent::issue_subject_token(
            &gw.keys,
            &plan.subject,
            &plan.receipts,
            facts.now / 1000,
            gw.subject_token_ttl_s,
        );
        h.insert(X_PDGATE_SUBJECT_TOKEN.clone(), hv(&token));
    }
    Ok(resp)
}

/// A header value from text pdgate wrote (pseudonyms, ids, tokens): never fails.
fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or(HeaderValue::from_static(""))
}

/// The codec the request's `Content-Type` selects; a compressed body is refused, since it cannot
/// be read for its fields and a rewritten plain body must never go out under the original
/// encoding (decoding is not offered).
fn codec_of(headers: &http::HeaderMap) -> Result<(Codec, Option<String>), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let codec = pdgate_app::forms::codec_of(content_type).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "this route accepts application/x-www-form-urlencoded, multipart/form-data or application/json",
        )
    })?;
    let encoded_body = headers.get_all(header::CONTENT_ENCODING).iter().any(|v| {
        !v.to_str()
            .is_ok_and(|e| e.trim().eq_ignore_ascii_case("identity"))
    });
    if encoded_body {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_encoding",
            "this route reads its form in clear: send it without Content-Encoding",
        ));
    }
    Ok(codec)
}

/// The whole body, parsed into leaves within the limits and `body_timeout_ms` (a client
/// trickling bytes cannot hold the route).
async fn read_body(
    gw: &Gateway,
    route: &Route,
    headers: &http::HeaderMap,
    body: Incoming,
) -> Result<Parsed, ApiError> {
    let (codec, boundary) = codec_of(headers)?;
    let max = gw.limits.max_body_bytes;
    let declared_len = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared_len.is_some_and(|n| n > max) {
        return Err(too_large(max));
    }
    let limits = gw.limits.codec();
    let body = Lingering::new(body);
    let read = async {
        Ok::<_, ApiError>(match codec {
            Codec::Urlencoded | Codec::Json => {
                let bytes = pdgate_http::respond::collect_limited(body, max).await?;
                if codec == Codec::Json {
                    let (doc, leaves) = json::parse(&bytes, &limits)?;
                    Parsed::Json(doc, leaves)
                } else {
                    Parsed::Form(urlencoded::parse(&bytes, &limits)?)
                }
            }
            Codec::Multipart => {
                let stream = BodyDataStream::new(body);
                let policy = |name: &str| file_policy(route, name);
                let boundary = boundary.unwrap_or_default();
                Parsed::Multipart(multipart::parse(stream, boundary, &limits, policy).await?)
            }
        })
    };
    let wait = std::time::Duration::from_millis(gw.limits.body_timeout_ms);
    tokio::time::timeout(wait, read).await.map_err(|_| {
        ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the body did not arrive in time",
        )
    })?
}

/// Plans the intake and commits it, planning again when another intake created the same subject
/// first; nothing is forwarded unless this returns.
async fn commit(
    gw: &Gateway,
    route: &Route,
    eval: &intake::Evaluation<'_>,
    leaves: &[Leaf],
    facts: RequestFacts<'_>,
) -> Result<(intake::Plan, pdgate_store::Committed), ApiError> {
    for _ in 0..SUBJECT_RETRIES {
        let subject = resolve_subject(gw, eval).await?;
        let mut plan = intake::plan(&gw.policy, route, eval, leaves, &gw.keys, subject, facts);
        let write = std::mem::take(&mut plan.write);
        let stored = write.values.len();
        match gw.committer.commit(write).await {
            Ok(IntakeOutcome::Committed(c)) => {
                tracing::info!(route = %route.id, request_id = %facts.request_id, stored, dropped = eval.dropped, consents = plan.receipts.len(), "intake stored");
                return Ok((plan, c));
            }
            Ok(IntakeOutcome::SubjectRace) => continue,
            Ok(IntakeOutcome::TokenSpaceExhausted) => {
                return Err(ApiError::unavailable(
                    "token_space_exhausted",
                    "no free token could be issued; nothing was forwarded",
                ))
            }
            Err(e) => return Err(store_down(e)),
        }
    }
    Err(ApiError::unavailable(
        "store_conflict",
        "the subject changed concurrently; retry",
    ))
}

/// The body rewritten from one output per leaf, and its length.
fn encode(parsed: Parsed, outputs: &[pdgate_app::forms::Output]) -> Result<(Body, u64), ApiError> {
    let encoded = match parsed {
        Parsed::Form(leaves) => Encoded::Whole(urlencoded::encode(&leaves, outputs)),
        Parsed::Json(doc, _) => Encoded::Whole(doc.encode(outputs)),
        Parsed::Multipart(m) => {
            if m.boundary_collides(outputs) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_body",
                    "the multipart boundary is too short",
                ));
            }
            Encoded::Multipart(m.encode(outputs))
        }
    };
    let len = encoded.len();
    let body = match encoded {
        Encoded::Whole(b) => Body::full(b),
        Encoded::Multipart(m) => Body::Stream {
            stream: Box::pin(m.into_stream()),
            len,
        },
    };
    Ok((body, len))
}

/// What the upstream learns besides the body: the subject's pseudonym, the purposes, the
/// consents, the request id, and which field each masked value's token belongs to.
fn pdgate_headers(
    plan: &intake::Plan,
    tokens: &[pdgate_store::Token],
    request_id: &str,
) -> Vec<(&'static http::HeaderName, HeaderValue)> {
    let refs = plan.refs_header(tokens);
    let mut extra = vec![
        (&X_PDGATE_SUBJECT, hv(&plan.subject)),
        (&X_PDGATE_PURPOSES, hv(&plan.purposes_header)),
        (&X_PDGATE_CONSENT, hv(&plan.consent_header)),
        (&X_PDGATE_REQUEST_ID, hv(request_id)),
    ];
    if !refs.is_empty() {
        extra.push((&X_PDGATE_REFS, hv(&refs)));
    }
    extra
}

/// The intake is in the vault but its forward failed (upstream down, reset, too slow): the audit
/// log says so beside the intake's own entry. A retry of the same form finds the same values
/// and gets the same tokens.
async fn not_delivered(gw: &Gateway, route: &Route, request_id: &str, e: ApiError) -> ApiError {
    let event = AuditEvent::IntakeNotDelivered {
        request_id: request_id.to_owned(),
        route: route.id.clone(),
        status: e.status.as_u16(),
    };
    if let Err(a) = gw.committer.audit(pdgate_core::now_millis(), event).await {
        tracing::warn!(error = %a, "intake not delivered; the audit entry could not be written");
    }
    e
}

/// Replaces the query of `uri` by the rewritten one (none when every parameter was dropped).
fn set_query(uri: &mut http::Uri, query: &[u8]) -> Result<(), ApiError> {
    let query = String::from_utf8_lossy(query);
    let pq = match query.is_empty() {
        true => uri.path().to_owned(),
        false => format!("{}?{query}", uri.path()),
    };
    let mut parts = uri.clone().into_parts();
    let rebuilt = pq
        .parse()
        .ok()
        .and_then(|pq| {
            parts.path_and_query = Some(pq);
            http::Uri::from_parts(parts).ok()
        })
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_body",
                "the query cannot be rebuilt",
            )
        })?;
    *uri = rebuilt;
    Ok(())
}

fn too_large(max: u64) -> ApiError {
    ApiError::body_too_large(max)
}

fn store_down(e: StoreError) -> ApiError {
    ApiError::unavailable(
        "store_unavailable",
        "the vault is unavailable; nothing was stored or forwarded",
    )
    .because(e)
}

/// Files are never tokenized: a file part is kept only where its field says `pass`.
fn file_policy(route: &Route, name: &str) -> FilePolicy {
    match route.fields.get(name).map(|f| f.action) {
        Some(Action::Pass) => FilePolicy::Keep,
        Some(Action::Drop) => FilePolicy::Drop,
        Some(_) => FilePolicy::Reject,
        None => match route.unknown_fields {
            UnknownFields::Drop => FilePolicy::Drop,
            UnknownFields::Pass => FilePolicy::Keep,
            UnknownFields::Reject => FilePolicy::Reject,
        },
    }
}

/// The existing subject for the identifying value (its key unwrapped), or a new one.
async fn resolve_subject(gw: &Gateway, eval: &Evaluation<'_>) -> Result<SubjectCtx, ApiError> {
    let key = eval
        .subject_key
        .as_ref()
        .map(|(kind, v)| actions::blind_index(&gw.keys, *kind, v));
    if let Some(k) = &key {
        if let Some(found) = gw.store.find_subject(k).await.map_err(store_down)? {
            // A restricted subject's data is only stored, not used (GDPR Art. 18(2), 152-FZ
            // blocking): a new intake would pass new data on to the upstream, so it is refused
            // before anything is stored; the DPO lifts the restriction first.
            if found.restricted_at.is_some() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "subject_restricted",
                    "processing of this person's data is restricted; nothing was stored or forwarded",
                ));
            }
            let row = found.row;
            let dek = gw.keys.unwrap_dek(&row.id, &row.wrapped_dek).map_err(|_| {
                tracing::error!("a subject key does not unwrap under the configured KEK");
                ApiError::unavailable(
                    "key_unavailable",
                    "the encryption key is unavailable; nothing was stored or forwarded",
                )
            })?;
            return Ok(SubjectCtx {
                write: SubjectWrite::Existing { id: row.id },
                dek,
            });
        }
    }
    let id = SubjectId::new_v7();
    let (dek, wrapped) = gw.keys.new_dek(&id);
    let kek_version = i64::from(gw.keys.kek().version());
    Ok(SubjectCtx {
        write: SubjectWrite::New {
            id,
            key,
            wrapped_dek: wrapped,
            kek_version,
        },
        dek,
    })
}
