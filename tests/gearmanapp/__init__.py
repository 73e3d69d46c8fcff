"""An app holding only Gearman jobs, installed by the Gearman tests alone.

It is not in tests/settings.py's INSTALLED_APPS: registered Gearman jobs make
the door "in use" (status section, djworkers_run --all), which other tests must
not see. The Gearman tests install it (tests/gearman_helpers.py).
"""
