-- jit_provision: tables, types and the write path of a login.
--
-- Everything lives in schema "jit" except jit_login(), which is created in
-- the extension's own schema so that applications can call it unqualified.

create schema jit;
comment on schema jit is 'jit_provision: identity providers, provisioned users, groups and audit';

-------------------------------------------------------------------------------
-- Configuration (DBA-managed)
-------------------------------------------------------------------------------

create table jit.providers (
    name          text primary key check (name <> ''),
    protocol      text not null check (protocol in ('oidc', 'saml')),
    issuer        text unique not null,
    audiences     text[] not null,
    jwks          jsonb,
    certificates  text[],
    acs_urls      text[],
    algorithms    text[],
    saml_signed   text not null default 'either'
                  check (saml_signed in ('response', 'assertion', 'either', 'both')),
    clock_skew    interval not null default '2 minutes',
    max_age       interval,
    email_domains text[],
    seat_limit    integer check (seat_limit >= 0),
    sync_groups   boolean not null default true,
    stale_after   interval,
    delete_after  interval,
    enabled       boolean not null default true,
    on_login      regprocedure,
    -- Keys kept current by jit.refresh (sql/refresh.sql).
    discovery_url text constraint providers_discovery_url_check
                  check (discovery_url is null or (discovery_url ~ '^https?://' and protocol = 'oidc')),
    metadata_url  text constraint providers_metadata_url_check
                  check (metadata_url is null or (metadata_url ~ '^https?://' and protocol = 'saml')),
    refreshed_at  timestamptz,
    refresh_error text,
    -- SCIM provisioning (sql/scim.sql).
    scim_subject  text not null default 'userName'
                  check (scim_subject in ('userName', 'externalId')),
    scim_token_sha256    bytea check (octet_length(scim_token_sha256) = 32),
    scim_token_issued_at timestamptz
);
comment on table jit.providers is 'One row per identity provider; validated when written';
comment on column jit.providers.discovery_url is
    'OIDC: the OpenID Provider Configuration URL; jit.refresh fetches its jwks_uri into jwks';
comment on column jit.providers.metadata_url is
    'SAML: the IdP metadata URL; jit.refresh takes its signing certificates into certificates';
comment on column jit.providers.scim_subject is
    'The SCIM attribute (userName or externalId) that equals the login subject, so a SCIM-created user is the row jit_login finds';
comment on column jit.providers.scim_token_sha256 is
    'SHA-256 of the SCIM bearer token issued by jit.scim_token; the token itself is not stored';
comment on column jit.providers.algorithms is
    'Allow-list; null means RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 EdDSA and SAML rsa-sha256/384/512, ecdsa-sha256/384, sha256/384/512';

create table jit.claim_map (
    provider text not null references jit.providers (name) on update cascade on delete cascade,
    field    text not null check (
                 field in ('subject', 'email', 'name', 'given_name', 'family_name', 'groups')
                 or field ~ '^attributes\.[^.]+$'),
    source   text not null check (source <> ''),
    primary key (provider, field)
);
comment on table jit.claim_map is 'Where each user field comes from: an OIDC claim (or dotted path), a SAML attribute Name/FriendlyName, or NameID';

create table jit.group_map (
    provider  text not null references jit.providers (name) on update cascade on delete cascade,
    idp_group text not null,
    app_group text not null check (app_group <> ''),
    primary key (provider, idp_group, app_group)
);
comment on table jit.group_map is 'IdP group to application group; idp_group ''*'' grants to every user of the provider';

-------------------------------------------------------------------------------
-- Data
-------------------------------------------------------------------------------

