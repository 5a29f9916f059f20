//! HTTP GET from inside a backend, for `jit.refresh`: discovery documents,
//! JWKS and SAML metadata.
//!
//! What may be fetched is decided by `jit_provision_core::fetch_policy`
//! before any socket exists, for the first URL and for every redirect. The
//! limits (connect 5 s, 15 s for the whole fetch including redirects and
//! every read, 1 MiB body, 3 redirects) are the constants of that module.
//!
//! Why a hand-written HTTP/1.1 client and not ureq or reqwest: we need one
//! GET, no cookies, no proxies, no compression, no keep-alive, manual
//! redirects and a hard deadline on every read. The code below is that and
//! nothing else (one request per connection, `Connection: close`, bodies
//! framed by Content-Length, chunked encoding or end of stream), small
//! enough to audit in one sitting. ureq 2 would add `url` (and with it
//! `idna` and a dozen ICU crates), `webpki-roots`, `flate2` and its own
//! redirect and proxy logic that we would have to switch off and trust to
//! stay off; ureq 3 adds more. TLS is rustls 0.23 on ring, the crypto the
//! verifier already links; no aws-lc, no OpenSSL.
//!
//! Threads and signals: the request runs on a worker thread with every
//! signal blocked, so PostgreSQL's handlers keep running on the backend's
//! own thread. That thread waits in slices of 100 ms and runs
//! `CHECK_FOR_INTERRUPTS` between them: `pg_cancel_backend` and
//! `statement_timeout` end a fetch that waits on a silent server. The
//! worker then finishes on its own within its deadline and its answer is
//! dropped. It never calls into PostgreSQL: the setting it needs is read
//! before it starts.

use std::ffi::{CString, OsStr};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jit_provision_core::fetch_policy::{
    check_redirect, check_url, Target, CONNECT_TIMEOUT, MAX_BODY_BYTES, MAX_REDIRECTS,
    TOTAL_TIMEOUT,
};
use pgrx::prelude::*;
use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{CertificateError, ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// Extra trusted CAs (a PEM bundle), for an IdP behind a private CA and for
/// the tests. Superuser-only: whoever sets it decides whom the database
/// trusts to hand it signing keys.
static HTTP_CA_FILE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// Where Debian/Ubuntu, RHEL/Fedora and Alpine/BSD keep the system's roots;
/// the first one that exists is used.
const SYSTEM_CA_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// How often the waiting backend looks for a cancel or timeout.
const POLL: Duration = Duration::from_millis(100);
/// Longest status line, header line or chunk-size line.
const MAX_LINE_BYTES: usize = 8 * 1024;
/// Longest response head (status line and headers together).
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 100;

pub fn register_gucs() {
    GucRegistry::define_string_guc(
        c"jit_provision.http_ca_file",
        c"PEM file of CA certificates trusted for jit.refresh, in addition to the system's.",
        c"Read by the server when a refresh connects over HTTPS. Use it for an identity provider behind a private CA.",
        &HTTP_CA_FILE,
        GucContext::Suset,
        GucFlags::default(),
    );
}

/// GETs `url` and returns the body of its 2xx answer. Errors are sentences
/// fit for `refresh_error`.
pub fn fetch(url: &str) -> Result<Vec<u8>, String> {
    // Refused URLs cost no thread and no socket.
    let target = check_url(url).map_err(|e| e.to_string())?;
    let ca_file = HTTP_CA_FILE
        .get()
        .filter(|s| !s.is_empty())
        .map(|s| PathBuf::from(OsStr::from_bytes(s.as_bytes())));
    let (tx, rx) = mpsc::sync_channel(1);
    spawn_with_signals_blocked(move || {
        let result = std::panic::catch_unwind(move || get(target, ca_file.as_deref()))
            .unwrap_or_else(|_| Err("internal error in the HTTP worker".to_string()));
        // The backend may have stopped waiting (cancelled): nobody to tell.
        let _ = tx.send(result);
    })?;
    // Belt and braces: even if the worker is stuck where its own deadline
    // does not reach (name resolution), the backend stops waiting.
    let give_up = Instant::now() + TOTAL_TIMEOUT + Duration::from_secs(1);
    loop {
        match rx.recv_timeout(POLL) {
            Ok(result) => return result,
            Err(RecvTimeoutError::Disconnected) => {
                return Err("the HTTP worker ended without an answer".to_string())
            }
            Err(RecvTimeoutError::Timeout) => {
                pg_sys::check_for_interrupts!();
                if Instant::now() >= give_up {
                    return Err(format!("GET {url}: {}", timed_out()));
                }
            }
        }
    }
}

/// Test and diagnosis entry point: the body of `url` as text. Admins only
/// (no grant to PUBLIC): it makes the server open connections.
#[pg_extern(schema = "jit", name = "_http_get", volatile, parallel_unsafe)]
fn http_get(url: &str) -> String {
    let (code, message) = match fetch(url) {
        Ok(body) => match String::from_utf8(body) {
            Ok(text) if !text.contains('\0') => return text,
            _ => (
                PgSqlErrorCode::ERRCODE_CHARACTER_NOT_IN_REPERTOIRE,
                format!("GET {url}: the body is not UTF-8 text"),
            ),
        },
        Err(message) => (PgSqlErrorCode::ERRCODE_CONNECTION_FAILURE, message),
    };
    ereport!(ERROR, code, message);
}

/// Starts `work` on a detached thread that inherits a mask blocking every
/// signal; this thread's mask is restored before returning, so signals sent
/// to the backend meanwhile stay pending and are handled here.
fn spawn_with_signals_blocked(work: impl FnOnce() + Send + 'static) -> Result<(), String> {
    // SAFETY: sigset_t is plain data that sigfillset/pthread_sigmask fill in;
    // both calls only touch this thread's mask.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        let rc = libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        if rc != 0 {
            return Err(format!(
                "cannot block signals for the HTTP worker: {}",
                io::Error::from_raw_os_error(rc)
            ));
        }
        let spawned = std::thread::Builder::new()
            .name("jit_http".to_string())
            .spawn(work);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        spawned
            .map(drop)
            .map_err(|e| format!("cannot start the HTTP worker thread: {e}"))
    }
}

