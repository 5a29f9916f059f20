-- Runs after every function exists: the verify wrapper, validation and
-- cache-invalidation triggers, row-level security and privileges.

-------------------------------------------------------------------------------
-- jit.verify: dry run of a login
-------------------------------------------------------------------------------

create function jit.verify(token text, request_id text default null, at timestamptz default null)
returns jsonb
language plpgsql
stable
security definer
set search_path = pg_catalog, jit, pg_temp
as $$
declare
    v_identity jsonb;
begin
    -- Judging a token as of another instant is forensic work: admins only
    -- (superuser, or UPDATE on jit.providers).
    if at is not null
       and not (select rolsuper from pg_roles where rolname = session_user)
       and not has_table_privilege(session_user, 'jit.providers', 'UPDATE') then
        raise exception 'jit.verify(..., at => ...) needs superuser or UPDATE on jit.providers'
            using errcode = '42501';
    end if;
    v_identity := jit._verify(token, request_id, extract(epoch from at)::double precision);
    return v_identity || jsonb_build_object(
        'groups', to_jsonb(array(
            select distinct g.app_group from jit.group_map g
            where g.provider = v_identity ->> 'provider'
              and (g.idp_group = '*'
                   or g.idp_group in (select jsonb_array_elements_text(v_identity -> 'idp_groups')))
            order by 1)),
        'expires_at', to_jsonb(to_timestamp((v_identity ->> 'expires_at')::double precision)));
end
$$;

-------------------------------------------------------------------------------
-- Configuration triggers: validate on write, then invalidate caches
-------------------------------------------------------------------------------

create function jit._providers_validate() returns trigger
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    perform jit._validate_provider(jit._provider_config(new));
    if new.on_login is not null
       and (select array[prorettype <> 0, pronargs = 2, proargtypes[0] = 'uuid'::regtype,
                         proargtypes[1] = 'jsonb'::regtype] <> array[true, true, true, true]
            from pg_proc where oid = new.on_login) then
        raise exception 'jit.providers row ''%'': on_login % must take (uuid, jsonb)',
            new.name, new.on_login using errcode = '22023';
    end if;
    return new;
end
$$;

create trigger providers_validate
before insert or update on jit.providers
for each row execute function jit._providers_validate();

-- A claim_map row is checked in the context of its provider's whole map.
create function jit._claim_map_validate() returns trigger
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    perform jit._validate_provider(jit._provider_config(p))
    from jit.providers p where p.name = new.provider;
    return new;
end
$$;

create constraint trigger claim_map_validate
after insert or update on jit.claim_map
deferrable initially immediate
for each row execute function jit._claim_map_validate();

create function jit._config_changed_trigger() returns trigger
language plpgsql
set search_path = pg_catalog, jit, pg_temp
as $$
begin
    perform jit._config_changed('jit.providers'::regclass);
    return null;
end
$$;

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

-------------------------------------------------------------------------------
-- Row-level security: a non-admin role sees only its own identity's rows
-------------------------------------------------------------------------------

alter table jit.users enable row level security;
alter table jit.memberships enable row level security;
alter table jit.login_events enable row level security;

create policy own_row on jit.users
    for select using (id = jit.current_user_id());
create policy own_memberships on jit.memberships
    for select using (user_id = jit.current_user_id());
create policy own_events on jit.login_events
    for select using (user_id = jit.current_user_id());

-------------------------------------------------------------------------------
-- jit.provider_status: the keys in force and when they run out (admins)
-------------------------------------------------------------------------------

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

-------------------------------------------------------------------------------
-- Privileges
-------------------------------------------------------------------------------

alter function @extschema@.jit_login(text, text)
    security definer set search_path = pg_catalog, jit, pg_temp;

revoke all on all tables in schema jit from public;
revoke all on all functions in schema jit from public;
revoke all on function @extschema@.jit_login(text, text) from public;

grant usage on schema jit to public;
grant execute on function @extschema@.jit_login(text, text) to public;
-- jit.try_login is security definer itself (sql/login.sql): the same rights as jit_login.
grant execute on function jit.try_login(text, text) to public;
grant execute on function jit.current_user_id() to public;
grant execute on function jit.current_groups() to public;
grant select on jit.users, jit.memberships, jit.groups to public;
-- SCIM: the bearer token is the authority, as the signed token is for
-- jit_login (jit.scim is security definer; sql/scim.sql).
grant execute on function jit.scim(text, text, text, text, text, text, text) to public;
-- A pure parser of IdP metadata: no table, setting or network behind it.
grant execute on function jit.saml_metadata(text, text) to public;
-- Called by jit.provider_status, which runs functions with the reader's
-- rights: a pure function of its arguments, so anyone may call it.
grant execute on function jit._key_inventory(jsonb, text[]) to public;
