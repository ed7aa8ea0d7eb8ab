-- Every statement the Uploader runs, by name. uploader/storage.py is the only code that runs them.

-- claim_to_hold --
-- Takes up to `limit` due contents for this worker by a claim that calls nothing (unknown
-- outcomes to reconcile, or contents waiting for a slot: one statement per event), skipping
-- rows another worker holds. The content keeps its state; its next_retry_at moves to the lease's
-- end so that nobody else takes it meanwhile, and so that it is due again should this worker
-- vanish. (Every state list here comes from queuelabs/lifecycle.py, written out as constants so
-- that the planner uses the partial index: see queuelabs/sql.py.)
with due as (
    select c.content_id, c.status as previous_status
      from contents c
     where c.status in ({sources})
       and coalesce(c.next_retry_at, c.scheduled_at) <= %(now)s
       and not exists (select 1 from paused_keys p
                        where p.profile_id = c.profile_id and p.platform = c.platform)
     order by coalesce(c.next_retry_at, c.scheduled_at)
     limit %(limit)s
       for update of c skip locked)
update contents c
   set next_retry_at = %(lease_until)s, lease_owner = %(worker)s,
       lease_expires_at = %(lease_until)s, updated_at = %(now)s
  from due
 where c.content_id = due.content_id
returning c.*, due.previous_status,
          (select upload_post_user from profiles p where p.profile_id = c.profile_id)
              as upload_post_user;

