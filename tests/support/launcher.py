"""`make run`'s launcher, scripts/run.py, loaded as a module for its functions (it is a script,
not a package): the launcher tests and the spare demo shop's browser test start shops its way."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_launcher():
    """scripts/run.py as a module."""
    spec = importlib.util.spec_from_file_location("orderdock_launcher", ROOT / "scripts" / "run.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module
