//! HTTPS as corporate users have it, against real processes on 127.0.0.1: a
//! CA generated at test time, a TLS front (HTTP/2 or HTTP/1.1, as offered)
//! before a real local sandbox, a CONNECT proxy, and the real binary with
//! the trust store and the proxy given through its environment.
//!
//! The machine's own trust store is never touched: the child trusts the CA
//! through `SSL_CERT_FILE` or `SSL_CERT_DIR`, which the system trust store
//! loader (rustls-native-certs, under rustls-platform-verifier) reads
//! instead of the system bundle.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::common;

const BIN: &str = env!("CARGO_BIN_EXE_azure-sandbox-lsp");
/// A name only the CONNECT proxy resolves (RFC 2606 reserves `.example`):
/// a remote endpoint as far as the client can tell.
const REMOTE_NAME: &str = "sandbox.example";

/// A CA, a server certificate it signed (for localhost, 127.0.0.1 and
/// REMOTE_NAME), and a second CA that signed nothing here.
struct Pki {
    ca_pem: String,
    other_ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key_der: Vec<u8>,
}

fn new_ca(name: &str) -> (rcgen::Certificate, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert, rcgen::Issuer::new(params, key))
}

fn pki() -> Pki {
    let (ca, issuer) = new_ca("azure-sandbox-lsp test CA (a TLS-inspecting proxy's, say)");
    let (other_ca, _) = new_ca("azure-sandbox-lsp unrelated CA");
    let mut params =
        rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned(), REMOTE_NAME.to_owned()])
            .unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
    params.use_authority_key_identifier_extension = true;
    params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = params.signed_by(&key, &issuer).unwrap();
    Pki {
        ca_pem: ca.pem(),
        other_ca_pem: other_ca.pem(),
        chain: vec![leaf.der().clone(), ca.der().clone()],
        key_der: key.serialize_der(),
    }
}

/// What the TLS front saw.
#[derive(Default)]
struct Seen {
    /// TLS handshakes completed.
    handshakes: AtomicUsize,
    /// The ALPN protocol of each handshake (`None` when none was agreed).
    alpn: Mutex<Vec<Option<String>>>,
    /// The HTTP version of each request.
    versions: Mutex<Vec<hyper::Version>>,
}

impl Seen {
    fn handshakes(&self) -> usize {
        self.handshakes.load(Ordering::SeqCst)
    }
    fn alpn(&self) -> Vec<Option<String>> {
        self.alpn.lock().unwrap().clone()
    }
    fn versions(&self) -> Vec<hyper::Version> {
        self.versions.lock().unwrap().clone()
    }
}

/// HTTPS on 127.0.0.1 before the sandbox's plain-http endpoint: terminates
/// TLS offering `alpn`, speaks HTTP/2 or HTTP/1.1 as agreed, and forwards
/// each request to the sandbox over HTTP/1.1.
struct TlsFront {
    port: u16,
    seen: Arc<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn tls_front(pki: &Pki, backend: &str, alpn: &[&[u8]]) -> TlsFront {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(pki.chain.clone(), PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pki.key_der.clone())))
        .unwrap();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Seen::default());
    let backend = backend.to_owned();
    let forward_with = reqwest::Client::builder().no_proxy().build().unwrap();
    let task = {
        let seen = seen.clone();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else { return };
                let (acceptor, seen, backend, http) =
                    (acceptor.clone(), seen.clone(), backend.clone(), forward_with.clone());
                tokio::spawn(async move {
                    // A client that does not trust the certificate ends here.
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let agreed = tls.get_ref().1.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
                    seen.handshakes.fetch_add(1, Ordering::SeqCst);
                    seen.alpn.lock().unwrap().push(agreed.clone());
                    let service =
                        service_fn(move |request| forward(request, backend.clone(), http.clone(), seen.clone()));
                    let io = TokioIo::new(tls);
                    if agreed.as_deref() == Some("h2") {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
                    }
                });
            }
        })
    };
    TlsFront { port, seen, task }
}

/// Headers that belong to one connection, not to the message.
fn hop_by_hop(name: &hyper::header::HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection" | "keep-alive" | "transfer-encoding" | "te" | "upgrade" | "host" | "content-length"
    )
}

