"""The process tree as Linux shows it in /proc: what the launcher and worker tests kill or count."""
from __future__ import annotations

from pathlib import Path


def parent_of(pid: int) -> int | None:
    try:
        # The command name in parentheses may hold spaces; the parent id follows the state.
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None  # gone meanwhile


def children_of(pid: int) -> list[int]:
    return [int(entry.name) for entry in Path("/proc").iterdir()
            if entry.name.isdigit() and parent_of(int(entry.name)) == pid]


def descendants(pid: int, depth: int) -> list[int]:
    """Children, grandchildren, ... down to ``depth`` generations (bounded)."""
    found, generation = [], [pid]
    for _ in range(depth):
        generation = [child for parent in generation for child in children_of(parent)]
        found.extend(generation)
    return found
