//! An HTTP/1.1 proxy in front of a server, one request per connection,
//! that injects network faults (drop, delay, cut mid-body, duplicate), at
//! random or on the requests a test names, or plays a hostile party by
//! rewriting answers. It runs on its own thread and runtime, so blocking and
//! async tests can use it alike.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What happens to one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// Forwarded, answered.
    Pass,
    /// Forwarded and answered after a pause.
    Delay,
    /// The connection closes before the request is forwarded.
    DropBefore,
    /// Forwarded (the server acts), then the connection closes unanswered.
    DropAfter,
    /// Forwarded; the answer is cut off half-way through.
    CutMidBody,
    /// Forwarded twice; the second answer is returned.
    Duplicate,
    /// Forwarded after the proxy's stall ([`Proxy::stall_for`]) and
    /// answered: a slow network or server.
    Stall,
    /// Held: the connection closes unanswered, and the request reaches the
    /// server later, just before the next request to the same path (a late
    /// network: the client gave up and sent it again).
    Hold,
}

/// Rewrites an answer body: (request path, body).
pub type Rewrite = dyn Fn(&str, &mut Vec<u8>) + Send + Sync;

/// A running proxy.
pub struct Proxy {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its port.
    pub port: u16,
    faults: Arc<AtomicBool>,
    counts: Arc<Mutex<BTreeMap<Fault, u64>>>,
    requests: Arc<AtomicU64>,
    rules: Arc<Mutex<Vec<Rule>>>,
    stall: Arc<Mutex<Duration>>,
}

/// A fault for the next requests whose path starts with a prefix.
struct Rule {
    prefix: String,
    fault: Fault,
    times: usize,
}

struct Shared {
    rules: Arc<Mutex<Vec<Rule>>>,
    upstream: String,
    faults: Arc<AtomicBool>,
    counts: Arc<Mutex<BTreeMap<Fault, u64>>>,
    requests: Arc<AtomicU64>,
    rewrite: Option<Arc<Rewrite>>,
    stall: Arc<Mutex<Duration>>,
    /// Held requests: (path, the request as forwarded).
    held: Mutex<Vec<(String, Vec<u8>)>>,
}

impl Proxy {
    /// A proxy on `port` (0: any) to the server at `upstream` (`host:port`).
    /// Faults start off; `rewrite` changes every answer body.
    pub fn start(port: u16, upstream: &str, rewrite: Option<Arc<Rewrite>>) -> Self {
        let std_listener =
            std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the proxy");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let port = std_listener.local_addr().expect("addr").port();
        let shared = Arc::new(Shared {
            rules: Arc::new(Mutex::new(Vec::new())),
            upstream: upstream.to_owned(),
            faults: Arc::new(AtomicBool::new(false)),
            counts: Arc::new(Mutex::new(BTreeMap::new())),
            requests: Arc::new(AtomicU64::new(0)),
            rewrite,
            stall: Arc::new(Mutex::new(Duration::from_secs(1))),
            held: Mutex::new(Vec::new()),
        });
        let proxy = Self {
            url: format!("http://127.0.0.1:{port}"),
            port,
            faults: shared.faults.clone(),
            counts: shared.counts.clone(),
            requests: shared.requests.clone(),
            rules: shared.rules.clone(),
            stall: shared.stall.clone(),
        };
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("listener");
                loop {
                    let Ok((conn, _)) = listener.accept().await else {
                        continue;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        let _ = serve(conn, &shared).await;
                    });
                }
            });
        });
        proxy
    }

    /// Turns fault injection on or off.
    pub fn faults(&self, on: bool) {
        self.faults.store(on, Ordering::SeqCst);
    }

    /// Applies `fault` to the next `times` requests whose path starts with
    /// `prefix` (before any random fault).
    pub fn fail_next(&self, prefix: &str, fault: Fault, times: usize) {
        if let Ok(mut r) = self.rules.lock() {
            r.push(Rule {
                prefix: prefix.to_owned(),
                fault,
                times,
            });
        }
    }

    /// How long [`Fault::Stall`] holds a request (default: one second).
    pub fn stall_for(&self, pause: Duration) {
        if let Ok(mut s) = self.stall.lock() {
            *s = pause;
        }
    }

    /// Forgets every rule of [`Proxy::fail_next`].
    pub fn clear_rules(&self) {
        if let Ok(mut r) = self.rules.lock() {
            r.clear();
        }
    }

    /// Requests seen, and how many of each fault were injected.
    pub fn report(&self) -> (u64, BTreeMap<Fault, u64>) {
        (
            self.requests.load(Ordering::SeqCst),
            self.counts.lock().map(|c| c.clone()).unwrap_or_default(),
        )
    }
}

