# jit_login from Ruby with the pg gem.
#
#   ruby login.rb CONNINFO [TOKEN]      (or the token in $JIT_TOKEN)
#
# Prints one JSON line: the user, their groups and the notes that row-level
# security lets them see; or, for a refused token, the SQLSTATE and reason code
# (exit status 2).
require 'json'
require 'pg'

conninfo = ARGV[0] || ENV.fetch('DATABASE_URL', '')
# A token on the command line shows in `ps`; the environment does not.
token = ARGV[1] || ENV.fetch('JIT_TOKEN')
body = ENV.fetch('NOTE', 'hello from ruby')

conn = PG.connect(conninfo)
begin
  # One transaction: the identity jit_login establishes lives exactly as long
  # as it, so login, insert and select must all run inside this block.
  login, notes = conn.transaction do
    # exec_params uses the extended protocol: the token is a bound
    # parameter, never part of the SQL text.
    row = conn.exec_params('select * from jit_login($1)', [token]).first
    # `owner` defaults to jit.current_user_id(); the policy checks it.
    conn.exec_params('insert into notes (body) values ($1)', [body])
    [row, conn.exec('select owner, body from notes order by id').to_a]
  end
  # Results come as text; groups is a text[] literal such as {developers,everyone}.
  groups = PG::TextDecoder::Array.new.decode(login['groups'])
  puts JSON.generate(user_id: login['user_id'], groups: groups, notes: notes)
rescue PG::InvalidAuthorizationSpecification => e
  # SQLSTATE 28000: the token was refused. The primary message starts with a
  # stable reason code: "replayed: ...".
  message = e.result.error_field(PG::PG_DIAG_MESSAGE_PRIMARY)
  puts JSON.generate(sqlstate: e.result.error_field(PG::PG_DIAG_SQLSTATE),
                     reason: message.split(':', 2).first, message: message)
  exit 2
ensure
  conn.close
end
