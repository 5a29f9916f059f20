-- Providers that keep themselves current: jit.refresh fetches the keys an
-- IdP publishes (OIDC discovery + JWKS, SAML metadata) and replaces the
-- row's jwks / certificates when the usable key set changed. The network
-- and the checks are in Rust (src/refresh.rs, src/http.rs); this decides
-- what to write and makes one provider's failure nobody else's.

-- The contract names the argument and the first result column both
-- "provider", which PL/pgSQL cannot compile: the work is in jit._refresh,
-- and jit.refresh is the SQL wrapper with the contract's names.
create function jit._refresh(p_provider text)
returns table (provider text, changed boolean, keys text[], error text)
language plpgsql
volatile
security definer
set search_path = pg_catalog, jit, pg_temp
as $$
#variable_conflict use_column
declare
    v_p       jit.providers;
    v_fetched record;
    v_old     record;
    v_new     record;
begin
    if p_provider is not null
       and not exists (select from jit.providers p where p.name = p_provider) then
        raise exception 'jit.refresh: no provider named %', p_provider
            using errcode = '22023';
    end if;
    for v_p in
        select * from jit.providers p
        where case when p_provider is null
                   then p.discovery_url is not null or p.metadata_url is not null
                   else p.name = p_provider end
        order by p.name
    loop
        provider := v_p.name;
        changed := false;
        error := null;
        -- A subtransaction per provider: whatever goes wrong with one (an
        -- error from the fetch, the row's validation trigger refusing the
        -- new keys) is rolled back and reported, and the next one goes on.
        begin
            select * into v_fetched
            from jit._fetch_keys(v_p.protocol, v_p.issuer, v_p.discovery_url, v_p.metadata_url);
            error := v_fetched.error;
            if error is null then
                select * into v_old from jit._key_inventory(v_p.jwks, v_p.certificates);
                select * into v_new from jit._key_inventory(v_fetched.jwks, v_fetched.certificates);
                if cardinality(v_new.keys) = 0 then
                    error := 'the published document holds no usable key';
                elsif v_new.identities is distinct from v_old.identities then
                    -- Only onto the row as it was when the fetch started: an
                    -- admin who retargeted it meanwhile (issuer, URL) must
                    -- not get the old source's keys.
                    update jit.providers p
                    set jwks = case when p.protocol = 'oidc' then v_fetched.jwks else p.jwks end,
                        certificates = case when p.protocol = 'saml' then v_fetched.certificates
                                            else p.certificates end
                    where p.name = v_p.name
                      and p.protocol = v_p.protocol
                      and p.issuer = v_p.issuer
                      and p.discovery_url is not distinct from v_p.discovery_url
                      and p.metadata_url is not distinct from v_p.metadata_url;
                    changed := found;
                    if not found then
                        error := 'the provider row changed during the refresh; keys not replaced';
                    end if;
                end if;
            end if;
        exception
            -- (OTHERS leaves out query_canceled: a cancel or statement
            -- timeout still ends the whole call.)
            when others then
                error := sqlerrm;
        end;
        update jit.providers p
        set refreshed_at = pg_catalog.now(), refresh_error = error
        where p.name = v_p.name;
        select k.keys into keys
        from jit.providers p, jit._key_inventory(p.jwks, p.certificates) k
        where p.name = v_p.name;
        if error is not null then
            raise log 'jit_provision: refresh provider=% error=%', v_p.name, error;
        elsif changed then
            raise log 'jit_provision: refresh provider=% keys=%', v_p.name, keys;
        end if;
        return next;
    end loop;
end
$$;

create function jit.refresh(provider text default null)
returns table (provider text, changed boolean, keys text[], error text)
language sql
volatile
security definer
set search_path = pg_catalog, jit, pg_temp
as $$
    select * from jit._refresh($1)
$$;

comment on function jit.refresh(text) is
    'Fetches the keys of the named provider (default: every provider with a discovery_url or metadata_url) and replaces them when they changed; a failure keeps the old keys and is reported in error and refresh_error';
