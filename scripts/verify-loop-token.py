"""A signed SAML Response of about 9.6 KB for core/examples/verify_loop.rs,
minted with the test IdP (tests/e2e/saml_idp.py): RSA-SHA256, the Assertion
signed by signxml, exclusive c14n, the attributes an IdP typically sends plus
profile attributes until the XML reaches 9.6 KB.

    .venv/bin/python scripts/verify-loop-token.py OUTDIR

writes OUTDIR/token.b64 (the Response, base64 as an ACS receives it),
OUTDIR/cert.pem, and prints the verify_loop arguments that follow the token
and certificate file names: ISSUER AUDIENCE ACS_URL UNIX_TIME."""

import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))

from saml_idp import SamlIdP  # noqa: E402

TARGET_BYTES = 9600
NOW = 1767225600  # fixed, so the token verifies at a fixed instant (printed below)

out = sys.argv[1]
idp = SamlIdP(name="loop-saml", issuer="http://www.okta.com/exkloop")
name_id = "user-7@bench.example"
attrs = [(a, ["g1", "g2", "g10"] if a == idp.attribute_names()["groups"] else v)
         for a, v in idp.default_attributes(name_id)]


def build(extra):
    more = [(f"customAttribute{i}", [f"value-{i}-of-the-profile-xxxxxxxx"]) for i in range(extra)]
    return idp.issue(what="assertion", signer="signxml", family="rsa", name_id=name_id,
                     lifetime=86400, now=NOW, attributes=attrs + more)


extra = 0
xml = build(extra)
while len(xml.encode()) < TARGET_BYTES:
    extra += 1
    xml = build(extra)
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "token.b64"), "w") as f:
    f.write(base64.b64encode(xml.encode()).decode())
with open(os.path.join(out, "cert.pem"), "w") as f:
    f.write(idp.cert_pem("rsa"))
print(idp.issuer, idp.sp_entity_id, idp.acs_url, NOW + 60)
print(f"{len(xml.encode())} bytes of XML", file=sys.stderr)
