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
