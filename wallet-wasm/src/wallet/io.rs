//! What the wallet's operations ask of the outside world, and what comes
//! back: the sans-IO half of the wallet.
//!
//! Every operation is a [`Machine`]: a state machine whose step takes the
//! wallet's stored state (read only) and the answer to its last request,
//! and returns its next request ([`Io`]): an HTTP call, an atomic store
//! batch, a counter reservation, or a pause to show progress. It never
//! awaits anything itself. One small driver (`Wallet::run`) performs the
//! requests, so the same operation code runs in the browser, natively and
//! in tests, which can also stop it at any request (a crash) and resume.

use std::marker::PhantomData;

use ecash_core::api::Endpoint;
use ecash_core::client::{self, HttpRequest, HttpResponse, TransportError};

use super::batch::Batch;
use super::{Progress, State};
use crate::error::WalletError;
use crate::store::StoreError;

/// A request of an operation to the driver.
pub(crate) enum Io {
    /// Send this HTTP request; the answer comes back as [`Input::Answer`].
    Call(HttpRequest),
    /// Write this batch atomically, then mirror it in memory; comes back as [`Input::Committed`].
    Commit(Batch),
    /// Add `n` to each counter atomically; the values before come back as [`Input::Reserved`].
    Reserve(Vec<(String, u64)>),
    /// Show progress and let the host breathe (a browser paints); comes back as [`Input::Resumed`].
    Progress(Progress),
}

/// What the driver hands back to an operation.
pub(crate) enum Input {
    /// The operation starts (or a sub-operation finished).
    Start,
    /// The answer to an [`Io::Call`].
    Answer(Result<HttpResponse, TransportError>),
    /// The outcome of an [`Io::Commit`].
    Committed(Result<(), StoreError>),
    /// The counters' values before an [`Io::Reserve`].
    Reserved(Result<Vec<u64>, StoreError>),
    /// After an [`Io::Progress`].
    Resumed,
}

impl Input {
    /// The outcome of a commit the operation cannot go on without.
    pub(crate) fn committed(self) -> Result<(), WalletError> {
        match self {
            Self::Committed(r) => r.map_err(Into::into),
            _ => Err(WalletError::Crypto(
                "the driver answered out of turn".into(),
            )),
        }
    }
}

/// Where an operation stands after a step.
pub(crate) enum Next<T> {
    /// It needs this done.
    Io(Io),
    /// It finished with this.
    Done(T),
}

/// A wallet operation, step by step (see the module docs), over the
/// context `C` it reads: the wallet's [`State`], or nothing before a wallet exists.
pub(crate) trait Machine<C = State> {
    /// What it yields when done.
    type Output;
    /// One step: from the stored state and the last answer to the next request.
    fn resume(&mut self, s: &C, input: Input) -> Result<Next<Self::Output>, WalletError>;
}

/// A context that mirrors committed batches in memory.
pub(crate) trait Mirror {
    /// Applies a batch the store has made durable.
    fn mirror(&mut self, b: Batch);
}

impl Mirror for () {
    fn mirror(&mut self, _: Batch) {}
}

/// The driver: performs each request of `m` until it is done. The only
/// place operations meet the network and the store.
pub(crate) async fn drive<C, M, S, T>(
    m: &mut M,
    ctx: &mut C,
    store: &S,
    net: &T,
    progress: &mut Option<super::ProgressFn<'_>>,
) -> Result<M::Output, WalletError>
where
    C: Mirror,
    M: Machine<C>,
    S: crate::store::Store,
    T: crate::transport::Transport,
{
    let mut input = Input::Start;
    loop {
        input = match m.resume(ctx, input)? {
            Next::Done(out) => return Ok(out),
            Next::Io(Io::Call(req)) => Input::Answer(net.send(req).await),
            Next::Io(Io::Commit(mut b)) => {
                let writes = std::mem::take(&mut b.writes);
                let r = store.apply(writes).await;
                if r.is_ok() {
                    ctx.mirror(b);
                }
                Input::Committed(r)
            }
            Next::Io(Io::Reserve(counters)) => {
                let mut starts = Vec::with_capacity(counters.len());
                let mut failed = None;
                for (key, n) in &counters {
                    match store.reserve(key, *n).await {
                        Ok(v) => starts.push(v),
                        Err(e) => {
                            failed = Some(e);
                            break;
                        }
                    }
                }
                Input::Reserved(match failed {
                    Some(e) => Err(e),
                    None => Ok(starts),
                })
            }
            Next::Io(Io::Progress(p)) => {
                if let Some(f) = progress.as_mut() {
                    f(p);
                }
                crate::platform::yield_now().await;
                Input::Resumed
            }
        };
    }
}

/// A call of endpoint `E` in flight: what to decode its answer with.
pub(crate) struct Await<E> {
    url: String,
    endpoint: PhantomData<E>,
}

impl<E: Endpoint> Await<E> {
    /// A call of `E` at the bank or shop at `base`.
    pub(crate) fn at_base(
        base: &str,
        params: &E::Params,
        req: &E::Request,
    ) -> Result<(Self, Io), WalletError> {
        let r = client::request::<E>(base, params, req)?;
        Ok(Self::of(r))
    }

    /// A call of `E` at `url`, a URL the protocol handed over and the caller checked.
    pub(crate) fn at_url(url: &str, req: &E::Request) -> Result<(Self, Io), WalletError> {
        let r = client::request_at::<E>(url.to_owned(), req)?;
        Ok(Self::of(r))
    }

    fn of(r: HttpRequest) -> (Self, Io) {
        (
            Self {
                url: r.url.clone(),
                endpoint: PhantomData,
            },
            Io::Call(r),
        )
    }

    /// The URL called.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Decodes the answer.
    pub(crate) fn receive(&self, input: Input) -> Result<E::Response, WalletError> {
        match input {
            Input::Answer(Ok(resp)) => Ok(client::decode::<E>(&self.url, &resp)?),
            Input::Answer(Err(e)) => Err(WalletError::Unreachable {
                url: self.url.clone(),
                reason: e.0,
            }),
            _ => Err(WalletError::Crypto(
                "the driver answered out of turn".into(),
            )),
        }
    }
}
