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
                    -- Only onto the row as it was when the fetch started: an
                    -- admin who retargeted it meanwhile (issuer, URL) must
                    -- not get the old source's keys.
                    update jit.providers p
                    set jwks = case when p.protocol = 'oidc' then v_fetched.jwks else p.jwks end,
                        certificates = case when p.protocol = 'saml' then v_fetched.certificates
                                            else p.certificates end
                    where p.name = v_p.name
                      and p.protocol = v_p.protocol
                      and p.issuer = v_p.issuer
                      and p.discovery_url is not distinct from v_p.discovery_url
                      and p.metadata_url is not distinct from v_p.metadata_url;
                    changed := found;
                    if not found then
                        error := 'the provider row changed during the refresh; keys not replaced';
                    end if;
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


-------------------------------------------------------------------------------
-- jit.try_login: the verdict as a row, rejections audited in
-- jit.login_events; one token id everywhere (the verified jti / Assertion
-- ID, else the SHA-256 of the token). jit._reject takes the subject and
-- puts the facts of a rejection in the error's DETAIL (as the library does
-- for the rejections it raises); jit._apply_login passes the subject; a
-- rejected login_events row has no provider when the issuer names none.
-- The same text as sql/schema.sql, sql/login.sql and sql/finalize.sql.
-------------------------------------------------------------------------------

alter table jit.login_events alter column provider drop not null;

