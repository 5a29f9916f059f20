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
