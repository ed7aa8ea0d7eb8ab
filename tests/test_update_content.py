"""GetContent and UpdateContent on a real Allocator (and, for the race with publishing, a real
Uploader and the Upload-Post sandbox): what is stored is what is read back, an edit changes only
the fields its mask names, is checked as a whole, is told as `content.updated` once, is
idempotent, needs the revision the caller expected, and never lands after a try was made."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask
from psycopg.rows import dict_row

from allocator.convert import content_in
from queuelabs import posts
from queuelabs.allocator.v1 import allocator_pb2 as pb
from queuelabs.fields import PLATFORM_TO_PB
from queuelabs.platforms import Platform
from queuelabs.status import error_info
from queuelabs.uploader.v1 import uploader_pb2 as upb
from tests.support.calls import assign, make_profile, video
from tests.support.stack import running_stack, settled
from tests.test_post_rules import every_option_set
from uploader.convert import event_out
from uploader.domain import StoredEvent


def update(
    content: pb.Content, paths: list[str] | None = None, expected_revision: int = 0
) -> pb.UpdateContentRequest:
    return pb.UpdateContentRequest(
        content=content,
        update_mask=FieldMask(paths=paths or []),
        expected_revision=expected_revision,
    )


def events_of(db, content_id: str) -> list[tuple[str, Any]]:
    return db.execute(
        "select type, data from events where content_id = %s order by xid, seq", (content_id,)
    ).fetchall()


async def a_tiktok_video(allocator, **fields: Any) -> tuple[str, pb.Content]:
    profile_id = await make_profile(allocator)
    content = video(title="old title")
    for name, value in fields.items():
        setattr(content, name, value)
    await assign(allocator, profile_id, content)
    return profile_id, content


@pytest.mark.parametrize("platform", list(Platform), ids=[p.value for p in Platform])
async def test_every_platforms_typed_options_are_stored_as_wire_and_read_back_typed(
    allocator, db, platform
):
    profile_id = await make_profile(allocator, platform=PLATFORM_TO_PB[platform])
    sent = every_option_set(platform)
    sent.content_id = str(uuid.uuid4())
    await assign(allocator, profile_id, sent, platform=PLATFORM_TO_PB[platform])

    got = await allocator.GetContent(pb.GetContentRequest(content_id=sent.content_id))
    member = platform.value
    assert got.WhichOneof("options") == member
    assert getattr(got, member) == getattr(sent, member)
    assert dict(got.platform_options) == {}
    assert (got.title, got.media_type, got.revision) == (sent.title, sent.media_type, 1)
    assert list(got.media) == (
        [pb.MediaItem(url=sent.media_url, type=pb.MEDIA_TYPE_VIDEO)] if sent.media_url else []
    )
    assert got.media_url == sent.media_url
    assert got.HasField("update_time")
    # Stored in Upload-Post's own form: field names as sent, lists as arrays.
    [(stored, media)] = db.execute(
        "select platform_options, media from contents where content_id = %s", (sent.content_id,)
    ).fetchall()
    assert stored == content_in(sent, "content", platform).platform_options
    assert set(stored) <= {option.wire for option in posts.OPTIONS[platform].values()}
    assert all(isinstance(v, list) == k.endswith("[]") for k, v in stored.items())
    assert media == ([{"url": sent.media_url, "type": "video"}] if sent.media_url else [])


async def test_a_carousel_and_the_common_fields_come_back_as_sent(allocator, db):
    profile_id = await make_profile(allocator, platform=pb.PLATFORM_INSTAGRAM)
    items = [
        pb.MediaItem(url="https://cdn.example.com/1.jpg", type=pb.MEDIA_TYPE_PHOTO),
        pb.MediaItem(url="https://cdn.example.com/2.mp4", type=pb.MEDIA_TYPE_VIDEO),
        pb.MediaItem(url="https://cdn.example.com/3.jpg", type=pb.MEDIA_TYPE_PHOTO),
    ]
    sent = pb.Content(
        content_id=str(uuid.uuid4()),
        media=items,
        title="three",
        first_comment="#tags",
        alt_text="a cat, a dog and a bird",
    )
    await assign(allocator, profile_id, sent, platform=pb.PLATFORM_INSTAGRAM)
    got = await allocator.GetContent(pb.GetContentRequest(content_id=sent.content_id))
    assert list(got.media) == items
    assert got.media_type == pb.MEDIA_TYPE_PHOTO  # left unset: several items are a PHOTO post
    assert got.media_url == ""  # several items: no one URL says the post
    assert (got.first_comment, got.alt_text) == ("#tags", "a cat, a dog and a bird")
    # A retried AssignNext of the same content is the same assignment.
    again = await assign(allocator, profile_id, sent, platform=pb.PLATFORM_INSTAGRAM)
    assert again.content_id == sent.content_id
    assert db.execute("select count(*) from contents").fetchone() == (1,)


@pytest.mark.parametrize("several", [False, True], ids=["one item", "a carousel"])
async def test_what_get_content_answers_can_be_sent_back_changed_as_a_whole(allocator, several):
    """Read, change, write: the answer of GetContent (output-only fields dropped) is a valid
    whole-content UpdateContent, the one item's echoed media_url included."""
    profile_id = await make_profile(allocator, platform=pb.PLATFORM_INSTAGRAM)
    items = [pb.MediaItem(url="https://cdn.example.com/1.jpg", type=pb.MEDIA_TYPE_PHOTO)]
    if several:
        items.append(pb.MediaItem(url="https://cdn.example.com/2.jpg", type=pb.MEDIA_TYPE_PHOTO))
    sent = pb.Content(
        content_id=str(uuid.uuid4()),
        media=items,
        title="before",
        instagram=pb.InstagramOptions(location_id="213385402"),
    )
    await assign(allocator, profile_id, sent, platform=pb.PLATFORM_INSTAGRAM)
    read = await allocator.GetContent(pb.GetContentRequest(content_id=sent.content_id))
    assert read.media_url == ("" if several else items[0].url)
    read.title = "after"
    read.ClearField("revision")
    read.ClearField("update_time")
    changed = await allocator.UpdateContent(pb.UpdateContentRequest(content=read))
    assert (changed.title, changed.revision, list(changed.media)) == ("after", 2, items)
    assert changed.instagram.location_id == "213385402"


