-- jit_provision 0.3.0 -> 0.4.0: the server-log line of a rejection masks in
-- the token id, besides [[:cntrl:]], every C1 control and the Unicode line
-- and paragraph separators (U+2028, U+2029): a token id (an OIDC jti, a SAML
-- Assertion ID) must not start a log line of its own for readers that break
-- lines there. The verifier changes of 0.4.0 (SAML request binding,
-- Destination, AuthnStatement, Conditions; the OIDC replay key of a token
-- without jti; email_verified strings) live in the library. Also new in
-- 0.4.0, further down: providers that keep their keys current
-- (jit.refresh, discovery_url / metadata_url, jit.provider_status,
-- jit.saml_metadata) and jit.cleanup's warning about expiring certificates.
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


-------------------------------------------------------------------------------
-- Providers that keep themselves current (jit.refresh, jit.saml_metadata,
-- jit.provider_status; the cleanup warns about expiring certificates).
-- The same text as sql/schema.sql, sql/refresh.sql, sql/lifecycle.sql,
-- sql/finalize.sql and the functions cargo pgrx generates from src/.
-------------------------------------------------------------------------------

alter table jit.providers
    add column discovery_url text constraint providers_discovery_url_check
               check (discovery_url is null or (discovery_url ~ '^https?://' and protocol = 'oidc')),
    add column metadata_url  text constraint providers_metadata_url_check
               check (metadata_url is null or (metadata_url ~ '^https?://' and protocol = 'saml')),
    add column refreshed_at  timestamptz,
    add column refresh_error text;
comment on column jit.providers.discovery_url is
    'OIDC: the OpenID Provider Configuration URL; jit.refresh fetches its jwks_uri into jwks';
comment on column jit.providers.metadata_url is
    'SAML: the IdP metadata URL; jit.refresh takes its signing certificates into certificates';

-- jit_provision::refresh::_fetch_keys
CREATE  FUNCTION jit."_fetch_keys"(
	"protocol" TEXT, /* & str */
	"issuer" TEXT, /* & str */
	"discovery_url" TEXT, /* Option < & str > */
	"metadata_url" TEXT /* Option < & str > */
) RETURNS TABLE (
	"jwks" jsonb,  /* Option < pgrx :: JsonB > */
	"certificates" TEXT[],  /* :: std :: option :: Option < Vec < String > > */
	"error" TEXT  /* Option < String > */
)
 
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'fetch_keys_wrapper';

-- jit_provision::refresh::_key_inventory
CREATE  FUNCTION jit."_key_inventory"(
	"jwks" jsonb, /* Option < pgrx :: JsonB > */
	"certificates" TEXT[] /* :: std :: option :: Option < Vec < Option < String > > > */
) RETURNS TABLE (
	"keys" TEXT[],  /* Vec < String > */
	"identities" TEXT[],  /* Vec < String > */
	"earliest_expiry" timestamp with time zone  /* Option < pgrx :: datum :: TimestampWithTimeZone > */
)
IMMUTABLE PARALLEL SAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'key_inventory_of_wrapper';

-- jit_provision::http::_http_get
CREATE  FUNCTION jit."_http_get"(
	"url" TEXT /* & str */
) RETURNS TEXT /* String */
STRICT VOLATILE PARALLEL UNSAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'http_get_wrapper';

-- jit_provision::metadata::saml_metadata
CREATE  FUNCTION jit."saml_metadata"(
	"metadata" TEXT, /* Option < & str > */
	"issuer" TEXT DEFAULT NULL /* Option < & str > */
) RETURNS TABLE (
	"issuer" TEXT,  /* String */
	"certificates" TEXT[],  /* Vec < String > */
	"sso_url" TEXT,  /* Option < String > */
	"valid_until" timestamp with time zone  /* Option < TimestampWithTimeZone > */
)
IMMUTABLE PARALLEL SAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'saml_metadata_wrapper';


create or replace function jit.cleanup(
    at        timestamptz      default now(),
    force     boolean          default false,
    max_share double precision default 0.5)
returns table (provider text, disabled integer, deleted integer, purged_tokens integer)
language plpgsql
volatile
security definer
set search_path = pg_catalog, jit, pg_temp
as $$
#variable_conflict use_column
declare
    v_at       timestamptz := cleanup.at;
    -- Never purge a replay-cache entry whose token is still valid right now,
    -- even when "at" lies in the future: that would let the token be replayed.
    v_purge_at timestamptz := least(cleanup.at, pg_catalog.now());
    v_p        record;
    v_enabled  bigint;
    v_stale    bigint;
    v_ids      uuid[];
