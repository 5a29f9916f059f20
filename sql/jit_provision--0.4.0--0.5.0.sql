-- jit_provision 0.4.0 -> 0.5.0: SCIM 2.0 provisioning through one SQL
-- function, jit.scim (sql/scim.sql, sql/scim_users.sql, sql/scim_groups.sql
-- hold the same text as below). New columns for SCIM on jit.providers,
-- jit.users, jit.groups and jit.memberships; jit_login sets a new user's
-- user_name (or external_id) to its subject and keeps the memberships SCIM
-- holds; jit.cleanup keeps them too; jit.deprovision marks its block as a
-- DBA's. Existing users get user_name = subject (every provider starts with
-- scim_subject = 'userName').

alter table jit.providers
    add column scim_subject text not null default 'userName'
        check (scim_subject in ('userName', 'externalId')),
    add column scim_token_sha256 bytea check (octet_length(scim_token_sha256) = 32),
    add column scim_token_issued_at timestamptz;
comment on column jit.providers.scim_subject is
    'The SCIM attribute (userName or externalId) that equals the login subject, so a SCIM-created user is the row jit_login finds';
comment on column jit.providers.scim_token_sha256 is
    'SHA-256 of the SCIM bearer token issued by jit.scim_token; the token itself is not stored';

alter table jit.users
    add column user_name text,
    add column external_id text,
    add column employee_number text,
    add column department text,
    add column manager text,
    add column scim_blocked boolean not null default false,
    add column scim_created_at timestamptz,
    add column retired_at timestamptz;
create index users_user_name_idx on jit.users (provider, lower(user_name));
create index users_external_id_idx on jit.users (provider, external_id);
create unique index users_scim_user_name_key on jit.users (provider, lower(user_name))
    where scim_created_at is not null;
comment on column jit.users.scim_blocked is
    'The block was set by SCIM (active = false, or DELETE); SCIM active = true lifts only such a block';
comment on column jit.users.scim_created_at is
    'When the provider''s SCIM client created or adopted the row (null: SCIM has not claimed it; a SCIM create adopts it)';
comment on column jit.users.retired_at is
    'Deleted through SCIM: blocked, and unknown to SCIM from then on';
update jit.users set user_name = subject where user_name is null;

alter table jit.groups
    add column id uuid not null default gen_random_uuid() unique,
    add column external_id text,
    add column scim_provider text references jit.providers (name) on update cascade on delete set null,
    add column updated_at timestamptz not null default now();

alter table jit.memberships
    add column via_login boolean not null default true,
    add column via_scim boolean not null default false,
    add constraint memberships_check check (via_login or via_scim);
create index memberships_group_name_idx on jit.memberships (group_name);

-- Same text as sql/login.sql.
create or replace function jit._apply_login(p_identity jsonb)
returns jit._applied
language plpgsql
set search_path = pg_catalog, jit, pg_temp
set enable_seqscan = off
as $$
declare
    v_provider    record;
    v_subject     text := p_identity ->> 'subject';
    v_token_id    text := p_identity ->> 'token_id';
    v_idp_groups  text[] := array(select jsonb_array_elements_text(p_identity -> 'idp_groups'));
    v_complete    boolean := coalesce((p_identity ->> 'groups_complete')::boolean, true);
    v_user        jit.users;
    v_user_id     uuid;
    v_user_name   text;
    v_blocked     boolean;
    v_created     boolean;
    v_grants      text[];
    v_missing     text[];
    v_result      jit._applied;
begin
    -- The settings the write path needs, not the row: its keys (jwks,
    -- certificates) can be large, and the verifier has read them already.
    select p.name, p.clock_skew, p.seat_limit, p.sync_groups, p.scim_subject, p.on_login
    into strict v_provider
    from jit.providers p where p.name = p_identity ->> 'provider';

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

    -- A new user is visible to SCIM: userName = the subject (unless another
    -- user of the provider has it, case-insensitively), and externalId = the
    -- subject when that is the provider's scim_subject, so a later SCIM
    -- create finds the row and adopts it. Only on a first login.
    if v_user.id is null
       and not exists (select from jit.users
                       where provider = v_provider.name and lower(user_name) = lower(v_subject)) then
        v_user_name := v_subject;
    end if;
    if v_user.id is not null then
        -- A returning user, locked above: a plain update of that row.
        update jit.users u
        set email = p_identity ->> 'email',
            name = p_identity ->> 'name',
            given_name = p_identity ->> 'given_name',
            family_name = p_identity ->> 'family_name',
            attributes = coalesce(p_identity -> 'attributes', '{}'),
            updated_at = now(),
            last_login_at = now(),
            login_count = u.login_count + 1,
            disabled_at = null
        where u.id = v_user.id
        returning u.id, u.blocked, false into v_user_id, v_blocked, v_created;
    else
        -- A first login: concurrent first logins of one user meet here.
        insert into jit.users as u (provider, subject, email, name, given_name, family_name,
                                    attributes, last_login_at, login_count, user_name, external_id)
        values (v_provider.name, v_subject,
                p_identity ->> 'email', p_identity ->> 'name',
                p_identity ->> 'given_name', p_identity ->> 'family_name',
                coalesce(p_identity -> 'attributes', '{}'), now(), 1,
                v_user_name,
                case when v_provider.scim_subject = 'externalId' then v_subject end)
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
    end if;

    -- A row created by a concurrent first login of the same user may have
    -- been blocked in between; the upsert above waited for it.
    if v_blocked then
        perform jit._reject(v_provider.name, 'user_blocked', 'user is blocked', v_token_id, v_subject);
    end if;

    -- 5. memberships: grants by mapping; '*' grants to everyone of the provider.
    -- (One index scan over the provider's mappings: '*' is looked up as one
    -- more of the token's groups.)
    v_grants := array(
        select distinct g.app_group from jit.group_map g
        where g.provider = v_provider.name
          and g.idp_group = any (v_idp_groups || '*'::text)
        order by 1);

    -- Only the grants this user does not hold yet: a returning user with
    -- the same groups writes nothing here. (An ON CONFLICT that finds the
    -- row would still lock it, a write of its own.)
    v_missing := array(
        select g from unnest(v_grants) g
        where not exists (select from jit.memberships m
                          where m.user_id = v_user_id and m.group_name = g and m.via_login));
    if cardinality(v_missing) > 0 then
        -- Only groups not there yet: a speculative insert of an existing
        -- name would wait for any open transaction that changed that
        -- group's row (a SCIM rename or member change).
        insert into jit.groups (name)
        select g from unnest(v_missing) g
        where not exists (select from jit.groups x where x.name = g)
        on conflict do nothing;
        -- A membership SCIM alone held gains the login's hold (via_login).
        insert into jit.memberships as m (user_id, group_name, source)
        select v_user_id, g, v_provider.name from unnest(v_missing) g
        on conflict (user_id, group_name) do update set via_login = true
            where not m.via_login;
    end if;

    -- Sync removes only what this provider's logins granted, and never on a
    -- partial group list (Entra ID overage): then it only adds. A membership
    -- SCIM also holds stays, with the login's hold dropped.
    if v_provider.sync_groups and v_complete then
        with released as (
            update jit.memberships
            set via_login = false
            where user_id = v_user_id and source = v_provider.name and via_login and via_scim
              and group_name <> all (v_grants))
        delete from jit.memberships
        where user_id = v_user_id and source = v_provider.name and via_login and not via_scim
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


-- Same text as sql/lifecycle.sql.
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
            where u.provider = v_p.name and u.disabled_at is null and not u.blocked
              and u.scim_created_at is null;

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
                  and u.scim_created_at is null
                  and coalesce(u.last_login_at, u.created_at) < v_at - v_p.stale_after
                returning u.id)
            select coalesce(array_agg(d.id), '{}') into v_ids from d;
            disabled := cardinality(v_ids);

            -- The login-synced grants go (the next login brings them back);
            -- what SCIM holds stays SCIM's.
            with released as (
                update jit.memberships m set via_login = false
                where m.user_id = any (v_ids) and m.source = v_p.name and m.via_login and m.via_scim)
            delete from jit.memberships m
            where m.user_id = any (v_ids) and m.source = v_p.name and not m.via_scim;
        end if;

        -- Blocked (deprovisioned) users are kept: deleting the row would lift
        -- the block, and the next login would create the user afresh. Users
        -- SCIM created or adopted are the IdP's to disable and delete: a
        -- row gone here would turn its later offboarding into a 404.
        if v_p.delete_after is not null then
            delete from jit.users u
            where u.provider = v_p.name and not u.blocked and u.scim_created_at is null
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


