//! One body type for everything the gateway sends or returns, so the hot path never boxes a
//! pass-through stream: upstream and client bodies are forwarded frame by frame as they arrive.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Body as HttpBody, Frame, SizeHint};
use hyper::body::Incoming;

use crate::BoxError;

pub enum Body {
    Empty,
    Full(Option<Bytes>),
    Incoming(Incoming),
    Stream {
        stream: Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>,
        len: u64,
    },
    /// A body wrapped by its caller (a client body that discovery samples as it is forwarded).
    Boxed(http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>),
    /// A stream of unknown length (sent chunked).
    Chunked(Pin<Box<dyn Stream<Item = Result<Bytes, std::io::Error>> + Send>>),
    /// A plain-http upstream's response, driving its pooled connection as it is read.
    Upstream(Box<crate::h1pool::Driven<Body>>),
}

impl Body {
    #[inline]
    pub fn full(b: impl Into<Bytes>) -> Self {
        let b = b.into();
        if b.is_empty() {
            Body::Empty
        } else {
            Body::Full(Some(b))
        }
    }
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = BoxError;

    // Called once per frame from hyper's code in another crate: worth inlining there.
    #[inline]
    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Empty => Poll::Ready(None),
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Incoming(i) => Pin::new(i).poll_frame(cx).map_err(Into::into),
            Body::Boxed(b) => Pin::new(b).poll_frame(cx),
            Body::Upstream(u) => Pin::new(u.as_mut()).poll_frame(cx).map_err(Into::into),
            Body::Stream { stream, .. } | Body::Chunked(stream) => stream
                .as_mut()
                .poll_next(cx)
                .map(|o| o.map(|r| r.map(Frame::data).map_err(Into::into))),
        }
    }

    #[inline]
    fn is_end_stream(&self) -> bool {
        match self {
            Body::Empty => true,
            Body::Full(b) => b.is_none(),
            Body::Incoming(i) => i.is_end_stream(),
            Body::Boxed(b) => b.is_end_stream(),
            Body::Upstream(u) => u.is_end_stream(),
            Body::Stream { .. } | Body::Chunked(_) => false,
        }
    }

    #[inline]
    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Empty => SizeHint::with_exact(0),
            Body::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Incoming(i) => i.size_hint(),
            Body::Boxed(b) => b.size_hint(),
            Body::Upstream(u) => u.size_hint(),
            Body::Stream { len, .. } => SizeHint::with_exact(*len),
            Body::Chunked(_) => SizeHint::default(),
        }
    }
}

/// How much of a refused body is still read and discarded, and for how long, so the client gets
/// the error instead of a reset (a close with unread data makes the kernel send RST, and the
/// client then loses the response it has not read yet). nginx calls this lingering close.
const LINGER_BYTES: u64 = 16 << 20;
const LINGER_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// A request body that, dropped before its end (a refusal mid-body), keeps draining in the
/// background within [`LINGER_BYTES`] and [`LINGER_TIME`].
///
/// Wrap only a body that is already being read: polling it is what makes hyper answer
/// `Expect: 100-continue`, which a refusal before reading must not do.
pub struct Lingering {
    inner: Option<Incoming>,
    done: bool,
}

impl Lingering {
    pub fn new(inner: Incoming) -> Self {
        Lingering {
            inner: Some(inner),
            done: false,
        }
    }
}

impl HttpBody for Lingering {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let r = Pin::new(inner).poll_frame(cx);
        if matches!(r, Poll::Ready(None | Some(Err(_)))) {
            this.done = true;
        }
        r
    }

    fn is_end_stream(&self) -> bool {
        self.done || self.inner.as_ref().is_none_or(HttpBody::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), HttpBody::size_hint)
    }
}

impl Drop for Lingering {
    fn drop(&mut self) {
        let Some(mut body) = self.inner.take() else {
            return;
        };
        if self.done || body.is_end_stream() {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let drain = async {
                let mut read = 0u64;
                while let Some(Ok(frame)) = http_body_util::BodyExt::frame(&mut body).await {
                    read += frame.data_ref().map_or(0, |d| d.len() as u64);
                    if read > LINGER_BYTES {
                        break;
                    }
                }
            };
            let _ = tokio::time::timeout(LINGER_TIME, drain).await;
        });
    }
}
