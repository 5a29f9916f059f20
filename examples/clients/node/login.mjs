// jit_login from Node with the `pg` driver.
//
//   node login.mjs CONNECTION_URL [TOKEN]      (or the token in $JIT_TOKEN)
//
// Prints one JSON line: the user, their groups and the notes that row-level
// security lets them see; or, for a refused token, the SQLSTATE and reason
// code (exit status 2).
import pg from 'pg';

const connectionString = process.argv[2] ?? process.env.DATABASE_URL;
// A token on the command line shows in `ps`; the environment does not.
const token = process.argv[3] ?? process.env.JIT_TOKEN;
const body = process.env.NOTE ?? 'hello from node';

const client = new pg.Client({ connectionString });
await client.connect();
try {
  // One transaction: the identity jit_login establishes lives exactly as long
  // as it, so login, insert and select must go over this one client (not a
  // pg.Pool's query(), which may pick a different connection each time).
  await client.query('begin');
  let login;
  try {
    // `values` makes pg use the extended protocol: the token travels as a
    // bound parameter, never inside the SQL text.
    ({ rows: [login] } = await client.query('select * from jit_login($1)', [token]));
  } catch (err) {
    await client.query('rollback');
    // SQLSTATE 28000: the token was refused. The message starts with a
    // stable reason code: "replayed: ...". Anything else is a real error.
    if (err.code !== '28000') throw err;
    console.log(JSON.stringify({ sqlstate: err.code, reason: err.message.split(':')[0], message: err.message }));
    process.exitCode = 2;
  }
  if (login) {
    // `owner` defaults to jit.current_user_id(); the policy checks it.
    await client.query('insert into notes (body) values ($1)', [body]);
    const { rows: notes } = await client.query('select owner, body from notes order by id');
    await client.query('commit');
    console.log(JSON.stringify({ user_id: login.user_id, groups: login.groups, notes }));
  }
} finally {
  await client.end();
}
