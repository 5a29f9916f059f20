-- Account lifecycle: jit.cleanup (staleness, deletion, replay-cache purge;
-- made to be scheduled by pg_cron) and jit.deprovision (offboarding from a
-- CSV or SCIM feed). Both are admin functions: finalize.sql revokes EXECUTE
-- on every function in schema jit from PUBLIC; the DBA grants them.
--
-- Seats: a user is "enabled" (holds a seat) while disabled_at is null and
-- not blocked. Memberships with source null were granted by hand and are
-- never dropped here.

create function jit.cleanup(
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

comment on function jit.cleanup(timestamptz, boolean, double precision) is
    'Per provider: disable users idle longer than stale_after (dropping the memberships the provider granted), '
    'delete users disabled longer than delete_after (blocked users are kept), purge expired replay-cache entries. '
    'A provider where more than max_share of the enabled users would be disabled is skipped with a WARNING unless force.';

create function jit.deprovision(provider text, subjects text[])
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

comment on function jit.deprovision(text, text[]) is
    'Offboards users now: disables them, drops the memberships their provider granted and sets blocked, '
    'so a later jit_login is refused with user_blocked. Returns the number of users it changed '
    '(users already blocked and disabled are not counted; unknown subjects are reported in a NOTICE).';
