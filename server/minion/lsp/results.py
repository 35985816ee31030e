"""What a finished run means for the editor, loaded once per run (in a thread: git work).

A ``RunResult`` holds the run's hunks with the texts they apply to (the file in the
snapshot), the places its failed checks point at (with the file as the run left it), the
anchor, and why the run made its change. ``diagnostics.py`` maps all of it onto the
user's current text.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from ..blueprint.failures import Failure, parse_failures, summary_line
from ..errors import RunNotFound
from ..git import git
from ..runs.model import CheckResult, RunRecord, Status
from ..runs.store import RunStore
from ..snapshot import Hunk, hunks
from .wording import editor_wording

MAX_SPOTS_PER_CHECK = 3


@dataclass(frozen=True)
class Spot:
    """A line the editor should point at: a failed check's location or the run's anchor."""

    path: str  # repo-relative
    line: int  # 0-based, in the text it was found in
    message: str
    severity: str  # "information" | "warning" | "error"
    check: str | None = None  # the failed check it comes from


@dataclass
class RunResult:
    record: RunRecord
    hunks: list[Hunk]
    base_texts: dict[str, str]  # path -> text in the snapshot (changed files, the anchor's)
    head_texts: dict[str, str]  # path -> text on the run's branch (changed files, check spots)
    check_spots: list[Spot]  # lines in head_texts
    anchor_spots: list[Spot]  # lines in base_texts: failures that point nowhere else
    why: str
    outside: list[str] = field(default_factory=list)  # "path:lines" changed outside a selection
    link: str | None = None  # the compare URL, else the report's file URI
    report: Path | None = None
    hunk_indexes: dict[str, list[int]] = field(default_factory=dict)  # path -> indexes into hunks
    # A revision's earlier rounds, newest first: path -> text at that round's head (changed
    # files), so a change still applies where the user applied an earlier round.
    round_texts: list[dict[str, str]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for index, hunk in enumerate(self.hunks):
            self.hunk_indexes.setdefault(hunk.path, []).append(index)

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def repo(self) -> Path:
        return Path(self.record.repo)

    @cached_property
    def paths(self) -> set[str]:
        """Every file this result has something to say about."""
        spots = [spot.path for spot in self.check_spots + self.anchor_spots]
        return {*self.hunk_indexes, *spots, *(change.path for change in self.record.sensitive)}


def load_result(record: RunRecord, store: RunStore) -> RunResult:
    """Everything the editor needs about an ended run. Synchronous: run it in a thread."""
    repo = Path(record.repo)
    changes = hunks(repo, record.base, record.head) if record.head and record.base and record.files else []
    anchor = _anchor_location(record)
    candidates = _check_locations(record)
    changed = {h.path for h in changes}
    base_paths = changed | ({anchor[0]} if anchor else set())
    head_paths = changed | {candidate[0] for candidate in candidates}
    base_texts = read_blobs(repo, record.base, base_paths) if record.base else {}
    head_texts = read_blobs(repo, record.head or record.base, head_paths) if record.base else {}

    check_spots = _place_checks(candidates, head_texts)
    outside = outside_selection(record, changes)
    anchor_spots = []
    if anchor and anchor[0] in base_texts:
        for message in _unplaced_checks(record, check_spots) + _failure_messages(record):
            anchor_spots.append(Spot(anchor[0], anchor[1], message, "warning"))
        if outside:
            anchor_spots.append(Spot(anchor[0], anchor[1], f"minion run {record.id} also changed code outside the "
                                     f"selection: {', '.join(outside)}", "information"))
    return RunResult(record, changes, base_texts, head_texts, check_spots, anchor_spots, _why(record, store),
                     outside, round_texts=_round_texts(record, store, changed))


def _round_texts(record: RunRecord, store: RunStore, paths: set[str]) -> list[dict[str, str]]:
    """The changed files at the head of each round ``record`` revises, newest first."""
    out: list[dict[str, str]] = []
    earlier = record.revises
    while earlier and paths:
        try:
            round_ = store.get(earlier)
        except RunNotFound:  # a round forgotten by `minion clean`: the older ones are out of reach
            break
        if round_.head:
            out.append(read_blobs(Path(record.repo), round_.head, paths))
        earlier = round_.revises
    return out


def outside_selection(record: RunRecord, changes: list[Hunk]) -> list[str]:
    """Where a run delegated on a selection changed code beyond it ("path:first-last", lines
    1-based in the snapshot), so the reviewer looks there too."""
    anchor = record.anchor
    if anchor is None or anchor.kind != "selection":
        return []
    places = []
    for hunk in changes:
        first = hunk.old_first + 1  # 1-based; an insertion: the line it goes before
        last = first + max(hunk.old_lines, 1) - 1
        if hunk.old_lines == 0:  # inserted right after the selection still counts as in it
            inside = anchor.start_line + 1 <= first <= anchor.end_line + 2
        else:
            inside = anchor.start_line + 1 <= first and last <= anchor.end_line + 1
        if hunk.path != anchor.path or not inside:
            places.append(f"{hunk.path}:{first}" + (f"-{last}" if last > first else ""))
    return places


def _why(record: RunRecord, store: RunStore) -> str:
    """The agent's own account of the change (its first summary), else the task."""
    for node in store.nodes(record.id):
        if node.kind == "agent" and node.summary:
            return node.summary
    return record.task.strip().splitlines()[0] if record.task.strip() else ""


