"""The sandbox checks posting forms as the real API does, from its own literal table (never our
validator's): which endpoint each platform takes, item counts, mixed carousels, required fields,
enumerated and boolean values; a field sent twice is refused; `scheduled_date` goes to Upload-
Post's own scheduler (202, counted); each form is kept, fields in order, for tests to read.

The expected verdicts below are literals from Upload-Post's documentation (the issue's table),
written here by hand, not read from sandbox/forms.py."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from sandbox import forms
from sandbox.server import RunningSandbox, start_sandbox

KEY = "sandbox-forms-key"
VIDEO, PHOTOS, TEXT = "/upload", "/upload_photos", "/upload_text"
CLIP = "https://cdn.example.com/clip.mp4"


def jpg(n: int) -> str:
    return f"https://cdn.example.com/p{n}.jpg"


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    running = await start_sandbox("127.0.0.1", 0, KEY)
    try:
        yield running
    finally:
        await running.stop()


async def post(sandbox: RunningSandbox, path: str, fields: list[tuple[str, str]]) -> httpx.Response:
    """A multipart form, fields in the given order (a list field repeated)."""
    async with httpx.AsyncClient(
        base_url=sandbox.base_url, headers={"Authorization": f"Apikey {KEY}"}
    ) as http:
        return await http.post(path, files=[(name, (None, value)) for name, value in fields])


def form(platform: str, *extra: tuple[str, str], title: str = "a title") -> list[tuple[str, str]]:
    base = [("user", "ana"), ("platform[]", platform)]
    return base + ([("title", title)] if title else []) + list(extra)


def vid(platform: str, *extra: tuple[str, str], title: str = "a title") -> list[tuple[str, str]]:
    return form(platform, ("video", CLIP), *extra, title=title)


def photos(count: int, *videos_at: int) -> list[tuple[str, str]]:
    return [("photos[]", CLIP if i in videos_at else jpg(i)) for i in range(count)]


SUBREDDIT = ("subreddit", "python")
ALT = ("alt_text", "a")

# (case, path, form, the field a refusal names; None: accepted)
CASES = [
    # Which endpoint each platform takes.
    ("tiktok video", VIDEO, vid("tiktok"), None),
    ("tiktok 35 photos", PHOTOS, form("tiktok", *photos(35)), None),
    ("tiktok 36 photos", PHOTOS, form("tiktok", *photos(36)), "photos[]"),
    ("tiktok text", TEXT, form("tiktok"), "platform[]"),
    ("instagram text", TEXT, form("instagram"), "platform[]"),
    ("youtube text", TEXT, form("youtube"), "platform[]"),
    ("pinterest text", TEXT, form("pinterest"), "platform[]"),
    ("youtube photos", PHOTOS, form("youtube", *photos(1)), "photos[]"),
    ("youtube without a title", VIDEO, vid("youtube", title=""), "title"),
    ("facebook text", TEXT, form("facebook"), None),
    ("linkedin 20 photos", PHOTOS, form("linkedin", *photos(20)), None),
    ("linkedin 21 photos", PHOTOS, form("linkedin", *photos(21)), "photos[]"),
    ("x 4 photos", PHOTOS, form("x", *photos(4)), None),
    ("x 5 photos", PHOTOS, form("x", *photos(5)), "photos[]"),
    ("pinterest 6 photos", PHOTOS, form("pinterest", *photos(6)), "photos[]"),
    ("bluesky 4 photos", PHOTOS, form("bluesky", *photos(4)), None),
    ("bluesky 5 photos", PHOTOS, form("bluesky", *photos(5)), "photos[]"),
    ("bluesky text", TEXT, form("bluesky"), None),
    ("text without a title", TEXT, form("x", title=""), "title"),
    ("text with a video", TEXT, vid("x"), "video"),
    ("video without its url", VIDEO, form("x"), "video"),
    ("photos without any", PHOTOS, form("x"), "photos[]"),
    # Videos mixed into a carousel: Instagram and Threads only.
    ("instagram mixed", PHOTOS, form("instagram", *photos(3, 1)), None),
    ("threads mixed", PHOTOS, form("threads", *photos(2, 0)), None),
    ("tiktok mixed", PHOTOS, form("tiktok", *photos(3, 2)), "photos[]"),
    ("x mixed", PHOTOS, form("x", *photos(2, 1)), "photos[]"),
    # Reddit: a title and a subreddit, one photo at most.
    ("reddit text", TEXT, form("reddit", SUBREDDIT), None),
    ("reddit without a subreddit", TEXT, form("reddit"), "subreddit"),
    ("reddit video without a title", VIDEO, vid("reddit", SUBREDDIT, title=""), "title"),
    ("reddit r/ subreddit", TEXT, form("reddit", ("subreddit", "r/python")), "subreddit"),
    ("reddit 2 photos", PHOTOS, form("reddit", *photos(2), SUBREDDIT), "photos[]"),
    # First comments and alt text where offered.
    ("tiktok first comment", VIDEO, vid("tiktok", ("first_comment", "hi")), "first_comment"),
    ("youtube first comment", VIDEO, vid("youtube", ("first_comment", "hi")), None),
    ("x photo alt text", PHOTOS, form("x", *photos(1), ("alt_text", "a cat")), None),
    ("x video alt text", VIDEO, vid("x", ("alt_text", "a cat")), "alt_text"),
    ("reddit alt text", PHOTOS, form("reddit", *photos(1), SUBREDDIT, ALT), "alt_text"),
    # Enumerated option values, booleans, whole numbers, list sizes.
    ("privacy_level ok", VIDEO, vid("tiktok", ("privacy_level", "SELF_ONLY")), None),
    ("privacy_level bad", VIDEO, vid("tiktok", ("privacy_level", "public")), "privacy_level"),
    ("post_mode bad", VIDEO, vid("tiktok", ("post_mode", "DRAFT")), "post_mode"),
    ("media_type bad", VIDEO, vid("instagram", ("media_type", "REEL")), "media_type"),
    ("privacyStatus PUBLIC", VIDEO, vid("youtube", ("privacyStatus", "PUBLIC")), "privacyStatus"),
    ("facebook type", TEXT, form("facebook", ("facebook_media_type", "X")), "facebook_media_type"),
    ("video_state bad", VIDEO, vid("facebook", ("video_state", "LIVE")), "video_state"),
    ("visibility bad", TEXT, form("linkedin", ("visibility", "public")), "visibility"),
    ("reply_settings ok", TEXT, form("x", ("reply_settings", "mentionedUsers")), None),
    ("reply_settings bad", TEXT, form("x", ("reply_settings", "nobody")), "reply_settings"),
    ("boolean True", VIDEO, vid("tiktok", ("disable_duet", "True")), "disable_duet"),
    ("boolean 1", VIDEO, vid("youtube", ("embeddable", "1")), "embeddable"),
    ("async_upload yes", VIDEO, vid("tiktok", ("async_upload", "yes")), "async_upload"),
    ("cover_timestamp 1.5", VIDEO, vid("tiktok", ("cover_timestamp", "1.5")), "cover_timestamp"),
    ("poll of 1", TEXT, form("x", ("poll_options[]", "a")), "poll_options[]"),
    ("poll of 4", TEXT, form("x", *[("poll_options[]", c) for c in "abcd"]), None),
    ("poll of 5", TEXT, form("x", *[("poll_options[]", c) for c in "abcde"]), "poll_options[]"),
    ("tags repeated", VIDEO, vid("youtube", ("tags[]", "a"), ("tags[]", "b")), None),
    # A single-valued field twice (stricter than the real API, to catch a duplicate of ours).
    ("two users", VIDEO, [("user", "ana"), *vid("tiktok")], "user"),
    ("two titles", VIDEO, vid("tiktok", ("title", "again")), "title"),
    ("two videos", VIDEO, vid("tiktok", ("video", CLIP)), "video"),
    ("two privacies", VIDEO, vid("tiktok", *[("privacy_level", "SELF_ONLY")] * 2), "privacy_level"),
    # The platforms themselves.
    ("no user", VIDEO, [("platform[]", "x"), ("video", CLIP)], "user"),
    ("unknown platform", VIDEO, vid("myspace"), "platform[]"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "fields", "named"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_a_form_is_checked_as_the_real_api_checks_it(sandbox, path, fields, named):
    answer = await post(sandbox, path, fields)
    if named is None:
        assert answer.status_code == 200, answer.text
        assert answer.json()["success"] is True
        assert len(sandbox.state.publications) == 1
        return
    assert answer.status_code == 400
    body = answer.json()
    assert body["success"] is False
    assert body["message"].startswith(f"{named}: "), body["message"]
    assert sandbox.state.publications == []  # a refused form publishes nothing


async def test_scheduled_date_goes_to_upload_posts_own_scheduler_and_is_counted(sandbox):
    fields = vid("tiktok", ("scheduled_date", "2026-12-24T10:00:00Z"))
    answer = await post(sandbox, VIDEO, fields)
    assert answer.status_code == 202
    body = answer.json()
    assert body["success"] is True
    assert body["job_id"]
    assert body["scheduled_date"] == "2026-12-24T10:00:00Z"
    queued = await post(sandbox, VIDEO, vid("x", ("add_to_queue", "true")))
    assert queued.status_code == 202
    assert sandbox.state.publications == []  # posted "later": never, here
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sandbox.port}") as http:
        received = (await http.get("/_sandbox/received")).json()
    assert received["scheduled"] == 2


async def test_every_form_is_kept_with_its_fields_in_order_and_its_answer(sandbox):
    first = form("instagram", *photos(3, 1), ("alt_text", "three"))
    await post(sandbox, PHOTOS, first)
    await post(sandbox, TEXT, form("tiktok"))  # refused: TikTok takes no text
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{sandbox.port}") as http:
        received = (await http.get("/_sandbox/received")).json()
    assert received == {
        "forms": [
            {"path": "/api/upload_photos", "fields": [list(f) for f in first], "status": 200},
            {
                "path": "/api/upload_text",
                "fields": [list(f) for f in form("tiktok")],
                "status": 400,
            },
        ],
        "scheduled": 0,
    }
    assert KEY not in str(received)  # no header is kept: the key stays out


async def test_the_history_and_the_status_name_the_platforms_post_id(sandbox):
    answer = await post(sandbox, TEXT, form("bluesky", ("request_id", "r-1")))
    post_id = answer.json()["results"]["bluesky"]["post_id"]
    async with httpx.AsyncClient(
        base_url=sandbox.base_url, headers={"Authorization": f"Apikey {KEY}"}
    ) as http:
        status = (await http.get("/uploadposts/status", params={"request_id": "r-1"})).json()
        history = (await http.get("/uploadposts/history", params={"request_id": "r-1"})).json()
    assert post_id
    assert status["results"][0]["platform_post_id"] == post_id
    assert history["history"][0]["platform_post_id"] == post_id


def imports_of(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def test_the_sandboxs_table_is_its_own_not_our_validators():
    """It stands in for Upload-Post: were it to read queuelabs/posts.py, a rule wrong in our
    validator would be wrong in the sandbox too, and no test would see it."""
    assert not {name for name in imports_of(Path(forms.__file__)) if "queuelabs" in name}
    for module in Path(forms.__file__).parent.glob("*.py"):
        assert "queuelabs.posts" not in imports_of(module), module.name
