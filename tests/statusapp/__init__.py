"""Jobs used by tests/test_status.py and tests/test_browser.py worker subprocesses (installed
through the settings JSON of tests.utils.spawn, never in the test process itself)."""