async def test_an_old_rows_keys_the_typed_message_cannot_hold_stay_in_the_map(allocator, db):
    _, content = await a_tiktok_video(allocator)
    db.execute(
        "update contents set platform_options = %s where content_id = %s",
        ('{"privacy_level": "SELF_ONLY", "scheduled_date": "2027-01-01"}', content.content_id),
    )
    got = await allocator.GetContent(pb.GetContentRequest(content_id=content.content_id))
    assert got.tiktok == pb.TikTokOptions(privacy_level=pb.TIK_TOK_PRIVACY_LEVEL_SELF_ONLY)
    assert dict(got.platform_options) == {"scheduled_date": "2027-01-01"}


async def test_an_edit_changes_what_its_mask_names_once_with_one_event(allocator, db):
    _, content = await a_tiktok_video(allocator, description="the caption")
    edit = pb.Content(content_id=content.content_id, title="new title", description="ignored")
    changed = await allocator.UpdateContent(update(edit, ["title"]))
    assert (changed.title, changed.description, changed.revision) == (
        "new title",
        "the caption",
        2,
    )
    assert changed.tiktok == pb.TikTokOptions(
        privacy_level=pb.TIK_TOK_PRIVACY_LEVEL_PUBLIC_TO_EVERYONE
    )
    got = await allocator.GetContent(pb.GetContentRequest(content_id=content.content_id))
    assert got == changed
    assert [t for t, _ in events_of(db, content.content_id)] == [
        "content.assigned",
        "content.updated",
    ]
    assert events_of(db, content.content_id)[-1][1] == {"fields": ["title"], "revision": 2}

    # The same change again (a retry, even naming the revision it was made from): OK, as is.
    again = await allocator.UpdateContent(update(edit, ["title"], expected_revision=1))
    assert again == changed
    assert len(events_of(db, content.content_id)) == 2

    # A stale revision with a real change: ABORTED, naming the current one.
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await allocator.UpdateContent(
            update(pb.Content(content_id=content.content_id, title="x"), ["title"], 1)
        )
    assert refused.value.code() == grpc.StatusCode.ABORTED
    assert "is at revision 2, not 1" in refused.value.details()
    info = error_info(refused.value)
    assert info is not None
    assert info.reason == "REVISION_MISMATCH"

    # The current revision: the change goes through; an empty mask replaces everything.
    whole = pb.Content(
        content_id=content.content_id,
        media=[
            pb.MediaItem(url="https://cdn.example.com/a.jpg", type=pb.MEDIA_TYPE_PHOTO),
            pb.MediaItem(url="https://cdn.example.com/b.jpg", type=pb.MEDIA_TYPE_PHOTO),
        ],
        title="a carousel",
        tiktok=pb.TikTokOptions(photo_cover_index=1, auto_add_music=True),
    )
    replaced = await allocator.UpdateContent(update(whole, expected_revision=2))
    assert replaced.revision == 3
    assert (replaced.media_type, replaced.description, replaced.title) == (
        pb.MEDIA_TYPE_PHOTO,
        "",
        "a carousel",
    )
    assert replaced.tiktok == whole.tiktok
    assert events_of(db, content.content_id)[-1][1] == {
        "fields": ["title", "description", "media", "options"],
        "revision": 3,
    }
    [(media_url, options)] = db.execute(
        "select media_url, platform_options from contents where content_id = %s",
        (content.content_id,),
    ).fetchall()
    assert media_url == "https://cdn.example.com/a.jpg"
    assert options == {"photo_cover_index": "1", "auto_add_music": "true"}