// ---------------------------------------------------------------------------
// Everything below runs on the worker thread: no pgrx, no PostgreSQL.

enum Outcome {
    Body(Vec<u8>),
    Redirect(u16, String),
}

fn timed_out() -> String {
    format!("timed out after {} s", TOTAL_TIMEOUT.as_secs())
}

fn get(first: Target, ca_file: Option<&Path>) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + TOTAL_TIMEOUT;
    let mut tls: Option<Arc<ClientConfig>> = None;
    let mut target = first;
    let mut redirects = 0;
    loop {
        let config = if target.tls {
            let config = match &tls {
                Some(config) => config.clone(),
                None => tls_config(ca_file)?,
            };
            tls = Some(config.clone());
            Some(config)
        } else {
            None
        };
        match request(&target, config, deadline).map_err(|e| format!("GET {target}: {e}"))? {
            Outcome::Body(body) => return Ok(body),
            Outcome::Redirect(status, location) => {
                if redirects == MAX_REDIRECTS {
                    return Err(format!("GET {target}: more than {MAX_REDIRECTS} redirects"));
                }
                redirects += 1;
                target = check_redirect(&target, &location).map_err(|e| {
                    format!("GET {target}: HTTP {status} redirect not followed: {e}")
                })?;
            }
        }
    }
}

