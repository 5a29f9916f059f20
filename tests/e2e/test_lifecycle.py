"""Account lifecycle: jit.cleanup (stale users, deletion, replay-cache purge,
the safety valve) and jit.deprovision (offboarding, blocking)."""

import datetime

import psycopg
import pytest

from conftest import connect
from db import login, rejection, snapshot
from idp import OidcIdP

DAY = datetime.timedelta(days=1)


def setup_groups(admin, provider="acme"):
    for idp_group, app_group in [("eng", "developers"), ("*", "everyone")]:
        admin.execute("insert into jit.group_map values (%s, %s, %s)", (provider, idp_group, app_group))


def hand_grant(admin, sub, group):
    admin.execute("insert into jit.groups values (%s) on conflict do nothing", (group,))
    admin.execute(
        "insert into jit.memberships (user_id, group_name, source) "
        "select id, %s, null from jit.users where subject = %s", (group, sub))


def log_in(app, idp, *subs, groups=("eng",)):
    return {s: login(app, idp.mint(idp.claims(sub=s, groups=list(groups)))) for s in subs}


def idle(admin, sub, days):
    """Pretends the user's last login was `days` ago."""
    admin.execute("update jit.users set last_login_at = now() - %s * interval '1 day' where subject = %s",
                  (days, sub))


def state(admin, provider="acme"):
    """subject -> (enabled, blocked) for every user of the provider."""
    rows = admin.execute(
        "select subject, disabled_at is null, blocked from jit.users where provider = %s order by 1",
        (provider,)).fetchall()
    return {s: (enabled, blocked) for s, enabled, blocked in rows}


def groups_of(admin, sub):
    return admin.execute(
        "select m.group_name, m.source from jit.memberships m join jit.users u on u.id = m.user_id "
        "where u.subject = %s order by 1", (sub,)).fetchall()


def cleanup(conn, *args, **kwargs):
    """jit.cleanup; returns ({provider: (disabled, deleted, purged_tokens)}, [warnings])."""
    notices = []

    def handler(diag):  # the Diagnostic is only readable inside the callback
        notices.append((diag.severity_nonlocalized, diag.message_primary))

    conn.add_notice_handler(handler)
    try:
        params = ["%s"] * len(args) + [f"{k} => %s" for k in kwargs]
        cur = conn.execute(f"select * from jit.cleanup({', '.join(params)})", [*args, *kwargs.values()])
        rows = cur.fetchall()
    finally:
        conn.remove_notice_handler(handler)
    assert [d.name for d in cur.description] == ["provider", "disabled", "deleted", "purged_tokens"]
    warnings = [message for severity, message in notices if severity == "WARNING"]
    return {p: tuple(r) for p, *r in rows}, warnings


def now(admin):
    return admin.execute("select now()").fetchone()[0]


@pytest.fixture
def beta(admin):
    p = OidcIdP(name="beta", issuer="https://idp.example.com/beta", client_id="app-1")
    p.register(admin)
    return p


# ---------------------------------------------------------------------------
# stale_after
# ---------------------------------------------------------------------------

def test_cleanup_disables_stale_users_and_drops_only_provider_grants(idp, app, admin):
    setup_groups(admin)
    log_in(app, idp, "a", "b", "c", "d", "f")
    hand_grant(admin, "a", "auditors")
    idle(admin, "a", 40)
    # Never logged in: created_at counts. "e" is old and idle, "f" old but active.
    admin.execute("insert into jit.users (provider, subject, created_at) "
                  "values ('acme', 'e', now() - interval '40 days')")
    admin.execute("update jit.users set created_at = now() - interval '400 days' where subject = 'f'")
    admin.execute("update jit.providers set stale_after = '30 days'")
    before_b = groups_of(admin, "b")
    at = now(admin)

    rows, warnings = cleanup(admin, at)

    assert rows == {"acme": (2, 0, 0)}
    assert warnings == []
    assert state(admin) == {"a": (False, False), "b": (True, False), "c": (True, False),
                            "d": (True, False), "e": (False, False), "f": (True, False)}
    assert admin.execute("select count(*) from jit.users where disabled_at = %s", (at,)).fetchone()[0] == 2
    # The provider's grants are gone, the hand-made one stays; others untouched.
    assert groups_of(admin, "a") == [("auditors", None)]
    assert groups_of(admin, "b") == before_b == [("developers", "acme"), ("everyone", "acme")]
    # A second run finds nothing new and keeps the first disabled_at.
    rows, _ = cleanup(admin, at + DAY)
    assert rows == {"acme": (0, 0, 0)}
    assert admin.execute("select count(*) from jit.users where disabled_at = %s", (at,)).fetchone()[0] == 2