drop function jit._reject(text, text, text, text);
-- Raises a token rejection: a server-log line first (it survives the
-- caller's rollback), then SQLSTATE 28000 with the reason code up front and
-- the facts jit.try_login records in the DETAIL: the JSON object
-- src/reject.rs writes for the Rust side, {"reason":..,"provider":..,
-- "token_id":..,"subject":..}. p_subject: the verified subject, if known.
create function jit._reject(p_provider text, p_reason text, p_detail text, p_token_id text,
                            p_subject text default null)
returns void
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_facts text;
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
    -- to_json escapes the C0 controls; DEL, the C1 controls and U+2028 /
    -- U+2029 become \uXXXX escapes too, so the DETAIL stays one log line
    -- and still parses back to the very values.
    v_facts := format('{"reason":%s,"provider":%s,"token_id":%s,"subject":%s}',
                      to_json(p_reason),
                      coalesce(to_json(p_provider)::text, 'null'),
                      coalesce(to_json(p_token_id)::text, 'null'),
                      coalesce(to_json(p_subject)::text, 'null'));
    if v_facts ~ E'[\\u007f-\\u009f\\u2028\\u2029]' then
        v_facts := (select string_agg(case when c ~ E'[\\u007f-\\u009f\\u2028\\u2029]'
                                           then E'\\u' || lpad(to_hex(ascii(c)), 4, '0')
                                           else c end, '' order by n)
                    from regexp_split_to_table(v_facts, '') with ordinality as t(c, n));
    end if;
    raise exception '%: %', p_reason, p_detail using errcode = '28000', detail = v_facts;
end
$$;

create or replace function jit._apply_login(p_identity jsonb)
returns jit._applied
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_provider    jit.providers;
    v_subject     text := p_identity ->> 'subject';
    v_token_id    text := p_identity ->> 'token_id';
    v_idp_groups  text[] := array(select jsonb_array_elements_text(p_identity -> 'idp_groups'));
    v_complete    boolean := coalesce((p_identity ->> 'groups_complete')::boolean, true);
    v_user        jit.users;
    v_user_id     uuid;
    v_blocked     boolean;
    v_created     boolean;
    v_grants      text[];
    v_result      jit._applied;
begin
    select * into strict v_provider from jit.providers where name = p_identity ->> 'provider';

    -- 2. replay: the token id may be used once until the token expires (plus
    -- the skew the verifier allowed). An expired entry is taken over.
    insert into jit.seen_tokens as s (provider, token_id, expires_at)
    values (v_provider.name, v_token_id,
            to_timestamp((p_identity ->> 'expires_at')::double precision) + v_provider.clock_skew)
    on conflict (provider, token_id) do update
        set expires_at = excluded.expires_at
        where s.expires_at <= now();
    if not found then
        perform jit._reject(v_provider.name, 'replayed',
                            'token id was already used', v_token_id, v_subject);
    end if;

    -- 3. admission, and 4. upsert. An existing user is locked first, so a
    -- concurrent deprovision cannot slip between the check and the update.
    select * into v_user from jit.users
    where provider = v_provider.name and subject = v_subject
    for update;

    if found and v_user.blocked then
        perform jit._reject(v_provider.name, 'user_blocked',
                            'user is blocked', v_token_id, v_subject);
    end if;

    if not found and v_provider.seat_limit is not null then
        -- Seats are counted after claiming the provider's jit.seat_claims
        -- row, so two concurrent new users cannot both take the last seat:
        -- in READ COMMITTED the second waits for the first and counts with a
        -- fresh snapshot; in REPEATABLE READ / SERIALIZABLE, a snapshot taken
        -- before another admission committed cannot update the row (40001:
        -- the caller retries, as with any serialization failure).
        insert into jit.seat_claims as c (provider, last_admission)
        values (v_provider.name, now())
        on conflict (provider) do update set last_admission = excluded.last_admission;
        perform 1 from jit.users where provider = v_provider.name and subject = v_subject;
        if not found and (select count(*) from jit.users
                          where provider = v_provider.name
                            and disabled_at is null and not blocked) >= v_provider.seat_limit then
            perform jit._reject(v_provider.name, 'seat_limit_reached',
                                format('provider has no free seat (limit %s)', v_provider.seat_limit),
                                v_token_id, v_subject);
        end if;
    end if;

    insert into jit.users as u (provider, subject, email, name, given_name, family_name,
                                attributes, last_login_at, login_count)
    values (v_provider.name, v_subject,
            p_identity ->> 'email', p_identity ->> 'name',
            p_identity ->> 'given_name', p_identity ->> 'family_name',
            coalesce(p_identity -> 'attributes', '{}'), now(), 1)
    on conflict (provider, subject) do update
        set email = excluded.email,
            name = excluded.name,
            given_name = excluded.given_name,
            family_name = excluded.family_name,
            attributes = excluded.attributes,
            updated_at = now(),
            last_login_at = now(),
            login_count = u.login_count + 1,
            disabled_at = null
    returning u.id, u.blocked, (u.xmax = 0) into v_user_id, v_blocked, v_created;

    -- A row created by a concurrent first login of the same user may have
    -- been blocked in between; the upsert above waited for it.
    if v_blocked then
        perform jit._reject(v_provider.name, 'user_blocked', 'user is blocked', v_token_id, v_subject);
    end if;

    -- 5. memberships: grants by mapping; '*' grants to everyone of the provider.
    v_grants := array(
        select distinct g.app_group from jit.group_map g
        where g.provider = v_provider.name
          and (g.idp_group = '*' or g.idp_group = any (v_idp_groups))
        order by 1);

    insert into jit.groups (name) select unnest(v_grants) on conflict do nothing;
    insert into jit.memberships (user_id, group_name, source)
    select v_user_id, g, v_provider.name from unnest(v_grants) g
    on conflict (user_id, group_name) do nothing;

    -- Sync removes only what this provider granted, and never on a partial
    -- group list (Entra ID overage): then it only adds.
    if v_provider.sync_groups and v_complete then
        delete from jit.memberships
        where user_id = v_user_id and source = v_provider.name
          and group_name <> all (v_grants);
    end if;

    -- 6. the audit row (the hook runs next, in the shell, same transaction).
    insert into jit.login_events (provider, subject, user_id, outcome, token_id)
    values (v_provider.name, v_subject, v_user_id,
            case when v_created then 'created' else 'updated' end, v_token_id);

    v_result.user_id := v_user_id;
    v_result.created := v_created;
    v_result.groups := array(select m.group_name from jit.memberships m
                             where m.user_id = v_user_id order by 1);
    if v_provider.on_login is not null then
        v_result.hook := v_provider.on_login::regproc::text;
        v_result.hook_owner := (select proowner from pg_proc where oid = v_provider.on_login);
    end if;
    return v_result;
end
$$;

-- jit.try_login: the login of jit_login, with the verdict as a row instead
-- of an exception. jit_login runs in a subtransaction (the exception
-- block): a rejection — SQLSTATE 28000 from src/reject.rs or jit._reject,
-- whose DETAIL holds the facts as JSON — rolls back all it wrote, and the
-- rejection alone is recorded in jit.login_events, in the caller's
-- transaction. Whatever is not a verdict on the token (25006 on a hot
-- standby, 40001, an internal error, a 28000 of an on_login hook, which
-- carries no such DETAIL) is raised as it came. Accepted: the identity
-- jit_login established outlives the subtransaction (src/identity.rs hands
-- it to the parent when the subtransaction is released).
create function jit.try_login(token text, request_id text default null)
returns table(user_id uuid, created boolean, groups text[], reason text, detail text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_login   jit.login_result;
    v_message text;
    v_facts   text;
    v_f       jsonb;
begin
    begin
        select * into v_login from @extschema@.jit_login(token, request_id);
    exception when sqlstate '28000' then
        get stacked diagnostics v_message = message_text, v_facts = pg_exception_detail;
        -- The facts are the DETAIL's first line (a Rust backtrace may follow
        -- it when the server runs with RUST_BACKTRACE set).
        v_facts := split_part(v_facts, E'\n', 1);
        if v_facts is null or left(v_facts, 10) <> '{"reason":' then
            raise;
        end if;
        v_f := v_facts::jsonb;
        insert into jit.login_events (provider, subject, outcome, reason, token_id)
        values (v_f ->> 'provider', v_f ->> 'subject', 'rejected', v_f ->> 'reason',
                v_f ->> 'token_id');
        reason := v_f ->> 'reason';
        detail := v_message;
        return next;
        return;
    end;
    user_id := v_login.user_id;
    created := v_login.created;
    groups := v_login.groups;
    return next;
end
$$;

revoke all on function jit._reject(text, text, text, text, text) from public;
revoke all on function jit.try_login(text, text) from public;
-- jit.try_login is security definer itself (sql/login.sql): the same rights as jit_login.
grant execute on function jit.try_login(text, text) to public;
