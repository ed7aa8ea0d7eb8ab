-- What an operator is told of why contents wait (uploader/waiting.py decides; these read the
-- facts). Each statement reads for a whole page of contents at once: the accounts of the page
-- come as two arrays, `profile_ids` and `platforms`, the n-th of each naming one account.

-- paused_among --
-- Read for every content in line: a pause holds the claims that look as well as the one that
-- publishes.
select k.profile_id, k.platform, k.paused_at, k.paused_by, k.reason
  from paused_keys k
  join unnest(%(profile_ids)s::uuid[], %(platforms)s::text[]) as a(profile_id, platform)
    on a.profile_id = k.profile_id and a.platform = k.platform;

-- held_among --
-- Only accounts something holds back (the partial index accounts_held).
select h.profile_id, h.platform, h.reconnect_since, h.reconnect_reason, h.capped_until,
       h.cap_reason
  from accounts h
  join unnest(%(profile_ids)s::uuid[], %(platforms)s::text[]) as a(profile_id, platform)
    on a.profile_id = h.profile_id and a.platform = h.platform
 where h.reconnect_since is not null or h.capped_until is not null;

-- sending_among --
-- The accounts with a content being sent now: a claim sends one at a time per account.
select distinct c.profile_id, c.platform
  from contents c
  join unnest(%(profile_ids)s::uuid[], %(platforms)s::text[]) as a(profile_id, platform)
    on a.profile_id = c.profile_id and a.platform = c.platform
 where c.status = {sending};

-- posts_of_users --
-- Each profile's Upload-Post user and the times of that user's posts in the window the claim
-- counts (claim_to_publish), oldest first: the user's rate frees up as they leave it.
select p.profile_id, p.upload_post_user,
       array(select r.sent_at from upload_post_requests r
              where r.kind = {post} and r.upload_post_user = p.upload_post_user
                and r.sent_at > %(window_start)s
              order by r.sent_at) as posts
  from profiles p
 where p.profile_id = any(%(profile_ids)s::uuid[]);

-- budget_seen --
-- The shared budget as budget_state reads it, without its lock (a look, nothing is spent), and
-- the reason Upload-Post gave for its pause.
select (select count(*) from upload_post_requests where sent_at > %(window_start)s) as sent,
       (select min(sent_at) from upload_post_requests where sent_at > %(window_start)s)
           as oldest,
       (select blocked_until from upload_post_pause) as blocked_until,
       (select reason from upload_post_pause) as blocked_reason;
