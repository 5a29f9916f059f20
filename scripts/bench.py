"""pgbench: jit_login with RS256 ID tokens and with signed SAML Responses,
each beside the same writes with no verification; and SCIM PATCH
deactivate/reactivate through jit.scim beside the plain SQL update it
performs. Rounds alternate so that every series sees the same machine
noise."""

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
ap.add_argument("--scim-transactions", type=int, default=3000, help="SCIM PATCH requests per client per round")
ap.add_argument("--clients", type=int, default=2)
ap.add_argument("--users", type=int, default=1000, help="distinct subjects the tokens cycle through")
args = ap.parse_args()

counts = {"oidc": args.transactions, "saml": args.saml_transactions}
login_kinds = list(counts)
counts["scim"] = args.scim_transactions
PATCH_ACTIVE = ('{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],'
                '"Operations":[{"op":"replace","value":{"active":%s}}]}')


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
        if kind not in login_kinds:
            continue
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
    db.execute("grant execute on function bench.plain_login(text, bigint) to bench_app")
    db.execute("vacuum analyze")

scripts = {}
for kind in login_kinds:
    scripts[f"{kind} jit_login"] = (kind, f"select * from jit_login((select token from bench.tokens where kind = '{kind}' "
                                          f"and id = (select nextval('bench.{kind}_jit_seq'))));\n")
    scripts[f"{kind} plain"] = (kind, f"select * from bench.plain_login('{kind}', (select nextval('bench.{kind}_plain_seq')));\n")
# \set picks the user (two consecutive sequence numbers: one user) and the
# state; both series do exactly the same sequence of changes.
for series, call in (("scim jit.scim", "select status from jit.scim('PATCH', '/Users/' || (select id from bench.scim_users where n = :n), "
                                       f"null, bench.active_patch((:active)::boolean), 'Bearer {scim_token}')"),
                     ("scim plain", "select bench.plain_active((select id from bench.scim_users where n = :n), (:active)::boolean)")):
    seq = "bench.scim_jit_seq" if "jit.scim" in series else "bench.scim_plain_seq"
    scripts[series] = ("scim", f"select nextval('{seq}') as k \\gset\n"
                               f"\\set n (:k / 2) % {args.users}\n"
                               f"\\set active (:k % 2 = 0)\n{call};\n")
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
expected = 2 * sum((counts[k] * args.rounds + args.warmup) * args.clients for k in login_kinds)
assert logins == expected, (logins, expected)

mean = {name: sum(v) / len(v) for name, v in tps.items()}
print()
print(f"machine: {os.cpu_count()} cores, {os.uname().machine}; PostgreSQL 15, synchronous_commit=off; "
      f"{args.clients} clients; {args.rounds} interleaved rounds after a warm-up; {args.users} distinct users")
with connect() as db:
    scim_events = db.execute("select count(*) from jit.scim_events").fetchone()[0]
assert scim_events == (counts["scim"] * args.rounds + args.warmup) * args.clients + 1, scim_events
for kind in login_kinds:
    label = {"oidc": "OIDC RS256 ID token", "saml": "SAML Response, RSA-SHA256"}[kind]
    print(f"{label} (avg {sizes[kind]} bytes):")
    print(f"  plain upsert (same writes, no verification): {mean[kind + ' plain']:9.1f} tps")
    print(f"  jit_login:                                   {mean[kind + ' jit_login']:9.1f} tps")
    print(f"  ratio jit_login / plain:                     {mean[kind + ' jit_login'] / mean[kind + ' plain']:9.2f}")
    per_round = sorted(j / p for j, p in zip(tps[kind + ' jit_login'], tps[kind + ' plain']))
    print(f"  per-round ratios, sorted:                    {' '.join(f'{r:.2f}' for r in per_round)}")
    print(f"  median per-round ratio:                      {statistics.median(per_round):9.2f}")
print("SCIM PATCH active=false/true (Okta's deactivate/reactivate body, bearer token):")
print(f"  plain SQL update (same rows changed):        {mean['scim plain']:9.1f} tps")
print(f"  jit.scim:                                    {mean['scim jit.scim']:9.1f} tps")
per_round = sorted(j / p for j, p in zip(tps['scim jit.scim'], tps['scim plain']))
print(f"  ratio jit.scim / plain:                      {mean['scim jit.scim'] / mean['scim plain']:9.2f}")
print(f"  per-round ratios, sorted:                    {' '.join(f'{r:.2f}' for r in per_round)}")
print(f"  median per-round ratio:                      {statistics.median(per_round):9.2f}")
