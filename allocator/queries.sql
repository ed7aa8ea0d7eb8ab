-- Every statement the Allocator runs, by name. allocator/storage.py is the only code that runs them.

-- lock_keys --
-- Serializes every writer of these (profile, platform) keys across processes; released at
-- commit. The keys come sorted and distinct, and are locked in that order (unnest yields them
-- so), so two transactions locking overlapping sets can never wait on each other in a circle.
select pg_advisory_xact_lock(k) from unnest(%(keys)s::bigint[]) as k;

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

-- key_states --
-- For each (profile, platform) asked: the profile, and its schedule's inventory mark and slots
-- version (the slots themselves come from slots_of_keys when a replica has not seen that version).
select k.profile_id as asked_profile_id, k.platform as asked_platform, p.*,
       s.materialized_until, s.inventory_timezone, s.slots_version
  from unnest(%(profile_ids)s::uuid[], %(platforms)s::text[]) as k(profile_id, platform)
  left join profiles p on p.profile_id = k.profile_id
  left join schedules s on s.profile_id = k.profile_id and s.platform = k.platform;

-- slots_of_keys --
-- For each key k (1, 2, ...): its slots, by local time.
select k.i as key, ss.local_time, ss.weekdays, ss.slot_id
  from unnest(%(profile_ids)s::uuid[], %(platforms)s::text[])
       with ordinality as k(profile_id, platform, i)
  join schedule_slots ss on ss.profile_id = k.profile_id and ss.platform = k.platform
 order by k.i, ss.local_time;

-- upsert_schedule --
insert into schedules (profile_id, platform, materialized_until, updated_at)
values (%(profile_id)s, %(platform)s, %(now)s, %(now)s)
on conflict (profile_id, platform) do update
   set materialized_until = excluded.materialized_until, updated_at = excluded.updated_at,
       slots_version = schedules.slots_version + 1;

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

-- free_slots_from --
-- For each key k (1, 2, ...): its earliest free slot instants at or after its start, at most
-- its limit of them.
select k.i as key, f.scheduled_at, f.slot_id
  from unnest(%(profile_ids)s::uuid[], %(platforms)s::text[], %(starts)s::timestamptz[],
              %(limits)s::int[]) with ordinality as k(profile_id, platform, start, lim, i)
 cross join lateral (
       select scheduled_at, slot_id from free_slots
        where profile_id = k.profile_id and platform = k.platform and scheduled_at >= k.start
        order by scheduled_at
        limit k.lim) f
 order by k.i, f.scheduled_at;

-- drop_held_free_slots --
-- Drops the instants the inventory offers although a content has spent them (it never should;
-- the unique index caught one).
delete from free_slots f
 where f.profile_id = %(profile_id)s and f.platform = %(platform)s
   and exists (select 1 from contents c
                where c.profile_id = f.profile_id and c.platform = f.platform
                  and c.scheduled_at = f.scheduled_at and c.status in ({spends_slot}));

-- add_free_slots --
-- Extends the inventory: the given slot instants, less those a content has spent, not counting
-- the content being moved (a Reschedule may land it back where it was).
insert into free_slots (profile_id, platform, scheduled_at, slot_id)
select %(profile_id)s, %(platform)s, c.scheduled_at, c.slot_id
  from unnest(%(instants)s::timestamptz[], %(slot_ids)s::uuid[]) as c(scheduled_at, slot_id)
 where not exists (
       select 1 from contents
        where profile_id = %(profile_id)s and platform = %(platform)s
          and scheduled_at = c.scheduled_at and status in ({spends_slot})
          and content_id is distinct from %(moving)s::uuid)
on conflict do nothing;

-- set_materialized_until --
update schedules set materialized_until = %(until)s
 where profile_id = %(profile_id)s and platform = %(platform)s;

-- return_free_slot --
insert into free_slots (profile_id, platform, scheduled_at, slot_id)
values (%(profile_id)s, %(platform)s, %(scheduled_at)s, %(slot_id)s)
on conflict do nothing;

-- get_content --
select * from contents where content_id = %(content_id)s;

-- get_contents --
select * from contents where content_id = any(%(content_ids)s);

-- take_and_insert --
-- Takes slot instants out of the inventory and inserts scheduled contents, any keys at once, in
-- one statement, with each content's `content.assigned` event; skips a content whose id is taken
-- or whose slot a content holds already (the caller compares what came back with what it sent,
-- and rolls back on a difference: the events go with it). Arrays that may be long travel in
-- binary (the b placeholders): nothing to quote or escape per element. A group's events are
-- logged in slot order, which for one key is the order its requests were placed in.
with taken as (
    delete from free_slots f
     using unnest(%(taken_profile_ids)b::uuid[], %(taken_platforms)b::text[],
                  %(taken_instants)b::timestamptz[]) as t(profile_id, platform, scheduled_at)
     where (f.profile_id, f.platform, f.scheduled_at) = (t.profile_id, t.platform, t.scheduled_at)),
