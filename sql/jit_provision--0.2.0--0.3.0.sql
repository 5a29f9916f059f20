-- jit_provision 0.2.0 -> 0.3.0: seat limits hold for REPEATABLE READ and
-- SERIALIZABLE callers too. Admissions under a seat limit now queue on a row
-- of jit.seat_claims (a stale snapshot gets a serialization failure) instead
-- of an advisory lock (which a stale snapshot could count past).
-- jit.cleanup and jit.deprovision of one provider no longer run at the same
-- time (they could deadlock on user rows). Provider changes reach open
-- backends' caches under session_replication_role = replica too.

-- One row per provider that has admitted a user under a seat limit. Every
-- such admission updates its row before counting seats: concurrent
-- admissions queue on the row lock, and a REPEATABLE READ or SERIALIZABLE
-- caller whose snapshot predates another admission gets a serialization
-- failure (40001, retry) instead of counting from a stale snapshot. Not
-- dumped: an empty table is a correct starting point.
create table jit.seat_claims (
    provider       text primary key
                   references jit.providers (name) on update cascade on delete cascade,
    last_admission timestamptz not null
);
comment on table jit.seat_claims is 'Internal: serializes admissions under seat_limit (see jit._apply_login)';
revoke all on jit.seat_claims from public;

-- The write path, with the seat claim (same text as sql/login.sql).
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
                            'token id was already used', v_token_id);
    end if;

    -- 3. admission, and 4. upsert. An existing user is locked first, so a
    -- concurrent deprovision cannot slip between the check and the update.
    select * into v_user from jit.users
    where provider = v_provider.name and subject = v_subject
    for update;

    if found and v_user.blocked then
        perform jit._reject(v_provider.name, 'user_blocked',
                            'user is blocked', v_token_id);
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
                                v_token_id);
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
        perform jit._reject(v_provider.name, 'user_blocked', 'user is blocked', v_token_id);
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

-- Lifecycle functions, serialized per provider (same text as sql/lifecycle.sql).
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

    update jit.users u
    set disabled_at = coalesce(u.disabled_at, pg_catalog.now()),
        blocked = true,
        updated_at = pg_catalog.now()
    where u.id = any (v_ids) and (not u.blocked or u.disabled_at is null);
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

-- Cache invalidation that replica-role sessions and logical replication
-- cannot bypass (same text as sql/finalize.sql).
drop trigger providers_changed on jit.providers;
drop trigger claim_map_changed on jit.claim_map;
-- Row triggers, enabled ALWAYS: they fire under session_replication_role =
-- replica too (a data load into a live database, the apply worker of logical
-- replication, which fires no statement triggers for row changes), so no
-- change to a provider can bypass the caches of open backends. TRUNCATE has
-- no row triggers: statement triggers cover it.
create trigger providers_changed
after insert or update or delete on jit.providers
for each row execute function jit._config_changed_trigger();
create trigger providers_truncated
after truncate on jit.providers
for each statement execute function jit._config_changed_trigger();
alter table jit.providers enable always trigger providers_changed;
alter table jit.providers enable always trigger providers_truncated;

create trigger claim_map_changed
after insert or update or delete on jit.claim_map
for each row execute function jit._config_changed_trigger();
create trigger claim_map_truncated
after truncate on jit.claim_map
for each statement execute function jit._config_changed_trigger();
alter table jit.claim_map enable always trigger claim_map_changed;
alter table jit.claim_map enable always trigger claim_map_truncated;
