"""An app whose commands.py, tasks.py and gearman_jobs.py register jobs (Q3 autodiscovery tests).

Installed only inside tests, via ``override_settings(INSTALLED_APPS=...)``.
"""
