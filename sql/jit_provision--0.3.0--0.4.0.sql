-- jit_provision 0.3.0 -> 0.4.0: the server-log line of a rejection masks in
-- the token id, besides [[:cntrl:]], every C1 control and the Unicode line
-- and paragraph separators (U+2028, U+2029): a token id (an OIDC jti, a SAML
-- Assertion ID) must not start a log line of its own for readers that break
-- lines there. The verifier changes of 0.4.0 (SAML request binding,
-- Destination, AuthnStatement, Conditions; the OIDC replay key of a token
-- without jti; email_verified strings) live in the library: no SQL.
-- Note for the update: an ID token without jti that logged in before it is
-- recorded in jit.seen_tokens under the old key (SHA-256 of the whole
-- token); until that token expires (its exp, minutes for usual IdPs), the
-- new build keys it differently (SHA-256 of header.payload) and would let it
-- in once more. Tokens with a jti, and SAML Assertions, keep their keys.

-- Same text as sql/schema.sql.
-- Raises a token rejection: a server-log line first (it survives the
-- caller's rollback), then SQLSTATE 28000 with the reason code up front.
create or replace function jit._reject(p_provider text, p_reason text, p_detail text, p_token_id text)
returns void
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    -- Control characters are masked: a token id must not write log lines.
    -- Listed explicitly besides [[:cntrl:]] (whose extent depends on the
    -- collation): the C1 controls U+0080-U+009F (NEL U+0085 among them) and
    -- the line / paragraph separators U+2028 and U+2029, which log readers
    -- take for line ends too. The escapes are the regex engine's (\uXXXX).
    raise log 'jit_provision: login rejected provider=% reason=% token_id=% detail=%',
        coalesce(p_provider, '-'), p_reason,
        regexp_replace(coalesce(p_token_id, '-'),
                       E'[[:cntrl:]\\u0080-\\u009f\\u2028\\u2029]', '?', 'g'),
        p_detail;
    raise exception '%: %', p_reason, p_detail using errcode = '28000';
end
$$;
