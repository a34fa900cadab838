//! The edge: serving an application on a listener with bounds on every way
//! a client can hold the server (the server and the sidecar both serve
//! through here).
//!
//! | bound | default | why |
//! |---|---|---|
//! | request headers, and the idle time between requests on a kept-alive connection | 20 s | a gateway sends a request's headers in one packet; 20 s frees a slot held by a slow-header (slowloris) or silent client long before hundreds add up, and a gateway's pool reopens a closed idle connection at no cost |
//! | the body going quiet | 10 s | a body in flight sends something every few milliseconds; ten silent seconds is a stalled or hostile client |
//! | the whole request, to its response's headers | 60 s (none for `/v1/import`, whose body alone may be 256 MiB) | nothing verdict answers takes longer; a change stream's body is not counted, it only starts there |
//! | a declared `Content-Length` over the endpoint's limit | answered 413 at once | the body is never waited for |
//!
//! Each refusal the application makes is the usual JSON error:
//! `request-timeout` (408), `body-timeout` (408, from the body reader) and
//! `payload-too-large` (413). A client too slow with its headers gets no
//! answer — the connection is closed, as HTTP servers do — because no
//! request exists yet to answer. A request hyper cannot parse (bad framing,
//! headers over its buffer, a target too long) gets the same JSON error
//! shape (`malformed-request` 400, `headers-too-large` 431, `uri-too-long`
//! 414) in place of hyper's bare answer.

use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceExt;

use crate::ApiError;

/// The bounds of [`serve`] and [`bounded`]; see the module documentation.
#[derive(Debug, Clone, Copy)]
pub struct EdgeLimits {
    /// Request headers, and the idle wait between requests.
    pub header_read: Duration,
    /// The longest silence inside a request body.
    pub body_idle: Duration,
    /// A whole request, to its response's headers.
    pub request: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_read: Duration::from_secs(20),
            body_idle: Duration::from_secs(10),
            request: Duration::from_secs(60),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then stops
/// accepting, lets requests in flight finish and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, limits, None, shutdown).await
}

/// [`serve`], speaking TLS with `tls` when given (the handshake must finish
/// within the header bound, like the request line it carries).
pub async fn serve_with(
    listener: TcpListener,
    app: Router,
    limits: EdgeLimits,
    tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    // Each connection holds a clone; they are all gone when it is closed.
    let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<Infallible>(1);
    let mut stopping = stop_rx.clone();
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors, say: wait, rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stopping) => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(
            app.clone().map_request(|r: Request<hyper::body::Incoming>| r.map(axum::body::Body::new)),
        );
        let stop = stop_rx.clone();
        let open = open_tx.clone();
        let acceptor = acceptor.clone();
        tokio::spawn(async move {
            let _open = open;
            match acceptor {
                None => serve_connection(stream, service, limits, stop).await,
                Some(acceptor) => match tokio::time::timeout(limits.header_read, acceptor.accept(stream)).await {
                    Ok(Ok(stream)) => serve_connection(stream, service, limits, stop).await,
                    Ok(Err(e)) => tracing::debug!(error = %e, "a TLS handshake failed"),
                    Err(_) => tracing::debug!("a TLS handshake did not finish in time"),
                },
            }
        });
    }
    drop(open_tx);
    // Every connection task has dropped its sender when this returns.
    let _ = open_rx.recv().await;
    Ok(())
}

/// Serves HTTP/1.1 on one connection until it closes, or the stop signal
/// (then lets the request in flight finish).
async fn serve_connection<IO, S>(
    stream: IO,
    service: S,
    limits: EdgeLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::HttpService<hyper::body::Incoming> + Send,
    S::Future: Send,
    S::ResBody: Send + 'static,
    <S::ResBody as hyper::body::Body>::Data: Send,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read).keep_alive(true);
    let io = TokioIo::new(JsonFraming::new(stream));
    let mut connection = pin!(builder.serve_connection(io, service));
    tokio::select! {
        _ = connection.as_mut() => return,
        () = stopped(&mut stop) => {}
    }
    connection.as_mut().graceful_shutdown();
    let _ = connection.await;
}

/// Resolves once the stop signal is given (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    // The guard `wait_for` returns must not live across an await.
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
}

