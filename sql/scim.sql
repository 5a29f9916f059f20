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
