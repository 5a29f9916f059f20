"""jit_login from Python with psycopg 3.

    python login.py CONNINFO [TOKEN]      (or the token in $JIT_TOKEN)

Prints one JSON line: the user, their groups and the notes that row-level
security lets them see; or, for a refused token, the SQLSTATE and reason code
(exit status 2).
"""

import json
import os
import sys

import psycopg
from psycopg import errors
from psycopg.rows import dict_row


def main():
    conninfo = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DATABASE_URL", "")
    # A token on the command line shows in `ps`; the environment does not.
    token = sys.argv[2] if len(sys.argv) > 2 else os.environ["JIT_TOKEN"]
    body = os.environ.get("NOTE", "hello from python")

    # dict rows: columns by name, so new columns of jit.login_result do no harm.
    with psycopg.connect(conninfo, row_factory=dict_row) as conn:
        try:
            # One transaction: the identity jit_login establishes lives exactly
            # as long as it, so login, insert and select must share it.
            with conn.transaction():
                # The token is a bound parameter (extended protocol), never
                # spliced into the SQL text.
                login = conn.execute("select * from jit_login(%s)", (token,)).fetchone()
                # `owner` defaults to jit.current_user_id(); the policy checks it.
                conn.execute("insert into notes (body) values (%s)", (body,))
                notes = conn.execute("select owner, body from notes order by id").fetchall()
        except errors.InvalidAuthorizationSpecification as e:
            # SQLSTATE 28000: the token was refused. The primary message
            # starts with a stable reason code: "replayed: ...".
            message = e.diag.message_primary or ""
            print(json.dumps({"sqlstate": e.sqlstate, "reason": message.split(":", 1)[0], "message": message}))
            sys.exit(2)

    print(json.dumps({
        "user_id": str(login["user_id"]),
        "groups": login["groups"],
        "notes": [{"owner": str(n["owner"]), "body": n["body"]} for n in notes],
    }))


if __name__ == "__main__":
    main()
