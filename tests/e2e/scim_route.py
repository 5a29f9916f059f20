"""An application's SCIM endpoint, as small as it can be: a threaded HTTP
server (Python stdlib) that forwards every request under /scim/v2 to
jit.scim and copies status, headers and body back. The SQL function does
everything else (bearer token, routing, filters, PATCH, errors)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

PREFIX = "/scim/v2"
SQL = "select status, headers, body from jit.scim(%s, %s, %s, %s, %s, %s, %s)"


class ScimHandler(BaseHTTPRequestHandler):
    def forward(self):
        path, _, query = self.path.partition("?")
        if not path.startswith(PREFIX + "/"):
            return self.send_error(404)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else None
        try:
            with psycopg.connect(self.server.conninfo) as conn:  # one transaction, committed on exit
                status, headers, payload = conn.execute(SQL, (
                    self.command, path[len(PREFIX):], query or None, body, self.headers.get("Authorization"),
                    f"http://{self.headers['Host']}{PREFIX}", self.headers.get("If-Match"))).fetchone()
        except psycopg.Error as e:  # internal failures only: protocol errors come back as rows
            self.log_error("jit.scim: %s", e)
            return self.send_error(500)
        data = b"" if payload is None else json.dumps(payload).encode()  # None: 204 No Content
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if data:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = forward

    def log_request(self, *args):  # no access log in the tests; errors are still logged
        pass


def serve(conninfo, host="127.0.0.1", port=0):
    """Starts the route on a free port, connecting with `conninfo` (the
    application role); returns the server (server_address, shutdown())."""
    server = ThreadingHTTPServer((host, port), ScimHandler)
    server.conninfo = conninfo
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
