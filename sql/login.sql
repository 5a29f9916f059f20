-- The write path of jit_login, steps 2 to 6 of the contract (the on_login
-- hook is called by the shell afterwards, as the hook function's owner).
-- Nothing here reads the token itself. Every rejection goes through
-- jit._reject, so it raises SQLSTATE 28000 and leaves a log line, and the
-- caller's transaction (and with it every row written below) rolls back.
--
-- Most logins are a returning user whose groups did not change. The shell
-- (src/write_path.rs) runs that case as one statement: the replay row, the
-- user's update, the audit row, and a read of the memberships. Whatever that
-- statement does not settle comes here: a replayed token, a first login, a
-- blocked user (jit._apply_login); groups that changed
-- (jit._sync_login_groups). The application groups a login grants are
-- computed by the shell from its per-backend copy of jit.group_map
-- (core/src/group_map.rs) and passed in as p_grants.

-- Every statement below finds its rows through an index. Its plans are
-- cached for the life of the backend, and a plan made while a table was
-- small (a new installation, an empty memberships table) would otherwise
-- keep scanning the whole table as it grows, until the next ANALYZE.
-- enable_seqscan = off makes the index the plan from the first login on.

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
