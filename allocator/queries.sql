-- Every statement the Allocator runs, by name. allocator/storage.py is the only code that runs them.

-- lock_key --
-- Serializes every writer of one (profile, platform) across processes; released at commit.
select pg_advisory_xact_lock(%(key)s);

-- get_profile --
select * from profiles where profile_id = %(profile_id)s;

-- upsert_profile --
insert into profiles (profile_id, name, upload_post_user, timezone, created_at, updated_at)
values (%(profile_id)s, %(name)s, %(upload_post_user)s, %(timezone)s, %(now)s, %(now)s)
on conflict (profile_id) do update
   set name = excluded.name,
       upload_post_user = excluded.upload_post_user,
       timezone = excluded.timezone,
       updated_at = excluded.updated_at
returning *;

-- get_schedule --
select updated_at, materialized_until, inventory_timezone from schedules
 where profile_id = %(profile_id)s and platform = %(platform)s;

-- key_state --
-- The profile, its schedule's inventory mark and its slots, in one round trip.
select p.*, s.materialized_until, s.inventory_timezone, s.platform is not null as has_schedule,
       coalesce((select json_agg(json_build_object('local_time', ss.local_time,
                                                   'weekdays', ss.weekdays,
                                                   'slot_id', ss.slot_id) order by ss.local_time)
                   from schedule_slots ss
                  where ss.profile_id = p.profile_id and ss.platform = s.platform), '[]') as slots
  from profiles p
  left join schedules s on s.profile_id = p.profile_id and s.platform = %(platform)s
 where p.profile_id = %(profile_id)s;

-- get_slots --
select local_time, weekdays, slot_id from schedule_slots
 where profile_id = %(profile_id)s and platform = %(platform)s
 order by local_time;

-- upsert_schedule --
insert into schedules (profile_id, platform, materialized_until, updated_at)
values (%(profile_id)s, %(platform)s, %(now)s, %(now)s)
on conflict (profile_id, platform) do update
   set materialized_until = excluded.materialized_until, updated_at = excluded.updated_at;

-- delete_slots --
delete from schedule_slots where profile_id = %(profile_id)s and platform = %(platform)s;

-- insert_slot --
insert into schedule_slots (profile_id, platform, local_time, slot_id, weekdays)
values (%(profile_id)s, %(platform)s, %(local_time)s, %(slot_id)s, %(weekdays)s::smallint[]);

-- clear_free_slots --
delete from free_slots where profile_id = %(profile_id)s and platform = %(platform)s;

-- restart_inventory --
update schedules set materialized_until = %(now)s, inventory_timezone = %(timezone)s
 where profile_id = %(profile_id)s and platform = %(platform)s;

-- take_free_slot --
-- The earliest free slot instant in [not_before, until), taken out of the inventory.
delete from free_slots f
 where (f.profile_id, f.platform, f.scheduled_at) = (
       select profile_id, platform, scheduled_at from free_slots
        where profile_id = %(profile_id)s and platform = %(platform)s
          and scheduled_at >= %(not_before)s and scheduled_at < %(until)s
        order by scheduled_at
        limit 1)
returning f.scheduled_at, f.slot_id;

-- add_free_slots --
-- Extends the inventory: the given slot instants, less those a content has spent, not counting
-- the content being moved (a Reschedule may land it back where it was).
insert into free_slots (profile_id, platform, scheduled_at, slot_id)
select %(profile_id)s, %(platform)s, c.scheduled_at, c.slot_id
  from unnest(%(instants)s::timestamptz[], %(slot_ids)s::uuid[]) as c(scheduled_at, slot_id)
 where not exists (
       select 1 from contents
        where profile_id = %(profile_id)s and platform = %(platform)s
          and scheduled_at = c.scheduled_at and status = any(%(spent)s)
          and content_id is distinct from %(moving)s::uuid)
on conflict do nothing;

-- set_materialized_until --
update schedules set materialized_until = %(until)s
 where profile_id = %(profile_id)s and platform = %(platform)s;

-- prune_free_slots --
delete from free_slots
 where profile_id = %(profile_id)s and platform = %(platform)s and scheduled_at < %(before)s;

-- return_free_slot --
insert into free_slots (profile_id, platform, scheduled_at, slot_id)
values (%(profile_id)s, %(platform)s, %(scheduled_at)s, %(slot_id)s)
on conflict do nothing;

-- get_content --
select * from contents where content_id = %(content_id)s;

-- get_contents --
select * from contents where content_id = any(%(content_ids)s);

-- insert_content --
-- Does nothing when the id is taken or a content already holds the slot; the caller tells which.
insert into contents (content_id, profile_id, platform, status, slot_id, scheduled_at,
                      media_type, media_url, title, description, platform_options,
                      created_at, updated_at)
values (%(content_id)s, %(profile_id)s, %(platform)s, %(status)s, %(slot_id)s, %(scheduled_at)s,
        %(media_type)s, %(media_url)s, %(title)s, %(description)s, %(platform_options)s,
        %(now)s, %(now)s)
on conflict do nothing
returning *;

-- move_content --
update contents
   set status = %(status)s, slot_id = %(slot_id)s, scheduled_at = %(scheduled_at)s,
       retry_count = 0, next_retry_at = null, reschedule_count = reschedule_count + 1,
       lease_owner = null, lease_expires_at = null,  -- a moved content is nobody's claim
       status_reason = %(reason)s, updated_at = %(now)s
 where content_id = %(content_id)s and status = any(%(allowed)s)
returning *;

-- remove_content --
update contents
   set status = %(status)s, removed_at = %(now)s, status_reason = %(reason)s, updated_at = %(now)s,
       lease_owner = null, lease_expires_at = null
 where content_id = %(content_id)s and status = any(%(allowed)s)
returning *;

-- list_assignments --
select * from contents
 where profile_id = %(profile_id)s
   and (%(platform)s::text is null or platform = %(platform)s)
   and status = any(%(holding)s)
   and scheduled_at >= coalesce(%(start_time)s::timestamptz, '-infinity')
   and scheduled_at < coalesce(%(end_time)s::timestamptz, 'infinity')
   and (%(after_at)s::timestamptz is null
        or (scheduled_at, content_id) > (%(after_at)s::timestamptz, %(after_id)s::uuid))
 order by scheduled_at, content_id
 limit %(limit)s;