def test_cleanup_without_stale_after_disables_nobody(idp, app, admin):
    log_in(app, idp, "a", "b")
    idle(admin, "a", 4000)
    rows, _ = cleanup(admin)
    assert rows == {"acme": (0, 0, 0)}
    assert state(admin) == {"a": (True, False), "b": (True, False)}


def test_disabled_user_logs_in_again_and_is_enabled(idp, app, admin):
    setup_groups(admin)
    first = log_in(app, idp, "a", "b", "c")["a"]
    idle(admin, "a", 40)
    admin.execute("update jit.providers set stale_after = '30 days'")
    assert cleanup(admin)[0] == {"acme": (1, 0, 0)}
    assert groups_of(admin, "a") == []

    again = login(app, idp.mint(idp.claims(sub="a", groups=["eng"])))

    assert again["created"] is False and again["user_id"] == first["user_id"]
    assert again["groups"] == ["developers", "everyone"]
    row = admin.execute("select disabled_at, login_count, last_login_at > now() - interval '1 minute' "
                        "from jit.users where subject = 'a'").fetchone()
    assert row == (None, 2, True)
    assert groups_of(admin, "a") == [("developers", "acme"), ("everyone", "acme")]


def test_cleanup_frees_seats(idp, app, admin):
    admin.execute("update jit.providers set seat_limit = 2, stale_after = '30 days'")
    log_in(app, idp, "a", "b")
    assert rejection(app, idp.mint(idp.claims(sub="c"))) == ("28000", "seat_limit_reached")
    idle(admin, "a", 40)
    assert cleanup(admin)[0] == {"acme": (1, 0, 0)}
    assert login(app, idp.mint(idp.claims(sub="c")))["created"] is True
    # The contract's "existing users still log in": a disabled user who comes
    # back is enabled again, even on a full provider (README says so).
    assert login(app, idp.mint(idp.claims(sub="a")))["created"] is False
    assert state(admin) == {"a": (True, False), "b": (True, False), "c": (True, False)}


# ---------------------------------------------------------------------------
# delete_after
# ---------------------------------------------------------------------------

def test_delete_after_deletes_users_disabled_long_enough(idp, app, admin):
    setup_groups(admin)
    users = log_in(app, idp, "old", "recent", "active", "blocked")
    admin.execute("update jit.providers set delete_after = '10 days'")
    admin.execute("update jit.users set disabled_at = now() - interval '20 days' where subject in ('old', 'blocked')")
    admin.execute("update jit.users set disabled_at = now() - interval '5 days' where subject = 'recent'")
    admin.execute("update jit.users set blocked = true where subject = 'blocked'")
    hand_grant(admin, "old", "auditors")

    rows, _ = cleanup(admin)

    assert rows == {"acme": (0, 1, 0)}
    # A blocked user's row is kept: deleting it would lift the block.
    assert state(admin) == {"active": (True, False), "blocked": (False, True), "recent": (False, False)}
    # Memberships went with the user (hand-made ones too); the audit trail stays.
    assert admin.execute("select count(*) from jit.memberships where user_id = %s",
                         (users["old"]["user_id"],)).fetchone()[0] == 0
    assert admin.execute("select count(*) from jit.login_events where user_id = %s",
                         (users["old"]["user_id"],)).fetchone()[0] == 1
    # The deleted user comes back as a new user at the next login.
    assert login(app, idp.mint(idp.claims(sub="old")))["created"] is True
    assert rejection(app, idp.mint(idp.claims(sub="blocked"))) == ("28000", "user_blocked")


def test_stale_then_deleted_over_time(idp, app, admin):
    log_in(app, idp, "a", "b", "c")
    idle(admin, "a", 40)
    admin.execute("update jit.providers set stale_after = '30 days', delete_after = '60 days'")
    t0 = now(admin)
    assert cleanup(admin, t0)[0] == {"acme": (1, 0, 0)}
    assert cleanup(admin, t0 + 59 * DAY)[0] == {"acme": (0, 0, 0)}
    assert state(admin)["a"] == (False, False)
    assert cleanup(admin, t0 + 61 * DAY, True)[0] == {"acme": (2, 1, 0)}
    assert state(admin) == {"b": (False, False), "c": (False, False)}


# ---------------------------------------------------------------------------
# seen_tokens purge
# ---------------------------------------------------------------------------