inserted as (
    insert into contents (content_id, profile_id, platform, status, slot_id, scheduled_at,
                          media_type, media_url, title, description, platform_options,
                          media, first_comment, alt_text, created_at, updated_at)
    select c.content_id, c.profile_id, c.platform, {scheduled}, c.slot_id, c.scheduled_at,
           c.media_type, c.media_url, c.title, c.description, c.platform_options,
           c.media, c.first_comment, c.alt_text, %(now)s, %(now)s
      from unnest(%(content_ids)b::uuid[], %(profile_ids)b::uuid[], %(platforms)b::text[],
                  %(slot_ids)b::uuid[], %(instants)b::timestamptz[], %(media_types)b::text[],
                  %(media_urls)b::text[], %(titles)b::text[], %(descriptions)b::text[],
                  %(options)b::jsonb[], %(media)b::jsonb[], %(first_comments)b::text[],
                  %(alt_texts)b::text[])
           as c(content_id, profile_id, platform, slot_id, scheduled_at, media_type, media_url,
                title, description, platform_options, media, first_comment, alt_text)
    on conflict do nothing
    returning content_id, profile_id, platform, slot_id, scheduled_at),
told as (
    insert into events (type, occurred_at, content_id, profile_id, platform, data)
    select {assigned}, %(now)s, content_id, profile_id, platform,
           jsonb_build_object('slot_id', slot_id, 'scheduled_at', scheduled_at)
      from inserted
     order by scheduled_at, content_id)
select content_id from inserted;

-- move_content --
-- Run for Event.RESCHEDULE (one statement per event: see queuelabs/sql.py), with its event
-- (`{told}`: content.moved) written by the same statement. `before` reads the slot it leaves:
-- every part of one statement sees the same snapshot, so that is the row as it was before the
-- update, and only the Allocator moves a slot, under the key's lock.
with before as (
    select scheduled_at from contents where content_id = %(content_id)s),
moved as (
    update contents
       set status = {target}, slot_id = %(slot_id)s, scheduled_at = %(scheduled_at)s,
           retry_count = 0, next_retry_at = null, reschedule_count = reschedule_count + 1,
           lease_owner = null, lease_expires_at = null,  -- a moved content is nobody's claim
           status_reason = %(reason)s, updated_at = %(now)s
     where content_id = %(content_id)s and status in ({sources})
    returning *),
told as (
    insert into events (type, occurred_at, content_id, profile_id, platform, data)
    select {told}, %(now)s, m.content_id, m.profile_id, m.platform,
           jsonb_build_object('from_scheduled_at', b.scheduled_at,
                              'to_scheduled_at', m.scheduled_at,
                              'slot_id', m.slot_id,
                              'reason', m.status_reason)
      from moved m, before b
     where {told} is not null)
select * from moved;

-- remove_content --
-- Run for Event.RELEASE, with its event written by the same statement: `{told}`
-- (content.released), or upload.cancelled when CancelUpload asked for the release.
with removed as (
    update contents
       set status = {target}, removed_at = %(now)s, status_reason = %(reason)s,
           updated_at = %(now)s, lease_owner = null, lease_expires_at = null
     where content_id = %(content_id)s and status in ({sources})
    returning *),
told as (
    insert into events (type, occurred_at, content_id, profile_id, platform, data)
    select case when %(cancel)s then {cancelled} else {told} end, %(now)s,
           content_id, profile_id, platform, jsonb_build_object('reason', status_reason)
      from removed
     where {told} is not null)
select * from removed;

-- list_assignments --
select * from contents
 where profile_id = %(profile_id)s
   and (%(platform)s::text is null or platform = %(platform)s)
   and status in ({slot_holding})
   and scheduled_at >= coalesce(%(start_time)s::timestamptz, '-infinity')
   and scheduled_at < coalesce(%(end_time)s::timestamptz, 'infinity')
   and (%(after_at)s::timestamptz is null
        or (scheduled_at, content_id) > (%(after_at)s::timestamptz, %(after_id)s::uuid))
 order by scheduled_at, content_id
 limit %(limit)s;

-- spenders_at --
-- The contents that hold or have spent one instant of a key (MoveContent's target), but the
-- content being moved; the holder first.
select content_id, status from contents
 where profile_id = %(profile_id)s and platform = %(platform)s
   and scheduled_at = %(scheduled_at)s and status in ({spends_slot})
   and content_id <> %(moving)s
 order by status in ({slot_holding}) desc, content_id;

-- lock_content --
-- UpdateContent: the content's row, locked until the edit commits. An Uploader's claim takes
-- due rows `for update skip locked` and moves them out of the editable states in the same
-- statement: it either committed first (the edit then reads the state it left) or skips this row
-- until the edit has committed (and then sends the edited post).
select * from contents where content_id = %(content_id)s for update;

-- update_content --
-- Writes an edited post (the row is locked: lock_content), one revision on, with its
-- `content.updated` event (`{updated}`) naming the paths changed, in the same statement.
with edited as (
    update contents
       set media_type = %(media_type)s, media_url = %(media_url)s, media = %(media)s,
           title = %(title)s, description = %(description)s,
           first_comment = %(first_comment)s, alt_text = %(alt_text)s,
           platform_options = %(options)s, revision = revision + 1, updated_at = %(now)s
     where content_id = %(content_id)s
    returning *),
told as (
    insert into events (type, occurred_at, content_id, profile_id, platform, data)
    select {updated}, %(now)s, content_id, profile_id, platform,
           jsonb_build_object('fields', %(fields)s::jsonb, 'revision', revision)
      from edited)
select * from edited;
