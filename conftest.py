"""Fixtures shared by tests/ and e2e/: the services a test session starts for itself."""
import os
from pathlib import Path

import pytest

# R-SEC-1: the simulated shops live on loopback, which the product refuses by default. Set in
# the environment before anything is imported, so the app's config, every PlatformHttp and
# every worker, scheduler and launcher the tests start (they inherit os.environ) allow them.
# Tests of the refusal itself switch it off for themselves (allow_private=False).
os.environ["ALLOW_PRIVATE_SHOP_ADDRESSES"] = "1"

pytest_plugins = ["tests.support.services"]

CONNECT_SHOPS_OF_THEIR_OWN = {"test_cdn_blocked.py", "test_demo_spare_shop.py", "test_operations_page.py"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """`make test` spreads the suite over processes by group (pytest-xdist's loadgroup): each test
    file is one group, run whole by one process, and the browser tests are one group, run in their
    order by one process, because they share one live server and its data (an import in one file
    adds orders and products that another file's table would then show)."""
    root = Path(__file__).resolve().parent
    # Browser test files that connect shops of their own run last, after those that count what
    # the orders table shows of theirs (a stable sort: every other test keeps its place).
    items[:] = sorted(items, key=lambda item: Path(str(item.fspath)).name in CONNECT_SHOPS_OF_THEIR_OWN)
    for item in items:
        path = Path(str(item.fspath)).resolve()
        group = "e2e" if root / "e2e" in path.parents else str(path.relative_to(root))
        item.add_marker(pytest.mark.xdist_group(group))
