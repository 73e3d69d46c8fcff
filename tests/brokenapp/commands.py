"""Fails to import the way real jobs modules do: a dependency that is not installed.

The old djutils autodiscovery caught ImportError here and silently registered nothing.
"""

from djworkers_no_such_dependency import helper  # noqa: F401
