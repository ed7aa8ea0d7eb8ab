"""The platforms Upload-Post publishes to, by the names its API uses in `platform[]`.

A new platform is six edits, and tests/test_platforms.py, tests/test_policies.py and
tests/test_post_rules.py fail until they agree: its `PLATFORM_<NAME>` and its `<Name>Options`
message in Content's `options` oneof in protos/queuelabs/allocator/v1/allocator.proto (then
`uv run python scripts/codegen.py`), a member here, its row in uploader/policies.py, its rows in
`RULES` and `OPTIONS` of queuelabs/posts.py (what a post may be there, and its options), a
migration adding it to the `platform` CHECK constraints of `schedules` and `contents`, and its
row in the sandbox's own table (sandbox/forms.py: the stand-in for the real API).
"""

from __future__ import annotations

from enum import StrEnum


class Platform(StrEnum):
    TIKTOK = "tiktok"
    INSTAGRAM = "instagram"
    YOUTUBE = "youtube"
    FACEBOOK = "facebook"
    LINKEDIN = "linkedin"
    X = "x"
    THREADS = "threads"
    PINTEREST = "pinterest"
    REDDIT = "reddit"
    BLUESKY = "bluesky"


class MediaType(StrEnum):
    VIDEO = "video"
    PHOTO = "photo"
    TEXT = "text"
