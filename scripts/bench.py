"""pgbench: jit_login with RS256 ID tokens and with signed SAML Responses,
each beside the same writes with no verification. Rounds alternate so that
every series sees the same machine noise."""

import argparse
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))

import psycopg  # noqa: E402

from idp import OidcIdP  # noqa: E402
from saml_idp import SamlIdP  # noqa: E402

HOST = os.environ["JIT_PGHOST"]
PORT = os.environ["JIT_PGPORT"]

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=4)
ap.add_argument("--warmup", type=int, default=300, help="uncounted logins per client and series before round 1")
ap.add_argument("--transactions", type=int, default=3000, help="OIDC logins per client per round")
ap.add_argument("--saml-transactions", type=int, default=3000, help="SAML logins per client per round")
ap.add_argument("--clients", type=int, default=2)
ap.add_argument("--users", type=int, default=1000, help="distinct subjects the tokens cycle through")
args = ap.parse_args()

counts = {"oidc": args.transactions, "saml": args.saml_transactions}


def connect():
    return psycopg.connect(host=HOST, port=PORT, dbname="postgres", user="postgres", autocommit=True)


def oidc_tokens(n):
    idp = OidcIdP(name="bench-oidc", issuer="https://login.bench.example", client_id="bench-app")
    now = int(time.time())
    def mint(i):
        sub = f"user-{i % args.users}"
        return idp.mint({"iss": idp.issuer, "aud": idp.client_id, "sub": sub, "iat": now, "exp": now + 3600,
                         "jti": uuid.uuid4().hex, "email": f"{sub}@bench.example", "name": sub,
                         "groups": ["staff", "other"]}, alg="RS256")
    return idp, mint


def saml_tokens(n):
    idp = SamlIdP(name="bench-saml", issuer="http://www.okta.com/exkbench")
    def mint(i):
        xml = idp.issue(what="assertion", signer="signxml", family="rsa",
                        name_id=f"user-{i % args.users}@bench.example", lifetime=3600)
        return base64.b64encode(xml.encode()).decode()
    return idp, mint


with connect() as db:
    db.execute("create extension jit_provision")
    db.execute("create role bench_app login")
    db.execute("create schema bench")
    db.execute("create table bench.tokens (kind text, id bigint, token text not null, identity jsonb, "
               "primary key (kind, id))")
    sizes = {}
    for kind, make in (("oidc", oidc_tokens), ("saml", saml_tokens)):
        n = (counts[kind] * args.rounds + args.warmup) * args.clients
        idp, mint = make(n)
        idp.register(db)
        db.execute("insert into jit.group_map values (%s, '*', 'everyone')", (idp.name,))
        db.execute(f"create sequence bench.{kind}_jit_seq")
        db.execute(f"create sequence bench.{kind}_plain_seq")
        print(f"minting {n} {kind} tokens ...", flush=True)
        with db.cursor().copy("copy bench.tokens (kind, id, token) from stdin") as cp:
            for i in range(1, n + 1):
                cp.write_row((kind, i, mint(i)))
        sizes[kind] = db.execute("select avg(length(token))::int from bench.tokens where kind = %s", (kind,)).fetchone()[0]
    # The baseline gets each token's identity precomputed (and a token id of
    # its own, so the two series never replay each other's tokens). It still
    # fetches the token row, detoasting it as jit_login's series does, so the
    # ratio isolates verification and the shell around it.
    db.execute("update bench.tokens set identity = jit._verify(token, null, null) "
               "|| jsonb_build_object('token_id', 'plain-' || kind || id)")
    db.execute("""
        create function bench.plain_login(p_kind text, p_id bigint) returns jit.login_result
        language sql security definer set search_path = pg_catalog, jit, pg_temp
        as $$ select a.user_id, a.created, a.groups
              from bench.tokens t, jit._apply_login(t.identity) a
              where t.kind = p_kind and t.id = p_id and length(t.token) > 0 $$""")
    db.execute("grant usage on schema bench to bench_app")
    db.execute("grant select on bench.tokens to bench_app")
    db.execute("grant usage on all sequences in schema bench to bench_app")
    db.execute("grant execute on function bench.plain_login(text, bigint) to bench_app")
    db.execute("vacuum analyze")

scripts = {}
for kind in counts:
    scripts[f"{kind} jit_login"] = (kind, f"select * from jit_login((select token from bench.tokens where kind = '{kind}' "
                                          f"and id = (select nextval('bench.{kind}_jit_seq'))));\n")
    scripts[f"{kind} plain"] = (kind, f"select * from bench.plain_login('{kind}', (select nextval('bench.{kind}_plain_seq')));\n")
files = {}
for name, (_, sql) in scripts.items():
    f = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
    f.write(sql)
    f.close()
    files[name] = f.name


def run(name, transactions=None):
    kind = scripts[name][0]
    out = subprocess.run(
        ["pgbench", "-h", HOST, "-p", PORT, "-U", "bench_app", "-n", "-M", "prepared",
         "-c", str(args.clients), "-j", str(args.clients), "-t", str(transactions or counts[kind]),
         "-f", files[name], "postgres"],
        capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"pgbench {name} failed:\n{out.stdout}\n{out.stderr}")
    for line in out.stdout.splitlines():
        if line.startswith("tps ="):
            return float(line.split("=")[1].split()[0])
    sys.exit(f"no tps in pgbench output:\n{out.stdout}")


# Warm-up: caches, plans and the buffer pool, for every series alike.
for name in scripts:
    run(name, args.warmup)

tps = {name: [] for name in scripts}
order = list(scripts)
for r in range(args.rounds):
    for name in (order if r % 2 == 0 else order[::-1]):
        tps[name].append(run(name))
        print(f"round {r + 1}: {name:15s} {tps[name][-1]:9.1f} tps", flush=True)

with connect() as db:
    logins = db.execute("select count(*) from jit.login_events").fetchone()[0]
expected = 2 * sum((counts[k] * args.rounds + args.warmup) * args.clients for k in counts)
assert logins == expected, (logins, expected)

mean = {name: sum(v) / len(v) for name, v in tps.items()}
print()
print(f"machine: {os.cpu_count()} cores, {os.uname().machine}; PostgreSQL 15, synchronous_commit=off; "
      f"{args.clients} clients; {args.rounds} interleaved rounds after a warm-up; {args.users} distinct users")
for kind in counts:
    label = {"oidc": "OIDC RS256 ID token", "saml": "SAML Response, RSA-SHA256"}[kind]
    print(f"{label} (avg {sizes[kind]} bytes):")
    print(f"  plain upsert (same writes, no verification): {mean[kind + ' plain']:9.1f} tps")
    print(f"  jit_login:                                   {mean[kind + ' jit_login']:9.1f} tps")
    print(f"  ratio jit_login / plain:                     {mean[kind + ' jit_login'] / mean[kind + ' plain']:9.2f}")
    per_round = sorted(j / p for j, p in zip(tps[kind + ' jit_login'], tps[kind + ' plain']))
    print(f"  per-round ratios, sorted:                    {' '.join(f'{r:.2f}' for r in per_round)}")
    print(f"  median per-round ratio:                      {statistics.median(per_round):9.2f}")
