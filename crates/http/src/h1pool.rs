//! Connections to plain-http upstreams, each driven by the request that uses it: the request is
//! written, the response read and its body streamed back by the task serving the client, and the
//! connection goes back to an idle stack when the body ends.
//!
//! Why not the shared client alone: hyper-util's pool runs every upstream connection in a task of
//! its own, so each request crossed tasks three times (client connection → connection task →
//! back, and again per body frame), and on a work-stealing runtime those tasks sit on different
//! threads. An HTTP/1.1 connection carries one request at a time and needs no driver while idle,
//! so whoever holds it can drive it, and pass-through's CPU time per request went down
//! accordingly. TLS upstreams stay on the shared client, which also speaks h2 to them
//! and reuses their handshakes.
//!
//! Idle connections are kept newest first, at most [`MAX_IDLE`] per upstream and for at most
//! [`IDLE_TIMEOUT`] (like nginx's `keepalive`); one the upstream has closed is noticed when taken
//! and replaced, and a request that could not be written on it is sent again on a new one.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::uri::Authority;
use http::{Request, Response};
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::BoxError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Idle connections kept per upstream.
const MAX_IDLE: usize = 128;
/// How long an idle connection is kept.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// What a pooled connection sends as request bodies (the crate's `Body`; generic so the pool
/// does not depend on the body type that carries its responses).
pub trait SendBody: HttpBody<Data = Bytes, Error = BoxError> + Send + Unpin + 'static {}
impl<T: HttpBody<Data = Bytes, Error = BoxError> + Send + Unpin + 'static> SendBody for T {}

type Conn<B> = http1::Connection<TokioIo<TcpStream>, B>;

/// An upstream connection between requests.
struct Held<B: SendBody> {
    tx: http1::SendRequest<B>,
    conn: Conn<B>,
}

/// The idle connections of every plain-http upstream.
pub struct Pool<B: SendBody>(Mutex<HashMap<Authority, Idle<Held<B>>>>);

impl<B: SendBody> Default for Pool<B> {
    fn default() -> Self {
        Pool(Mutex::default())
    }
}

impl<B: SendBody> Pool<B> {
    fn take(&self, authority: &Authority) -> Option<Held<B>> {
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        // Checked under the lock: one non-blocking read each, and closed ones are rare.
        map.get_mut(authority)?.take(now, alive)
    }

    fn put(&self, authority: &Authority, held: Held<B>) {
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let evicted = match map.get_mut(authority) {
            Some(idle) => idle.put(held, now),
            None => map.entry(authority.clone()).or_default().put(held, now),
        };
        // Closed outside the lock: closing a socket is a system call.
        drop(map);
        drop(evicted);
    }
}

/// A stack of idle items, newest on top: newest first keeps the fewest connections warm, and
/// the oldest are the ones the cap and the timeout remove.
struct Idle<T> {
    items: VecDeque<(T, Instant)>,
}

impl<T> Default for Idle<T> {
    fn default() -> Self {
        Idle {
            items: VecDeque::new(),
        }
    }
}

impl<T> Idle<T> {
    /// The newest item that is still usable; expired and unusable ones met on the way are dropped.
    fn take(&mut self, now: Instant, mut usable: impl FnMut(T) -> Option<T>) -> Option<T> {
        while let Some((item, since)) = self.items.pop_back() {
            if now.duration_since(since) >= IDLE_TIMEOUT {
                self.items.clear(); // everything below is older still
                return None;
            }
            if let Some(item) = usable(item) {
                return Some(item);
            }
        }
        None
    }

    /// Keeps `item`; returns what the cap or the timeout removes (the oldest first).
    fn put(&mut self, item: T, now: Instant) -> Vec<T> {
        let mut evicted = Vec::new();
        while let Some((_, since)) = self.items.front() {
            if self.items.len() < MAX_IDLE && now.duration_since(*since) < IDLE_TIMEOUT {
                break;
            }
            evicted.extend(self.items.pop_front().map(|(t, _)| t));
        }
        self.items.push_back((item, now));
        evicted
    }
}

