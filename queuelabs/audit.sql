-- What `queuelabs check` looks for: each statement finds one way the data can break an invariant
-- of the two services. queuelabs/audit.py is the only code that runs them. Read only.

-- stacked_slot --
-- Two or more contents holding one slot of a (profile, platform).
select profile_id, platform, scheduled_at, array_agg(content_id order by content_id) as contents
  from contents
 where status in ({slot_holding})
 group by profile_id, platform, scheduled_at
having count(*) > 1
 order by scheduled_at;

-- two_successes --
-- More than one success recorded for one content: it was published twice.
select content_id, platform, array_agg(request_id order by uploaded_at) as requests
  from upload_successes
 group by content_id, platform
having count(*) > 1;

-- uploaded_without_success --
-- A content said to be published with no success record (no request id, no post to show).
select c.content_id, c.profile_id, c.platform
  from contents c
 where c.status in ({uploaded})
   and not exists (select 1 from upload_successes s where s.content_id = c.content_id);

-- success_not_uploaded --
-- A content with a success record in any other state: it may be published again.
select c.content_id, c.profile_id, c.platform, c.status, s.request_id
  from contents c
  join upload_successes s on s.content_id = c.content_id
 where c.status not in ({uploaded});

-- lease_expired --
-- A claim whose lease ran out long ago and that no rescuer took back: no Uploader is running, or
-- its rescuer is stuck.
select content_id, profile_id, platform, status, lease_owner, lease_expires_at
  from contents
 where status in ({leased}) and lease_expires_at < %(stuck_before)s
 order by lease_expires_at;

-- overdue --
-- A content in line whose time came long ago and that nothing claimed: the scheduling loop is
-- stopped or stuck (unknown_outcome, processing and retry_pending wait for next_retry_at, the
-- rest for their slot). One whose key an operator paused waits for them, and one a claim to
-- publish would take waits while its account is held (to be reconnected, its cap full): both
-- wait on purpose, and say so through GetUpload.
select c.content_id, c.profile_id, c.platform, c.status,
       coalesce(c.next_retry_at, c.scheduled_at) as due_at
  from contents c
 where c.status in ({in_line})
   and coalesce(c.next_retry_at, c.scheduled_at) < %(stuck_before)s
   and not exists (select 1 from paused_keys p
                    where p.profile_id = c.profile_id and p.platform = c.platform)
   and not (c.status in ({to_publish})
            and exists (select 1 from accounts a
                         where a.profile_id = c.profile_id and a.platform = c.platform
                           and (a.reconnect_since is not null or a.capped_until > now())))
 order by due_at;

-- inventory_offers_spent --
-- A free instant in the Allocator's inventory that a content has spent: it could be offered
-- again (the unique index would refuse it, but the inventory is wrong).
select f.profile_id, f.platform, f.scheduled_at, array_agg(c.content_id) as contents
  from free_slots f
  join contents c on c.profile_id = f.profile_id and c.platform = f.platform
                 and c.scheduled_at = f.scheduled_at and c.status in ({spends_slot})
 group by f.profile_id, f.platform, f.scheduled_at;

-- inventory_past_its_mark --
-- A free instant at or past the mark up to which the inventory says it is complete, or of a
-- key with no schedule.
select f.profile_id, f.platform, f.scheduled_at, s.materialized_until
  from free_slots f
  left join schedules s on s.profile_id = f.profile_id and s.platform = f.platform
 where s.profile_id is null or f.scheduled_at >= s.materialized_until;
