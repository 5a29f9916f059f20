-- jit_provision 0.5.0 -> 0.6.0: a faster login write path. jit_login now
-- settles a returning user whose groups did not change in one statement of
-- its own (src/write_path.rs) and computes the granted application groups
-- from a per-backend copy of jit.group_map; the plpgsql below (the same text
-- as in sql/login.sql and sql/finalize.sql) handles everything else and
-- takes the grants as a parameter. jit.users gets fillfactor 90, so that
-- the update every login makes stays HOT (pages written from now on).

drop function jit._apply_login(jsonb);

-- Same text as in sql/schema.sql.
-- Every login rewrites its user's row (last_login_at, login_count) and no
-- indexed column: room left on each page keeps those updates HOT (no new
-- index entries in the table's five indexes).
alter table jit.users set (fillfactor = 90);

-- 5. memberships: p_grants are the application groups the login grants.
-- Returns the user's groups afterwards, sorted.
create function jit._sync_login_groups(p_user_id uuid, p_provider text, p_grants text[],
                                       p_sync boolean)
returns text[]
language plpgsql
set search_path = pg_catalog, jit, pg_temp
set enable_seqscan = off
as $$
declare
    v_missing text[];
begin
    -- Only the grants this user does not hold yet: a returning user with
    -- the same groups writes nothing here. (An ON CONFLICT that finds the
    -- row would still lock it, a write of its own.)
    v_missing := array(
        select g from unnest(p_grants) g
        where not exists (select from jit.memberships m
                          where m.user_id = p_user_id and m.group_name = g and m.via_login));
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
        select p_user_id, g, p_provider from unnest(v_missing) g
        on conflict (user_id, group_name) do update set via_login = true
            where not m.via_login;
    end if;

    -- Sync removes only what this provider's logins granted, and never on a
    -- partial group list (Entra ID overage): then it only adds. A membership
    -- SCIM also holds stays, with the login's hold dropped.
    if p_sync then
        with released as (
            update jit.memberships
            set via_login = false
            where user_id = p_user_id and source = p_provider and via_login and via_scim
              and group_name <> all (p_grants))
        delete from jit.memberships
        where user_id = p_user_id and source = p_provider and via_login and not via_scim
          and group_name <> all (p_grants);
    end if;

    return array(select m.group_name from jit.memberships m
                 where m.user_id = p_user_id order by 1);
end
$$;

-- The whole write path, for the logins the shell's single statement does
-- not settle. p_replay_claimed: that statement already wrote this token's
-- jit.seen_tokens row (so the token is fresh), and found no returning
-- user it could update.
create function jit._apply_login(p_identity jsonb, p_grants text[],
                                 p_replay_claimed boolean default false)
returns jit._applied
language plpgsql
set search_path = pg_catalog, jit, pg_temp
set enable_seqscan = off
as $$
declare
    v_provider    record;
    v_subject     text := p_identity ->> 'subject';
    v_token_id    text := p_identity ->> 'token_id';
    v_complete    boolean := coalesce((p_identity ->> 'groups_complete')::boolean, true);
    v_user        jit.users;
    v_user_id     uuid;
    v_user_name   text;
    v_blocked     boolean;
    v_created     boolean;
    v_result      jit._applied;
begin
    -- The settings the write path needs, not the row: its keys (jwks,
    -- certificates) can be large, and the verifier has read them already.
    select p.name, p.clock_skew, p.seat_limit, p.sync_groups, p.scim_subject, p.on_login
    into strict v_provider
    from jit.providers p where p.name = p_identity ->> 'provider';

    -- 2. replay: the token id may be used once until the token expires (plus
    -- the skew the verifier allowed). An expired entry is taken over.
    if not p_replay_claimed then
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
    end if;

    -- 3. admission, and 4. upsert. An existing user is locked first, so a
    -- concurrent deprovision cannot slip between the check and the update.
    select * into v_user from jit.users
    where provider = v_provider.name and subject = v_subject
    for no key update;

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

    -- 5. memberships.
    v_result.groups := jit._sync_login_groups(v_user_id, v_provider.name, p_grants,
                                              v_provider.sync_groups and v_complete);

    -- 6. the audit row (the hook runs next, in the shell, same transaction).
    insert into jit.login_events (provider, subject, user_id, outcome, token_id)
    values (v_provider.name, v_subject, v_user_id,
            case when v_created then 'created' else 'updated' end, v_token_id);

    v_result.user_id := v_user_id;
    v_result.created := v_created;
    if v_provider.on_login is not null then
        v_result.hook := v_provider.on_login::regproc::text;
        v_result.hook_owner := (select proowner from pg_proc where oid = v_provider.on_login);
    end if;
    return v_result;
end
$$;

-- jit_login keeps a per-backend copy of a provider's group mappings
-- (src/cache.rs): a change to them drops it, as a change to the provider does.
create trigger group_map_changed
after insert or update or delete on jit.group_map
for each row execute function jit._config_changed_trigger();
create trigger group_map_truncated
after truncate on jit.group_map
for each statement execute function jit._config_changed_trigger();
alter table jit.group_map enable always trigger group_map_changed;
alter table jit.group_map enable always trigger group_map_truncated;

revoke all on function jit._sync_login_groups(uuid, text, text[], boolean) from public;
revoke all on function jit._apply_login(jsonb, text[], boolean) from public;