async fn forward(
    request: Request<Incoming>,
    backend: String,
    http: reqwest::Client,
    seen: Arc<Seen>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    seen.versions.lock().unwrap().push(request.version());
    let (parts, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let mut outgoing = http.request(parts.method, &backend).body(body);
    for (name, value) in &parts.headers {
        if !hop_by_hop(name) {
            outgoing = outgoing.header(name, value);
        }
    }
    let mut response = Response::builder();
    let Ok(reply) = outgoing.send().await else {
        return Ok(response.status(502).body(Full::new(Bytes::new())).unwrap());
    };
    response = response.status(reply.status());
    for (name, value) in reply.headers() {
        if !hop_by_hop(name) {
            response = response.header(name, value);
        }
    }
    let bytes = reply.bytes().await.unwrap_or_default();
    Ok(response.body(Full::new(bytes)).unwrap())
}

/// How the CONNECT proxy answers.
#[derive(Clone, Copy, PartialEq)]
enum ProxyAnswer {
    Tunnel,
    /// 407 Proxy Authentication Required, whatever the request carries.
    RefuseCredentials,
}

/// A CONNECT proxy on 127.0.0.1 that resolves REMOTE_NAME to 127.0.0.1
/// and splices bytes both ways.
struct ConnectProxy {
    port: u16,
    /// TCP connections accepted (a CONNECT or anything else).
    connections: Arc<AtomicUsize>,
    /// `CONNECT host:port` requests.
    connects: Arc<AtomicUsize>,
    /// Each request's `Proxy-Authorization` header.
    authorizations: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConnectProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ConnectProxy {
    fn connects(&self) -> usize {
        self.connects.load(Ordering::SeqCst)
    }
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn connect_proxy(answer: ProxyAnswer) -> ConnectProxy {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = Arc::new(AtomicUsize::new(0));
    let connects = Arc::new(AtomicUsize::new(0));
    let authorizations = Arc::new(Mutex::new(Vec::new()));
    let task = {
        let (connections, connects, authorizations) = (connections.clone(), connects.clone(), authorizations.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { return };
                connections.fetch_add(1, Ordering::SeqCst);
                let (connects, authorizations) = (connects.clone(), authorizations.clone());
                tokio::spawn(async move {
                    let _ = tunnel(client, answer, &connects, &authorizations).await;
                });
            }
        })
    };
    ConnectProxy { port, connections, connects, authorizations, task }
}

async fn tunnel(
    mut client: TcpStream,
    answer: ProxyAnswer,
    connects: &AtomicUsize,
    authorizations: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 16 * 1024 || client.read(&mut byte).await? == 0 {
            return Ok(());
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or_default().to_owned();
    for line in lines {
        if let Some((name, value)) = line.split_once(':')
            && name.trim().eq_ignore_ascii_case("proxy-authorization")
        {
            authorizations.lock().unwrap().push(value.trim().to_owned());
        }
    }
    let mut words = request_line.split_whitespace();
    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
        client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n").await?;
        return Ok(());
    };
    connects.fetch_add(1, Ordering::SeqCst);
    if answer == ProxyAnswer::RefuseCredentials {
        client
            .write_all(
                b"HTTP/1.1 407 Proxy Authentication Required\r\nproxy-authenticate: Basic realm=\"corp\"\r\n\
                  content-length: 0\r\n\r\n",
            )
            .await?;
        return Ok(());
    }
    let (host, port) = target.rsplit_once(':').unwrap_or((target, "443"));
    let host = if host == REMOTE_NAME { "127.0.0.1" } else { host };
    let Ok(mut server) = TcpStream::connect(format!("{host}:{port}")).await else {
        client.write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n").await?;
        return Ok(());
    };
    client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").await?;
    tokio::io::copy_bidirectional(&mut client, &mut server).await?;
    Ok(())
}

/// The things one test's runs share: a sandbox, the certificates on disk, a
/// script and a cache directory.
struct Setup {
    sandbox: azure_sandbox_lsp::sandbox::LocalSandbox,
    pki: Pki,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Self {
        // Every run with a new endpoint launches an environment.
        let sandbox =
            common::sandbox(azure_sandbox_lsp::sandbox::SandboxConfig { max_environments: 32, ..common::config() })
                .await;
        let pki = pki();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
        std::fs::write(dir.path().join("other-ca.pem"), &pki.other_ca_pem).unwrap();
        std::fs::create_dir(dir.path().join("certs")).unwrap();
        std::fs::write(dir.path().join("certs/test-ca.pem"), &pki.ca_pem).unwrap();
        std::fs::write(dir.path().join("job.py"), "print('answer', 6 * 7)\n").unwrap();
        Self { sandbox, pki, dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn key(&self) -> &str {
        self.sandbox.api_key().expose()
    }

    async fn front(&self, alpn: &[&[u8]]) -> TlsFront {
        tls_front(&self.pki, self.sandbox.endpoint(), alpn).await
    }

    /// `run job.py --endpoint ENDPOINT` with the key and `env`, and nothing
    /// about endpoints, proxies or certificates from the developer's shell.
    async fn run(&self, endpoint: &str, env: &[(&str, &str)]) -> Run {
        let mut command = tokio::process::Command::new(BIN);
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            let upper = name.to_ascii_uppercase();
            if upper.starts_with("AZURE_SANDBOX_") || upper.ends_with("_PROXY") || upper.starts_with("SSL_CERT_") {
                command.env_remove(&name);
            }
        }
        let cache = self.path("cache");
        command
            .args(["run", self.path("job.py").to_str().unwrap(), "--endpoint", endpoint])
            .env("AZURE_SANDBOX_API_KEY", self.key())
            .env("AZURE_SANDBOX_CACHE_DIR", &cache)
            .env("AZURE_SANDBOX_RUN_TIMEOUT", "60")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null());
        let output = command.output().await.unwrap();
        let run = Run {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(!run.stderr.contains(self.key()) && !run.stdout.contains(self.key()), "the key shows: {run:?}");
        run
    }
}

#[derive(Debug)]
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn succeeded(&self) -> bool {
        self.code == Some(0) && self.stdout == "answer 42\n"
    }
}

fn bundle(path: &Path) -> (&'static str, &str) {
    ("SSL_CERT_FILE", path.to_str().unwrap())
}

const BOTH: &[&[u8]] = &[b"h2", b"http/1.1"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untrusted_ca_fails_saying_what_to_do_and_a_trusted_one_runs_with_one_handshake() {
    let _shared = common::beside_each_other().await;
    let setup = Setup::new().await;
    let front = setup.front(BOTH).await;
    let endpoint = format!("https://localhost:{}/mcp", front.port);

    // The trust store holds another CA only: the handshake fails, and the
    // message says where the missing CA goes.
    let other = setup.path("other-ca.pem");
    let run = setup.run(&endpoint, &[bundle(&other)]).await;
    assert_eq!(run.code, Some(3), "{run:?}");
    for words in ["not trusted", "update-ca-certificates", "SSL_CERT_FILE", "UnknownIssuer", "no code ran"] {
        assert!(run.stderr.contains(words), "{words}: {}", run.stderr);
    }
    assert_eq!(front.seen.handshakes(), 0);

    // No trusted certificate at all (SSL_CERT_FILE names nothing): https
    // cannot work, and the message says so; the local sandbox, plain http
    // on loopback, needs no certificate and still runs.
    let nothing = setup.path("no-such-bundle.pem");
    let run = setup.run(&endpoint, &[bundle(&nothing)]).await;
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(run.stderr.contains("cannot load the trusted CA certificates"), "{}", run.stderr);
    assert!(run.stderr.contains("SSL_CERT_FILE"), "{}", run.stderr);
    let run = setup.run(setup.sandbox.endpoint(), &[bundle(&nothing)]).await;
    assert!(run.succeeded(), "{run:?}");

    // SSL_CERT_FILE, read instead of the system bundle, holds the CA.
    let ca = setup.path("ca.pem");
    let run = setup.run(&endpoint, &[bundle(&ca)]).await;
    assert!(run.succeeded(), "{run:?}");
    // The launch and the run (no MCP handshake: the service takes calls
    // without one): one connection, one TLS handshake.
    assert_eq!(front.seen.handshakes(), 1, "{:?}", front.seen.alpn());
    assert!(front.seen.versions().len() >= 2, "{:?}", front.seen.versions());

    // So does a private certificate directory in SSL_CERT_DIR.
    let certs = setup.path("certs");
    let run = setup.run(&endpoint, &[("SSL_CERT_DIR", certs.to_str().unwrap())]).await;
    assert!(run.succeeded(), "{run:?}");
    assert_eq!(front.seen.handshakes(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_when_the_server_offers_it_and_http1_when_it_does_not() {
    let _shared = common::beside_each_other().await;
    let setup = Setup::new().await;
    let ca = setup.path("ca.pem");

    let h2 = setup.front(BOTH).await;
    let run = setup.run(&format!("https://localhost:{}/mcp", h2.port), &[bundle(&ca)]).await;
    assert!(run.succeeded(), "{run:?}");
    assert_eq!(h2.seen.alpn(), [Some("h2".to_owned())]);
    let versions = h2.seen.versions();
    assert!(versions.len() >= 2 && versions.iter().all(|v| *v == hyper::Version::HTTP_2), "{versions:?}");

    let h1 = setup.front(&[b"http/1.1"]).await;
    let run = setup.run(&format!("https://localhost:{}/mcp", h1.port), &[bundle(&ca)]).await;
    assert!(run.succeeded(), "{run:?}");
    assert_eq!(h1.seen.alpn(), [Some("http/1.1".to_owned())]);
    let versions = h1.seen.versions();
    assert!(versions.len() >= 2 && versions.iter().all(|v| *v == hyper::Version::HTTP_11), "{versions:?}");
    // Keep-alive: the requests of one run share the one connection.
    assert_eq!(h1.seen.handshakes(), 1);

    // And the local sandbox, plain HTTP/1.1 on loopback, still serves a run.
    let run = setup.run(setup.sandbox.endpoint(), &[]).await;
    assert!(run.succeeded(), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_proxy_carries_a_remote_endpoint_and_no_proxy_bypasses_it() {
    let _shared = common::beside_each_other().await;
    let setup = Setup::new().await;
    let ca = setup.path("ca.pem");
    let front = setup.front(BOTH).await;
    let proxy = connect_proxy(ProxyAnswer::Tunnel).await;
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    // Only the proxy knows where REMOTE_NAME is, as in a network whose DNS
    // stops at the proxy.
    let endpoint = format!("https://{REMOTE_NAME}:{}/mcp", front.port);

    for variable in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"] {
        let before = proxy.connects();
        let run = setup.run(&endpoint, &[bundle(&ca), (variable, &proxy_url)]).await;
        assert!(run.succeeded(), "{variable}: {run:?}");
        assert_eq!(proxy.connects(), before + 1, "{variable}: one tunnel for the whole run");
    }
    // TLS goes end to end through the tunnel: the front did each handshake.
    assert_eq!(front.seen.handshakes(), 3);
    assert!(proxy.authorizations.lock().unwrap().is_empty());

    // NO_PROXY names the host: no CONNECT, and the name does not resolve
    // without the proxy.
    let before = (proxy.connections(), front.seen.handshakes());
    for no_proxy in [REMOTE_NAME, ".example", "localhost,sandbox.example"] {
        let run = setup.run(&endpoint, &[bundle(&ca), ("HTTPS_PROXY", &proxy_url), ("NO_PROXY", no_proxy)]).await;
        assert_eq!(run.code, Some(3), "{no_proxy}: {run:?}");
        assert!(run.stderr.contains("cannot reach the sandbox endpoint"), "{}", run.stderr);
    }
    assert_eq!((proxy.connections(), front.seen.handshakes()), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_endpoints_never_go_through_the_proxy() {
    let _shared = common::beside_each_other().await;
    let setup = Setup::new().await;
    let ca = setup.path("ca.pem");
    let front = setup.front(BOTH).await;
    let proxy = connect_proxy(ProxyAnswer::Tunnel).await;
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);

    for (endpoint, no_proxy) in [
        (format!("https://localhost:{}/mcp", front.port), None),
        (format!("https://127.0.0.1:{}/mcp", front.port), None),
        (format!("https://localhost:{}/mcp", front.port), Some("localhost,127.0.0.1")),
        (setup.sandbox.endpoint().to_owned(), None),
    ] {
        let mut env = vec![bundle(&ca), ("HTTPS_PROXY", proxy_url.as_str()), ("HTTP_PROXY", proxy_url.as_str())];
        env.extend(no_proxy.map(|n| ("NO_PROXY", n)));
        let run = setup.run(&endpoint, &env).await;
        assert!(run.succeeded(), "{endpoint}: {run:?}");
    }
    assert_eq!(proxy.connections(), 0);
    assert_eq!(front.seen.handshakes(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_password_never_shows_even_when_the_proxy_refuses_it() {
    let _shared = common::beside_each_other().await;
    let setup = Setup::new().await;
    let ca = setup.path("ca.pem");
    let front = setup.front(BOTH).await;
    let proxy = connect_proxy(ProxyAnswer::RefuseCredentials).await;
    let secret = "pr0xy-s3cret-do-not-print";
    let proxy_url = format!("http://corp-user:{secret}@127.0.0.1:{}", proxy.port);
    let endpoint = format!("https://{REMOTE_NAME}:{}/mcp", front.port);

    let run = setup.run(&endpoint, &[bundle(&ca), ("HTTPS_PROXY", &proxy_url), ("AZURE_SANDBOX_LOG", "trace")]).await;
    assert_eq!(run.code, Some(3), "{run:?}");
    assert!(proxy.connects() >= 1);
    // The credentials went to the proxy, and only there.
    let sent = proxy.authorizations.lock().unwrap().clone();
    assert!(!sent.is_empty() && sent.iter().all(|a| a.starts_with("Basic ")), "{sent:?}");
    let encoded = sent[0].trim_start_matches("Basic ").to_owned();
    for hidden in [secret, encoded.as_str()] {
        assert!(!run.stderr.contains(hidden) && !run.stdout.contains(hidden), "{hidden} shows: {}", run.stderr);
    }
    // The message names the proxy (without credentials) and says what to do.
    let shown = format!("http://127.0.0.1:{}", proxy.port);
    assert!(run.stderr.contains("407") && run.stderr.contains(&shown), "{}", run.stderr);
    assert!(run.stderr.contains("no code ran"), "{}", run.stderr);
    assert!(run.stderr.contains("HTTPS_PROXY") && !run.stderr.contains("corp-user"), "{}", run.stderr);
    assert_eq!(front.seen.handshakes(), 0);
}
