"""The application-side peer of the benchmark: what an application does
without jit_provision. It runs the worker of the reference script
appside_peer.py (in $JIT_PERF_DIR, default ../shared/perf next to the
repository), loaded from there at run time: its PyJWT RS256 verification and
the statements it issues over psycopg are used as they stand, not restated
here.

What is adapted, as the reference's README allows (DSN and token source), and
why:

* DSN: the reference's module-level DSN is set to the benchmark cluster, as
  the benchmark's role, with search_path set to the peer's own schema, where
  the tables of bare_reference.sql are loaded for it.
* Token source: the reference worker mints its own tokens (subjects user0 ..
  user99999, a fresh key per run). Its jwt.encode is answered instead with
  the benchmark's OIDC ID tokens, so the peer verifies the same tokens (same
  key, claims, size), for the same subjects in the same order, with the same
  group lists, as the jit_login OIDC series. The benchmark's provider uses the
  issuer and audience the reference's jwt.decode checks.
* Start: the reference times each worker from its own connect, and workers
  begin whenever their minting ends, so they need not overlap. Here each
  worker waits at a barrier after connecting, so all clients run their timed
  loops at once, as pgbench's clients do; the rate is all logins over the
  slowest worker's time, as in the reference.
"""

import importlib.util
import multiprocessing
import os

PERF_DIR = os.environ.get("JIT_PERF_DIR",
                          os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "perf"))
REFERENCE = os.path.join(PERF_DIR, "appside_peer.py")


def load_reference():
    spec = importlib.util.spec_from_file_location("appside_peer", REFERENCE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _TokenSource:
    """Stands in for the reference's `jwt` module: encode() hands out the
    given tokens in order (the claims the reference builds are ignored);
    decode() and everything else is PyJWT's."""

    def __init__(self, jwt, tokens):
        self._jwt = jwt
        self._tokens = iter(tokens)

    def encode(self, *_args, **_kwargs):
        return next(self._tokens)

    def __getattr__(self, name):
        return getattr(self._jwt, name)


class _BarrierConnect:
    """Stands in for the reference's `psycopg` module: connect() connects,
    then waits until every worker has connected."""

    def __init__(self, psycopg, barrier):
        self._psycopg = psycopg
        self._barrier = barrier

    def connect(self, *args, **kwargs):
        conn = self._psycopg.connect(*args, **kwargs)
        self._barrier.wait()
        return conn

    def __getattr__(self, name):
        return getattr(self._psycopg, name)


def _child(wid, tokens, pem_priv, pem_pub, dsn, barrier, results):
    try:
        ref = load_reference()
        ref.DSN = dsn
        ref.jwt = _TokenSource(ref.jwt, tokens)
        ref.psycopg = _BarrierConnect(ref.psycopg, barrier)
        results.put((wid, ref.worker((wid, len(tokens), pem_priv, pem_pub))))
    except BaseException as e:  # reported by the parent
        barrier.abort()
        results.put((wid, e))
        raise


def run(dsn, tokens_per_worker, pem_priv, pem_pub):
    """Runs one worker process per token list, concurrently; returns logins
    per second over the whole run."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(len(tokens_per_worker))
    results = ctx.Queue()
    procs = [ctx.Process(target=_child, args=(w, toks, pem_priv, pem_pub, dsn, barrier, results))
             for w, toks in enumerate(tokens_per_worker)]
    for p in procs:
        p.start()
    out = [results.get() for _ in procs]
    for p in procs:
        p.join()
    errors = [r for _, r in out if isinstance(r, BaseException)]
    if errors:
        raise RuntimeError(f"app-side peer worker failed: {errors[0]!r}")
    total = sum(n for _, (n, _) in out)
    wall = max(t for _, (_, t) in out)
    return total / wall