create table jit.users (
    id            uuid primary key default gen_random_uuid(),
    provider      text not null references jit.providers (name) on update cascade,
    subject       text not null,
    email         text,
    name          text,
    given_name    text,
    family_name   text,
    attributes    jsonb not null default '{}',
    created_at    timestamptz not null default now(),
    updated_at    timestamptz not null default now(),
    last_login_at timestamptz,
    login_count   bigint not null default 0,
    disabled_at   timestamptz,
    blocked       boolean not null default false,
    -- SCIM (sql/scim.sql). A login sets user_name (or external_id, per the
    -- provider's scim_subject) to the subject when it creates the row, so
    -- SCIM sees users that logged in first.
    user_name       text,
    external_id     text,
    employee_number text,
    department      text,
    manager         text,
    scim_blocked    boolean not null default false,
    scim_created_at timestamptz,
    retired_at      timestamptz,
    unique (provider, subject)
);
-- SCIM filters (userName eq, externalId eq) and userName uniqueness checks.
create index users_user_name_idx on jit.users (provider, lower(user_name));
create index users_external_id_idx on jit.users (provider, external_id);
-- Among the users SCIM created or adopted, userName is unique per provider
-- (case-insensitive) whatever the caller's isolation level. Users that only
-- logged in are left out: a login never fails on a SCIM rule.
create unique index users_scim_user_name_key on jit.users (provider, lower(user_name))
    where scim_created_at is not null;
comment on column jit.users.scim_blocked is
    'The block was set by SCIM (active = false, or DELETE); SCIM active = true lifts only such a block';
comment on column jit.users.scim_created_at is
    'When the provider''s SCIM client created or adopted the row (null: SCIM has not claimed it; a SCIM create adopts it)';
comment on column jit.users.retired_at is
    'Deleted through SCIM: blocked, and unknown to SCIM from then on';
comment on table jit.users is 'Provisioned users, keyed by (provider, subject); never merged by email';
-- Every login rewrites its user's row (last_login_at, login_count) and no
-- indexed column: room left on each page keeps those updates HOT (no new
-- index entries in the table's five indexes).
alter table jit.users set (fillfactor = 90);

create table jit.groups (
    name          text primary key,
    created_at    timestamptz not null default now(),
    -- SCIM (sql/scim.sql): the Group's id, and the provider whose SCIM
    -- client created or adopted it (null: not a SCIM Group).
    id            uuid not null default gen_random_uuid() unique,
    external_id   text,
    scim_provider text references jit.providers (name) on update cascade on delete set null,
    updated_at    timestamptz not null default now()
);

create table jit.memberships (
    user_id    uuid not null references jit.users (id) on delete cascade,
    group_name text not null references jit.groups (name) on update cascade,
    source     text references jit.providers (name) on update cascade on delete set null,
    granted_at timestamptz not null default now(),
    -- Who holds the grant: a login's group sync (source = the provider) or
    -- a DBA (source null), and/or the provider's SCIM client. Each removes
    -- only its own hold; the row goes when neither holds it.
    via_login  boolean not null default true,
    via_scim   boolean not null default false,
    primary key (user_id, group_name),
    check (via_login or via_scim)
);
-- A group's members (SCIM lists them; a rename cascades to them).
create index memberships_group_name_idx on jit.memberships (group_name);
comment on column jit.memberships.source is 'The provider that granted it; null for a grant made by hand (never removed by sync)';

create table jit.login_events (
    id        bigint generated always as identity primary key,
    at        timestamptz not null default now(),
    -- Null for a rejected token whose issuer names no provider.
    provider  text,
    subject   text,
    user_id   uuid,
    outcome   text not null check (outcome in ('created', 'updated', 'rejected')),
    reason    text,
    token_id  text
);
create index on jit.login_events (user_id);

create table jit.seen_tokens (
    provider   text not null,
    token_id   text not null,
    expires_at timestamptz not null,
    primary key (provider, token_id)
);
create index on jit.seen_tokens (expires_at);

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

create type jit.login_result as (
    user_id uuid,
    created boolean,
    groups  text[]
);

-- What the write path hands back to the Rust shell: the login result plus
-- the on_login hook to call and the role it runs as.
create type jit._applied as (
    user_id    uuid,
    created    boolean,
    groups     text[],
    hook       text,
    hook_owner oid
);

select pg_catalog.pg_extension_config_dump('jit.providers', '');
select pg_catalog.pg_extension_config_dump('jit.claim_map', '');
select pg_catalog.pg_extension_config_dump('jit.group_map', '');
select pg_catalog.pg_extension_config_dump('jit.users', '');
select pg_catalog.pg_extension_config_dump('jit.groups', '');
select pg_catalog.pg_extension_config_dump('jit.memberships', '');
select pg_catalog.pg_extension_config_dump('jit.login_events', '');
select pg_catalog.pg_extension_config_dump('jit.seen_tokens', '');
-- The audit id sequence too: a restored database must not hand out ids again.
select pg_catalog.pg_extension_config_dump('jit.login_events_id_seq', '');

-------------------------------------------------------------------------------
-- Helpers shared by the Rust shell and the triggers
-------------------------------------------------------------------------------

-- The provider row as the verifier reads it: intervals as seconds, so the
-- Rust side never parses interval text.
create function jit._provider_config(p jit.providers) returns jsonb
language sql stable
set search_path = pg_catalog, jit, pg_temp
as $$
    select pg_catalog.to_jsonb(p)
        || pg_catalog.jsonb_build_object(
               'clock_skew_s', extract(epoch from p.clock_skew),
               'max_age_s', extract(epoch from p.max_age),
               'claim_map', coalesce((
                   select pg_catalog.jsonb_object_agg(m.field, m.source)
                   from jit.claim_map m
                   where m.provider = p.name), '{}'))
$$;

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