create or replace function jit.deprovision(provider text, subjects text[])
returns integer
language plpgsql
volatile
security definer
set search_path = pg_catalog, jit, pg_temp
as $$
#variable_conflict use_column
declare
    v_provider text := deprovision.provider;
    v_subjects text[] := array(select distinct s from unnest(deprovision.subjects) s
                               where s is not null);
    v_ids      uuid[];
    v_affected integer;
    v_missing  text[];
begin
    if not exists (select from jit.providers p where p.name = v_provider) then
        raise exception 'jit.deprovision: unknown provider "%"', v_provider
            using errcode = '22023';
    end if;

    -- One at a time with jit.cleanup of the same provider: both lock many
    -- user rows, in different orders, and could otherwise deadlock.
    perform pg_catalog.pg_advisory_xact_lock(
        pg_catalog.hashtextextended('jit.cleanup:' || v_provider, 0));

    -- The row locks taken here are the ones jit_login waits for, so a login
    -- racing with the deprovision sees the block. Users blocked and disabled
    -- already keep their row as it is and are not counted.
    select coalesce(array_agg(u.id), '{}') into v_ids
    from (select u.id from jit.users u
          where u.provider = v_provider and u.subject = any (v_subjects)
          order by u.id
          for update) u;

    -- A DBA's block: SCIM's active = true does not lift it (scim_blocked).
    update jit.users u
    set disabled_at = coalesce(u.disabled_at, pg_catalog.now()),
        blocked = true,
        scim_blocked = false,
        updated_at = pg_catalog.now()
    where u.id = any (v_ids) and (not u.blocked or u.disabled_at is null or u.scim_blocked);
    get diagnostics v_affected = row_count;

    delete from jit.memberships m
    where m.user_id = any (v_ids) and m.source = v_provider;

    v_missing := array(select s from unnest(v_subjects) s
                       where not exists (select from jit.users u
                                         where u.provider = v_provider and u.subject = s)
                       order by 1);
    if cardinality(v_missing) > 0 then
        raise notice 'jit.deprovision: % subject(s) of provider "%" not found: %',
            cardinality(v_missing), v_provider,
            array_to_string(v_missing[1:10], ', ') || case when cardinality(v_missing) > 10 then ', ...' else '' end;
    end if;

    raise log 'jit_provision: deprovision provider=% newly_blocked=% matched=% not_found=%',
        v_provider, v_affected, cardinality(v_ids), cardinality(v_missing);
    return v_affected;
end
$$;


-- The Rust half of jit.scim (src/scim.rs), as pgrx declares it.
-- jit_provision::scim::_scim_plan
CREATE  FUNCTION jit."_scim_plan"(
	"method" TEXT, /* Option < & str > */
	"path" TEXT, /* Option < & str > */
	"query" TEXT, /* Option < & str > */
	"body" TEXT, /* Option < & str > */
	"base_url" TEXT /* Option < & str > */
) RETURNS jsonb /* JsonB */
IMMUTABLE PARALLEL SAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'scim_plan_wrapper';

-- jit_provision::scim::_scim_project
CREATE  FUNCTION jit."_scim_project"(
	"doc" jsonb, /* JsonB */
	"attributes" TEXT[], /* Vec < String > */
	"excluded" TEXT[] /* Vec < String > */
) RETURNS jsonb /* JsonB */
IMMUTABLE STRICT PARALLEL SAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'scim_project_wrapper';

-- jit_provision::scim::_scim_token_matches
CREATE  FUNCTION jit."_scim_token_matches"(
	"authorization" TEXT, /* Option < & str > */
	"stored" bytea /* Option < & [u8] > */
) RETURNS bool /* bool */
IMMUTABLE PARALLEL SAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'scim_token_matches_wrapper';