def test_expired_seen_tokens_are_purged_per_provider(idp, beta, app, admin):
    admin.execute("""insert into jit.seen_tokens values
        ('acme', 'a-expired', now() - interval '1 hour'),
        ('acme', 'a-valid', now() + interval '1 hour'),
        ('beta', 'b-expired-1', now() - interval '1 minute'),
        ('beta', 'b-expired-2', now() - interval '3 days'),
        ('gone', 'g-expired', now() - interval '1 day')""")

    # As of three hours ago nothing had expired yet, except b-expired-2.
    rows, _ = cleanup(admin, now(admin) - 3 * datetime.timedelta(hours=1))
    assert rows == {"acme": (0, 0, 0), "beta": (0, 0, 1), "gone": (0, 0, 1)}

    rows, _ = cleanup(admin)
    assert rows == {"acme": (0, 0, 1), "beta": (0, 0, 1)}
    left = admin.execute("select provider, token_id from jit.seen_tokens order by 1, 2").fetchall()
    assert left == [("acme", "a-valid")]


def test_future_cleanup_never_purges_tokens_that_are_still_valid(idp, app, admin):
    token = idp.mint()
    login(app, token)
    rows, _ = cleanup(admin, now(admin) + 365 * DAY)
    assert rows == {"acme": (0, 0, 0)}
    assert rejection(app, token) == ("28000", "replayed")


# ---------------------------------------------------------------------------
# the safety valve
# ---------------------------------------------------------------------------

def test_safety_valve_changes_nothing_and_warns_unless_forced(idp, beta, app, admin):
    setup_groups(admin)
    log_in(app, idp, "a", "b", "c", "d")
    log_in(app, beta, "x", "y")
    for s in ("a", "b", "c"):
        idle(admin, s, 40)
    idle(admin, "x", 40)
    admin.execute("update jit.providers set stale_after = '30 days', delete_after = '10 days'")
    admin.execute("insert into jit.users (provider, subject, disabled_at) "
                  "values ('acme', 'gone', now() - interval '30 days')")
    admin.execute("insert into jit.seen_tokens values ('acme', 'expired', now() - interval '1 day'), "
                  "('beta', 'expired', now() - interval '1 day')")
    acme_before = {t: [r for r in rows if "beta" not in map(str, r)] for t, rows in snapshot(admin).items()}

    rows, warnings = cleanup(admin)

    # acme: 3 of 4 enabled users would go: held, untouched, warned.
    assert rows == {"acme": (0, 0, 0), "beta": (1, 0, 1)}
    assert len(warnings) == 1
    assert "acme" in warnings[0] and "3 of 4" in warnings[0] and "nothing changed" in warnings[0]
    after = snapshot(admin)
    assert {t: [r for r in rows if "beta" not in map(str, r)] for t, rows in after.items()} == acme_before
    assert state(admin) == {"a": (True, False), "b": (True, False), "c": (True, False),
                            "d": (True, False), "gone": (False, False)}
    assert state(admin, "beta") == {"x": (False, False), "y": (True, False)}

    rows, warnings = cleanup(admin, force=True)
    assert rows == {"acme": (3, 1, 1), "beta": (0, 0, 0)}
    assert warnings == []
    assert state(admin) == {"a": (False, False), "b": (False, False), "c": (False, False), "d": (True, False)}
    assert groups_of(admin, "a") == [] and groups_of(admin, "d") == [("developers", "acme"), ("everyone", "acme")]


@pytest.mark.parametrize("enabled, stale, blocked, max_share, held", [
    (4, 2, 0, None, False),   # exactly half: allowed
    (4, 3, 0, None, True),    # more than half: held
    (3, 2, 2, None, True),    # blocked users hold no seat: 2 of 3, not 2 of 5
    (1, 1, 0, None, True),    # a lone stale user is "more than half"
    (4, 3, 0, 0.8, False),    # the share is a parameter
    (4, 1, 0, 0.2, True),
    (4, 4, 0, 1.0, False),    # 1.0 turns the valve off
])
def test_safety_valve_threshold(idp, app, admin, enabled, stale, blocked, max_share, held):
    subs = [f"u{i}" for i in range(enabled)]
    log_in(app, idp, *subs, *[f"blk{i}" for i in range(blocked)])
    # Blocked by a DBA by hand, disabled_at left null: still no seat.
    admin.execute("update jit.users set blocked = true where subject like 'blk%'")
    for s in subs[:stale]:
        idle(admin, s, 40)
    admin.execute("update jit.providers set stale_after = '30 days'")
    rows, warnings = cleanup(admin) if max_share is None else cleanup(admin, max_share=max_share)
    assert rows == {"acme": (0 if held else stale, 0, 0)}
    assert len(warnings) == (1 if held else 0)
    assert sum(1 for e, b in state(admin).values() if e and not b) == (enabled if held else enabled - stale)


