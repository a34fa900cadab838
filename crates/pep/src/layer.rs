//! A tower layer that puts a replica in front of any HTTP service: the
//! caller says how to read the subscription, service and action from a
//! request; a deny becomes 403 with the reason, and nothing reaches the
//! inner service.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::future::Either;
use http::{HeaderValue, Request, Response, StatusCode};
use tower::{Layer, Service};
use verdict_model::Timestamp;

use crate::Replica;

/// What a request asks to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The subscription it is scoped to.
    pub subscription: String,
    /// The service, e.g. `storage.blob`.
    pub service: String,
    /// The service's action, e.g. `put-blob`.
    pub action: String,
}

/// Wraps services in [`PepService`].
#[derive(Clone)]
pub struct PepLayer<F> {
    replica: Arc<Replica>,
    extract: F,
}

impl<F> PepLayer<F> {
    /// A layer deciding with `replica` on the [`Target`] that `extract`
    /// reads from each request (`None`: the request cannot be placed, and
    /// it is refused, failing closed).
    pub fn new(replica: Arc<Replica>, extract: F) -> PepLayer<F> {
        PepLayer { replica, extract }
    }
}

impl<S, F: Clone> Layer<S> for PepLayer<F> {
    type Service = PepService<S, F>;

    fn layer(&self, inner: S) -> Self::Service {
        PepService { inner, replica: self.replica.clone(), extract: self.extract.clone() }
    }
}

/// A service that asks its replica before passing a request on.
#[derive(Clone)]
pub struct PepService<S, F> {
    inner: S,
    replica: Arc<Replica>,
    extract: F,
}

fn refuse<B: From<String>>(code: &'static str, reason: String, order: Option<&str>) -> Response<B> {
    let mut response = Response::new(B::from(reason.clone()));
    *response.status_mut() = StatusCode::FORBIDDEN;
    let headers = response.headers_mut();
    headers.insert("x-verdict-code", HeaderValue::from_static(code));
    if let Ok(value) = HeaderValue::from_str(&reason) {
        headers.insert("x-verdict-reason", value);
    }
    if let Some(value) = order.and_then(|o| HeaderValue::from_str(o).ok()) {
        headers.insert("x-verdict-order", value);
    }
    headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

impl<S, F, ReqBody, ResBody> Service<Request<ReqBody>> for PepService<S, F>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    F: Fn(&Request<ReqBody>) -> Option<Target>,
    ResBody: From<String>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = Either<S::Future, std::future::Ready<Result<Response<ResBody>, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        let Some(target) = (self.extract)(&request) else {
            let reason = "missing-target: the request names no subscription, service and action".to_owned();
            return Either::Right(std::future::ready(Ok(refuse("missing-target", reason, None))));
        };
        if let Err(reason) = self.replica.admit(&target.service) {
            return Either::Right(std::future::ready(Ok(refuse("stale-snapshot", reason, None))));
        }
        let snapshot = self.replica.snapshot();
        let decision = snapshot.decide(&target.subscription, &target.service, &target.action, Timestamp::now());
        if decision.allowed {
            return Either::Left(self.inner.call(request));
        }
        let e = snapshot.explain(&decision, &target.subscription, &target.service, &target.action);
        Either::Right(std::future::ready(Ok(refuse(e.code, e.reason, e.order.as_deref()))))
    }
}