-- jit_provision::scim::_scim_new_token
CREATE  FUNCTION jit."_scim_new_token"() RETURNS TEXT /* String */
STRICT VOLATILE PARALLEL UNSAFE  
LANGUAGE c /* Rust */
AS 'MODULE_PATHNAME', 'scim_new_token_wrapper';

-- Same text as sql/scim.sql.
-- SCIM 2.0 (RFC 7643 / 7644) through one SQL function: jit.scim. The
-- application forwards each HTTP request under its SCIM base URL; the
-- identity provider's provisioning client then creates, updates,
-- deactivates and deletes users and groups in the tables jit_login uses.
--
-- The request is parsed by the Rust core (jit._scim_plan: route, filter,
-- body, PATCH operations, all typed and checked); this file authenticates,
-- runs the plan against the rows, and shapes the responses. Users are in
-- sql/scim_users.sql, groups in sql/scim_groups.sql.
--
-- Every response that is not 2xx is reached by raising SQLSTATE 'JSCIM'
-- (jit._scim_fail) inside the subtransaction of jit._scim, so whatever the
-- request wrote before the error is rolled back: "a non-2xx response leaves
-- nothing written", and a PATCH is atomic across its operations.

-------------------------------------------------------------------------------
-- Audit: who changed what through SCIM, and when
-------------------------------------------------------------------------------

create table jit.scim_events (
    id          bigint generated always as identity primary key,
    at          timestamptz not null default now(),
    provider    text not null,
    resource    text not null check (resource in ('User', 'Group')),
    resource_id uuid not null,
    action      text not null
                check (action in ('created', 'adopted', 'replaced', 'updated', 'deleted')),
    -- The user's new active state when the request changed it, else null:
    -- "who deactivated this user, when" is a filter on this column.
    active      boolean,
    -- What the request asked for, as parsed (the stored attributes only).
    detail      jsonb
);
create index on jit.scim_events (resource_id);
comment on table jit.scim_events is 'Every change made through jit.scim, with the provider whose bearer token made it';
select pg_catalog.pg_extension_config_dump('jit.scim_events', '');
select pg_catalog.pg_extension_config_dump('jit.scim_events_id_seq', '');

-------------------------------------------------------------------------------
-- Responses
-------------------------------------------------------------------------------

