-- What a calendar of one (profile, platform) reads (GetCalendar, and through it
-- `queuelabs schedule week` and `schedule show`). allocator/storage.py is the only code that
-- runs it.

-- calendar_contents --
-- The contents at the instants of [start, end) that hold their slot or have spent it
-- (published, failed...): a released one leaves its instant free. The holder first at an
-- instant (there is at most one: the unique index), then those that spent it.
select content_id, scheduled_at, status, title from contents
 where profile_id = %(profile_id)s and platform = %(platform)s
   and scheduled_at >= %(start)s and scheduled_at < %(end)s
   and status in ({spends_slot})
 order by scheduled_at, status in ({slot_holding}) desc, content_id;
