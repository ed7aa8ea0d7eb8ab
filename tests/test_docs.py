"""The docs say what the code does: the lifecycle diagram is the lifecycle table, the retry table
is the policies, the settings and the error reasons are the ones the code reads and gives, every
relative link and anchor leads somewhere, and the README keeps the commands CI runs."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import pytest

from queuelabs.lifecycle import FINAL, TRANSITIONS, ContentState, Event
from queuelabs.platforms import Platform
from uploader.policies import RetryPolicy, WhenExhausted

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]


def render_docs() -> ModuleType:
    """scripts/render_docs.py, loaded afresh (it is a script, not a package module)."""
    spec = importlib.util.spec_from_file_location("render_docs", ROOT / "scripts/render_docs.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the lifecycle diagram ---------------------------------------------------------------------

Move = tuple[str, str, str]  # (from state, event, to state)


def diagram() -> list[tuple[str, str, str]]:
    """The README's mermaid arrows: (from, label, to), `[*]` for the start and the end."""
    section = README.read_text().split("## The content lifecycle", 1)[1]
    block = re.search(r"```mermaid\n(.*?)```", section, re.DOTALL)
    assert block, "the README lost its lifecycle diagram"
    arrows = []
    for line in block.group(1).splitlines()[1:]:  # the first line names the diagram's kind
        arrow = re.fullmatch(r"\s*(\S+) --> (\S+?)(?:: (.*))?", line)
        assert arrow, f"not an arrow: {line!r}"
        arrows.append((arrow.group(1), arrow.group(3) or "", arrow.group(2)))
    return arrows


def drawn_moves() -> set[Move]:
    """Each arrow between states, once per event its label names before any parenthesis."""
    moves = set()
    for source, label, to in diagram():
        if "[*]" in (source, to):
            continue
        for event in label.split(" (", 1)[0].split(" / "):
            moves.add((source, event, to))
    return moves


def coded_moves() -> set[Move]:
    return {
        (source.value, event.value, to.value)
        for event, (sources, to) in TRANSITIONS.items()
        for source in sources
    }


def test_the_lifecycle_diagram_draws_exactly_the_moves_of_the_lifecycle_table():
    drawn, coded = drawn_moves(), coded_moves()
    unknown = {event for _, event, _ in drawn} - {e.value for e in Event}
    assert not unknown, f"arrows named by no event of queuelabs/lifecycle.py: {sorted(unknown)}"
    assert not coded - drawn, f"the README's diagram lacks: {sorted(coded - drawn)}"
    assert not drawn - coded, f"the README's diagram draws moves the code forbids: {drawn - coded}"


def test_the_lifecycle_diagram_names_every_state_and_ends_only_in_the_final_ones():
    arrows = diagram()
    named = {state for source, _, to in arrows for state in (source, to)} - {"[*]"}
    assert named == {s.value for s in ContentState}
    ends = {source for source, _, to in arrows if to == "[*]"}
    assert ends == {s.value for s in FINAL}
    starts = {to for source, _, to in arrows if source == "[*]"}
    assert starts == {ContentState.SCHEDULED.value}  # the Allocator's insert, no event


def test_the_diagram_check_sees_a_move_added_to_or_dropped_from_the_table(monkeypatch):
    sources, to = TRANSITIONS[Event.FAIL]
    monkeypatch.setitem(TRANSITIONS, Event.FAIL, (sources | {ContentState.RETRY_PENDING}, to))
    with pytest.raises(AssertionError, match="lacks"):
        test_the_lifecycle_diagram_draws_exactly_the_moves_of_the_lifecycle_table()
    monkeypatch.setitem(TRANSITIONS, Event.FAIL, (sources - {ContentState.UPLOADING}, to))
    with pytest.raises(AssertionError, match="forbids"):
        test_the_lifecycle_diagram_draws_exactly_the_moves_of_the_lifecycle_table()


# --- the retry table ---------------------------------------------------------------------------


def test_the_retry_table_is_the_one_the_policies_write():
    script = render_docs()
    for name in script.BLOCKS:
        text, fresh = script.rendered(name)
        assert text == fresh, (
            f"the {name} block is stale: run `uv run python scripts/render_docs.py`"
        )


def test_the_retry_table_has_a_row_per_distinct_policy_naming_its_platforms(monkeypatch):
    script = render_docs()
    slow = RetryPolicy((30, 60, 120), async_upload=True, read_timeout=60)
    quick = RetryPolicy((15, 60, 600.5), async_upload=False, read_timeout=90)
    policies = {
        Platform.TIKTOK: quick,
        Platform.INSTAGRAM: slow,
        Platform.X: quick,
        Platform.THREADS: replace(quick, when_exhausted=WhenExhausted.FAIL, retry_delays=(5,)),
    }
    monkeypatch.setattr(script, "DEFAULT_POLICIES", policies)
    assert script.retry_policies().splitlines()[2:] == [
        "| TikTok, X | 15 s, 60 s, 600.5 s | no | 90 s | reschedule |",
        "| Instagram | 30 s, 60 s, 120 s | yes | 60 s | reschedule |",
        "| Threads | 5 s | no | 90 s | fail |",
    ]


# --- links ---------------------------------------------------------------------------------------

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def without_code(text: str) -> str:
    """The text with fenced blocks and inline code taken out: links there are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.DOTALL | re.MULTILINE)
    return re.sub(r"`[^`\n]*`", "", text)


def anchors(page: Path) -> set[str]:
    """The anchors GitHub gives the page's headings (lower case, punctuation gone, spaces to -)."""
    found: set[str] = set()
    for line in without_code(page.read_text()).splitlines():
        heading = re.match(r"#{1,6} (.*)", line)
        if heading:
            slug = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower()).replace(" ", "-")
            base, n = slug, 1
            while slug in found:  # a repeated heading gets -1, -2, ...
                slug, n = f"{base}-{n}", n + 1
            found.add(slug)
    return found