/// The system's roots plus `jit_provision.http_ca_file`. A broken system
/// certificate is skipped (as every TLS client does); a broken certificate
/// in the DBA's file is an error, so a typo does not go unnoticed.
fn tls_config(ca_file: Option<&Path>) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    if let Some(pem) = SYSTEM_CA_BUNDLES
        .iter()
        .find_map(|path| std::fs::read(path).ok())
    {
        roots
            .add_parsable_certificates(CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok));
    }
    if let Some(path) = ca_file {
        let what = format!("jit_provision.http_ca_file ({})", path.display());
        let pem = std::fs::read(path).map_err(|e| format!("{what}: cannot read: {e}"))?;
        let mut count = 0;
        for cert in CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| format!("{what}: not a PEM certificate bundle: {e}"))?;
            count += 1;
            roots
                .add(cert)
                .map_err(|e| format!("{what}: certificate {count} is not usable as a CA: {e}"))?;
        }
        if count == 0 {
            return Err(format!("{what}: no PEM certificate in the file"));
        }
    }
    if roots.is_empty() {
        return Err(
            "no trusted CA certificates: no system bundle found and jit_provision.http_ca_file is not set"
                .to_string(),
        );
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
    Ok(Arc::new(config))
}

fn request(
    target: &Target,
    tls: Option<Arc<ClientConfig>>,
    deadline: Instant,
) -> Result<Outcome, String> {
    let stream = DeadlineStream {
        tcp: connect(target, deadline)?,
        deadline,
    };
    match tls {
        Some(config) => {
            let name = ServerName::try_from(target.host.clone())
                .map_err(|e| format!("{:?} is not a TLS server name: {e}", target.host))?;
            let conn = ClientConnection::new(config, name).map_err(|e| tls_text(&e))?;
            exchange(StreamOwned::new(conn, stream), target)
        }
        None => exchange(stream, target),
    }
}

fn connect(target: &Target, deadline: Instant) -> Result<TcpStream, String> {
    let mut addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", target.host))?
        .collect();
    if !target.tls {
        // The policy let plain HTTP through for a loopback name; `localhost`
        // must also resolve to loopback before anything is sent in clear.
        addrs.retain(|a| a.ip().is_loopback());
    }
    let mut last = format!("{} has no usable address", target.host);
    for addr in addrs {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(&addr, left.min(CONNECT_TIMEOUT)) {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                return Ok(tcp);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
                ) =>
            {
                last = format!(
                    "connect to {addr}: no answer within {} s",
                    left.min(CONNECT_TIMEOUT).as_secs_f32()
                );
            }
            Err(e) => last = format!("connect to {addr}: {e}"),
        }
    }
    Err(last)
}

fn remaining(deadline: Instant) -> Result<Duration, String> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
        .ok_or_else(timed_out)
}

/// A TCP stream whose every read and write gives up at the fetch's
/// deadline: a server that trickles one byte at a time cannot stretch it.
struct DeadlineStream {
    tcp: TcpStream,
    deadline: Instant,
}

impl DeadlineStream {
    fn left(&self) -> io::Result<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| io::Error::new(io::ErrorKind::TimedOut, timed_out()))
    }
}

fn as_timeout(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::WouldBlock {
        io::Error::new(io::ErrorKind::TimedOut, timed_out())
    } else {
        e
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.tcp.set_read_timeout(Some(self.left()?))?;
        self.tcp.read(buf).map_err(as_timeout)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tcp.set_write_timeout(Some(self.left()?))?;
        self.tcp.write(buf).map_err(as_timeout)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tcp.flush()
    }
}

/// Readable text for an I/O error, with rustls' certificate verdicts said
/// plainly.
fn io_text(e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::TimedOut {
        return timed_out();
    }
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => tls_text(tls),
        None => e.to_string(),
    }
}

fn tls_text(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "TLS: the server's certificate is not issued by a trusted CA (system roots and jit_provision.http_ca_file)".to_string()
        }
        other => format!("TLS: {other}"),
    }
}

/// The text of an error met while reading part of the answer; a connection
/// that ends early is said so, whatever layer noticed.
fn read_error(e: &io::Error, what: &str) -> String {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        format!("connection closed before the end of the {what}")
    } else {
        io_text(e)
    }
}