/// Sends `req` to the plain-http upstream at `authority` on an idle connection of `pool` (or a new
/// one), driving that connection in this task.
pub async fn send<B: SendBody>(
    pool: &Arc<Pool<B>>,
    authority: &Authority,
    mut req: Request<B>,
) -> Result<Response<Driven<B>>, BoxError> {
    loop {
        let held = pool.take(authority);
        let reused = held.is_some();
        let Held { mut tx, conn } = match held {
            Some(h) => h,
            None => connect(authority).await?,
        };
        let mut conn = Some(conn);
        let sent = drive(&mut conn, pin!(tx.try_send_request(req))).await;
        match sent {
            Ok(resp) => {
                let (parts, body) = resp.into_parts();
                let body = Driven {
                    body,
                    held: conn.map(|conn| Held { tx, conn }),
                    pool: pool.clone(),
                    authority: authority.clone(),
                };
                return Ok(Response::from_parts(parts, body));
            }
            Err(mut e) => match e.take_message() {
                // Not written: the idle connection had closed meanwhile; once more on another.
                Some(r) if reused => req = r,
                _ => return Err(e.into_error().into()),
            },
        }
    }
}

/// The idle connection if it is still open; an upstream's keep-alive timeout closes idle ones.
fn alive<B: SendBody>(mut h: Held<B>) -> Option<Held<B>> {
    if h.tx.is_closed() {
        return None;
    }
    let waker = futures_util::task::noop_waker_ref();
    match h
        .conn
        .poll_without_shutdown(&mut Context::from_waker(waker))
    {
        Poll::Pending => Some(h),
        Poll::Ready(_) => None,
    }
}

async fn connect<B: SendBody>(authority: &Authority) -> Result<Held<B>, BoxError> {
    let port = authority.port_u16().unwrap_or(80);
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TcpStream::connect((authority.host(), port)),
    )
    .await
    .map_err(|_| "upstream connect timed out")??;
    stream.set_nodelay(true)?;
    let (tx, conn) = http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await?;
    Ok(Held { tx, conn })
}

/// Polls the connection and the response future together until the response head arrives.
/// A connection that ends first is dropped there: that hands a request it never wrote back to
/// the response future (as an error carrying the request), which would otherwise wait forever.
async fn drive<B: SendBody, F, T>(conn: &mut Option<Conn<B>>, mut fut: Pin<&mut F>) -> T
where
    F: Future<Output = T>,
{
    std::future::poll_fn(|cx| {
        if let Some(c) = conn.as_mut() {
            if c.poll_without_shutdown(cx).is_ready() {
                *conn = None;
            }
        }
        fut.as_mut().poll(cx)
    })
    .await
}

/// An upstream response body that drives its connection while it is read, and gives the
/// connection back to the pool once the body has ended (dropped early, the connection closes).
pub struct Driven<B: SendBody> {
    body: Incoming,
    /// The connection, until it ends or goes back to the pool.
    held: Option<Held<B>>,
    pool: Arc<Pool<B>>,
    authority: Authority,
}

impl<B: SendBody> Driven<B> {
    fn release(&mut self) {
        if let Some(h) = self.held.take() {
            self.pool.put(&self.authority, h);
        }
    }
}

impl<B: SendBody> HttpBody for Driven<B> {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        if let Some(h) = this.held.as_mut() {
            if h.conn.poll_without_shutdown(cx).is_ready() {
                // Ended (closed or failed): dropping it ends the body too, with what was read.
                this.held = None;
            }
        }
        let r = Pin::new(&mut this.body).poll_frame(cx);
        match &r {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Err(_))) => this.held = None,
            _ => {}
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl<B: SendBody> Drop for Driven<B> {
    fn drop(&mut self) {
        // A body without content (HEAD, 204, 304) may never be polled; it has still ended.
        if self.body.is_end_stream() {
            self.release();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_within_cap_and_timeout() {
        let t0 = Instant::now();
        let mut idle = Idle::default();
        for i in 0..MAX_IDLE + 3 {
            let evicted = idle.put(i, t0);
            let expect: Vec<usize> = if i >= MAX_IDLE {
                vec![i - MAX_IDLE]
            } else {
                vec![]
            };
            assert_eq!(evicted, expect, "the oldest leaves once the cap is reached");
        }
        assert_eq!(idle.items.len(), MAX_IDLE);
        assert_eq!(idle.take(t0, Some), Some(MAX_IDLE + 2), "newest first");
        // Unusable items (closed connections) are skipped and dropped.
        assert_eq!(idle.take(t0, |i| (i % 2 == 0).then_some(i)), Some(MAX_IDLE));
        assert_eq!(idle.items.len(), MAX_IDLE - 3);
        // Past the timeout nothing is handed out, and all of it goes.
        assert_eq!(idle.take(t0 + IDLE_TIMEOUT, Some), None);
        assert!(idle.items.is_empty());
        // A put evicts what has expired.
        idle.put(1, t0);
        idle.put(2, t0 + Duration::from_secs(1));
        assert_eq!(idle.put(3, t0 + IDLE_TIMEOUT), vec![1]);
        assert_eq!(idle.items.len(), 2);
    }
}