begin
    if v_at is null or cleanup.force is null or cleanup.max_share is null then
        raise exception 'jit.cleanup: at, force and max_share must not be null'
            using errcode = '22004';
    end if;
    if not (cleanup.max_share >= 0 and cleanup.max_share <= 1) then
        raise exception 'jit.cleanup: max_share must be between 0 and 1, got %', cleanup.max_share
            using errcode = '22023';
    end if;

    -- Every configured provider, plus providers that are gone but still
    -- have expired replay-cache entries.
    for v_p in
        select p.name, p.stale_after, p.delete_after
        from jit.providers p
        union all
        select distinct s.provider, null::interval, null::interval
        from jit.seen_tokens s
        where s.expires_at < v_purge_at
          and not exists (select from jit.providers p where p.name = s.provider)
        order by 1
    loop
        provider := v_p.name;
        disabled := 0;
        deleted := 0;
        purged_tokens := 0;

        -- One cleanup per provider at a time (overlapping pg_cron runs), and
        -- none while jit.deprovision works on the provider (same lock).
        perform pg_catalog.pg_advisory_xact_lock(
            pg_catalog.hashtextextended('jit.cleanup:' || v_p.name, 0));

        if v_p.stale_after is not null then
            select count(*),
                   count(*) filter (where coalesce(u.last_login_at, u.created_at)
                                          < v_at - v_p.stale_after)
              into v_enabled, v_stale
            from jit.users u
            where u.provider = v_p.name and u.disabled_at is null and not u.blocked;

            -- Safety valve: a run that would disable more than max_share of
            -- the provider's enabled users (an IdP outage, a clock or
            -- configuration mistake) changes nothing for that provider.
            if v_stale > 0 and v_stale > cleanup.max_share * v_enabled and not cleanup.force then
                raise warning 'jit.cleanup: provider "%" skipped: would disable % of % enabled users (more than %); nothing changed for this provider',
                    v_p.name, v_stale, v_enabled,
                    pg_catalog.round((cleanup.max_share * 100)::numeric, 1)::float8::text || '%'
                    using hint = 'Check the provider''s stale_after, then run jit.cleanup(force => true) or raise max_share.';
                return next;
                continue;
            end if;

            -- The condition is re-checked on the current row version, so a
            -- user who logs in concurrently is not disabled.
            with d as (
                update jit.users u
                set disabled_at = v_at,
                    updated_at = pg_catalog.now()
                where u.provider = v_p.name and u.disabled_at is null and not u.blocked
                  and coalesce(u.last_login_at, u.created_at) < v_at - v_p.stale_after
                returning u.id)
            select coalesce(array_agg(d.id), '{}') into v_ids from d;
            disabled := cardinality(v_ids);

            delete from jit.memberships m
            where m.user_id = any (v_ids) and m.source = v_p.name;
        end if;

        -- Blocked (deprovisioned) users are kept: deleting the row would lift
        -- the block, and the next login would create the user afresh.
        if v_p.delete_after is not null then
            delete from jit.users u
            where u.provider = v_p.name and not u.blocked
              and u.disabled_at < v_at - v_p.delete_after;
            get diagnostics deleted = row_count;
        end if;

        delete from jit.seen_tokens s
        where s.provider = v_p.name and s.expires_at < v_purge_at;
        get diagnostics purged_tokens = row_count;

        if disabled > 0 or deleted > 0 then
            raise log 'jit_provision: cleanup provider=% at=% disabled=% deleted=% purged_tokens=%',
                v_p.name, v_at, disabled, deleted, purged_tokens;
        end if;
        return next;
    end loop;

    -- Signing certificates that run out within 30 days: a warning in the
    -- server log (this runs daily under pg_cron) while there is time to roll
    -- them over. jit.provider_status shows the same dates.
    for v_p in
        select p.name, k.earliest_expiry
        from jit.providers p
        cross join lateral jit._key_inventory(p.jwks, p.certificates) k
        where p.enabled and k.earliest_expiry < v_at + interval '30 days'
        order by p.name
    loop
        raise warning 'jit_provision: provider % has a signing certificate that % at %',
            v_p.name,
            case when v_p.earliest_expiry < v_at then 'expired' else 'expires' end,
            v_p.earliest_expiry;
    end loop;