-- A response: {"status": n, "headers": {...}, "body": {...}}. The ETag
-- header repeats the body's meta.version, so If-Match can quote it.
create function jit._scim_response(p_status integer, p_body jsonb, p_location text default null)
returns jsonb
language plpgsql immutable
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    return jsonb_build_object(
        'status', p_status,
        'headers', jsonb_strip_nulls(jsonb_build_object(
            'Content-Type', 'application/scim+json',
            'Location', p_location,
            'ETag', p_body #>> '{meta,version}')))
        || case when p_body is null then '{}'::jsonb else jsonb_build_object('body', p_body) end;
end
$$;

-- The RFC 7644 3.12 Error response.
create function jit._scim_error(p_status integer, p_scim_type text, p_detail text)
returns jsonb
language plpgsql immutable
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    return jit._scim_response(p_status, jsonb_strip_nulls(jsonb_build_object(
        'schemas', jsonb_build_array('urn:ietf:params:scim:api:messages:2.0:Error'),
        'status', p_status::text,
        'scimType', p_scim_type,
        'detail', p_detail)));
end
$$;

-- Ends the request with an error response: raises SQLSTATE JSCIM, which
-- jit._scim catches after the subtransaction has rolled back.
create function jit._scim_fail(p_status integer, p_scim_type text, p_detail text)
returns void
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    raise exception using errcode = 'JSCIM', message = p_detail,
        detail = jit._scim_error(p_status, p_scim_type, p_detail)::text;
end
$$;

-- The resource's URI: base_url + /Users/<id>, relative without a base.
create function jit._scim_location(p_base text, p_endpoint text, p_id uuid)
returns text
language plpgsql immutable
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    return coalesce(rtrim(p_base, '/'), '') || '/' || p_endpoint || '/' || p_id::text;
end
$$;

-- meta, with a version derived from the representation itself: a weak
-- ETag that changes exactly when what SCIM shows changes.
create function jit._scim_with_meta(p_doc jsonb, p_type text, p_created timestamptz,
                                    p_modified timestamptz, p_location text)
returns jsonb
language plpgsql immutable
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    return p_doc || jsonb_build_object('meta', jsonb_build_object(
        'resourceType', p_type,
        'created', p_created,
        'lastModified', p_modified,
        'location', p_location,
        'version', 'W/"' || left(md5(p_doc::text), 20) || '"'));
end
$$;

-- 412 unless If-Match names the current version (or is "*"). Weak
-- comparison (RFC 7232 2.3.2): W/ prefixes do not matter.
create function jit._scim_check_if_match(p_if_match text, p_doc jsonb)
returns void
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_current text := regexp_replace(p_doc #>> '{meta,version}', '^W/', '');
begin
    if p_if_match is null or btrim(p_if_match) = '*' then
        return;
    end if;
    if not exists (select from regexp_split_to_table(p_if_match, '\s*,\s*') t
                   where regexp_replace(btrim(t), '^W/', '') = v_current) then
        perform jit._scim_fail(412, null,
            'If-Match does not name the current version ' || (p_doc #>> '{meta,version}'));
    end if;
end
$$;

-- A ListResponse page.
create function jit._scim_list(p_total bigint, p_start bigint, p_items jsonb)
returns jsonb
language plpgsql immutable
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    return jsonb_build_object(
        'schemas', jsonb_build_array('urn:ietf:params:scim:api:messages:2.0:ListResponse'),
        'totalResults', p_total,
        'startIndex', p_start,
        'itemsPerPage', jsonb_array_length(p_items),
        'Resources', p_items);
end
$$;

create function jit._scim_event(p_provider text, p_resource text, p_id uuid, p_action text,
                                p_active boolean, p_detail jsonb)
returns void
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    insert into jit.scim_events (provider, resource, resource_id, action, active, detail)
    values (p_provider, p_resource, p_id, p_action, p_active, p_detail);
end
$$;

-------------------------------------------------------------------------------
-- Tokens
-------------------------------------------------------------------------------

create function jit.scim_token(provider text)
returns text
language plpgsql
volatile
security definer
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_token text := jit._scim_new_token();
begin
    update jit.providers p
    set scim_token_sha256 = sha256(convert_to(v_token, 'UTF8')),
        scim_token_issued_at = now()
    where p.name = scim_token.provider;
    if not found then
        raise exception 'jit.scim_token: unknown provider "%"', scim_token.provider
            using errcode = '22023';
    end if;
    raise log 'jit_provision: new SCIM token for provider=% by role=%', scim_token.provider, session_user;
    return v_token;
end
$$;
comment on function jit.scim_token(text) is
    'Issues a new SCIM bearer token for the provider (returned once; only its SHA-256 is stored) and revokes the previous one';

-------------------------------------------------------------------------------
-- The entry point
-------------------------------------------------------------------------------

create function jit._scim(p_method text, p_path text, p_query text, p_body text,
                          p_authorization text, p_base_url text, p_if_match text)
returns jsonb
language plpgsql
volatile
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_providers text[];
    v_provider  jit.providers;
    v_plan      jsonb;
    v_route     text;
    v_resource  text;
    v_detail    text;
begin
    -- The bearer token selects the provider. Every provider's hash is
    -- compared (in constant time each), not only up to the first match.
    v_providers := array(select p.name from jit.providers p
                         where jit._scim_token_matches(p_authorization, p.scim_token_sha256)
                         order by p.name);
    if cardinality(v_providers) <> 1 then
        return jsonb_set(jit._scim_error(401, null, 'a valid bearer token is required'),
                         '{headers,WWW-Authenticate}', '"Bearer realm=\"jit_provision\""');
    end if;
    select * into strict v_provider from jit.providers p where p.name = v_providers[1];
    if not v_provider.enabled then
        return jit._scim_error(403, null, format('provider "%s" is disabled', v_provider.name));
    end if;

    v_plan := jit._scim_plan(p_method, p_path, p_query, p_body, p_base_url);
    if v_plan ? 'error' then
        -- A 405 names the methods the path takes (Allow).
        return jsonb_strip_nulls(jsonb_set(
            jit._scim_response((v_plan #>> '{error,status}')::integer, v_plan #> '{error,body}'),
            '{headers,Allow}', coalesce(v_plan #> '{error,allow}', 'null')));
    end if;
    v_route := v_plan ->> 'route';
    v_resource := v_plan ->> 'resource';
    if v_route = 'document' then
        return jit._scim_response(200, v_plan -> 'body');
    end if;

    begin
        -- Requests that can take a name (userName, the login subject, a
        -- group's name) go one at a time per provider, so that a uniqueness
        -- check and the write after it see no race. Others (deactivation,
        -- members) only lock the rows they change.
        if v_route in ('create', 'replace')
           or (v_route = 'patch' and (v_plan -> 'changes' @> '[{"attr": "user_name"}]'
                                      or v_plan -> 'changes' @> '[{"attr": "external_id"}]'
                                      or v_plan -> 'changes' @> '[{"attr": "name"}]')) then
            perform pg_catalog.pg_advisory_xact_lock(
                pg_catalog.hashtextextended('jit.scim:' || v_provider.name, 0));
        end if;
        if v_resource = 'User' then
            return jit._scim_users(v_provider, v_plan, p_base_url, p_if_match);
        else
            return jit._scim_groups(v_provider, v_plan, p_base_url, p_if_match);
        end if;
    exception
        when sqlstate 'JSCIM' then
            get stacked diagnostics v_detail = pg_exception_detail;
            return v_detail::jsonb;
        when unique_violation then
            -- A race the checks did not see (a login creating the same
            -- subject, another provider creating the same group name).
            return jit._scim_error(409, 'uniqueness', 'the resource conflicts with an existing one');
        when program_limit_exceeded then
            -- A backstop: values are bounded in the core well below the
            -- index entry limit.
            return jit._scim_error(400, 'invalidValue', 'a value is too long to be stored');
    end;
end
$$;

-- IN "body" and OUT "body" share a name, which plpgsql cannot declare:
-- hence this SQL wrapper over jit._scim.
create function jit.scim(method text, path text, query text default null, body text default null,
                         "authorization" text default null, base_url text default null,
                         if_match text default null)
returns table(status integer, headers jsonb, body jsonb)
language sql
volatile
security definer
set search_path = pg_catalog, jit, pg_temp
as $$
    select (r ->> 'status')::integer, r -> 'headers', r -> 'body'
    from jit._scim($1, $2, $3, $4, $5, $6, $7) r
$$;
comment on function jit.scim(text, text, text, text, text, text, text) is
    'SCIM 2.0 service provider: forward method, path below the SCIM base URL, raw query, body, Authorization header, '
    'base URL and If-Match header; returns the HTTP status, headers and body to send back';

-- Same text as sql/scim_users.sql.
-- SCIM Users (see sql/scim.sql for the entry point). A SCIM User is a
-- jit.users row of the token's provider: id = jit.users.id, userName =
-- user_name, displayName = name, name.givenName / familyName, the one
-- stored email, active = not blocked, and the enterprise extension's
-- employeeNumber, department, manager.value. The provider's scim_subject
-- says which of userName / externalId is the login subject, so the row
-- SCIM creates is the row jit_login finds, and the other way round.

-- The representation of a user.
create function jit._scim_user_doc(u jit.users, p_base text)
returns jsonb
language plpgsql stable
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_ext jsonb := nullif(jsonb_strip_nulls(jsonb_build_object(
        'employeeNumber', u.employee_number,
        'department', u.department,
        'manager', case when u.manager is not null
                        then jsonb_build_object('value', u.manager) end)), '{}');
    v_doc jsonb;
begin
    v_doc := jsonb_strip_nulls(jsonb_build_object(
        'schemas', case when v_ext is null
                        then '["urn:ietf:params:scim:schemas:core:2.0:User"]'::jsonb
                        else '["urn:ietf:params:scim:schemas:core:2.0:User",
                               "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"]'::jsonb end,
        'id', u.id,
        'externalId', u.external_id,
        -- A user that logged in under an externalId provider before SCIM
        -- knew it has no userName yet: its subject stands in.
        'userName', coalesce(u.user_name, u.subject),
        'displayName', u.name,
        'name', nullif(jsonb_strip_nulls(jsonb_build_object(
            'givenName', u.given_name, 'familyName', u.family_name)), '{}'),
        'emails', case when u.email is not null then jsonb_build_array(
            jsonb_build_object('value', u.email)) end,
        'active', not u.blocked,
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', v_ext));
    return jit._scim_with_meta(v_doc, 'User', u.created_at, u.updated_at,
                               jit._scim_location(p_base, 'Users', u.id));
end
$$;

-- The user `p_id` of the provider, locked (not against the KEY SHARE lock
-- of a membership insert, so a concurrent login cannot deadlock with it);
-- 404 when there is none (another
-- provider's user, or one SCIM deleted, is "none").
create function jit._scim_user_for_update(p_provider text, p_id uuid)
returns jit.users
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_user jit.users;
begin
    select * into v_user from jit.users u
    where u.id = p_id and u.provider = p_provider and u.retired_at is null
    for no key update;
    if not found then
        perform jit._scim_fail(404, null, format('User %s not found', p_id));
    end if;
    return v_user;
end
$$;

-- Admission of one more enabled user under the provider's seat_limit,
-- serialized as jit_login's is (jit.seat_claims, sql/login.sql).
create function jit._scim_claim_seat(p jit.providers)
returns void
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    if p.seat_limit is null then
        return;
    end if;
    insert into jit.seat_claims as c (provider, last_admission)
    values (p.name, now())
    on conflict (provider) do update set last_admission = excluded.last_admission;
    if (select count(*) from jit.users u
        where u.provider = p.name and u.disabled_at is null and not u.blocked) >= p.seat_limit then
        perform jit._scim_fail(403, null,
            format('seat_limit_reached: provider "%s" has no free seat (limit %s)', p.name, p.seat_limit));
    end if;
end
$$;

-- Writes `v_new` over the stored row `v_old` (same id) and applies the
-- active state `p_active` (null: unchanged). Checks what the columns
-- cannot: userName unique per provider (case-insensitive), and the login
-- subject (userName or externalId, per scim_subject) following the SCIM
-- attribute without taking another row's subject.
create function jit._scim_store_user(p jit.providers, v_old jit.users, v_new jit.users,
                                     p_active boolean)
returns jit.users
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_subject text := case p.scim_subject when 'userName' then v_new.user_name
                                          else v_new.external_id end;
begin
    if v_subject is null or v_subject = '' then
        perform jit._scim_fail(400, 'invalidValue', format(
            '%s is required: it is the login subject of provider "%s"', p.scim_subject, p.name));
    end if;
    if lower(v_new.user_name) is distinct from lower(v_old.user_name)
       and exists (select from jit.users u
                   where u.provider = p.name and lower(u.user_name) = lower(v_new.user_name)
                     and u.id <> v_old.id) then
        perform jit._scim_fail(409, 'uniqueness',
            format('userName "%s" is already taken', v_new.user_name));
    end if;
    if v_subject is distinct from v_old.subject
       and exists (select from jit.users u
                   where u.provider = p.name and u.subject = v_subject and u.id <> v_old.id) then
        perform jit._scim_fail(409, 'uniqueness',
            format('another user of provider "%s" has the subject "%s"', p.name, v_subject));
    end if;

    v_new.subject := v_subject;
    if p_active is false and not v_old.blocked then
        -- As jit.deprovision does: blocked, disabled, provider grants gone.
        v_new.blocked := true;
        v_new.scim_blocked := true;
        v_new.disabled_at := coalesce(v_old.disabled_at, now());
    elsif p_active is true and v_old.blocked and v_old.scim_blocked then
        -- Lifts only a block SCIM set; one set by jit.deprovision stays.
        perform jit._scim_claim_seat(p);
        v_new.blocked := false;
        v_new.scim_blocked := false;
        v_new.disabled_at := null;
    end if;
    if p_active is false then
        delete from jit.memberships m where m.user_id = v_old.id and m.source = p.name;
    end if;

    update jit.users u
    set subject = v_new.subject,
        user_name = v_new.user_name,
        external_id = v_new.external_id,
        name = v_new.name,
        given_name = v_new.given_name,
        family_name = v_new.family_name,
        email = v_new.email,
        employee_number = v_new.employee_number,
        department = v_new.department,
        manager = v_new.manager,
        blocked = v_new.blocked,
        scim_blocked = v_new.scim_blocked,
        disabled_at = v_new.disabled_at,
        scim_created_at = coalesce(u.scim_created_at, now()),
        updated_at = now()
    where u.id = v_old.id
    returning u.* into v_new;
    return v_new;
end
$$;

-- A POST/PUT body ({"user": ...} of the plan) over a row.
create function jit._scim_user_input(v jit.users, p_in jsonb)
returns jit.users
language plpgsql immutable
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    v.user_name := p_in ->> 'user_name';
    v.external_id := p_in ->> 'external_id';
    v.name := p_in ->> 'name';
    v.given_name := p_in ->> 'given_name';
    v.family_name := p_in ->> 'family_name';
    v.email := p_in ->> 'email';
    v.employee_number := p_in ->> 'employee_number';
    v.department := p_in ->> 'department';
    v.manager := p_in ->> 'manager';
    return v;
end
$$;

create function jit._scim_users(p jit.providers, p_plan jsonb, p_base text, p_if_match text)
returns jsonb
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_route   text := p_plan ->> 'route';
    v_id      uuid := (p_plan ->> 'id')::uuid;
    v_in      jsonb := p_plan -> 'user';
    v_active  boolean;
    v_user    jit.users;
    v_new     jit.users;
    v_subject text;
    v_action  text;
    v_change  jsonb;
    v_where   text := 'u.provider = $1 and u.retired_at is null';
    v_values  text[] := '{}';
    v_total   bigint;
    v_items   jsonb;
begin
    if v_route = 'list' then
        if not (p_plan -> 'can_match')::boolean then
            return jit._scim_response(200, jit._scim_list(0, (p_plan ->> 'start_index')::bigint, '[]'));
        end if;
        -- Each comparison is a fixed column expression and a bound value
        -- ($2[i]): the filter's text never becomes SQL.
        for v_change in select * from jsonb_array_elements(p_plan -> 'filter')
        loop
            v_values := v_values || (v_change ->> 'value');
            v_where := v_where || ' and ' || format(case v_change ->> 'attr'
                when 'user_name' then 'lower(u.user_name) = lower($2[%s])'
                when 'external_id' then 'u.external_id = $2[%s]'
                when 'id' then 'u.id = ($2[%s])::uuid'
                when 'email' then 'lower(u.email) = lower($2[%s])'
                end, cardinality(v_values));
        end loop;
        execute 'select count(*) from jit.users u where ' || v_where
            into v_total using p.name, v_values;
        execute 'select coalesce(jsonb_agg(jit._scim_project(jit._scim_user_doc(u, $3), $4, $5)
                                           order by u.created_at, u.id), ''[]'')
                 from (select * from jit.users u where ' || v_where || '
                       order by u.created_at, u.id offset $6 limit $7) u'
            into v_items
            using p.name, v_values, p_base,
                  array(select jsonb_array_elements_text(p_plan -> 'attributes')),
                  array(select jsonb_array_elements_text(p_plan -> 'excluded')),
                  (p_plan ->> 'start_index')::bigint - 1, (p_plan ->> 'count')::bigint;
        return jit._scim_response(200,
            jit._scim_list(v_total, (p_plan ->> 'start_index')::bigint, v_items));
    end if;

    if v_route = 'get' then
        select * into v_user from jit.users u
        where u.id = v_id and u.provider = p.name and u.retired_at is null;
        if not found then
            perform jit._scim_fail(404, null, format('User %s not found', v_id));
        end if;
        return jit._scim_response(200, jit._scim_project(
            jit._scim_user_doc(v_user, p_base),
            array(select jsonb_array_elements_text(p_plan -> 'attributes')),
            array(select jsonb_array_elements_text(p_plan -> 'excluded'))));
    end if;

    if v_route = 'create' then
        v_subject := case p.scim_subject when 'userName' then v_in ->> 'user_name'
                                         else v_in ->> 'external_id' end;
        v_active := (v_in ->> 'active')::boolean;
        select * into v_user from jit.users u
        where u.provider = p.name and u.subject = v_subject
        for no key update;
        if found and v_user.retired_at is not null then
            perform jit._scim_fail(409, 'uniqueness', format(
                'the user with subject "%s" was deleted through SCIM; a DBA can remove its row to allow it again',
                v_subject));
        elsif found and v_user.scim_created_at is not null then
            perform jit._scim_fail(409, 'uniqueness',
                format('a user with %s "%s" exists', p.scim_subject, v_subject));
        elsif found then
            -- The subject logged in before SCIM knew it: adopt that row.
            v_action := 'adopted';
        else
            v_action := 'created';
            v_active := coalesce(v_active, true);
            if v_active then
                perform jit._scim_claim_seat(p);
            end if;
            -- The row under a placeholder subject that cannot clash;
            -- _scim_store_user checks the input and sets the real subject.
            insert into jit.users as u (provider, subject, blocked, scim_blocked, disabled_at)
            values (p.name, 'scim:' || gen_random_uuid(),
                    not v_active, not v_active, case when not v_active then now() end)
            returning u.* into v_user;
            v_active := null;
        end if;
        v_new := jit._scim_store_user(p, v_user, jit._scim_user_input(v_user, v_in), v_active);
        perform jit._scim_event(p.name, 'User', v_new.id, v_action,
                                case when v_user.blocked is distinct from v_new.blocked
                                       or v_action = 'created' then not v_new.blocked end,
                                v_in);
        return jit._scim_response(201, jit._scim_user_doc(v_new, p_base),
                                  jit._scim_location(p_base, 'Users', v_new.id));
    end if;

    v_user := jit._scim_user_for_update(p.name, v_id);
    if p_if_match is not null then
        perform jit._scim_check_if_match(p_if_match, jit._scim_user_doc(v_user, p_base));
    end if;

    if v_route = 'delete' then
        -- Retired: blocked like a deprovisioned user, unknown to SCIM after.
        update jit.users u
        set retired_at = now(), blocked = true, scim_blocked = true,
            disabled_at = coalesce(u.disabled_at, now()), updated_at = now()
        where u.id = v_id;
        delete from jit.memberships m where m.user_id = v_id and m.source = p.name;
        perform jit._scim_event(p.name, 'User', v_id, 'deleted',
                                case when not v_user.blocked then false end, null);
        return jit._scim_response(204, null);
    end if;

    if v_route = 'replace' then
        v_new := jit._scim_user_input(v_user, v_in);
        v_active := (v_in ->> 'active')::boolean;
        v_action := 'replaced';
        v_change := v_in;
    else
        -- PATCH: the operations in order, on a copy of the row; one write.
        v_new := v_user;
        for v_change in select * from jsonb_array_elements(p_plan -> 'changes')
        loop
            case v_change ->> 'op'
            when 'active' then
                v_active := (v_change ->> 'value')::boolean;
            when 'add_email' then
                v_new.email := coalesce(v_new.email, v_change ->> 'value');
            when 'remove_email' then
                if lower(v_new.email) = lower(v_change ->> 'value') then
                    v_new.email := null;
                end if;
            else
                v_new := jsonb_populate_record(v_new, jsonb_build_object(
                    v_change ->> 'attr', v_change -> 'value'));
            end case;
        end loop;
        v_action := 'updated';
        v_change := p_plan -> 'changes';
    end if;
    v_new := jit._scim_store_user(p, v_user, v_new, v_active);
    perform jit._scim_event(p.name, 'User', v_id, v_action,
                            case when v_user.blocked is distinct from v_new.blocked
                                 then not v_new.blocked end,
                            v_change);
    return jit._scim_response(200, jit._scim_user_doc(v_new, p_base));
end
$$;

-- Same text as sql/scim_groups.sql.
-- SCIM Groups (see sql/scim.sql for the entry point). A SCIM Group is a
-- jit.groups row that the token's provider created or adopted through
-- SCIM (scim_provider): id = jit.groups.id, displayName = name. Its
-- members are the memberships SCIM holds (via_scim) for users of the same
-- provider. SCIM adds and removes only its own hold on a membership: a
-- grant by a login's group sync or by a DBA stays, and a login's sync
-- never removes what SCIM holds (sql/login.sql).

create function jit._scim_group_doc(g jit.groups, p_provider text, p_base text,
                                    p_members boolean default true)
returns jsonb
language plpgsql stable
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_members jsonb;
begin
    if p_members then
        select coalesce(jsonb_agg(jsonb_build_object(
                   'value', u.id,
                   '$ref', jit._scim_location(p_base, 'Users', u.id)) order by u.id), '[]')
          into v_members
        from jit.memberships m
        join jit.users u on u.id = m.user_id
        where m.group_name = g.name and m.via_scim
          and u.provider = p_provider and u.retired_at is null;
    end if;
    return jit._scim_with_meta(jsonb_strip_nulls(jsonb_build_object(
        'schemas', '["urn:ietf:params:scim:schemas:core:2.0:Group"]'::jsonb,
        'id', g.id,
        'externalId', g.external_id,
        'displayName', g.name,
        'members', v_members)),
        'Group', g.created_at, g.updated_at, jit._scim_location(p_base, 'Groups', g.id));
end
$$;

create function jit._scim_group_for_update(p_provider text, p_id uuid)
returns jit.groups
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_group jit.groups;
begin
    select * into v_group from jit.groups g
    where g.id = p_id and g.scim_provider = p_provider
    for no key update;
    if not found then
        perform jit._scim_fail(404, null, format('Group %s not found', p_id));
    end if;
    return v_group;
end
$$;

-- Member ids must name users of this provider that SCIM has not deleted.
create function jit._scim_members(p_provider text, p_members jsonb)
returns uuid[]
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_ids     uuid[] := array(select distinct m::uuid
                              from jsonb_array_elements_text(coalesce(p_members, '[]')) m);
    v_unknown uuid;
begin
    select m into v_unknown from unnest(v_ids) m
    where not exists (select from jit.users u
                      where u.id = m and u.provider = p_provider and u.retired_at is null)
    limit 1;
    if found then
        perform jit._scim_fail(400, 'invalidValue',
            format('member %s is not a user of this identity provider', v_unknown));
    end if;
    return v_ids;
end
$$;

-- SCIM's hold on `group` for each of `ids`: a new membership, or a hold
-- added to a grant that a login or a DBA made.
create function jit._scim_hold(p_provider text, p_group text, p_ids uuid[])
returns void
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
begin
        insert into jit.memberships as m (user_id, group_name, source, via_login, via_scim)
        select i, p_group, p_provider, false, true from unnest(p_ids) i
        on conflict (user_id, group_name) do update set via_scim = true
            where not m.via_scim;
end
$$;

-- Drops SCIM's hold on `group` for each of `ids` (all its holds when
-- `ids` is null): the membership goes unless a login or a DBA also granted it.
create function jit._scim_release(p_provider text, p_group text, p_ids uuid[])
returns void
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
begin
        with kept as (
            update jit.memberships m set via_scim = false
            where m.group_name = p_group and m.via_scim and m.via_login
              and (p_ids is null or m.user_id = any (p_ids))
              and m.user_id in (select u.id from jit.users u where u.provider = p_provider))
        delete from jit.memberships m
        where m.group_name = p_group and m.via_scim and not m.via_login
          and (p_ids is null or m.user_id = any (p_ids))
          and m.user_id in (select u.id from jit.users u where u.provider = p_provider);
end
$$;

-- Replaces SCIM's holds on `group` by exactly `ids`.
create function jit._scim_hold_exactly(p_provider text, p_group text, p_ids uuid[])
returns void
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
begin
        perform jit._scim_release(p_provider, p_group, array(
            select m.user_id from jit.memberships m
            where m.group_name = p_group and m.via_scim and m.user_id <> all (p_ids)));
        perform jit._scim_hold(p_provider, p_group, p_ids);
end
$$;

-- Whether group `name` is also another provider's: a member of it is
-- another provider's user, or another provider's group_map grants it. Such
-- a group is never adopted nor renamed by this provider's SCIM client (a
-- rename moves every membership with it).
create function jit._scim_group_shared(p_provider text, p_name text)
returns boolean
language plpgsql stable
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    return exists (select from jit.memberships m join jit.users u on u.id = m.user_id
                   where m.group_name = p_name and u.provider <> p_provider)
        or exists (select from jit.group_map gm
                   where gm.app_group = p_name and gm.provider <> p_provider);
end
$$;

-- A new name for a group: unique among all groups (jit.groups.name), and
-- only for a group no other provider uses.
create function jit._scim_rename_group(p_provider text, p_id uuid, p_name text)
returns void
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_old text := (select g.name from jit.groups g where g.id = p_id);
begin
    if v_old = p_name then
        return;
    end if;
    if exists (select from jit.groups g where g.name = p_name and g.id <> p_id) then
        perform jit._scim_fail(409, 'uniqueness', format('a group named "%s" exists', p_name));
    end if;
    if jit._scim_group_shared(p_provider, v_old) then
        perform jit._scim_fail(400, 'mutability', format(
            'group "%s" is also granted to another identity provider''s users; a DBA can rename it',
            v_old));
    end if;
    update jit.groups g set name = p_name where g.id = p_id;
end
$$;

create function jit._scim_groups(p jit.providers, p_plan jsonb, p_base text, p_if_match text)
returns jsonb
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_route   text := p_plan ->> 'route';
    v_id      uuid := (p_plan ->> 'id')::uuid;
    v_in      jsonb := p_plan -> 'group';
    v_group   jit.groups;
    v_action  text;
    v_change  jsonb;
    v_where   text := 'g.scim_provider = $1';
    v_values  text[] := '{}';
    v_attrs   text[] := array(select jsonb_array_elements_text(p_plan -> 'attributes'));
    v_excl    text[] := array(select jsonb_array_elements_text(p_plan -> 'excluded'));
    -- Members are costly on large groups, and IdPs list groups with
    -- excludedAttributes=members: only build them when they are returned.
    v_members boolean;
    v_total   bigint;
    v_items   jsonb;
begin
    v_members := not exists (select from unnest(v_excl) e where lower(e) = 'members')
                 and (cardinality(v_attrs) = 0
                      or exists (select from unnest(v_attrs) a where lower(a) like 'members%'));

    if v_route = 'list' then
        if not (p_plan -> 'can_match')::boolean then
            return jit._scim_response(200, jit._scim_list(0, (p_plan ->> 'start_index')::bigint, '[]'));
        end if;
        for v_change in select * from jsonb_array_elements(p_plan -> 'filter')
        loop
            v_values := v_values || (v_change ->> 'value');
            v_where := v_where || ' and ' || format(case v_change ->> 'attr'
                when 'name' then 'lower(g.name) = lower($2[%s])'
                when 'external_id' then 'g.external_id = $2[%s]'
                when 'id' then 'g.id = ($2[%s])::uuid'
                end, cardinality(v_values));
        end loop;
        execute 'select count(*) from jit.groups g where ' || v_where
            into v_total using p.name, v_values;
        execute 'select coalesce(jsonb_agg(jit._scim_project(
                                     jit._scim_group_doc(g, $1, $3, $6), $4, $5)
                                   order by g.created_at, g.id), ''[]'')
                 from (select * from jit.groups g where ' || v_where || '
                       order by g.created_at, g.id offset $7 limit $8) g'
            into v_items
            using p.name, v_values, p_base, v_attrs, v_excl, v_members,
                  (p_plan ->> 'start_index')::bigint - 1, (p_plan ->> 'count')::bigint;
        return jit._scim_response(200,
            jit._scim_list(v_total, (p_plan ->> 'start_index')::bigint, v_items));
    end if;

    if v_route = 'get' then
        select * into v_group from jit.groups g where g.id = v_id and g.scim_provider = p.name;
        if not found then
            perform jit._scim_fail(404, null, format('Group %s not found', v_id));
        end if;
        return jit._scim_response(200, jit._scim_project(
            jit._scim_group_doc(v_group, p.name, p_base, v_members), v_attrs, v_excl));
    end if;

    if v_route = 'create' then
        select * into v_group from jit.groups g where g.name = v_in ->> 'name' for no key update;
        if found and (v_group.scim_provider is not null
                      or jit._scim_group_shared(p.name, v_group.name)) then
            perform jit._scim_fail(409, 'uniqueness',
                format('a group named "%s" exists', v_in ->> 'name'));
        elsif found then
            -- A group that logins or a DBA created: SCIM takes it over.
            v_action := 'adopted';
            update jit.groups g
            set scim_provider = p.name, external_id = v_in ->> 'external_id', updated_at = now()
            where g.id = v_group.id
            returning g.* into v_group;
        else
            v_action := 'created';
            insert into jit.groups as g (name, external_id, scim_provider)
            values (v_in ->> 'name', v_in ->> 'external_id', p.name)
            returning g.* into v_group;
        end if;
        perform jit._scim_hold(p.name, v_group.name, jit._scim_members(p.name, v_in -> 'members'));
        perform jit._scim_event(p.name, 'Group', v_group.id, v_action, null, v_in);
        return jit._scim_response(201, jit._scim_group_doc(v_group, p.name, p_base),
                                  jit._scim_location(p_base, 'Groups', v_group.id));
    end if;

    v_group := jit._scim_group_for_update(p.name, v_id);
    if p_if_match is not null then
        perform jit._scim_check_if_match(p_if_match, jit._scim_group_doc(v_group, p.name, p_base));
    end if;

    if v_route = 'delete' then
        -- SCIM lets go of the group: its holds go, the row stays for the
        -- grants others made (or goes, when nothing refers to it).
        perform jit._scim_release(p.name, v_group.name, null);
        update jit.groups g set scim_provider = null, external_id = null, updated_at = now()
        where g.id = v_id;
        delete from jit.groups g
        where g.id = v_id
          and not exists (select from jit.memberships m where m.group_name = g.name)
          and not exists (select from jit.group_map gm where gm.app_group = g.name);
        perform jit._scim_event(p.name, 'Group', v_id, 'deleted', null, null);
        return jit._scim_response(204, null);
    end if;

    if v_route = 'replace' then
        perform jit._scim_rename_group(p.name, v_id, v_in ->> 'name');
        update jit.groups g set external_id = v_in ->> 'external_id' where g.id = v_id;
        perform jit._scim_hold_exactly(p.name, v_in ->> 'name',
                                       jit._scim_members(p.name, v_in -> 'members'));
        v_action := 'replaced';
        v_change := v_in;
    else
        for v_change in select * from jsonb_array_elements(p_plan -> 'changes')
        loop
            select * into v_group from jit.groups g where g.id = v_id;
            case v_change ->> 'op'
            when 'set' then
                if v_change ->> 'attr' = 'name' then
                    perform jit._scim_rename_group(p.name, v_id, v_change ->> 'value');
                else
                    update jit.groups g set external_id = v_change ->> 'value' where g.id = v_id;
                end if;
            when 'add_members' then
                perform jit._scim_hold(p.name, v_group.name,
                                       jit._scim_members(p.name, v_change -> 'members'));
            when 'remove_members' then
                perform jit._scim_release(p.name, v_group.name,
                    array(select jsonb_array_elements_text(v_change -> 'members')::uuid));
            when 'replace_members' then
                perform jit._scim_hold_exactly(p.name, v_group.name,
                                               jit._scim_members(p.name, v_change -> 'members'));
            end case;
        end loop;
        v_action := 'updated';
        v_change := p_plan -> 'changes';
    end if;
    update jit.groups g set updated_at = now() where g.id = v_id returning g.* into v_group;
    perform jit._scim_event(p.name, 'Group', v_id, v_action, null, v_change);
    return jit._scim_response(200, jit._scim_group_doc(v_group, p.name, p_base));
end
$$;

-- Privileges as sql/finalize.sql leaves them.
revoke all on all tables in schema jit from public;
revoke all on all functions in schema jit from public;
grant execute on function jit.try_login(text, text) to public;
grant execute on function jit.current_user_id() to public;
grant execute on function jit.current_groups() to public;
grant select on jit.users, jit.memberships, jit.groups to public;
grant execute on function jit.scim(text, text, text, text, text, text, text) to public;
grant execute on function jit.saml_metadata(text, text) to public;
grant execute on function jit._key_inventory(jsonb, text[]) to public;