def test_cleanup_rejects_bad_arguments(admin, idp):
    for args in ["null::timestamptz", "now(), null", "max_share => 1.5", "max_share => -0.1"]:
        with pytest.raises(psycopg.Error) as e:
            admin.execute(f"select * from jit.cleanup({args})")
        assert e.value.sqlstate in ("22004", "22023")


# ---------------------------------------------------------------------------
# per provider, and `at` in the past or the future
# ---------------------------------------------------------------------------

def test_counts_are_per_provider(idp, beta, app, admin):
    OidcIdP(name="idle", issuer="https://idp.example.com/idle", client_id="app-1").register(admin)
    log_in(app, idp, "a1", "a2", "a3", "a4")
    log_in(app, beta, "b1", "b2", "b3")
    for s in ("a1", "a2", "b1"):
        idle(admin, s, 10)
    admin.execute("update jit.providers set stale_after = '7 days' where name = 'acme'")
    admin.execute("update jit.providers set stale_after = '14 days' where name = 'beta'")
    admin.execute("update jit.users set disabled_at = now() - interval '100 days' where subject = 'b3'")
    admin.execute("update jit.providers set delete_after = '30 days' where name = 'beta'")

    rows, _ = cleanup(admin)

    assert rows == {"acme": (2, 0, 0), "beta": (0, 1, 0), "idle": (0, 0, 0)}
    assert state(admin) == {"a1": (False, False), "a2": (False, False), "a3": (True, False), "a4": (True, False)}
    assert state(admin, "beta") == {"b1": (True, False), "b2": (True, False)}


def test_cleanup_as_of_the_past_and_the_future(idp, app, admin):
    log_in(app, idp, "a", "b", "c", "d", "e")
    idle(admin, "b", 60)
    idle(admin, "c", 40)
    admin.execute("update jit.providers set stale_after = '30 days'")
    t = now(admin)

    # As of 20 days ago, only b had been idle for 30 days.
    past = t - 20 * DAY
    assert cleanup(admin, past)[0] == {"acme": (1, 0, 0)}
    assert state(admin) == {"a": (True, False), "b": (False, False), "c": (True, False),
                            "d": (True, False), "e": (True, False)}
    assert admin.execute("select disabled_at from jit.users where subject = 'b'").fetchone()[0] == past

    # In 15 days c will have been idle for 55 days.
    future = t + 15 * DAY
    assert cleanup(admin, future)[0] == {"acme": (1, 0, 0)}
    assert admin.execute("select disabled_at from jit.users where subject = 'c'").fetchone()[0] == future

    # In 31 days everyone is stale: held by the valve (3 of 3), unless forced.
    rows, warnings = cleanup(admin, t + 31 * DAY)
    assert rows == {"acme": (0, 0, 0)} and len(warnings) == 1
    assert cleanup(admin, t + 31 * DAY, True)[0] == {"acme": (3, 0, 0)}


# ---------------------------------------------------------------------------
# deprovision
# ---------------------------------------------------------------------------

def test_deprovision_blocks_and_drops_provider_grants(idp, beta, app, admin):
    setup_groups(admin)
    users = log_in(app, idp, "a", "b", "c")
    log_in(app, beta, "a")                      # same subject at another provider
    hand_grant(admin, "a", "auditors")          # both "a"s get it
    notices = []
    admin.add_notice_handler(lambda d: notices.append(d.message_primary))

    n = admin.execute("select jit.deprovision('acme', array['a', 'b', 'nobody', null])").fetchone()[0]

    assert n == 2
    assert state(admin) == {"a": (False, True), "b": (False, True), "c": (True, False)}
    assert state(admin, "beta") == {"a": (True, False)}
    assert admin.execute("select count(*) from jit.users where blocked and disabled_at > now() - interval '1 minute'"
                         ).fetchone()[0] == 2
    rows = admin.execute("select group_name, source from jit.memberships where user_id = %s order by 1",
                         (users["a"]["user_id"],)).fetchall()
    assert rows == [("auditors", None)]
    assert groups_of(admin, "b") == []
    assert groups_of(admin, "c") == [("developers", "acme"), ("everyone", "acme")]
    assert any("nobody" in n for n in notices)

    before = snapshot(admin)
    assert rejection(app, idp.mint(idp.claims(sub="a", groups=["eng"]))) == ("28000", "user_blocked")
    assert snapshot(admin) == before
    assert login(app, beta.mint(beta.claims(sub="a")))["created"] is False

    # Idempotent: nobody is newly blocked, the first disabled_at stays.
    acme_users = "select * from jit.users where provider = 'acme' order by subject"
    acme_before = admin.execute(acme_users).fetchall()
    assert admin.execute("select jit.deprovision('acme', array['a', 'b'])").fetchone()[0] == 0
    assert admin.execute("select jit.deprovision('acme', '{}')").fetchone()[0] == 0
    assert admin.execute(acme_users).fetchall() == acme_before

    # Only a DBA lifts the block; then the user comes back.
    admin.execute("update jit.users set blocked = false where provider = 'acme' and subject = 'a'")
    r = login(app, idp.mint(idp.claims(sub="a", groups=["eng"])))
    assert r["created"] is False and r["groups"] == ["auditors", "developers", "everyone"]
    assert state(admin)["a"] == (True, False)


