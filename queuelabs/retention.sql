-- prune_contents --
-- A batch of contents finished before the cut-off, with their attempts and success records (the
-- foreign keys are checked at the end of the statement, when all three are gone). SKIP LOCKED:
-- it never waits for a row a service holds, nor for another prune; each batch is one short
-- transaction of its own.
with doomed as (
    select content_id from contents
     where status in ({finished})
       and coalesce(uploaded_at, removed_at, updated_at) < %(before)s
     limit %(batch)s
       for update skip locked),
attempts as (
    delete from upload_attempts where content_id in (select content_id from doomed)),
successes as (
    delete from upload_successes where content_id in (select content_id from doomed))
delete from contents where content_id in (select content_id from doomed)
returning content_id;

-- prune_free_slots --
-- A batch of inventory instants already past (no assignment can take them any more): of every
-- key (`queuelabs prune`), or of one (the Allocator, as it extends that key's inventory under
-- the key's lock). SKIP LOCKED: it never waits for a row a service or another prune holds; what
-- it skips goes in a later batch or a later prune.
with past as (
    select profile_id, platform, scheduled_at from free_slots
     where scheduled_at < %(before)s
       and (%(profile_id)s::uuid is null  -- every key
            or (profile_id = %(profile_id)s::uuid and platform = %(platform)s::text))
     limit %(batch)s
       for update skip locked)
delete from free_slots f
 using past
 where f.profile_id = past.profile_id
   and f.platform = past.platform
   and f.scheduled_at = past.scheduled_at
returning f.scheduled_at;

-- prune_events --
-- A batch of the event log older than the cut-off (EVENTS_RETENTION: the Uploader's event pruner
-- and `queuelabs prune` run this one statement), oldest first, through `events_by_time`. SKIP
-- LOCKED: replicas and prunes running at once share the rows instead of waiting on each other.
with doomed as (
    select xid, seq from events
     where occurred_at < %(before)s
     order by occurred_at
     limit %(batch)s
       for update skip locked)
delete from events e
 using doomed
 where (e.xid, e.seq) = (doomed.xid, doomed.seq)
returning e.seq;
