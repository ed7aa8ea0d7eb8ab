-- What a daily cap counts (queuelabs/caps.py), read from the contents table both services
-- share. queuelabs/counting.py is the only code that runs it.

-- counted_instants --
-- What a daily cap counts, in [start, until): queued contents at their slot, published ones when
-- they were published; not the content being moved.
select at from (
    select scheduled_at as at from contents
     where profile_id = %(profile_id)s and platform = %(platform)s
       and status in ({slot_holding})
       and scheduled_at >= %(start)s and scheduled_at < %(until)s
       and content_id is distinct from %(moving)s::uuid
    union all
    select uploaded_at from contents
     where profile_id = %(profile_id)s and platform = %(platform)s
       and status in ({published})
       and uploaded_at >= %(start)s and uploaded_at < %(until)s
       and content_id is distinct from %(moving)s::uuid) counted
 order by at;