/// `router` with the request-level bounds: a body silent for longer than
/// `body_idle` fails to read (408 `body-timeout`), a request not answered
/// within `request` is answered 408 `request-timeout`, and a declared
/// `Content-Length` over `body_limit` is refused 413 before any of it is
/// read. Routes mounted afterwards (the import) are outside the request
/// bound.
pub fn bounded<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    limits: EdgeLimits,
    body_limit: usize,
) -> Router<S> {
    let request = limits.request;
    router
        .layer(axum::middleware::from_fn(move |req: Request, next: Next| within(request, body_limit, req, next)))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(limits.body_idle))
}

/// The declared size, then the whole request's deadline: one layer, as
/// every request passes both.
async fn within(limit: Duration, body_limit: usize, request: Request, next: Next) -> Response {
    if declared(&request).is_some_and(|length| length > body_limit as u64) {
        return too_large(body_limit).into_response();
    }
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request-timeout",
            format!("the request was not answered within {:.1} s; retry it", limit.as_secs_f64()),
        )
        .into_response(),
    }
}

/// Refuses a declared body over `limit` before reading any of it.
pub async fn declared_size(limit: usize, request: Request, next: Next) -> Response {
    match declared(&request) {
        Some(length) if length > limit as u64 => too_large(limit).into_response(),
        _ => next.run(request).await,
    }
}

/// The body length the request declares, if it does.
fn declared(request: &Request) -> Option<u64> {
    request.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok())
}

/// The 413 for a body over `limit` bytes.
pub fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        format!(
            "the request body is larger than this endpoint accepts ({} bytes); split it into smaller requests",
            limit
        ),
    )
}

/// The connection as hyper sees it, with one change: the bare answers
/// hyper gives a request it cannot parse (400, 414, 431 with no body,
/// written before any verdict code runs) are replaced by the usual JSON
/// error, so every rejection has the one shape. verdict's own 4xx always
/// carry a body, so a 400/414/431 head with `content-length: 0` is hyper's.
struct JsonFraming<T> {
    inner: T,
    /// A replacement answer still being written.
    pending: Vec<u8>,
}

impl<T> JsonFraming<T> {
    fn new(inner: T) -> JsonFraming<T> {
        JsonFraming { inner, pending: Vec::new() }
    }
}

/// The JSON answer for hyper's bare framing refusal in `head`, if it is one.
fn framing_answer(head: &[u8]) -> Option<Vec<u8>> {
    let (status, code, message) = if head.starts_with(b"HTTP/1.1 400 ") {
        ("400 Bad Request", "malformed-request", "the request is not well-formed HTTP/1.1; nothing was read")
    } else if head.starts_with(b"HTTP/1.1 431 ") {
        (
            "431 Request Header Fields Too Large",
            "headers-too-large",
            "the request's headers are larger than verdict reads; send fewer or shorter headers",
        )
    } else if head.starts_with(b"HTTP/1.1 414 ") {
        ("414 URI Too Long", "uri-too-long", "the request's target is longer than verdict reads")
    } else {
        return None;
    };
    let lower = head.to_ascii_lowercase();
    if !lower.windows(19).any(|w| w == b"content-length: 0\r\n") {
        return None;
    }
    let body = format!("{{\"error\":{{\"code\":\"{code}\",\"message\":\"{message}\"}}}}");
    Some(
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_bytes(),
    )
}

impl<T: tokio::io::AsyncWrite + Unpin> JsonFraming<T> {
    /// Writes what remains of a replacement answer.
    fn drain(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<std::io::Result<()>> {
        while !self.pending.is_empty() {
            let n = std::task::ready!(std::pin::Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return std::task::Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            self.pending.drain(..n);
        }
        std::task::Poll::Ready(Ok(()))
    }
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for JsonFraming<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for JsonFraming<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::ready!(self.drain(cx))?;
        if let Some(answer) = framing_answer(buf) {
            self.pending = answer;
            // hyper's bytes are taken; ours go out in their place.
            let _ = self.drain(cx)?;
            return std::task::Poll::Ready(Ok(buf.len()));
        }
        std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::ready!(self.drain(cx))?;
        // A framing refusal is a head alone, in the first slice.
        if let Some(first) = bufs.iter().find(|b| !b.is_empty())
            && bufs.iter().filter(|b| !b.is_empty()).count() == 1
            && let Some(answer) = framing_answer(first)
        {
            self.pending = answer;
            let _ = self.drain(cx)?;
            return std::task::Poll::Ready(Ok(first.len()));
        }
        std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::ready!(self.drain(cx))?;
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
