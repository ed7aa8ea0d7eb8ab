"""Writes the parts of the docs that the code defines (the retry policies per platform, what a
post may be on each platform and its options) between their markers, so the text cannot drift
from the data.

Run `uv run python scripts/render_docs.py` after changing `uploader/policies.py` or
`queuelabs/posts.py`; with `--check`
it only reports whether the committed text is stale (exit 1). tests/test_docs.py runs the check.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a file, the product packages are not on the path

from queuelabs.platforms import MediaType, Platform  # noqa: E402
from queuelabs.posts import OPTIONS, RULES, Kind, Option  # noqa: E402
from uploader.policies import DEFAULT_POLICIES, RetryPolicy  # noqa: E402

# Names as the platforms write them; any other is capitalized.
SPELLED = {
    Platform.TIKTOK: "TikTok",
    Platform.YOUTUBE: "YouTube",
    Platform.LINKEDIN: "LinkedIn",
    Platform.X: "X",
}


def seconds(value: float) -> str:
    return f"{value:g} s"


def retry_policies() -> str:
    """The policy table: one row per distinct policy, its platforms in the table's order."""
    rows: dict[RetryPolicy, list[Platform]] = {}
    for platform, policy in DEFAULT_POLICIES.items():
        rows.setdefault(policy, []).append(platform)
    longest = max(len(policy.retry_delays) for policy in rows)
    steps = ", ".join(str(n) for n in range(1, longest + 1))
    lines = [
        f"| platform | waits before retries {steps} | async mode | read timeout "
        "| when retries run out |",
        "|---|---|---|---|---|",
    ]
    for policy, platforms in rows.items():
        names = ", ".join(spelled(p) for p in platforms)
        waits = ", ".join(seconds(d) for d in policy.retry_delays) or "none"
        lines.append(
            f"| {names} | {waits} | {'yes' if policy.async_upload else 'no'} "
            f"| {seconds(policy.read_timeout)} | {policy.when_exhausted.value} |"
        )
    return "\n".join(lines) + "\n"


def spelled(platform: Platform) -> str:
    return SPELLED.get(platform, platform.value.capitalize())


def post_rules() -> str:
    """What each platform takes: one row per platform."""
    lines = [
        "| platform | video | photos (at most) | videos inside a carousel | text "
        "| `first_comment` | `alt_text` | `title` |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for platform, rules in RULES.items():
        alt = "photos" if MediaType.PHOTO in rules.alt_text else "no"
        lines.append(
            f"| {spelled(platform)} | {'yes' if rules.video else 'no'} "
            f"| {rules.max_photos or 'none'} | {'yes' if rules.mixed else 'no'} "
            f"| {'yes' if rules.text else 'no'} | {'yes' if rules.first_comment else 'no'} "
            f"| {alt} | {'required' if rules.title_required else 'optional'} |"
        )
    return "\n".join(lines) + "\n"


POSTS = {MediaType.VIDEO: "video", MediaType.PHOTO: "photos", MediaType.TEXT: "text"}


def option_value(option: Option) -> str:
    """How an option's value reads, with its limits."""
    match option.kind:
        case Kind.ENUM:
            said = " / ".join(f"`{v}`" for v in option.values)
            narrower = [
                f"`{v}` {' or '.join(POSTS[k] for k in sorted(kinds))} only"
                for v, kinds in option.value_posts.items()
            ] + [f"`{v}` {n} item" for v, n in option.value_max_items.items()]
            return said + (f" ({'; '.join(narrower)})" if narrower else "")
        case Kind.BOOL:
            return "`true` / `false`"
        case Kind.INT:
            upper = " (below the number of items)" if option.below_items else ""
            return f"{option.minimum} to {option.maximum}{upper}"
        case Kind.URL:
            return "an http(s) URL"
        case Kind.TEXT:
            refused = f", without {' '.join(option.forbidden)}" if option.forbidden else ""
            return f"text, at most {option.max_len} characters{refused}"
        case Kind.ID:
            return option.what or f"an id, at most {option.max_len} characters"
        case Kind.LIST | Kind.CSV:
            each = option.what or f"at most {option.max_len} characters each"
            sent = (
                "the field repeated" if option.kind is Kind.LIST else "one field, joined by commas"
            )
            count = f"{option.min_items} to {option.max_items}"
            return f"{count} items ({each}); sent as {sent}"
    raise AssertionError(option.kind)


def post_options() -> str:
    """Every typed option: one row per field, platforms in the table's order."""
    lines = [
        "| option | Upload-Post field | value | posts |",
        "|---|---|---|---|",
    ]
    for platform, options in OPTIONS.items():
        for name, option in options.items():
            kinds = sorted(POSTS[k] for k in option.posts)
            posts = "all" if len(kinds) == len(POSTS) else ", ".join(kinds)
            notes = []
            if option.required:
                notes.append("required")
            if option.only_with is not None:
                wanted = " or ".join(option.only_with.values)
                notes.append(f"with `{option.only_with.option}`" + (f" {wanted}" if wanted else ""))
            said = f" ({'; '.join(notes)})" if notes else ""
            lines.append(
                f"| `{platform.value}.{name}` | `{option.wire}` | {option_value(option)} "
                f"| {posts}{said} |"
            )
    return "\n".join(lines) + "\n"


# block name -> (the file it lives in, what writes it)
BLOCKS: dict[str, tuple[Path, Callable[[], str]]] = {
    "retry-policies": (ROOT / "docs" / "how-it-works.md", retry_policies),
    "post-rules": (ROOT / "docs" / "posts.md", post_rules),
    "post-options": (ROOT / "docs" / "posts.md", post_options),
}


def block_pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- begin {re.escape(name)}: [^>]*-->\n)(.*?)(<!-- end {re.escape(name)} -->)",
        re.DOTALL,
    )


def rendered(name: str) -> tuple[str, str]:
    """The file's text as committed, and as it should read with the block written afresh."""
    path, render = BLOCKS[name]
    text = path.read_text()
    found = block_pattern(name).search(text)
    if found is None:
        raise SystemExit(f"{path.relative_to(ROOT)} lost the markers of its {name} block")
    fresh = text[: found.start(2)] + render() + text[found.end(2) :]
    return text, fresh


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only report stale text (exit 1)")
    args = parser.parse_args()
    stale = []
    for name, (path, _) in BLOCKS.items():
        text, fresh = rendered(name)
        if text != fresh:
            stale.append(f"{path.relative_to(ROOT)} ({name})")
            if not args.check:
                path.write_text(fresh)
    if stale and args.check:
        print("stale, run `uv run python scripts/render_docs.py`: " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
