"""A small HTTPS server on 127.0.0.1 with its own test CA, for tests that make
the database fetch documents (jit._http_get, jit.refresh).

    ca = TestCA()
    ca_file = ca.write_pem()          # readable by the postgres OS user
    admin.execute("select set_config('jit_provision.http_ca_file', %s, false)", (ca_file,))
    with HttpsServer(ca) as srv:
        srv.route("/jwks", 200, {"Content-Type": "application/json"}, b'{"keys": []}')
        admin.execute("select jit._http_get(%s)", (srv.url("/jwks"),))

Routes map a path (with or without its query) to (status, headers, body).
The body is bytes, str, or a callable returning an iterable of bytes pieces
(to stream or trickle). Framing: Content-Length is added for bytes unless the
headers name a Content-Length or a Transfer-Encoding; with
`Transfer-Encoding: chunked` the body is sent chunked; a streamed body without
either header ends when the server closes (after a TLS close_notify).

Modes (`srv.mode`): "normal"; "silent" accepts TCP connections and never
reads or writes a byte (not even the TLS handshake); "hang" completes the TLS
handshake and reads the request, then never answers. Every connection is
closed by stop(). `srv.requests` records (path, headers) of each request.
"""

import datetime
import ipaddress
import os
import socket
import ssl
import tempfile
import threading

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_REASONS = {200: "OK", 204: "No Content", 301: "Moved Permanently", 302: "Found",
            303: "See Other", 307: "Temporary Redirect", 308: "Permanent Redirect",
            400: "Bad Request", 404: "Not Found", 500: "Internal Server Error",
            503: "Service Unavailable"}


def _pem_dir():
    """A directory under /tmp that the postgres OS user can read."""
    d = tempfile.mkdtemp(prefix="jit_https_")
    os.chmod(d, 0o755)
    return d


class TestCA:
    """A throwaway certificate authority (EC P-256)."""

    __test__ = False  # not a pytest test class

    def __init__(self, name="jit_provision test CA"):
        now = datetime.datetime.now(datetime.timezone.utc)
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                              content_commitment=False, key_encipherment=False,
                              data_encipherment=False, key_agreement=False,
                              encipher_only=False, decipher_only=False),
                critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()),
                           critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self._dir = None

    @property
    def cert_pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def write_pem(self):
        """Writes the CA certificate to a world-readable file; returns its path."""
        if self._dir is None:
            self._dir = _pem_dir()
        path = os.path.join(self._dir, "ca.pem")
        with open(path, "wb") as f:
            f.write(self.cert_pem)
        os.chmod(path, 0o644)
        return path

    def issue(self, names=("127.0.0.1", "localhost")):
        """A server certificate for `names` (IP addresses or DNS names):
        returns (cert_pem, key_pem)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        key = ec.generate_private_key(ec.SECP256R1())
        sans = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()),
                critical=False)
            .sign(self.key, hashes.SHA256())
        )
        key_pem = key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem


class HttpsServer:
    """HTTPS (or, with tls=False, plain HTTP) on 127.0.0.1 and a free port."""

    __test__ = False

    def __init__(self, ca=None, names=("127.0.0.1", "localhost"), tls=True, port=0):
        self.tls = tls
        self.routes = {}
        self.mode = "normal"
        self.requests = []
        self._port = port
        self._ctx = None
        if tls:
            ca = ca or TestCA()
            self.ca = ca
            cert_pem, key_pem = ca.issue(names)
            d = tempfile.mkdtemp(prefix="jit_https_srv_")
            cert_file, key_file = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
            with open(cert_file, "wb") as f:
                f.write(cert_pem)
            with open(key_file, "wb") as f:
                f.write(key_pem)
            self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ctx.load_cert_chain(cert_file, key_file)
        self._sock = None
        self._stop = threading.Event()
        self._threads = []
        self._conns = []
        self._lock = threading.Lock()

    # -- configuration ------------------------------------------------------

    def route(self, path, status=200, headers=None, body=b""):
        self.routes[path] = (status, dict(headers or {}), body)

    def url(self, path="/"):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    @property
    def port(self):
        return self._sock.getsockname()[1]

    # -- lifecycle ----------------------------------------------------------

    def start(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", self._port))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        self._stop.set()
        for t in self._threads[:1]:
            t.join(timeout=2)
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        for t in self._threads[1:]:
            t.join(timeout=2)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- serving ------------------------------------------------------------

    def _accept_loop(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, raw):
        conn = raw
        try:
            if self.mode == "silent":
                self._stop.wait()
                return
            raw.settimeout(5)
            if self.tls:
                conn = self._ctx.wrap_socket(raw, server_side=True)
            head = self._read_head(conn)
            if head is None:
                return
            if self.mode == "hang":
                self._stop.wait()
                return
            self._respond(conn, head)
        except (OSError, ssl.SSLError, ValueError):
            pass  # the client went away or refused our certificate
        finally:
            conn.close()
            raw.close()

    def _read_head(self, conn):
        data = b""
        while b"\r\n\r\n" not in data:
            piece = conn.recv(4096)
            if not piece:
                return None
            data += piece
            if len(data) > 65536:
                return None
        lines = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
        method, target, _version = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.requests.append((target, headers))
        return method, target, headers

    def _respond(self, conn, head):
        _method, target, _headers = head
        route = self.routes.get(target) or self.routes.get(target.split("?", 1)[0])
        status, headers, body = route or (404, {"Content-Type": "text/plain"}, b"not found")
        if isinstance(body, str):
            body = body.encode()
        names = {k.lower() for k in headers}
        chunked = headers.get("Transfer-Encoding", "").lower() == "chunked"
        if isinstance(body, bytes) and "content-length" not in names and not chunked:
            headers = {**headers, "Content-Length": str(len(body))}
        if "connection" not in names:
            headers = {**headers, "Connection": "close"}
        out = f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}\r\n"
        out += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        conn.sendall(out.encode("latin-1"))
        pieces = body() if callable(body) else [body[i:i + 65536] for i in range(0, len(body), 65536)]
        for piece in pieces:
            if self._stop.is_set():
                return
            if not piece:
                continue
            if chunked:
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            else:
                conn.sendall(piece)
        if chunked:
            conn.sendall(b"0\r\n\r\n")
        if self.tls:
            # close_notify: the clean end of a body framed by the close.
            try:
                conn.settimeout(1)
                conn.unwrap()
            except (OSError, ssl.SSLError, ValueError):
                pass
        else:
            try:
                conn.shutdown(socket.SHUT_WR)
            except OSError:
                pass
