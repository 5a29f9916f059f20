"""pgbench, rounds interleaved so that every series sees the same machine
noise:

* jit_login with RS256 ID tokens and with signed SAML Responses;
* the bare reference ($JIT_PERF_DIR/bare_reference.sql, loaded at run time
  into schema "bare"): a plain PL/pgSQL function doing the writes a login
  needs, called with the same subjects, in the same order, with the same
  group lists as the jit_login tokens;
* the app-side peer ($JIT_PERF_DIR/appside_peer.py, run by
  scripts/bench_peer.py): PyJWT verification of the same ID tokens in the
  application, then its statements over psycopg, on its own tables (schema
  "peer"), one process per client;
* SCIM PATCH deactivate/reactivate through jit.scim beside the plain SQL
  update it performs.

After the rounds, a pgbench run of --rss-logins OIDC logins over one
connection per client samples the backends' resident memory."""

import argparse
import atexit
import base64
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
sys.path.insert(0, HERE)

import psycopg  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

import bench_peer  # noqa: E402
from idp import OidcIdP  # noqa: E402
from saml_idp import SamlIdP  # noqa: E402

HOST = os.environ["JIT_PGHOST"]
PORT = os.environ["JIT_PGPORT"]
BARE_SQL = os.path.join(bench_peer.PERF_DIR, "bare_reference.sql")
for ref in (BARE_SQL, bench_peer.REFERENCE):
    if not os.path.exists(ref):
        sys.exit(f"{ref} not found: set JIT_PERF_DIR to the directory holding bare_reference.sql and appside_peer.py")

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=4)
ap.add_argument("--warmup", type=int, default=300, help="uncounted logins per client and series before round 1")
ap.add_argument("--transactions", type=int, default=3000,
                help="OIDC logins per client per round (jit_login, bare, peer)")
ap.add_argument("--saml-transactions", type=int, default=3000,
                help="SAML logins per client per round (jit_login, bare)")
ap.add_argument("--scim-transactions", type=int, default=3000, help="SCIM PATCH requests per client per round")
ap.add_argument("--clients", type=int, default=4, help="pgbench clients, and app-side peer processes")
ap.add_argument("--users", type=int, default=1000, help="distinct subjects the tokens cycle through")
ap.add_argument("--rss-logins", type=int, default=200000,
                help="OIDC jit_login calls of the backend RSS run, over all clients (0: no RSS run; "
                     "200,000 add about two minutes on 2 cores, minting included)")
ap.add_argument("--rss-interval", type=float, default=0.5, help="seconds between RSS samples")
args = ap.parse_args()