def relative_links(page: Path) -> list[str]:
    return [
        target
        for target in LINK.findall(without_code(page.read_text()))
        if not re.match(r"[a-z]+:", target)  # http:, https:, mailto:
    ]


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """The page's relative links that lead to no file, no heading, or out of `root`."""
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.is_relative_to(root.resolve()):
            broken.append(f"{target} (outside the repository)")
        elif not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and anchor not in anchors(file):
            broken.append(f"{target} (no such heading in {file.name})")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_or_heading_in_the_repository(page):
    broken = broken_links(page)
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_link_check_sees_a_missing_file_a_missing_heading_and_a_way_out(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "api.md").write_text("# The API\n\n## Calling it from code\n")
    (tmp_path / "x.md").write_text("# X\n")
    page = tmp_path / "docs" / "page.md"
    page.write_text(
        "# Page\n[fine](api.md#calling-it-from-code) [here](#page) [up](../x.md#x)\n"
        "[a](nope.md) [b](api.md#nope) [c](../../x.md) `[in code](nope.md)`\n"
        "```\n[in a block](nope.md)\n```\n"
    )
    assert broken_links(page, root=tmp_path) == [
        "nope.md (no such file)",
        "api.md#nope (no such heading in api.md)",
        "../../x.md (outside the repository)",
    ]


def test_every_doc_is_linked_from_the_readme():
    linked = {(README.parent / t.partition("#")[0]).resolve() for t in relative_links(README)}
    unlinked = [p.name for p in PAGES[1:] if p.resolve() not in linked]
    assert not unlinked, f"docs the README does not link: {unlinked}"


# --- the settings and the error reasons -------------------------------------------------------

UPPER_NAME = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+"


def product_sources() -> list[str]:
    return [
        source.read_text()
        for package in ("queuelabs", "allocator", "uploader", "sandbox", "commands")
        for source in sorted((ROOT / package).rglob("*.py"))
        if "/v1/" not in str(source)  # generated code
    ]


def reasons_given_by_the_code() -> set[str]:
    """Every ErrorInfo reason: a refusal's `reason = "X"`, or one noted as it is sent."""
    found: set[str] = set()
    for text in product_sources():
        found |= set(re.findall(rf'\breason = "({UPPER_NAME})"', text))
        found |= set(re.findall(rf'\bnote_reason\("({UPPER_NAME})"', text))
    return found


def reasons_documented() -> set[str]:
    """The first column of docs/api.md's table of reasons."""
    text = (ROOT / "docs" / "api.md").read_text()
    table = text.split("| reason | status |", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(rf"^\| `({UPPER_NAME})` \|", table, re.MULTILINE))


def test_every_error_reason_the_code_gives_is_documented_and_no_other():
    given, documented = reasons_given_by_the_code(), reasons_documented()
    assert "NO_FREE_SLOT" in given  # the search finds reasons at all
    assert not given - documented, f"reasons not in docs/api.md: {sorted(given - documented)}"
    assert not documented - given, f"documented, never given: {sorted(documented - given)}"


def settings_read_by_the_code() -> set[str]:
    """Every variable the product reads: a name handed to a call (`env.seconds("X", ...)`,
    `os.environ.get("X")`), a default argument naming one, or a per-platform family
    (`f"X_{platform}"`, written `X_<PLATFORM>`)."""
    found: set[str] = set()
    for text in product_sources():
        found |= set(re.findall(rf'[(\[]\s*"({UPPER_NAME})"', text))
        found |= set(re.findall(rf'\bname: str = "({UPPER_NAME})"', text))
        found |= {f"{name}_<PLATFORM>" for name in re.findall(rf'\bf"({UPPER_NAME})_{{', text)}
    return found - reasons_given_by_the_code()  # a reason handed to a call is no setting


def settings_documented() -> set[str]:
    """The names in the first column of docs/configuration.md's table."""
    text = (ROOT / "docs" / "configuration.md").read_text()
    cells = re.findall(r"^\| (`[^|]*) \|", text, re.MULTILINE)
    return {
        name for cell in cells for name in re.findall(rf"`({UPPER_NAME}(?:_<PLATFORM>)?)`", cell)
    }


def test_every_setting_the_code_reads_is_documented_and_every_documented_one_is_read():
    read, documented = settings_read_by_the_code(), settings_documented()
    assert "UPLOADER_LEASE_SECONDS" in read  # the search finds settings at all
    assert "UPLOAD_POST_DAILY_CAP_<PLATFORM>" in read
    assert not read - documented, f"not in docs/configuration.md: {sorted(read - documented)}"
    assert not documented - read, f"documented, never read: {sorted(documented - read)}"


# --- the README's commands -----------------------------------------------------------------------


def test_the_readme_gives_the_two_commands_and_the_test_one_is_what_ci_runs():
    commands = README.read_text().split("## Two commands", 1)[1].split("```bash\n", 1)[1]
    commands = commands.split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in commands.splitlines()] == [
        "uv run queuelabs dev",
        "uv run pytest",
    ]
    ci = (ROOT / ".ci" / "run").read_text()
    assert re.search(r"^uv run pytest\b", ci, re.MULTILINE), ".ci/run no longer runs it"