-- claim_to_publish --
-- Takes up to `limit` due contents to publish, earliest first. No Upload-Post user gets more
-- than its posting room (`per_profile` less its posts of the last minute), and among contents
-- due at the same instant users take turns: one with fifty due contents does not hold up
-- another's one. A social account (profile, platform) gets one job at a time: none while one
-- of its contents is being sent or Upload-Post is at work on one (or its outcome is unknown),
-- one per claim; so a dead account's first answer, sync or async, holds the rest back before
-- another is sent. Nothing goes to an account held (to be reconnected, or its daily
-- cap full) or paused. Claims run one at a time across replicas (the budget's lock), so the
-- room read here is the room there is.
with recent as (
    select upload_post_user, count(*) as posts
      from upload_post_requests
     where kind = {post} and sent_at > %(window_start)s
     group by upload_post_user),
ranked as (
    select c.content_id,
           coalesce(c.next_retry_at, c.scheduled_at) as due_at,
           row_number() over (partition by p.upload_post_user
                              order by coalesce(c.next_retry_at, c.scheduled_at), c.content_id)
               as turn,
           row_number() over (partition by c.profile_id, c.platform
                              order by coalesce(c.next_retry_at, c.scheduled_at), c.content_id)
               as in_account,
           %(per_profile)s - coalesce(r.posts, 0) as room
      from contents c
      join profiles p on p.profile_id = c.profile_id
      left join recent r on r.upload_post_user = p.upload_post_user
     where c.status in ({to_publish})
       and coalesce(c.next_retry_at, c.scheduled_at) <= %(now)s
       and not exists (select 1 from paused_keys k
                        where k.profile_id = c.profile_id and k.platform = c.platform)
       and not exists (select 1 from accounts a
                        where a.profile_id = c.profile_id and a.platform = c.platform
                          and (a.reconnect_since is not null or a.capped_until > %(now)s))
       and not exists (select 1 from contents u
                        where u.profile_id = c.profile_id and u.platform = c.platform
                          and u.status in ({on_a_job}))),
picked as (
    select content_id from ranked
     where turn <= room and in_account = 1
     order by due_at, turn, content_id
     limit %(limit)s),
due as (
    -- Checked again under the row lock: a claim that ran meanwhile may have taken it.
    select c.content_id, c.status as previous_status
      from contents c
     where c.content_id in (select content_id from picked)
       and c.status in ({to_publish})
       for update of c skip locked)
update contents c
   set status = {claimed}, lease_owner = %(worker)s, lease_expires_at = %(lease_until)s,
       updated_at = %(now)s
  from due
 where c.content_id = due.content_id
returning c.*, due.previous_status,
          (select upload_post_user from profiles p where p.profile_id = c.profile_id)
              as upload_post_user;

-- claim_missed_slots --
-- Takes up to `limit` contents of accounts to be reconnected whose slot passed more than
-- `max_lateness` ago: nothing is sent for them; the publisher moves each to the missed-slot path
-- (a new slot from the Allocator), as it would any content that missed its slot. A paused key's
-- contents wait for its resumption instead.
with due as (
    select c.content_id, c.status as previous_status
      from contents c
      join accounts a on a.profile_id = c.profile_id and a.platform = c.platform
     where a.reconnect_since is not null
       and c.status = {missable}
       and not c.upload_now
       and c.scheduled_at < %(missed_before)s
       and not exists (select 1 from paused_keys k
                        where k.profile_id = c.profile_id and k.platform = c.platform)
     order by c.scheduled_at
     limit %(limit)s
       for update of c skip locked)
update contents c
   set status = {claimed}, lease_owner = %(worker)s, lease_expires_at = %(lease_until)s,
       updated_at = %(now)s
  from due
 where c.content_id = due.content_id
returning c.*, due.previous_status,
          (select upload_post_user from profiles p where p.profile_id = c.profile_id)
              as upload_post_user;

-- lock_budget --
-- Serializes every replica's use of the request budget; released at commit.
select pg_advisory_xact_lock(%(key)s);

-- budget_state --
select (select count(*) from upload_post_requests where sent_at > %(window_start)s) as sent,
       (select min(sent_at) from upload_post_requests where sent_at > %(window_start)s)
           as oldest,
       (select blocked_until from upload_post_pause) as blocked_until;

-- record_requests --
insert into upload_post_requests (sent_at, upload_post_user, kind, worker)
select %(now)s, r.upload_post_user, r.kind, %(worker)s
  from unnest(%(users)s::text[], %(kinds)s::text[]) as r(upload_post_user, kind);

-- pause_requests --
-- Upload-Post said to send nothing until `until`: every replica waits (the later word wins).
insert into upload_post_pause (singleton, blocked_until, reason)
values (true, %(until)s, %(reason)s)
on conflict (singleton) do update
   set blocked_until = greatest(upload_post_pause.blocked_until, excluded.blocked_until),
       reason = excluded.reason;

-- prune_requests --
-- A batch of the request log older than `before` (the budget reads only the last minute). The
-- log has no key: a row is named by its ctid, stable while this transaction holds its lock.
-- SKIP LOCKED: two replicas pruning at once share the rows instead of waiting on each other.
with doomed as (
    delete from upload_post_requests
     where ctid = any(array(select ctid from upload_post_requests
                             where sent_at < %(before)s
                             limit %(batch)s
                               for update skip locked))
    returning 1)
select count(*) as pruned from doomed;

-- next_due --
-- The earliest moment a claim may find work: a content falling due (one to publish only if its
-- account is not held), a held account's daily cap freeing up, or the slot of a content of an
-- account to be reconnected passing by `max_lateness` (claim_missed_slots then moves it).
select least(
    (select min(coalesce(c.next_retry_at, c.scheduled_at))
       from contents c
      where c.status in ({in_line})
        and not exists (select 1 from paused_keys p
                         where p.profile_id = c.profile_id and p.platform = c.platform)
        and not (c.status in ({to_publish})
                 and exists (select 1 from accounts a
                              where a.profile_id = c.profile_id and a.platform = c.platform
                                and (a.reconnect_since is not null
                                     or a.capped_until > %(now)s)))),
    (select min(a.capped_until) from accounts a where a.capped_until > %(now)s),
    (select min(c.scheduled_at) + %(max_lateness)s
       from accounts a
       join contents c on c.profile_id = a.profile_id and c.platform = a.platform
      where a.reconnect_since is not null and c.status = {missable} and not c.upload_now
        and not exists (select 1 from paused_keys p
                         where p.profile_id = c.profile_id and p.platform = c.platform))
) as due;

-- lead_duty --
-- Takes or keeps the lead of a duty that needs one runner at a time, for `worker` until `until`:
-- when nobody holds it, when it is this worker's already, or when its holder's term ran out. A
-- row comes back to the leader only. Replicas electing at once queue on the row (or on the key
-- of a first insert), and each sees the winner's term when its turn comes.
insert into duty_leaders as l (duty, holder, expires_at)
values (%(duty)s, %(worker)s, %(until)s)
on conflict (duty) do update
   set holder = excluded.holder, expires_at = excluded.expires_at
 where l.holder = excluded.holder or l.expires_at <= %(now)s
returning holder;

-- resign_duties --
-- A replica that stops gives up what it leads: another takes each duty at its next turn, not
-- once the term has run out.
delete from duty_leaders where holder = %(worker)s;

-- rescue_expired --
-- A worker that stopped mid-publish may have published: its content becomes an unknown
-- outcome to reconcile, never straight back to due. Returns who held each lease. A batch at a
-- time; SKIP LOCKED: replicas rescuing at once share the rows, each rescued once.
with expired as (
    select content_id, lease_owner from contents
     where status in ({leased}) and lease_expires_at < %(now)s
     limit %(batch)s
       for update skip locked)
update contents c
   set status = {lost}, next_retry_at = %(now)s, lease_owner = null,
       lease_expires_at = null, updated_at = %(now)s
  from expired
 where c.content_id = expired.content_id
returning c.content_id, expired.lease_owner;

-- renew_lease --
-- The worker still at work on a content keeps its lease; nothing when it no longer holds it.
update contents
   set lease_expires_at = %(lease_until)s
 where content_id = %(content_id)s and lease_owner = %(worker)s and status in ({leased})
returning content_id;

-- close_lost_attempts --
update upload_attempts
   set finished_at = %(now)s, outcome = {lost_call}, error = %(error)s
 where content_id = any(%(content_ids)s) and finished_at is null;

-- start_attempt --
insert into upload_attempts (content_id, number, kind, request_id, idempotency_key, worker,
                             started_at)
select %(content_id)s, coalesce(max(number), 0) + 1, %(kind)s, %(request_id)s,
       %(idempotency_key)s, %(worker)s, %(now)s
  from upload_attempts where content_id = %(content_id)s
returning number;

-- finish_attempt --
update upload_attempts
   set finished_at = %(now)s, outcome = %(outcome)s, http_status = %(http_status)s,
       error = %(error)s, upstream_request_id = %(upstream_request_id)s
 where content_id = %(content_id)s and number = %(number)s;

-- publish_attempts_under_key --
-- Every call made under one idempotency key, newest first: any of them may have made the post.
select * from upload_attempts
 where content_id = %(content_id)s and kind = {publish} and idempotency_key = %(key)s
 order by number desc;

-- attempts_of --
select * from upload_attempts where content_id = %(content_id)s order by number;

-- record_success --
insert into upload_successes (content_id, platform, request_id, post_url, platform_post_id,
                              uploaded_at)
values (%(content_id)s, %(platform)s, %(request_id)s, %(post_url)s, %(platform_post_id)s,
        %(now)s)
on conflict do nothing;

-- success_of --
select * from upload_successes where content_id = %(content_id)s;

-- settle --
-- Moves a content this worker holds by an event (one statement per event), giving the lease up
-- (or keeping it while the worker still acts on the content: it asks the Allocator for a slot).
-- Nothing happens when the lease was lost (the rescuer took the content) or the state moved on:
-- the caller then leaves it alone.
-- The same statement writes the move's event, from the row as moved, so the two commit or roll
-- back together and no caller can forget one: `{told}` is null for a move callers are not told
-- of, and `tell` is false for a claim handed back at shutdown (nothing a caller sees changed).
-- A published content's ids come from its success record, written earlier in this transaction.
-- A type told here without its data below fails the statement (data is not null): loudly.
with settled as (
    update contents
       set status = {target},
           retry_count = %(retry_count)s,
           next_retry_at = %(next_retry_at)s,
           idempotency_generation = %(generation)s,
           status_reason = %(reason)s,
           post_url = coalesce(%(post_url)s, post_url),
           uploaded_at = coalesce(%(uploaded_at)s, uploaded_at),
           upload_now = false,
           lease_owner = case when %(keep_lease)s then lease_owner end,
           lease_expires_at = case when %(keep_lease)s then lease_expires_at end,
           updated_at = %(now)s
     where content_id = %(content_id)s
       and status in ({sources})
       and lease_owner = %(worker)s
    returning *),
told as (
    insert into events (type, occurred_at, content_id, profile_id, platform, data)
    select {told}, %(now)s, s.content_id, s.profile_id, s.platform,
           case {told}
               when {published} then jsonb_build_object(
                   'post_url', coalesce(nullif(s.post_url, ''), u.post_url, ''),
                   'request_id', coalesce(u.request_id, ''),
                   'platform_post_id', coalesce(u.platform_post_id, ''))
               when {retrying} then jsonb_build_object(
                   'attempt', s.retry_count,
                   'next_retry_at', s.next_retry_at,
                   'reason', s.status_reason,
                   'wait_reason', %(wait_reason)s::text)
               when {processing} then jsonb_build_object('request_id', %(job)s::text)
               when {failed} then jsonb_build_object('reason', s.status_reason)
           end
      from settled s
      left join upload_successes u on u.content_id = s.content_id
     where {told} is not null and %(tell)s)
select * from settled;

-- get_content --
-- With the platform's id of the post once published (its success record; null before).
select c.*, p.upload_post_user, s.platform_post_id
  from contents c
  join profiles p using (profile_id)
  left join upload_successes s on s.content_id = c.content_id and s.platform = c.platform
 where c.content_id = %(content_id)s;

-- list_contents --
-- The states are the caller's filter (ListUploads), not a set of the lifecycle's. No profile:
-- every profile's. A content "changed" after a cursor or since an instant when it has an event
-- there (events_by_content finds a content's events; events_by_time those of a span).
select c.*, s.platform_post_id
  from contents c
  left join upload_successes s on s.content_id = c.content_id and s.platform = c.platform
 where (%(profile_id)s::uuid is null or c.profile_id = %(profile_id)s)
   and (%(platform)s::text is null or c.platform = %(platform)s)
   and (cardinality(%(states)s::text[]) = 0 or c.status = any(%(states)s))
   and (%(changed_xid)s::xid8 is null
        or exists (select 1 from events e
                    where e.content_id = c.content_id
                      and (e.xid, e.seq) > (%(changed_xid)s::xid8, %(changed_seq)s::bigint)))
   and (%(changed_since)s::timestamptz is null
        or exists (select 1 from events e
                    where e.content_id = c.content_id and e.occurred_at >= %(changed_since)s))
   and (%(after_at)s::timestamptz is null
        or (c.scheduled_at, c.content_id) > (%(after_at)s::timestamptz, %(after_id)s::uuid))
 order by c.scheduled_at, c.content_id
 limit %(limit)s;

-- attempts_of_many --
select * from upload_attempts where content_id = any(%(content_ids)s) order by content_id, number;

-- upload_now --
-- Only a content a claim to publish takes: it goes at the claimer's next turn.
update contents
   set next_retry_at = %(now)s, upload_now = true, updated_at = %(now)s
 where content_id = %(content_id)s and status in ({to_publish})
returning content_id;

-- get_profile --
select profile_id from profiles where profile_id = %(profile_id)s;

-- pause --
-- A key paused already stays as it was paused (when, by whom, why): the answer tells of that.
insert into paused_keys (profile_id, platform, paused_at, paused_by, reason)
values (%(profile_id)s, %(platform)s, %(now)s, %(paused_by)s, %(reason)s)
on conflict (profile_id, platform) do update set paused_at = paused_keys.paused_at
returning paused_at, paused_by, reason;

-- resume --
delete from paused_keys where profile_id = %(profile_id)s and platform = %(platform)s;

-- interrupt_attempts --
update upload_attempts
   set finished_at = %(now)s, outcome = {interrupted_call}, error = %(error)s
 where content_id = %(content_id)s and finished_at is null
returning number, kind;

-- due_backlog --
-- What is due and could be taken now: not what waits on purpose (a paused key, an account to
-- reconnect or whose daily cap is full), which GetUpload says, so the gauge stays near zero.
select c.platform, count(*) as due
  from contents c
 where c.status in ({in_line})
   and coalesce(c.next_retry_at, c.scheduled_at) <= %(now)s
   and not exists (select 1 from paused_keys p
                    where p.profile_id = c.profile_id and p.platform = c.platform)
   and not (c.status in ({to_publish})
            and exists (select 1 from accounts a
                         where a.profile_id = c.profile_id and a.platform = c.platform
                           and (a.reconnect_since is not null or a.capped_until > %(now)s)))
 group by c.platform;

-- events_after --
-- The log after `cursor`, in delivery order (xid, seq), up to `limit` events, the caller's
-- filters applied (empty = all). Only rows whose transaction is older than every transaction
-- still running (the snapshot's xmin): a transaction that began earlier and is still open may
-- yet commit rows with a lower position, and a reader that moved past them would never see
-- them. Replay and live reads are this one statement, so there is no seam between them. The
-- primary key (xid, seq) serves the range and the order.
select e.xid::text as xid, e.seq, e.event_id, e.type, e.occurred_at, e.content_id,
       e.profile_id, e.platform, e.data
  from events e
 where (e.xid, e.seq) > (%(xid)s::xid8, %(seq)s::bigint)
   and e.xid < pg_snapshot_xmin(pg_current_snapshot())
   and (cardinality(%(profile_ids)s::uuid[]) = 0 or e.profile_id = any(%(profile_ids)s::uuid[]))
   and (cardinality(%(platforms)s::text[]) = 0 or e.platform = any(%(platforms)s::text[]))
   and (cardinality(%(types)s::text[]) = 0 or e.type = any(%(types)s::text[]))
 order by e.xid, e.seq
 limit %(limit)s;

-- events_horizon --
-- The newest position every reader may pass (see events_after): a watcher "from now on" starts
-- there. Whatever commits after this statement lands above it, so nothing later is missed.
select e.xid::text as xid, e.seq
  from events e
 where e.xid < pg_snapshot_xmin(pg_current_snapshot())
 order by e.xid desc, e.seq desc
 limit 1;

-- Social accounts as Upload-Post sees them (the `accounts` table) and its word on jobs

-- accounts_of_user --
-- The profiles posting through one Upload-Post user: a word about its account on a platform
-- concerns each of them.
select profile_id from profiles where upload_post_user = %(user)s order by profile_id;

-- make_accounts --
-- The accounts' rows, made if need be (a statement of its own: a select beside the insert
-- would not see the rows it makes).
insert into accounts (profile_id, platform)
select p, %(platform)s from unnest(%(profile_ids)s::uuid[]) as p
on conflict do nothing;

-- lock_accounts --
-- The accounts' rows locked in a fixed order: two words about one account (a webhook and a
-- publish answer) are weighed one after the other.
select a.* from accounts a
 where a.profile_id = any(%(profile_ids)s::uuid[]) and a.platform = %(platform)s
 order by a.profile_id
   for update;

-- set_reconnect --
-- Marks (since `since`) or clears (since null) the accounts' need to be reconnected, with the
-- time of the word that says so. Only rows the caller found unmarked keep their old `since`.
update accounts
   set reconnect_since = case when %(since)s::timestamptz is null then null
                              else coalesce(reconnect_since, %(since)s) end,
       reconnect_reason = %(reason)s,
       reconnect_source = %(source)s,
       word_at = %(word_at)s
 where profile_id = any(%(profile_ids)s::uuid[]) and platform = %(platform)s;

-- tell_accounts --
-- One account.* event per profile whose account changed, in the transaction of the change.
insert into events (type, occurred_at, profile_id, platform, data)
select case when %(needs_reconnect)s then {reconnect_required} else {reconnected} end,
       %(now)s, p, %(platform)s,
       case when %(needs_reconnect)s
            then jsonb_build_object('reason', %(reason)s::text, 'source', %(source)s::text)
            else jsonb_build_object('source', %(source)s::text) end
  from unnest(%(profile_ids)s::uuid[]) as p;

-- cap_account --
-- The account's daily cap is full until `until` (Upload-Post's word: a 429 naming the cap).
insert into accounts as a (profile_id, platform, capped_until, cap_reason)
values (%(profile_id)s, %(platform)s, %(until)s, %(reason)s)
on conflict (profile_id, platform) do update
   set capped_until = greatest(a.capped_until, excluded.capped_until),
       cap_reason = excluded.cap_reason;

