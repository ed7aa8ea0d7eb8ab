"""The platforms Upload-Post publishes to, by the names its API uses in `platform[]`.

A new platform is four edits, and tests/test_platforms.py fails until all four agree: its
`PLATFORM_<NAME>` in protos/queuelabs/allocator/v1/allocator.proto (then
`uv run python scripts/codegen.py`), a member here, its row in uploader/policies.py, and a
migration adding it to the `platform` CHECK constraints of `schedules` and `contents`.
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