def test_blocked_user_is_not_enabled_by_cleanup_or_login(idp, app, admin):
    log_in(app, idp, "a", "b", "c")
    admin.execute("select jit.deprovision('acme', array['a'])")
    admin.execute("update jit.providers set stale_after = '30 days', delete_after = '1 day'")
    cleanup(admin, now(admin) + 10 * DAY, True)
    assert state(admin)["a"] == (False, True)
    assert rejection(app, idp.mint(idp.claims(sub="a"))) == ("28000", "user_blocked")
    assert state(admin)["a"] == (False, True)


def test_deprovision_frees_a_seat(idp, app, admin):
    admin.execute("update jit.providers set seat_limit = 2")
    log_in(app, idp, "a", "b")
    assert rejection(app, idp.mint(idp.claims(sub="c"))) == ("28000", "seat_limit_reached")
    assert admin.execute("select jit.deprovision('acme', array['a'])").fetchone()[0] == 1
    assert login(app, idp.mint(idp.claims(sub="c")))["created"] is True


def test_cleanup_waits_for_a_deprovision_of_the_same_provider(idp, app, admin, dbname, beta):
    """The two lock many user rows in different orders: they take turns per
    provider (so they cannot deadlock), even when their users differ."""
    log_in(app, idp, "stays", "leaves")
    log_in(app, beta, "old")
    admin.execute("update jit.providers set stale_after = '30 days'")
    idle(admin, "old", 60)
    with connect(dbname) as dba, connect(dbname) as cron:
        dba.execute("begin")
        dba.execute("select jit.deprovision('acme', array['leaves'])")
        cron.execute("set lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            cron.execute("select * from jit.cleanup()")
        dba.execute("commit")
        cron.execute("select * from jit.cleanup(max_share => 1)")
    assert state(admin) == {"leaves": (False, True), "stays": (True, False)}
    assert state(admin, "beta")["old"] == (False, False)


def test_deprovision_of_an_unknown_provider_is_an_error(admin, idp):
    with pytest.raises(psycopg.Error) as e:
        admin.execute("select jit.deprovision('acme-typo', array['a'])")
    assert e.value.sqlstate == "22023" and "acme-typo" in e.value.diag.message_primary


# ---------------------------------------------------------------------------
# privileges
# ---------------------------------------------------------------------------

def test_application_role_needs_a_grant(idp, app, admin):
    log_in(app, idp, "a", "b", "c")
    for call in ["select * from jit.cleanup()", "select * from jit.cleanup(now(), true)",
                 "select jit.deprovision('acme', array['a'])"]:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(call)
    assert state(admin) == {"a": (True, False), "b": (True, False), "c": (True, False)}

    admin.execute("grant execute on function jit.cleanup, jit.deprovision to jit_app")
    rows, _ = cleanup(app)
    assert rows == {"acme": (0, 0, 0)}
    assert app.execute("select jit.deprovision('acme', array['a'])").fetchone()[0] == 1
    assert state(admin)["a"] == (False, True)


def test_lifecycle_functions_are_definer_with_pinned_path_and_not_public(admin):
    rows = admin.execute("""
        select p.proname, p.prosecdef, p.proconfig,
               exists (select from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
                       where a.grantee = 0 and a.privilege_type = 'EXECUTE')
        from pg_proc p where p.oid in ('jit.cleanup'::regproc, 'jit.deprovision'::regproc)
        order by 1""").fetchall()
    assert rows == [
        ("cleanup", True, ["search_path=pg_catalog, jit, pg_temp"], False),
        ("deprovision", True, ["search_path=pg_catalog, jit, pg_temp"], False),
    ]
    # The contract's call forms resolve.
    admin.execute("select * from jit.cleanup()")
    admin.execute("select * from jit.cleanup(now())")
    admin.execute("select * from jit.cleanup(now(), false)")
    admin.execute("select * from jit.cleanup(at => now(), force => true)")