async def test_an_edit_is_checked_as_a_whole_for_the_contents_platform(allocator, db):
    _, content = await a_tiktok_video(allocator)
    cases = [
        # the stored options (privacy_level) hold; the new media is a TikTok photo post, but
        # the old video's option cannot follow it
        (
            pb.Content(content_id=content.content_id, tiktok=pb.TikTokOptions(disable_duet=True)),
            ["options"],
            None,
        ),
        (
            pb.Content(
                content_id=content.content_id,
                media=[pb.MediaItem(url="https://cdn.example.com/a.jpg", type=pb.MEDIA_TYPE_PHOTO)],
            ),
            ["media"],
            "content.tiktok.disable_duet: is for video posts only",
        ),
        (
            pb.Content(content_id=content.content_id, media_type=pb.MEDIA_TYPE_TEXT),
            ["media"],
            "content.media_type: tiktok takes no TEXT posts",
        ),
        (
            pb.Content(content_id=content.content_id, x=pb.XOptions(community_id="1")),
            ["options"],
            "content.x: is set on a tiktok content",
        ),
        (
            pb.Content(content_id=content.content_id, platform_options={"timezone": "UTC"}),
            ["platform_options"],
            "the Allocator's slots do the scheduling",
        ),
        (
            pb.Content(content_id=content.content_id, first_comment="hi"),
            ["first_comment"],
            "content.first_comment: tiktok offers no first comment",
        ),
        (pb.Content(content_id=content.content_id), ["slot"], "update_mask.paths[0]: 'slot'"),
        (pb.Content(content_id="nope"), ["title"], "content.content_id"),
    ]
    for edit, paths, refusal in cases:
        if refusal is None:
            assert (await allocator.UpdateContent(update(edit, paths))).revision == 2
            continue
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await allocator.UpdateContent(update(edit, paths))
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT, refusal
        assert refusal in refused.value.details()
    [(revision,)] = db.execute(
        "select revision from contents where content_id = %s", (content.content_id,)
    ).fetchall()
    assert revision == 2


@pytest.mark.parametrize("state", ["uploading", "retry_pending", "processing", "uploaded"])
async def test_a_content_a_try_was_made_for_is_not_edited(allocator, db, state):
    _, content = await a_tiktok_video(allocator)
    db.execute("update contents set status = %s where content_id = %s", (state, content.content_id))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await allocator.UpdateContent(
            update(pb.Content(content_id=content.content_id, title="new"), ["title"])
        )
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f"content {content.content_id} is {state}; UpdateContent needs one of" in (
        refused.value.details()
    )
    info = error_info(refused.value)
    assert info is not None
    assert (info.reason, info.metadata["state"]) == ("WRONG_STATE", state)
    got = await allocator.GetContent(pb.GetContentRequest(content_id=content.content_id))
    assert (got.title, got.revision) == ("old title", 1)
    assert len(events_of(db, content.content_id)) == 1


