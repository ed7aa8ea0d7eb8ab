-- What a daily cap counts (queuelabs/caps.py), read from the contents table both services
-- share. queuelabs/counting.py is the only code that runs it.

-- counted_instants --
-- What a daily cap counts for each key k (1, 2, ...) in [start, until): queued contents at their
-- slot, published ones when they were published; not the content being moved. How many, and
-- the instants themselves only when there are at least `at_least` of them (a caller that only
-- needs to know the cap cannot bind spares reading them).
select k.i as key, count(c.at) as n,
       case when count(c.at) >= k.at_least
            then coalesce(array_agg(c.at order by c.at) filter (where c.at is not null), '{}')
       end as instants
  from unnest(%(profile_ids)s::uuid[], %(platforms)s::text[],
              %(starts)s::timestamptz[], %(untils)s::timestamptz[], %(at_least)s::int[])
       with ordinality as k(profile_id, platform, start, until, at_least, i)
 left join lateral (
    select scheduled_at as at from contents
     where profile_id = k.profile_id and platform = k.platform
       and status in ({slot_holding})
       and scheduled_at >= k.start and scheduled_at < k.until
       and content_id is distinct from %(moving)s::uuid
    union all
    select uploaded_at from contents
     where profile_id = k.profile_id and platform = k.platform
       and status in ({published})
       and uploaded_at >= k.start and uploaded_at < k.until
       and content_id is distinct from %(moving)s::uuid) c on true
 group by k.i, k.at_least
 order by k.i;
