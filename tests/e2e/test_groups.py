"""Group sync from jit.group_map, as a table of cases."""

import pytest

from db import login

MAP = [("eng", "developers"), ("eng", "staff"), ("ops", "operators"), ("*", "everyone")]


def setup_maps(admin, sync=True):
    admin.execute("update jit.providers set sync_groups = %s where name = 'acme'", (sync,))
    for idp_group, app_group in MAP:
        admin.execute("insert into jit.group_map values ('acme', %s, %s)", (idp_group, app_group))


def groups_of(admin, sub):
    return admin.execute(
        "select m.group_name, m.source from jit.memberships m join jit.users u on u.id = m.user_id "
        "where u.subject = %s order by 1", (sub,)).fetchall()


# (name, sync_groups, first token groups, second token claims, expected (group, source) after second)
CASES = [
    ("mapping grants, unmapped grants nothing", True, ["eng", "unknown"], {"groups": ["eng", "unknown"]},
     [("developers", "acme"), ("everyone", "acme"), ("staff", "acme")]),
    ("star grants to a user with no groups", True, [], {"groups": []},
     [("everyone", "acme")]),
    ("group dropped by the IdP is removed", True, ["eng", "ops"], {"groups": ["ops"]},
     [("everyone", "acme"), ("operators", "acme")]),
    ("sync off keeps earlier grants", False, ["eng"], {"groups": ["ops"]},
     [("developers", "acme"), ("everyone", "acme"), ("operators", "acme"), ("staff", "acme")]),
    ("JWT overage (_claim_names) adds, never removes", True, ["eng"],
     {"groups": ["ops"], "_claim_names": {"groups": "src1"}, "_claim_sources": {"src1": {"endpoint": "https://graph"}}},
     [("developers", "acme"), ("everyone", "acme"), ("operators", "acme"), ("staff", "acme")]),
    ("JWT overage (hasgroups) adds, never removes", True, ["eng"], {"groups": None, "hasgroups": True},
     [("developers", "acme"), ("everyone", "acme"), ("staff", "acme")]),
    ("groups claim absent removes grants", True, ["eng"], {"groups": None},
     [("everyone", "acme")]),
]


@pytest.mark.parametrize("name, sync, first, second, expected", CASES, ids=[c[0] for c in CASES])
def test_group_sync(idp, app, admin, name, sync, first, second, expected):
    setup_maps(admin, sync)
    login(app, idp.mint(idp.claims(sub="u1", groups=first)))
    r = login(app, idp.mint(idp.claims(sub="u1", **second)))
    assert groups_of(admin, "u1") == expected
    assert r["groups"] == [g for g, _ in expected]


def test_hand_grants_survive_and_are_reported(idp, app, admin):
    setup_maps(admin)
    first = login(app, idp.mint(idp.claims(sub="u2", groups=["eng"])))
    admin.execute("insert into jit.groups values ('auditors')")
    admin.execute("insert into jit.memberships (user_id, group_name, source) values (%s, 'auditors', null)",
                  (first["user_id"],))
    # A hand grant of a group the mapping would also give stays hand-made.
    admin.execute("update jit.memberships set source = null where group_name = 'staff'")
    r = login(app, idp.mint(idp.claims(sub="u2", groups=[])))
    assert groups_of(admin, "u2") == [("auditors", None), ("everyone", "acme"), ("staff", None)]
    assert r["groups"] == ["auditors", "everyone", "staff"]


def test_other_providers_grants_are_not_touched(idp, app, admin):
    from idp import OidcIdP

    setup_maps(admin)
    other = OidcIdP(name="beta", issuer="https://beta.example.com", client_id="app-1")
    other.register(admin)
    r = login(app, idp.mint(idp.claims(sub="u3", groups=["eng"])))
    admin.execute("insert into jit.memberships (user_id, group_name, source) values (%s, 'developers', 'beta') "
                  "on conflict (user_id, group_name) do update set source = 'beta'", (r["user_id"],))
    login(app, idp.mint(idp.claims(sub="u3", groups=[])))
    assert groups_of(admin, "u3") == [("developers", "beta"), ("everyone", "acme")]


def test_first_grant_creates_the_group(idp, app, admin):
    setup_maps(admin)
    assert admin.execute("select count(*) from jit.groups").fetchone()[0] == 0
    login(app, idp.mint(idp.claims(sub="u4", groups=["ops"])))
    assert admin.execute("select name from jit.groups order by 1").fetchall() == [("everyone",), ("operators",)]


def test_current_groups_is_the_login_result(idp, app, admin):
    setup_maps(admin)
    with app.transaction():
        r = app.execute("select groups from jit_login(%s)", (idp.mint(idp.claims(sub="u5", groups=["ops"])),)).fetchone()
        assert app.execute("select jit.current_groups()").fetchone()[0] == r[0] == ["everyone", "operators"]
