"""Fixtures shared by tests/ and e2e/: the services a test session starts for itself."""
import os

# R-SEC-1: the simulated shops live on loopback, which the product refuses by default. Set in
# the environment before anything is imported, so the app's config, every PlatformHttp and
# every worker, scheduler and launcher the tests start (they inherit os.environ) allow them.
# Tests of the refusal itself switch it off for themselves (allow_private=False).
os.environ["ALLOW_PRIVATE_SHOP_ADDRESSES"] = "1"

pytest_plugins = ["tests.support.services"]
