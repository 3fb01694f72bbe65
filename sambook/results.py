"""Results files: what a command measured over several seeds, with its provenance, for a chapter to read (chapters
`foundation_model`, `aftersam_volumes`, `how_it_compares`, `claims_ledger`).

Training every arm of a comparison over several seeds takes longer than a book build allows on two CPU cores, so a
command runs it once and writes ``results/<name>-<profile>.json`` (the claims ledger may add
``results/claims-<profile>-<part>.json``): the command, the code version, the machine, the date, the seeds and what
it measured. A chapter reads the file and prints that provenance beside the figures. Under the ``ci`` profile, or
with ``SAMBOOK_RERUN=1``, a chapter trains the runs in the page instead (:func:`rerun_in_page`).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

from sambook.atomic import atomic_path
from sambook.foundation.provenance import code_version
from sambook.paths import REPO_ROOT
from sambook.profiles import Profile

RESULTS = REPO_ROOT / "results"
RERUN_VAR = "SAMBOOK_RERUN"
PROVENANCE = ("command", "code_version", "machine", "date", "profile", "seeds")


def results_file(name: str, profile_name: str) -> Path:
    """``results/<name>-<profile>.json``: where command ``name`` writes by default."""
    return RESULTS / f"{name}-{profile_name}.json"


def rerun_in_page(profile: Profile) -> bool:
    """Whether a chapter trains its multi-seed runs itself (``ci``, or ``$SAMBOOK_RERUN=1``) rather than reading
    their results file."""
    return profile.name == "ci" or os.environ.get(RERUN_VAR) == "1"


def command_line(name: str) -> str | None:
    """``python -m sambook <name> ...`` as it was typed, when this process is that command; else None."""
    return " ".join(["python -m sambook", name, *sys.argv[2:]]) if sys.argv[1:2] == [name] else None


def provenance(command: str, *, started: float, profile: Profile, seeds: list[int], version: str | None = None) -> dict:
    """The fields every results file opens with (``version``: the code version read when the runs started)."""
    return {
        "command": command_line(command),
        "code_version": version or code_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()} {platform.release()}",
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "profile": profile.name,
        "seeds": list(seeds),
    }


def write_results(results: dict, path: Path) -> None:
    """Write ``results`` to ``path`` atomically (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(results, indent=1))


def read_results(path: Path) -> dict:
    """A results file; ``ValueError`` naming the file when it is not JSON or lacks its provenance."""
    try:
        results = json.loads(Path(path).read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not a results file (invalid JSON: {error})") from None
    missing = [key for key in PROVENANCE if key not in results]
    if missing:
        raise ValueError(f"{path}: not a results file (no {', '.join(missing)})")
    return results


def describe(results: dict, path: Path | None = None) -> str:
    """One line naming where the figures come from: the file, its command, code version, machine, date and seeds."""
    where = f"{path.relative_to(path.parents[1])}: " if path is not None else ""
    seeds = ", ".join(str(s) for s in results["seeds"])
    complete = "" if results.get("complete", True) else " (incomplete: stopped before its last run)"
    command = f"`{results['command']}`" if results["command"] else "run in this process"
    return (
        f"{where}{command} at code {str(results['code_version'])[:10]} on {results['machine']}, "
        f"{results['date']}, profile {results['profile']}, seeds {seeds}{complete}"
    )
