-- The Uploader's webhook statements, by name. uploader/storage.py is the only code that runs them.

-- create_webhook_endpoint --
-- Its deliveries are planned from `planned` on: the log's horizon when it is created.
insert into webhook_endpoints (endpoint_id, url, types, profile_ids, description, secret,
                               created_at, planned_xid, planned_seq)
values (%(endpoint_id)s, %(url)s, %(types)s, %(profile_ids)s, %(description)s, %(secret)s,
        %(now)s, %(planned_xid)s::xid8, %(planned_seq)s)
returning *;

-- list_webhook_endpoints --
select * from webhook_endpoints
 where (%(after_at)s::timestamptz is null
        or (created_at, endpoint_id) > (%(after_at)s::timestamptz, %(after_id)s::uuid))
 order by created_at, endpoint_id
 limit %(limit)s;

-- get_webhook_endpoint --
select * from webhook_endpoints where endpoint_id = %(endpoint_id)s;

-- delete_webhook_endpoint --
-- Its deliveries and attempts go with it (on delete cascade).
delete from webhook_endpoints where endpoint_id = %(endpoint_id)s returning endpoint_id;

-- rotate_webhook_secret --
-- The current secret keeps signing beside the new one until `expires_at`; a secret rotated out
-- earlier stops at once (two signatures at most).
update webhook_endpoints
   set previous_secret = secret, previous_secret_expires_at = %(expires_at)s,
       secret = %(secret)s
 where endpoint_id = %(endpoint_id)s
returning endpoint_id;

-- webhook_endpoints_to_plan --
-- The enabled endpoints with an event to plan (one the log's ordering rule lets a reader pass:
-- see events_after), so that an idle turn costs one statement, not one per endpoint.
select e.endpoint_id from webhook_endpoints e
 where e.disabled_at is null
   and exists (select 1 from events v
                where (v.xid, v.seq) > (e.planned_xid, e.planned_seq)
                  and v.xid < pg_snapshot_xmin(pg_current_snapshot()))
 order by e.endpoint_id;

-- lock_endpoint_to_plan --
-- One replica plans an endpoint's deliveries at a time; another skips it rather than wait.
select * from webhook_endpoints
 where endpoint_id = %(endpoint_id)s and disabled_at is null
   for update skip locked;

-- plan_webhook_deliveries --
-- Under the endpoint's row lock, with its cursor moved past them in the same transaction: each
-- event is planned once (the conflict clause is a second guard, not the rule).
insert into webhook_deliveries (endpoint_id, event_xid, event_seq, event_id, body,
                                next_attempt_at)
select %(endpoint_id)s, d.xid::xid8, d.seq, d.event_id, d.body, %(now)s
  from unnest(%(xids)s::text[], %(seqs)s::bigint[], %(event_ids)s::uuid[], %(bodies)s::text[])
       as d(xid, seq, event_id, body)
on conflict do nothing;

-- advance_webhook_plan --
update webhook_endpoints
   set planned_xid = %(xid)s::xid8, planned_seq = %(seq)s
 where endpoint_id = %(endpoint_id)s;

-- claim_webhook_deliveries --
-- Takes up to `limit` due deliveries, oldest due first, no endpoint beyond `per_endpoint` in
-- flight (its leases still running, here or in another replica): a slow or dead endpoint ties
-- up its own share, never another endpoint's turn. Only each endpoint's first `room` rows are
-- candidates, so a claim running beside another one can only meet the rows the other takes
-- (locked: skipped; or, once committed, no longer due) and never fills the same room twice.
-- SKIP LOCKED: replicas claiming at once never wait on each other. A claimed row's
-- next_attempt_at moves to the lease's end: should this sender die mid-call, the row is due
-- again then (at least once).
with busy as (
    select endpoint_id, count(*) as in_flight
      from webhook_deliveries
     where delivered_at is null and given_up_at is null and lease_expires_at > %(now)s
     group by endpoint_id),
ranked as (
    select d.endpoint_id, d.event_xid, d.event_seq,
           row_number() over (partition by d.endpoint_id
                              order by d.next_attempt_at, d.event_xid, d.event_seq) as turn,
           %(per_endpoint)s - coalesce(b.in_flight, 0) as room
      from webhook_deliveries d
      join webhook_endpoints e on e.endpoint_id = d.endpoint_id
      left join busy b on b.endpoint_id = d.endpoint_id
     where d.delivered_at is null and d.given_up_at is null
       and d.next_attempt_at <= %(now)s
       and e.disabled_at is null),
due as (
    -- Checked again under the row lock: a claim that committed meanwhile may have taken it.
    select d.endpoint_id, d.event_xid, d.event_seq
      from webhook_deliveries d
      join ranked r using (endpoint_id, event_xid, event_seq)
     where r.turn <= r.room
       and d.delivered_at is null and d.given_up_at is null and d.next_attempt_at <= %(now)s
     order by d.next_attempt_at, r.turn
     limit %(limit)s
       for update of d skip locked)
update webhook_deliveries d
   set attempts = d.attempts + 1, next_attempt_at = %(lease_until)s,
       lease_owner = %(worker)s, lease_expires_at = %(lease_until)s
  from due, webhook_endpoints e
 where (d.endpoint_id, d.event_xid, d.event_seq) = (due.endpoint_id, due.event_xid, due.event_seq)
   and e.endpoint_id = d.endpoint_id
