"""Per-backend state (parsed providers, the kept write plan) follows the
catalog: a drop and re-create of the extension in one session just works."""

from db import login
from idp import OidcIdP


def test_drop_and_recreate_in_one_session(admin):
    for _ in range(2):
        admin.execute("drop extension if exists jit_provision cascade")
        admin.execute("create extension jit_provision")
        idp = OidcIdP(name="acme", issuer="https://idp.example.com/acme", client_id="app-1")
        idp.register(admin)
        assert login(admin, idp.mint())["created"] is True


def test_provider_renamed_and_issuer_moved(idp, app, admin):
    login(app, idp.mint(idp.claims(sub="ann")))
    admin.execute("update jit.providers set issuer = 'https://new.example.com' where name = 'acme'")
    moved = OidcIdP(name="acme", issuer="https://new.example.com", client_id=idp.client_id)
    moved.keys = idp.keys
    from db import rejection

    assert rejection(app, idp.mint(idp.claims(sub="ann"))) == ("28000", "unknown_issuer")
    assert login(app, moved.mint(moved.claims(sub="ann")))["created"] is False