counts = {"oidc": args.transactions, "saml": args.saml_transactions}
login_kinds = list(counts)
counts["scim"] = args.scim_transactions
rss_per_client = -(-args.rss_logins // args.clients)
PATCH_ACTIVE = ('{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],'
                '"Operations":[{"op":"replace","value":{"active":%s}}]}')
# The groups of user n, as the app-side reference gives them; the bare
# reference's groups table holds g1 .. g100, and jit.group_map maps each
# IdP group gN to the application group gN, so every series keeps the same
# three memberships per user.
N_GROUPS = 100


def groups_of(n):
    return ["g1", "g2", f"g{n % 50 + 3}"]


def connect():
    return psycopg.connect(host=HOST, port=PORT, dbname="postgres", user="postgres", autocommit=True)


# The OIDC provider uses the issuer and audience that the app-side
# reference's jwt.decode checks, so one set of ID tokens serves jit_login
# and the peer.
OIDC = OidcIdP(name="bench-oidc", issuer="https://idp", client_id="app")
SAML = SamlIdP(name="bench-saml", issuer="http://www.okta.com/exkbench")
NOW = int(time.time())


def mint_oidc(i):
    n = i % args.users
    sub = f"user-{n}"
    token = OIDC.mint({"iss": OIDC.issuer, "aud": OIDC.client_id, "sub": sub, "iat": NOW, "exp": NOW + 86400,
                       "jti": uuid.uuid4().hex, "email": f"{sub}@bench.example", "name": sub,
                       "groups": groups_of(n)}, alg="RS256")
    return token, sub, groups_of(n)


def mint_saml(i):
    n = i % args.users
    name_id = f"user-{n}@bench.example"
    attrs = [(a, groups_of(n) if a == SAML.attribute_names()["groups"] else v)
             for a, v in SAML.default_attributes(name_id)]
    xml = SAML.issue(what="assertion", signer="signxml", family="rsa", name_id=name_id, lifetime=86400,
                     attributes=attrs)
    return base64.b64encode(xml.encode()).decode(), name_id, groups_of(n)


MINT = {"oidc": mint_oidc, "saml": mint_saml, "rss": mint_oidc}


def _mint(job):
    kind, i = job
    return (kind, i) + MINT[kind](i)


def mint_into(db, kind, n):
    """Tokens 1..n of a kind into bench.tokens, signed on every core."""
    print(f"minting {n} {kind} tokens ...", flush=True)
    with multiprocessing.get_context("fork").Pool(os.cpu_count()) as pool, \
            db.cursor().copy("copy bench.tokens (kind, id, token, subject, groups) from stdin") as cp:
        for row in pool.imap_unordered(_mint, ((kind, i) for i in range(1, n + 1)), chunksize=200):
            cp.write_row(row)


def pem_keys():
    key = OIDC.keys["rsa"]
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return priv, pub


t_begin = time.time()
with connect() as db:
    db.execute("create extension jit_provision")
    db.execute("create role bench_app login")
    db.execute("create schema bench")
    db.execute("create table bench.tokens (kind text, id bigint, token text not null, "
               "subject text not null, groups text[] not null, primary key (kind, id))")
    # Uncompressed, as a client sends a token: the jit_login series must not
    # pay for decompressing an 11 KB SAML Response the bare series never reads.
    db.execute("alter table bench.tokens alter column token set storage external")
    # The bare reference, and the peer's tables (the same DDL: the peer
    # issues its statements against them), each in a schema of its own.
    with open(BARE_SQL) as f:
        bare_sql = f.read()
    for schema in ("bare", "peer"):
        db.execute(f"create schema {schema}")
        db.execute(f"set search_path = {schema}")
        db.execute(bare_sql)
        db.execute("reset search_path")
        db.execute(f"grant usage on schema {schema} to bench_app")
        db.execute(f"grant select, insert, update, delete on all tables in schema {schema} to bench_app")
        db.execute(f"grant usage on all sequences in schema {schema} to bench_app")
        db.execute(f"grant execute on all functions in schema {schema} to bench_app")
    sizes = {}
    for kind, idp in (("oidc", OIDC), ("saml", SAML)):
        n = (counts[kind] * args.rounds + args.warmup) * args.clients
        idp.register(db)
        db.execute("insert into jit.group_map select %s, 'g' || i, 'g' || i from generate_series(1, %s) i",
                   (idp.name, N_GROUPS))
        for use in ("jit", "bare"):
            db.execute(f"create sequence bench.{kind}_{use}_seq")
        mint_into(db, kind, n)
        sizes[kind] = db.execute("select avg(length(token))::int from bench.tokens where kind = %s", (kind,)).fetchone()[0]
    if args.rss_logins:
        mint_into(db, "rss", rss_per_client * args.clients)
        db.execute("create sequence bench.rss_jit_seq")
    # SCIM: the same users, deactivated and reactivated in turn (an odd
    # sequence number deactivates user n, the next even one reactivates
    # it), through jit.scim with a real bearer token, and through the plain
    # statements the same change needs: the user row, and the provider's
    # grants dropped on deactivation.
    scim_token = db.execute("select jit.scim_token('bench-oidc')").fetchone()[0]
    db.execute("""insert into jit.users (provider, subject, user_name, email)
                  select 'bench-oidc', 'scim-' || i, 'scim-' || i, 'scim-' || i || '@bench.example'
                  from generate_series(0, %s - 1) i""", (args.users,))
    db.execute("create table bench.scim_users (n int primary key, id uuid not null)")
    db.execute("insert into bench.scim_users select row_number() over (order by subject) - 1, id "
               "from jit.users where subject like 'scim-%'")
    db.execute("create sequence bench.scim_jit_seq")
    db.execute("create sequence bench.scim_plain_seq")
    db.execute("""
        create function bench.plain_active(p_id uuid, p_active boolean) returns integer
        language plpgsql security definer set search_path = pg_catalog, jit, pg_temp
        as $$ begin
            update jit.users u
            set blocked = not p_active, scim_blocked = not p_active,
                disabled_at = case when p_active then null else coalesce(u.disabled_at, now()) end,
                updated_at = now()
            where u.id = p_id and u.provider = 'bench-oidc' and u.retired_at is null;
            if not p_active then
                delete from jit.memberships m where m.user_id = p_id and m.source = 'bench-oidc';
            end if;
            return 200;
        end $$""")
    db.execute("grant execute on function bench.plain_active(uuid, boolean) to bench_app")
    # The body's JSON holds ':' sequences that pgbench would take for its
    # variables: it comes from a function.
    db.execute(f"""create function bench.active_patch(p_active boolean) returns text
                   language sql immutable as $$ select format('{PATCH_ACTIVE}', p_active::text) $$""")
    db.execute("grant execute on function bench.active_patch(boolean) to bench_app")
    status, body = db.execute(
        "select status, body from jit.scim('PATCH', '/Users/' || (select id from bench.scim_users where n = 0), "
        "null, bench.active_patch(true), %s)", ("Bearer " + scim_token,)).fetchone()
    assert status == 200, (status, body)
    db.execute("grant usage on schema bench to bench_app")
    db.execute("grant select on bench.tokens, bench.scim_users to bench_app")
    db.execute("grant usage on all sequences in schema bench to bench_app")
    db.execute("vacuum analyze")

# name -> (kind, what it does, pgbench script or None for the peer, PGOPTIONS)
LABEL = {"oidc": "RS256 ID token", "saml": "SAML Response"}
series = {}
for kind in login_kinds:
    series[f"{kind} jit_login"] = (
        kind, f"jit_login({LABEL[kind]}): verify, replay row, user upsert, groups, audit",
        f"select * from jit_login((select token from bench.tokens where kind = '{kind}' "
        f"and id = (select nextval('bench.{kind}_jit_seq'))));\n", None)
    series[f"{kind} bare"] = (
        kind, "bare_reference.sql login(subject, groups) in schema bare: same subjects, order, groups; "
              "no verification",
        f"select bare.login(t.subject, t.groups) from bench.tokens t where t.kind = '{kind}' "
        f"and t.id = (select nextval('bench.{kind}_bare_seq'));\n", "-c search_path=bare")
    if kind == "oidc":
        series["oidc peer"] = (
            kind, "appside_peer.py worker, same ID tokens: PyJWT verify in the app, its statements over "
                  "psycopg (schema peer), one process per client", None, None)
# \set picks the user (two consecutive sequence numbers: one user) and the
# state; both series do exactly the same sequence of changes.
for name, what, call in (
        ("scim jit.scim", "jit.scim PATCH active=false/true (Okta's deactivate/reactivate body, bearer token)",
         "select status from jit.scim('PATCH', '/Users/' || (select id from bench.scim_users where n = :n), "
         f"null, bench.active_patch((:active)::boolean), 'Bearer {scim_token}')"),
        ("scim plain", "the plain SQL update the same SCIM change performs (same rows changed)",
         "select bench.plain_active((select id from bench.scim_users where n = :n), (:active)::boolean)")):
    seq = "bench.scim_jit_seq" if "jit.scim" in name else "bench.scim_plain_seq"
    series[name] = ("scim", what, f"select nextval('{seq}') as k \\gset\n"
                                  f"\\set n (:k / 2) % {args.users}\n"
                                  f"\\set active (:k % 2 = 0)\n{call};\n", None)
if args.rss_logins:
    series["rss jit_login"] = (
        "rss", "jit_login(RS256 ID token), one connection per client for the whole run",
        "select * from jit_login((select token from bench.tokens where kind = 'rss' "
        "and id = (select nextval('bench.rss_jit_seq'))));\n", None)
files = {}
atexit.register(lambda: [os.unlink(f) for f in files.values()])
for name, (_, _, sql, _) in series.items():
    if sql is not None:
        f = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
        f.write(sql)
        f.close()
        files[name] = f.name


def pgbench(name, transactions):
    env = dict(os.environ)
    if series[name][3]:
        env["PGOPTIONS"] = series[name][3]
    out = subprocess.run(
        ["pgbench", "-h", HOST, "-p", PORT, "-U", "bench_app", "-n", "-M", "prepared",
         "-c", str(args.clients), "-j", str(args.clients), "-t", str(transactions),
         "-f", files[name], "postgres"],
        capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"pgbench {name} failed:\n{out.stdout}\n{out.stderr}")
    for line in out.stdout.splitlines():
        if line.startswith("tps ="):
            return float(line.split("=")[1].split()[0])
    sys.exit(f"no tps in pgbench output:\n{out.stdout}")


PEER_DSN = (f"host={HOST} port={PORT} dbname=postgres user=bench_app "
            "options='-c search_path=peer -c synchronous_commit=off'")
PEM_PRIV, PEM_PUB = pem_keys()
peer_next = 1  # the peer walks the OIDC tokens in order, as the jit_login series' sequence does


def peer(transactions):
    global peer_next
    total = transactions * args.clients
    with connect() as db:
        rows = db.execute("select token from bench.tokens where kind = 'oidc' and id >= %s and id < %s "
                          "order by id", (peer_next, peer_next + total)).fetchall()
    assert len(rows) == total, (len(rows), total)
    peer_next += total
    tokens = [r[0] for r in rows]
    # token k goes to client k mod clients, so that at any moment the
    # clients work on consecutive tokens, as pgbench's clients on nextval.
    return bench_peer.run(PEER_DSN, [tokens[w::args.clients] for w in range(args.clients)], PEM_PRIV, PEM_PUB)


def run(name, transactions=None):
    kind = series[name][0]
    transactions = counts[kind] if transactions is None else transactions
    if series[name][2] is None:
        return peer(transactions)
    return pgbench(name, transactions)


def fmt_row(label, values, width=9, prec=1):
    return f"  {label:22s}" + "".join(f"{v:{width}.{prec}f}" for v in values)


t_start = time.time()
# Warm-up: caches, plans and the buffer pool, for every series alike.
rounds_series = [name for name in series if series[name][0] != "rss"]
if args.warmup:
    for name in rounds_series:
        run(name, args.warmup)

tps = {name: [] for name in rounds_series}
for r in range(args.rounds):
    for name in (rounds_series if r % 2 == 0 else rounds_series[::-1]):
        tps[name].append(run(name))
        print(f"round {r + 1}: {name:15s} {tps[name][-1]:9.1f} tps", flush=True)
t_rounds = time.time() - t_start


# ------------------------------------------------------------------ RSS

def rss_run():
    """pgbench over one connection per client for the whole run; a side
    thread samples /proc/<pid>/status of the pgbench backends."""
    fields = ("VmRSS", "RssAnon", "RssShmem")
    samples = {}  # pid -> [(VmRSS, RssAnon, RssShmem) kB]
    done = threading.Event()

    def sample():
        with connect() as mon:
            while not done.is_set():
                pids = [r[0] for r in mon.execute(
                    "select pid from pg_stat_activity where usename = 'bench_app' "
                    "and application_name = 'pgbench' and backend_type = 'client backend'")]
                for pid in pids:
                    try:
                        with open(f"/proc/{pid}/status") as f:
                            st = dict(line.split(":", 1) for line in f)
                    except OSError:
                        continue
                    samples.setdefault(pid, []).append(tuple(int(st[k].split()[0]) for k in fields))
                done.wait(args.rss_interval)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    t0 = time.time()
    rate = pgbench("rss jit_login", rss_per_client)
    elapsed = time.time() - t0
    done.set()
    th.join()
    rows = []
    for pid, s in sorted(samples.items()):
        k = max(1, len(s) // 10)
        first = [statistics.mean(x[j] for x in s[:k]) for j in range(len(fields))]
        last = [statistics.mean(x[j] for x in s[-k:]) for j in range(len(fields))]
        rows.append((pid, len(s), first, last))
    return rate, elapsed, rows


t_rss = time.time()
rss = rss_run() if args.rss_logins else None
t_rss = time.time() - t_rss

# ------------------------------------------------------------------ checks

with connect() as db:
    logins = db.execute("select count(*) from jit.login_events").fetchone()[0]
    expected = sum((counts[k] * args.rounds + args.warmup) * args.clients for k in login_kinds)
    if args.rss_logins:
        expected += rss_per_client * args.clients
    assert logins == expected, (logins, expected)
    scim_events = db.execute("select count(*) from jit.scim_events").fetchone()[0]
    assert scim_events == (counts["scim"] * args.rounds + args.warmup) * args.clients + 1, scim_events
    bare_logins = db.execute("select count(*) from bare.audit").fetchone()[0]
    assert bare_logins == sum((counts[k] * args.rounds + args.warmup) * args.clients for k in login_kinds)
    peer_logins = db.execute("select count(*) from peer.audit").fetchone()[0]
    assert peer_logins == (counts["oidc"] * args.rounds + args.warmup) * args.clients, peer_logins
    # Comparable membership work: the same (subject, group) pairs in all.
    jit_pairs = set(db.execute(
        "select u.provider, u.subject, m.group_name from jit.memberships m join jit.users u on u.id = m.user_id "
        "where u.provider in ('bench-oidc', 'bench-saml') and u.subject like 'user-%'").fetchall())
    bare_pairs = set(db.execute(
        "select case when u.subject like '%@%' then 'bench-saml' else 'bench-oidc' end, u.subject, g.name "
        "from bare.members m join bare.users u on u.id = m.user_id join bare.groups g on g.id = m.group_id"
    ).fetchall())
    peer_pairs = set(db.execute(
        "select 'bench-oidc', u.subject, g.name "
        "from peer.members m join peer.users u on u.id = m.user_id join peer.groups g on g.id = m.group_id"
    ).fetchall())
    assert jit_pairs == bare_pairs, (len(jit_pairs), len(bare_pairs))
    assert {p for p in jit_pairs if p[0] == "bench-oidc"} == peer_pairs, len(peer_pairs)
    n_pairs = {k: sum(1 for p in jit_pairs if p[0] == "bench-" + k) for k in login_kinds}

# ------------------------------------------------------------------ report

mean = {name: sum(v) / len(v) for name, v in tps.items()}
print()
print(f"machine: {os.cpu_count()} cores, {os.uname().machine}; PostgreSQL 15, synchronous_commit=off; "
      f"{args.clients} clients (pgbench -M prepared, one peer process each); {args.rounds} interleaved rounds "
      f"after a warm-up of {args.warmup} per client; {args.users} distinct users, 3 groups each; "
      f"{t_start - t_begin:.0f} s setup and minting, {t_rounds:.0f} s warm-up and rounds, "
      f"{t_rss:.0f} s RSS run")
print(f"tokens: OIDC RS256 avg {sizes['oidc']} bytes; SAML Response (RSA-SHA256, assertion signed, "
      f"base64) avg {sizes['saml']} bytes; {counts['oidc']} OIDC / {counts['saml']} SAML logins and "
      f"{counts['scim']} SCIM requests per client per round")
print(f"memberships: jit_login, bare and peer end with the same (subject, group) pairs "
      f"({n_pairs['oidc']} OIDC, {n_pairs['saml']} SAML; jit.group_map maps IdP group gN to app group gN)")
print("arguments: " + (" ".join(sys.argv[1:]) or "(defaults)"))
print()
print("series:")
for name, (_, what, _, _) in series.items():
    if name in tps:
        print(f"  {name:15s} {what}")
print()
heads = "".join(f"{'r' + str(r + 1):>9s}" for r in range(args.rounds))
print(f"  {'tps':22s}{heads}{'mean':>9s}{'median':>9s}")
for name in rounds_series:
    print(fmt_row(name, tps[name] + [mean[name], statistics.median(tps[name])]))
print()
ratios = [("oidc jit/bare", "oidc jit_login", "oidc bare"),
          ("saml jit/bare", "saml jit_login", "saml bare"),
          ("oidc jit/peer", "oidc jit_login", "oidc peer"),
          ("scim jit.scim/plain", "scim jit.scim", "scim plain")]
print(f"  {'ratio (per round)':22s}{heads}{'':9s}{'median':>9s}")
for label, a, b in ratios:
    per_round = [x / y for x, y in zip(tps[a], tps[b])]
    print(f"  {label:22s}" + "".join(f"{v:9.2f}" for v in per_round) + f"{'':9s}{statistics.median(per_round):9.2f}")
print()
if rss is None:
    print("backend RSS: not measured (--rss-logins 0)")
else:
    rate, elapsed, rows = rss
    print(f"backend RSS over {rss_per_client * args.clients} OIDC jit_login calls ({rss_per_client} per backend, "
          f"{args.clients} connections held for the run, {elapsed:.0f} s, {rate:.0f} tps); "
          f"mean of the first and last 10% of each backend's samples (every {args.rss_interval} s), kB:")
    # per backend: VmRSS, RssShmem, the rest (private memory and mapped
    # files), RssAnon; each as first, last, growth
    cols = [("VmRSS", lambda v: v[0]), ("RssShmem", lambda v: v[2]),
            ("VmRSS-RssShmem", lambda v: v[0] - v[2]), ("RssAnon", lambda v: v[1])]
    print(f"  {'':16s}" + "".join(f"{c:>25s}" for c, _ in cols))
    print(f"  {'backend':>8s}{'samples':>8s}" + f"{'first':>9s}{'last':>9s}{'growth':>7s}" * len(cols))
    growth = {c: [] for c, _ in cols}
    for pid, n, first, last in rows:
        line = f"  {pid:8d}{n:8d}"
        for c, f in cols:
            g = 100 * (f(last) / f(first) - 1)
            growth[c].append(g)
            line += f"{f(first):9.0f}{f(last):9.0f}{g:6.1f}%"
        print(line)
    print("  largest growth over the backends: " + ", ".join(f"{c} {max(growth[c]):.1f}%" for c, _ in cols))
    print("  (RssShmem is the part of shared memory the backend has touched: it grows as the backend reaches "
          "more of shared_buffers, which is not backend memory; VmRSS-RssShmem is its private memory and "
          "mapped files, RssAnon its private memory alone)")