end
$$;

-- The contract names the argument and the first result column both
-- "provider", which PL/pgSQL cannot compile: the work is in jit._refresh,
-- and jit.refresh is the SQL wrapper with the contract's names.
create function jit._refresh(p_provider text)
returns table (provider text, changed boolean, keys text[], error text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, jit, pg_temp
as $$
#variable_conflict use_column
declare
    v_p       jit.providers;
    v_fetched record;
    v_old     record;
    v_new     record;
begin
    if p_provider is not null
       and not exists (select from jit.providers p where p.name = p_provider) then
        raise exception 'jit.refresh: no provider named %', p_provider
            using errcode = '22023';
    end if;
    for v_p in
        select * from jit.providers p
        where case when p_provider is null
                   then p.discovery_url is not null or p.metadata_url is not null
                   else p.name = p_provider end
        order by p.name
    loop
        provider := v_p.name;
        changed := false;
        error := null;
        -- A subtransaction per provider: whatever goes wrong with one (an
        -- error from the fetch, the row's validation trigger refusing the
        -- new keys) is rolled back and reported, and the next one goes on.
        begin
            select * into v_fetched
            from jit._fetch_keys(v_p.protocol, v_p.issuer, v_p.discovery_url, v_p.metadata_url);
            error := v_fetched.error;
            if error is null then
                select * into v_old from jit._key_inventory(v_p.jwks, v_p.certificates);
                select * into v_new from jit._key_inventory(v_fetched.jwks, v_fetched.certificates);
                if cardinality(v_new.keys) = 0 then
                    error := 'the published document holds no usable key';
                elsif v_new.identities is distinct from v_old.identities then
                    update jit.providers p
                    set jwks = case when p.protocol = 'oidc' then v_fetched.jwks else p.jwks end,
                        certificates = case when p.protocol = 'saml' then v_fetched.certificates
                                            else p.certificates end
                    where p.name = v_p.name;
                    changed := true;
                end if;
            end if;
        exception
            -- (OTHERS leaves out query_canceled: a cancel or statement
            -- timeout still ends the whole call.)
            when others then
                error := sqlerrm;
        end;
        update jit.providers p
        set refreshed_at = pg_catalog.now(), refresh_error = error
        where p.name = v_p.name;
        select k.keys into keys
        from jit.providers p, jit._key_inventory(p.jwks, p.certificates) k
        where p.name = v_p.name;
        if error is not null then
            raise log 'jit_provision: refresh provider=% error=%', v_p.name, error;
        elsif changed then
            raise log 'jit_provision: refresh provider=% keys=%', v_p.name, keys;
        end if;
        return next;
    end loop;
end
$$;

create function jit.refresh(provider text default null)
returns table (provider text, changed boolean, keys text[], error text)
language sql
volatile
security definer
set search_path = pg_catalog, jit, pg_temp
as $$
    select * from jit._refresh($1)
$$;

comment on function jit.refresh(text) is
    'Fetches the keys of the named provider (default: every provider with a discovery_url or metadata_url) and replaces them when they changed; a failure keeps the old keys and is reported in error and refresh_error';

create view jit.provider_status as
select p.name as provider,
       p.protocol,
       p.enabled,
       k.keys,
       k.earliest_expiry,
       p.discovery_url,
       p.metadata_url,
       p.refreshed_at,
       p.refresh_error
from jit.providers p
cross join lateral jit._key_inventory(p.jwks, p.certificates) k;
comment on view jit.provider_status is
    'Per provider: key ids (OIDC) or certificate SHA-256 fingerprints (SAML) in force, the earliest certificate expiry, and the last jit.refresh outcome';

revoke all on function jit.refresh(text) from public;
revoke all on function jit._refresh(text) from public;
revoke all on function jit._fetch_keys(text, text, text, text) from public;
revoke all on function jit._key_inventory(jsonb, text[]) from public;
grant execute on function jit._key_inventory(jsonb, text[]) to public;
revoke all on function jit._http_get(text) from public;
revoke all on function jit.saml_metadata(text, text) from public;
grant execute on function jit.saml_metadata(text, text) to public;
revoke all on jit.provider_status from public;
