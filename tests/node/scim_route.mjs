// An application's SCIM endpoint in Node: every request under /scim/v2 is
// forwarded to jit.scim, and status, headers and body are copied back.
// Connection settings come from the usual PGHOST/PGPORT/PGDATABASE/PGUSER
// variables; prints the port it listens on (PORT, default: a free one).
import http from 'node:http';
import pg from 'pg';

const PREFIX = '/scim/v2';
const pool = new pg.Pool({ max: 4 });

const server = http.createServer(async (req, res) => {
  const q = req.url.indexOf('?');
  const path = q < 0 ? req.url : req.url.slice(0, q);
  if (!path.startsWith(PREFIX + '/')) return res.writeHead(404).end();
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const body = chunks.length ? Buffer.concat(chunks).toString('utf8') : null;
  try {
    const { rows: [r] } = await pool.query(   // one statement, one transaction
      'select status, headers, body from jit.scim($1, $2, $3, $4, $5, $6, $7)',
      [req.method, path.slice(PREFIX.length), q < 0 ? null : req.url.slice(q + 1), body,
       req.headers.authorization ?? null, `http://${req.headers.host}${PREFIX}`,
       req.headers['if-match'] ?? null]);
    res.writeHead(r.status, r.headers).end(r.body === null ? undefined : JSON.stringify(r.body));
  } catch (e) {   // internal failures only: protocol errors come back as rows
    console.error('jit.scim:', e.message);
    res.writeHead(500).end();
  }
});

server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  console.log(server.address().port);
});