returning d.endpoint_id, d.event_xid::text as event_xid, d.event_seq, d.event_id, d.body,
          d.attempts, e.url, e.secret, e.previous_secret, e.previous_secret_expires_at;

-- start_webhook_attempts --
-- An attempt of these deliveries still open was cut short (its sender died before it could
-- record the answer); then each claimed try is written down before the call goes out. (A
-- data-modifying WITH runs to completion whether or not the insert reads it.)
with cut_short as (
    update webhook_attempts a
       set finished_at = %(now)s,
           error = 'no answer recorded: the sending replica stopped mid-call'
      from unnest(%(endpoint_ids)s::uuid[], %(event_ids)s::uuid[]) as c(endpoint_id, event_id)
     where a.endpoint_id = c.endpoint_id and a.event_id = c.event_id and a.finished_at is null
    returning 1)
insert into webhook_attempts (endpoint_id, event_id, attempt, attempted_at, worker)
select c.endpoint_id, c.event_id, c.attempt, %(now)s, %(worker)s
  from unnest(%(endpoint_ids)s::uuid[], %(event_ids)s::uuid[], %(attempts)s::int[])
       as c(endpoint_id, event_id, attempt);

-- finish_webhook_attempt --
update webhook_attempts
   set finished_at = %(now)s, http_status = %(http_status)s, error = %(error)s,
       delivered = %(delivered)s, next_attempt_at = %(next_attempt_at)s
 where endpoint_id = %(endpoint_id)s and event_id = %(event_id)s and attempt = %(attempt)s;

-- settle_webhook_delivery --
-- Delivered, due again at `next_attempt_at`, or given up (neither). Only while this sender
-- still holds it: past its lease another replica may have taken it (and its answer counts).
update webhook_deliveries
   set delivered_at = case when %(delivered)s then %(now)s::timestamptz end,
       given_up_at = case when not %(delivered)s and %(next_attempt_at)s::timestamptz is null
                          then %(now)s::timestamptz end,
       next_attempt_at = coalesce(%(next_attempt_at)s, %(now)s),
       lease_owner = null, lease_expires_at = null
 where endpoint_id = %(endpoint_id)s and event_xid = %(event_xid)s::xid8
   and event_seq = %(event_seq)s and lease_owner = %(worker)s
   and delivered_at is null and given_up_at is null
returning endpoint_id;

-- webhook_endpoint_answered --
-- A delivery went through: the endpoint's run of failures ends (written only when there was one).
update webhook_endpoints
   set failures_in_a_row = 0, failing_since = null
 where endpoint_id = %(endpoint_id)s and failures_in_a_row > 0;

-- webhook_endpoint_failed --
-- One more failure in the endpoint's run; the row lock makes concurrent senders count each one.
update webhook_endpoints
   set failures_in_a_row = failures_in_a_row + 1,
       failing_since = coalesce(failing_since, %(now)s)
 where endpoint_id = %(endpoint_id)s
returning failures_in_a_row, failing_since;

-- disable_webhook_endpoint --
-- No more deliveries to it, and an event that says so (to the other endpoints and to watchers),
-- in one statement: both or neither. Nothing when it was disabled already.
with disabled as (
    update webhook_endpoints
       set disabled_at = %(now)s, disabled_reason = %(reason)s
     where endpoint_id = %(endpoint_id)s and disabled_at is null
    returning endpoint_id, url)
insert into events (type, occurred_at, data)
select {endpoint_disabled}, %(now)s,
       jsonb_build_object('endpoint_id', endpoint_id::text, 'url', url, 'reason', %(reason)s::text)
  from disabled
returning event_id;

-- next_webhook_due --
select min(d.next_attempt_at) as due
  from webhook_deliveries d
  join webhook_endpoints e on e.endpoint_id = d.endpoint_id
 where d.delivered_at is null and d.given_up_at is null and e.disabled_at is null;

-- list_webhook_attempts --
-- Newest first; the page token holds the last (attempted_at, attempt_id) shown.
select * from webhook_attempts
 where (%(endpoint_id)s::uuid is null or endpoint_id = %(endpoint_id)s)
   and (%(event_id)s::uuid is null or event_id = %(event_id)s)
   and (%(before_at)s::timestamptz is null
        or (attempted_at, attempt_id) < (%(before_at)s::timestamptz, %(before_id)s::uuid))
 order by attempted_at desc, attempt_id desc
 limit %(limit)s;

-- prune_webhook_deliveries --
-- Deliveries done with (delivered or given up) before `before`, a batch at a time; SKIP LOCKED:
-- replicas pruning at once share the rows.
with doomed as (
    delete from webhook_deliveries
     where (endpoint_id, event_xid, event_seq) in (
           select endpoint_id, event_xid, event_seq from webhook_deliveries
            where coalesce(delivered_at, given_up_at) < %(before)s
            limit %(batch)s
              for update skip locked)
    returning 1)
select count(*) as pruned from doomed;

-- prune_webhook_attempts --
with doomed as (
    delete from webhook_attempts
     where attempt_id in (
           select attempt_id from webhook_attempts
            where attempted_at < %(before)s
            limit %(batch)s
              for update skip locked)
    returning 1)
select count(*) as pruned from doomed;
