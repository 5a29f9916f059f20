"""pgbench: jit_login with RS256 ID tokens vs. the same writes with no
verification. Rounds alternate so that both see the same machine noise."""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))

import psycopg  # noqa: E402

from idp import OidcIdP  # noqa: E402

HOST = os.environ["JIT_PGHOST"]
PORT = os.environ["JIT_PGPORT"]

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--transactions", type=int, default=4000, help="per client per round")
ap.add_argument("--clients", type=int, default=2)
ap.add_argument("--users", type=int, default=1000, help="distinct subjects the tokens cycle through")
args = ap.parse_args()

per_round = args.transactions * args.clients
total = per_round * args.rounds


def connect():
    return psycopg.connect(host=HOST, port=PORT, dbname="postgres", user="postgres", autocommit=True)


with connect() as db:
    db.execute("create extension jit_provision")
    db.execute("create role bench_app login")
    idp = OidcIdP(name="bench", issuer="https://login.bench.example", client_id="bench-app")
    idp.register(db)
    db.execute("insert into jit.group_map values ('bench', 'staff', 'staff'), ('bench', '*', 'everyone')")
    db.execute("create schema bench")
    db.execute("create table bench.tokens (id bigint primary key, token text not null, identity jsonb)")
    db.execute("create sequence bench.jit_seq")
    db.execute("create sequence bench.plain_seq")
    print(f"minting {total} RS256 ID tokens with PyJWT ...", flush=True)
    now = int(time.time())
    with db.cursor().copy("copy bench.tokens (id, token) from stdin") as cp:
        for i in range(1, total + 1):
            sub = f"user-{i % args.users}"
            claims = {"iss": idp.issuer, "aud": idp.client_id, "sub": sub, "iat": now, "exp": now + 3600,
                      "jti": uuid.uuid4().hex, "email": f"{sub}@bench.example", "name": sub,
                      "groups": ["staff", "other"]}
            cp.write_row((i, idp.mint(claims, alg="RS256")))
    # The baseline gets each token's identity precomputed (and a token id of
    # its own, so the two runs never replay each other's tokens).
    db.execute("update bench.tokens set identity = jit._verify(token, null, null) "
               "|| jsonb_build_object('token_id', 'plain-' || id)")
    db.execute("""
        create function bench.plain_login(p_id bigint) returns jit.login_result
        language sql security definer set search_path = pg_catalog, jit, pg_temp
        as $$ select a.user_id, a.created, a.groups
               from bench.tokens t, jit._apply_login(t.identity) a where t.id = p_id $$""")
    db.execute("grant usage on schema bench to bench_app")
    db.execute("grant select on bench.tokens to bench_app")
    db.execute("grant usage on all sequences in schema bench to bench_app")
    db.execute("grant execute on function bench.plain_login(bigint) to bench_app")
    db.execute("vacuum analyze")

scripts = {
    "jit_login": "select * from jit_login((select token from bench.tokens where id = (select nextval('bench.jit_seq'))));\n",
    "plain": "select * from bench.plain_login((select nextval('bench.plain_seq')));\n",
}
files = {}
for name, sql in scripts.items():
    f = tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False)
    f.write(sql)
    f.close()
    files[name] = f.name


def run(name):
    out = subprocess.run(
        ["pgbench", "-h", HOST, "-p", PORT, "-U", "bench_app", "-n", "-M", "prepared",
         "-c", str(args.clients), "-j", str(args.clients), "-t", str(args.transactions),
         "-f", files[name], "postgres"],
        capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"pgbench {name} failed:\n{out.stdout}\n{out.stderr}")
    for line in out.stdout.splitlines():
        if line.startswith("tps =") or line.startswith("tps="):
            return float(line.split("=")[1].split()[0])
    sys.exit(f"no tps in pgbench output:\n{out.stdout}")


tps = {"jit_login": [], "plain": []}
for r in range(args.rounds):
    for name in (("plain", "jit_login") if r % 2 == 0 else ("jit_login", "plain")):
        tps[name].append(run(name))
        print(f"round {r + 1}: {name:9s} {tps[name][-1]:9.1f} tps", flush=True)

with connect() as db:
    logins = db.execute("select count(*) from jit.login_events").fetchone()[0]
assert logins == 2 * total, (logins, total)

jit = sum(tps["jit_login"]) / args.rounds
plain = sum(tps["plain"]) / args.rounds
cores = os.cpu_count()
print()
print(f"machine: {cores} cores; PostgreSQL 15, synchronous_commit=off; {args.clients} clients, "
      f"{args.rounds} rounds x {per_round} logins each, {args.users} distinct users")
print(f"plain upsert (same writes, no verification): {plain:9.1f} tps")
print(f"jit_login, OIDC RS256:                       {jit:9.1f} tps")
print(f"ratio jit_login / plain:                     {jit / plain:9.2f}")