-- accounts_to_reconnect --
select count(*) as accounts from accounts where reconnect_since is not null;

-- job_waited_on --
-- The content that waits on Upload-Post's job `job` (our request id, or the id Upload-Post
-- answered with): among the few with a call out (the partial index `contents_on_a_job`).
-- The content's row is locked: a settle that moves it meanwhile (the "accepted" answer written
-- as the webhook comes) commits first, and is then seen here, so one of the two finds the other.
select c.content_id, c.status
  from contents c
  join upload_attempts a on a.content_id = c.content_id
 where c.status in ({on_a_job})
   and a.kind = {publish}
   and (a.request_id = %(job)s or a.upstream_request_id = %(job)s)
 limit 1
   for update of c;

-- keep_notice --
-- Upload-Post's word on a job; a repeat changes nothing (the first word stands).
insert into upload_post_notices (job_id, received_at, success, post_url, platform_post_id,
                                 error, body)
values (%(job)s, %(now)s, %(success)s, %(post_url)s, %(platform_post_id)s, %(error)s,
        %(body)s)
on conflict (job_id) do nothing;

-- due_now --
-- Upload-Post's word came: a content waiting on its job is looked at now, not at its next poll.
-- Not one a worker holds for a look already (its lease): that worker finds the word when it
-- settles (Settler._move), and no second worker takes the content meanwhile.
update contents set next_retry_at = %(now)s
 where content_id = %(content_id)s and status in ({heard_of})
   and (lease_owner is null or lease_expires_at < %(now)s)
returning content_id;

-- notices_of --
select * from upload_post_notices where job_id = any(%(jobs)s::text[]);

-- noticed --
-- Of the given (content, idempotency key) pairs, the contents one of whose calls under that key
-- Upload-Post has told us of: their look-up reads the word, no request is sent.
select distinct a.content_id
  from unnest(%(content_ids)s::uuid[], %(keys)s::text[]) as k(content_id, key)
  join upload_attempts a on a.content_id = k.content_id and a.idempotency_key = k.key
  join upload_post_notices n
    on n.job_id = a.request_id or n.job_id = a.upstream_request_id
 where a.kind = {publish};

-- last_notice --
-- When Upload-Post's webhooks last told of a job: while they arrive, polling backs off.
select max(received_at) as at from upload_post_notices;

-- prune_notices --
with doomed as (
    delete from upload_post_notices
     where job_id = any(array(select job_id from upload_post_notices
                               where received_at < %(before)s
                               limit %(batch)s
                                 for update skip locked))
    returning 1)
select count(*) as pruned from doomed;