async def test_a_content_awaiting_a_slot_is_edited(allocator, db):
    _, content = await a_tiktok_video(allocator)
    db.execute(
        "update contents set status = 'awaiting_slot' where content_id = %s",
        (content.content_id,),
    )
    edit = pb.Content(content_id=content.content_id, title="new")
    assert (await allocator.UpdateContent(update(edit, ["title"]))).revision == 2


async def test_an_unknown_content_is_not_found(allocator):
    missing = str(uuid.uuid4())
    for call in (
        allocator.GetContent(pb.GetContentRequest(content_id=missing)),
        allocator.UpdateContent(update(pb.Content(content_id=missing, title="t"), ["title"])),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
        assert missing in refused.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await allocator.GetContent(pb.GetContentRequest(content_id=""))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith("content_id:")


# The race with publishing

CONTENTS = 24
MAX_EDITS = 2000


async def test_an_edit_racing_the_upload_lands_before_the_try_or_is_refused(database_url):
    """Each content is edited again and again, each edit a new title, while UploadNow sends it:
    the title Upload-Post gets is the one of the last edit answered OK (the old one if none
    was), and every edit after that is refused FAILED_PRECONDITION. An edit answered OK after
    the Uploader's claim had read the post would be lost without a word."""
    # Nothing is due until UploadNow makes it so (the Uploader's clock is the Allocator's).
    async with running_stack(database_url, ahead=timedelta(0), daily_caps={}) as stack:
        profile_id = await make_profile(stack.allocator)
        ids = []
        for i in range(CONTENTS):
            content = video(title=f"old {i}")
            await assign(stack.allocator, profile_id, content)
            ids.append(content.content_id)

        async def edits(i: int) -> str:
            """Edits content i until refused; the title of its last edit answered OK."""
            last = f"old {i}"
            for n in range(MAX_EDITS):
                title = f"new {i}.{n}"
                request = update(pb.Content(content_id=ids[i], title=title), ["title"])
                try:
                    await stack.allocator.UpdateContent(request)
                except grpc.aio.AioRpcError as refused:
                    codes[refused.code()] += 1
                    return last
                last = title
            raise AssertionError(f"content {i} was edited {MAX_EDITS} times and never sent")

        async def upload_now(i: int) -> None:
            await asyncio.sleep(0.01 * i)  # real: spreads the claims over the edits' stream
            await stack.uploader.UploadNow(upb.UploadNowRequest(content_id=ids[i]))

        codes: Counter[grpc.StatusCode] = Counter()
        answers = await asyncio.gather(
            *(edits(i) for i in range(CONTENTS)), *(upload_now(i) for i in range(CONTENTS))
        )
        for content_id in ids:
            assert (await settled(stack, content_id)).state == upb.UPLOAD_STATE_UPLOADED
        sent = {p.idempotency_key.split(":")[1]: p.title for p in stack.sandbox.state.publications}
        lost = [
            (last_ok, sent[content_id])
            for content_id, last_ok in zip(ids, answers[:CONTENTS], strict=True)
            if sent[content_id] != last_ok
        ]
        assert not lost, f"edits answered OK but not sent (answered, sent): {lost}"
        assert codes == Counter({grpc.StatusCode.FAILED_PRECONDITION: CONTENTS})


async def test_the_update_is_told_to_watchers_as_content_updated(allocator, db):
    _, content = await a_tiktok_video(allocator)
    edit = pb.Content(content_id=content.content_id, title="new", description="words")
    await allocator.UpdateContent(update(edit, ["description", "title"]))
    with db.cursor(row_factory=dict_row) as cur:
        [row] = cur.execute(
            "select * from events where content_id = %s and type = 'content.updated'",
            (content.content_id,),
        ).fetchall()
    event = event_out(StoredEvent.from_row(row))
    assert event.type == "content.updated"
    assert event.WhichOneof("data") == "content_updated"
    assert event.content_updated == upb.ContentUpdated(fields=["title", "description"], revision=2)
    assert (event.content_id, event.platform) == (content.content_id, pb.PLATFORM_TIKTOK)
