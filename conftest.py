"""Fixtures shared by tests/ and e2e/: the services a test session starts for itself."""
pytest_plugins = ["tests.support.services"]
