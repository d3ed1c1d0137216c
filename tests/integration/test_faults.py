"""R-REL-2 / R-REL-3: the short form of the fault matrix (bench/faults.py --short) in the suite.

It runs the bench as `make bench` would, in a subprocess with its own redis-server, database
(a SQLite file; a private PostgreSQL schema when TEST_DATABASE_URL is set), simulators and real
`worker.py` workers, and asserts each cell: each fault once, the platforms taking turns.
The columns are defined in the bench's docstring.
"""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.services import ROOT, database_backends

SHORT_FORM_LIMIT = 600  # seconds; the short form takes about two minutes on a busy 2-core machine


@pytest.mark.parametrize("backend", database_backends())
def test_R_REL_2_fault_matrix_short_form_recovers_every_cell(backend, tmp_path):
    report = tmp_path / "cells.json"
    done = subprocess.run([sys.executable, "bench/faults.py", "--short", "--db", backend, "--json", str(report)],
                          cwd=ROOT, capture_output=True, text=True, timeout=SHORT_FORM_LIMIT)
    assert report.exists(), f"the bench did not finish (exit {done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    cells = json.loads(report.read_text())
    faults = {cell["fault"] for cell in cells}
    assert len(cells) == len(faults) >= 13, "each fault once"
    failing = [f"{c['fault']} x {c['platform']}: recovered={c['recovered']} duplicates={c['duplicates']} "
               f"lost={c['lost']} visible={c['visible']} exercised={c['exercised']}; " + " | ".join(c["notes"])
               for c in cells if not c["ok"]]
    assert not failing, "cells not recovered / 0 / 0 / visible:\n" + "\n".join(failing)
    assert done.returncode == 0, done.stdout[-3000:]
