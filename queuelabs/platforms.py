"""The platforms Upload-Post publishes to, by the names its API uses in `platform[]`."""

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


class MediaType(StrEnum):
    VIDEO = "video"
    PHOTO = "photo"
    TEXT = "text"