fn exchange<S: Read + Write>(mut stream: S, target: &Target) -> Result<Outcome, String> {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: jit_provision/{}\r\nAccept: */*\r\nAccept-Encoding: identity\r\nConnection: close\r\n\r\n",
        target.path_and_query,
        target.host_header(),
        env!("CARGO_PKG_VERSION"),
    );
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.flush())
        .map_err(|e| io_text(&e))?;
    let mut reader = BufReader::with_capacity(16 * 1024, stream);

    // Skip interim 1xx answers (103 Early Hints); a few at most.
    let mut head = read_head(&mut reader)?;
    let mut interim = 0;
    while (100..200).contains(&head.status) && head.status != 101 {
        interim += 1;
        if interim > 5 {
            return Err("too many interim (1xx) responses".to_string());
        }
        head = read_head(&mut reader)?;
    }

    match head.status {
        301 | 302 | 303 | 307 | 308 => {
            let location = head
                .single("location")?
                .ok_or_else(|| format!("HTTP {} without a Location", head.status))?;
            return Ok(Outcome::Redirect(head.status, location.to_string()));
        }
        200..=299 => {}
        _ => return Err(format!("HTTP status {}{}", head.status, head.reason)),
    }
    if matches!(head.status, 204 | 205) {
        return Ok(Outcome::Body(Vec::new()));
    }
    if let Some(coding) = head.single("content-encoding")? {
        if !coding.eq_ignore_ascii_case("identity") {
            return Err(format!("unsupported Content-Encoding {coding:?}"));
        }
    }
    let body = match (head.single("transfer-encoding")?, content_length(&head)?) {
        (Some(_), Some(_)) => {
            return Err("both Transfer-Encoding and Content-Length in the response".to_string())
        }
        (Some(coding), None) if coding.eq_ignore_ascii_case("chunked") => {
            read_chunked(&mut reader)?
        }
        (Some(coding), None) => return Err(format!("unsupported Transfer-Encoding {coding:?}")),
        (None, Some(length)) => read_sized(&mut reader, length)?,
        (None, None) => read_to_close(&mut reader)?,
    };
    Ok(Outcome::Body(body))
}

struct Head {
    status: u16,
    /// The reason phrase with a leading space, or empty.
    reason: String,
    /// Lower-case names, trimmed values.
    headers: Vec<(String, String)>,
}

impl Head {
    /// The value of a header that must not be repeated.
    fn single(&self, name: &str) -> Result<Option<&str>, String> {
        let mut found = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str());
        let first = found.next();
        if found.next().is_some() {
            return Err(format!("repeated {name} header"));
        }
        Ok(first)
    }
}

fn body_too_large() -> String {
    format!("body exceeds {} MiB", MAX_BODY_BYTES >> 20)
}

/// Reads one line ending in LF (CR before it optional), without the line
/// end. Longer lines and a stream that ends mid-line are errors.
fn read_line(reader: &mut impl BufRead, max: usize, what: &str) -> Result<Vec<u8>, String> {
    let mut line = Vec::new();
    reader
        .by_ref()
        .take(max as u64 + 2)
        .read_until(b'\n', &mut line)
        .map_err(|e| read_error(&e, what))?;
    if line.last() != Some(&b'\n') {
        return Err(if line.len() > max {
            format!("{what} line longer than {max} bytes")
        } else {
            format!("connection closed before the end of the {what}")
        });
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

fn read_head(reader: &mut impl BufRead) -> Result<Head, String> {
    let status_line = read_line(reader, MAX_LINE_BYTES, "response head")?;
    let status_line = String::from_utf8_lossy(&status_line);
    let (version, rest) = status_line
        .split_once(' ')
        .ok_or_else(|| format!("not an HTTP response: {:?}", truncate(&status_line)))?;
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(format!(
            "not an HTTP/1.x response: {:?}",
            truncate(&status_line)
        ));
    }
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let status = match code.parse::<u16>() {
        Ok(n) if code.len() == 3 && code.bytes().all(|b| b.is_ascii_digit()) && n >= 100 => n,
        _ => {
            return Err(format!(
                "bad HTTP status line: {:?}",
                truncate(&status_line)
            ))
        }
    };
    let reason = reason
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect::<String>();
    let reason = if reason.is_empty() {
        reason
    } else {
        format!(" {reason}")
    };

    let mut headers = Vec::new();
    let mut head_bytes = status_line.len();
    loop {
        let line = read_line(reader, MAX_LINE_BYTES, "response head")?;
        if line.is_empty() {
            break;
        }
        head_bytes += line.len() + 2;
        if head_bytes > MAX_HEAD_BYTES || headers.len() >= MAX_HEADERS {
            return Err(format!(
                "response head larger than {MAX_HEAD_BYTES} bytes or {MAX_HEADERS} headers"
            ));
        }
        if line.first().is_some_and(|b| *b == b' ' || *b == b'\t') {
            return Err("folded header line in the response".to_string());
        }
        let line = String::from_utf8_lossy(&line);
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line: {:?}", truncate(&line)))?;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(format!("bad header name: {:?}", truncate(name)));
        }
        headers.push((
            name.to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }
    Ok(Head {
        status,
        reason,
        headers,
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Content-Length, which may be repeated or a list only if every value is
/// the same (RFC 9110 8.6).
fn content_length(head: &Head) -> Result<Option<u64>, String> {
    let mut length = None;
    for (_, value) in head.headers.iter().filter(|(n, _)| n == "content-length") {
        for part in value.split(',') {
            let part = part.trim_matches([' ', '\t']);
            let n = match part.parse::<u64>() {
                Ok(n) if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => return Err(format!("bad Content-Length {value:?}")),
            };
            if length.is_some_and(|l| l != n) {
                return Err("conflicting Content-Length headers".to_string());
            }
            length = Some(n);
        }
    }
    Ok(length)
}

fn read_sized(reader: &mut impl Read, length: u64) -> Result<Vec<u8>, String> {
    if length > MAX_BODY_BYTES as u64 {
        return Err(format!("{} (Content-Length {length})", body_too_large()));
    }
    let mut body = Vec::with_capacity(length as usize);
    reader
        .take(length)
        .read_to_end(&mut body)
        .map_err(|e| read_error(&e, "body"))?;
    if (body.len() as u64) < length {
        return Err(format!(
            "connection closed before the end of the body ({} of {length} bytes)",
            body.len()
        ));
    }
    Ok(body)
}

/// A body without framing ends when the server closes. Over TLS that end
/// must be a close_notify, or an attacker could cut the body short; rustls
/// reports a bare TCP close as UnexpectedEof, which is an error here.
fn read_to_close(reader: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    reader
        .take(MAX_BODY_BYTES as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                "connection closed without TLS close_notify and without Content-Length: the body may be truncated".to_string()
            } else {
                io_text(&e)
            }
        })?;
    if body.len() > MAX_BODY_BYTES {
        return Err(body_too_large());
    }
    Ok(body)
}

fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    loop {
        let line = read_line(reader, MAX_LINE_BYTES, "chunked body")?;
        let line = String::from_utf8_lossy(&line);
        let size = line
            .split(';')
            .next()
            .unwrap_or("")
            .trim_matches([' ', '\t']);
        let size = match u64::from_str_radix(size, 16) {
            Ok(n)
                if !size.is_empty()
                    && size.len() <= 16
                    && size.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                n
            }
            _ => return Err(format!("bad chunk size line: {:?}", truncate(&line))),
        };
        if size == 0 {
            break;
        }
        if size > (MAX_BODY_BYTES - body.len()) as u64 {
            return Err(body_too_large());
        }
        let before = body.len();
        reader
            .by_ref()
            .take(size)
            .read_to_end(&mut body)
            .map_err(|e| read_error(&e, "chunked body"))?;
        if ((body.len() - before) as u64) < size {
            return Err("connection closed before the end of the chunked body".to_string());
        }
        if !read_line(reader, 0, "chunked body")?.is_empty() {
            return Err("chunk not followed by CRLF".to_string());
        }
    }
    // Trailer fields, ignored, up to the empty line.
    for _ in 0..=MAX_HEADERS {
        if read_line(reader, MAX_LINE_BYTES, "chunked body")?.is_empty() {
            return Ok(body);
        }
    }
    Err("too many trailer fields".to_string())
}
