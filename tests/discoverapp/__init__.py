"""An app whose commands.py (queue door) and file_jobs.py (the test-only "file" door) register jobs (Q3).

Installed only inside tests, via ``override_settings(INSTALLED_APPS=...)``.
"""