def _anchor_location(record: RunRecord) -> tuple[str, int] | None:
    if record.anchor is None or not record.anchor.path:
        return None
    return record.anchor.path, record.anchor.start_line  # 0-based


def _failure_messages(record: RunRecord) -> list[str]:
    """A run that ended badly for another reason than its checks says so at its anchor."""
    if record.status in (Status.OK, Status.FAILED_CHECKS, Status.CANCELLED) or record.status.active:
        return []
    reason = editor_wording(record.summary or record.error or "").strip().splitlines()
    return [f"minion run {record.id} {record.status.value}: {reason[0] if reason else 'no reason recorded'}"]


def _failures(check: CheckResult, repo: str) -> list[Failure]:
    """The errors a failed check names: as the run stored them, else read from its output."""
    if check.failures:
        return [Failure(f.get("path"), f.get("line"), f.get("message", "")) for f in check.failures]
    return parse_failures(check.output, repo)


def _check_locations(record: RunRecord) -> list[tuple[str, int, str, str, bool]]:
    """(path, 1-based line, check name, message, already failing before the run) for each
    line of the repo failed checks name."""
    found = []
    for check in record.checks:
        if not check.ok:
            found += [(f.path, f.line, check.name, f.message, check.preexisting)
                      for f in _failures(check, record.repo) if f.path and f.line]
    return found


def _place_checks(candidates, head_texts: dict[str, str]) -> list[Spot]:
    """Spots for the locations in the repo's own files, a few per check."""
    spots: list[Spot] = []
    per_check: dict[str, int] = {}
    for path, line, check, message, old in candidates:
        if path not in head_texts or per_check.get(check, 0) >= MAX_SPOTS_PER_CHECK:
            continue
        per_check[check] = per_check.get(check, 0) + 1
        if old:  # not the run's doing: said, but not as the run's error
            spots.append(Spot(path, line - 1, f"check '{check}' already failing before this run: {message}",
                              "information", check))
        else:
            spots.append(Spot(path, line - 1, f"check '{check}' failed: {message}", "error", check))
    return spots


def _unplaced_checks(record: RunRecord, spots: list[Spot]) -> list[str]:
    """Messages for the failed checks whose output named no line of the repo."""
    placed = {spot.check for spot in spots}
    messages = []
    for check in record.checks:
        if not check.ok and check.name not in placed:
            first = _failures(check, record.repo)[:1]
            why = first[0].describe() if first else summary_line(check.output, record.repo, check.exit_code)
            verdict = "already failing before" if check.preexisting else "failed in"
            messages.append(f"check '{check.name}' {verdict} minion run {record.id}: {why}")
    return messages


def read_blobs(repo: Path, commit: str, paths: set[str]) -> dict[str, str]:
    """The exact text of each path at ``commit`` (one `git cat-file --batch`); missing paths
    and folders are left out."""
    if not paths:
        return {}
    ordered = sorted(paths)
    request = "".join(f"{commit}:{path}\n" for path in ordered).encode("utf-8", "surrogateescape")
    data = git("cat-file", "--batch", cwd=repo, input=request).encode("utf-8", "surrogateescape") + b"\n"
    texts, pos = {}, 0
    for path in ordered:
        header_end = data.index(b"\n", pos)
        header = data[pos:header_end].split(b" ")
        pos = header_end + 1
        if header[-1] == b"missing":
            continue
        size = int(header[2])
        if header[1] == b"blob":
            texts[path] = data[pos : pos + size].decode("utf-8", "surrogateescape")
        pos += size + 1  # the content and its trailing newline
    return texts