fn pick() -> Fault {
    match fastrand::u32(..100) {
        0..55 => Fault::Pass,
        55..65 => Fault::Delay,
        65..73 => Fault::DropBefore,
        73..82 => Fault::DropAfter,
        82..91 => Fault::CutMidBody,
        _ => Fault::Duplicate,
    }
}

/// Reads a whole HTTP message head; returns (head, bytes read past it).
async fn read_head(conn: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).into_owned();
            return Ok(Some((head, buf[i + 4..].to_vec())));
        }
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// Reads one request; returns its path and the request as forwarded (one
/// per connection).
async fn read_request(conn: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let Some((head, mut body)) = read_head(conn).await? else {
        return Ok(None);
    };
    let len: usize = header(&head, "content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while body.len() < len {
        let mut chunk = vec![0u8; len - body.len()];
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut out = String::new();
    for (i, line) in head.lines().enumerate() {
        if i > 0 {
            let name = line.split(':').next().unwrap_or("").trim();
            if name.eq_ignore_ascii_case("connection") || name.eq_ignore_ascii_case("keep-alive") {
                continue;
            }
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("connection: close\r\n\r\n");
    let mut request = out.into_bytes();
    request.extend_from_slice(&body);
    Ok(Some((path, request)))
}

async fn serve(mut conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let Some((path, request)) = read_request(&mut conn).await? else {
        return Ok(());
    };
    shared.requests.fetch_add(1, Ordering::SeqCst);
    let ruled = shared.rules.lock().ok().and_then(|mut rules| {
        let r = rules
            .iter_mut()
            .find(|r| r.times > 0 && path.starts_with(&r.prefix))?;
        r.times -= 1;
        Some(r.fault)
    });
    let fault = match ruled {
        Some(f) => f,
        None if shared.faults.load(Ordering::SeqCst) => pick(),
        None => Fault::Pass,
    };
    if let Ok(mut c) = shared.counts.lock() {
        *c.entry(fault).or_default() += 1;
    }
    if fault == Fault::DropBefore {
        return Ok(());
    }
    if fault == Fault::Hold {
        if let Ok(mut held) = shared.held.lock() {
            held.push((path, request));
        }
        return Ok(());
    }
    release_held(shared, &path).await;
    if fault == Fault::Delay {
        tokio::time::sleep(Duration::from_millis(50 + fastrand::u64(..450))).await;
    }
    if fault == Fault::Stall {
        let pause = shared.stall.lock().map(|s| *s).unwrap_or_default();
        tokio::time::sleep(pause).await;
    }
    let mut answer = forward(&shared.upstream, &request).await?;
    if fault == Fault::Duplicate {
        answer = forward(&shared.upstream, &request).await?;
    }
    if fault == Fault::DropAfter {
        return Ok(());
    }
    let answer = rebuild(&answer, &path, shared.rewrite.as_deref());
    if fault == Fault::CutMidBody {
        let cut = answer.len() / 2 + fastrand::usize(..answer.len() / 4 + 1);
        conn.write_all(&answer[..cut.min(answer.len())]).await?;
        return Ok(());
    }
    conn.write_all(&answer).await?;
    conn.shutdown().await
}

/// A request held before on `path` arrives now, just ahead of this one.
async fn release_held(shared: &Shared, path: &str) {
    let late = shared.held.lock().ok().and_then(|mut held| {
        let i = held.iter().position(|(p, _)| p == path)?;
        Some(held.remove(i).1)
    });
    if let Some(late) = late {
        let upstream = shared.upstream.clone();
        tokio::spawn(async move {
            let _ = forward(&upstream, &late).await;
        });
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn forward(upstream: &str, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(request).await?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).await?;
    Ok(answer)
}

/// Decodes a chunked body.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..i])
                .split(';')
                .next()
                .unwrap_or("")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = i + 2;
        let end = (start + size).min(b.len());
        out.extend_from_slice(&b[start..end]);
        b = b.get(end + 2..).unwrap_or(&[]);
    }
    out
}

/// The answer with a plain body (rewritten if asked) and its own length.
fn rebuild(answer: &[u8], path: &str, rewrite: Option<&Rewrite>) -> Vec<u8> {
    let Some(i) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return answer.to_vec();
    };
    let head = String::from_utf8_lossy(&answer[..i]).into_owned();
    let raw = &answer[i + 4..];
    let mut body = if header(&head, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        dechunk(raw)
    } else {
        raw.to_vec()
    };
    if let Some(f) = rewrite {
        f(path, &mut body);
    }
    let mut out = String::new();
    for (n, line) in head.lines().enumerate() {
        if n > 0 {
            let name = line.split(':').next().unwrap_or("").trim();
            if ["content-length", "transfer-encoding", "connection"]
                .iter()
                .any(|h| name.eq_ignore_ascii_case(h))
            {
                continue;
            }
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    bytes
}
