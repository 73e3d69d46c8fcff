"""djworkers: periodic caching and background work for Django.

Add ``"djworkers"`` to ``INSTALLED_APPS``; everything is configured through the
single ``DJWORKERS`` setting (see :mod:`djworkers.conf`).
"""

__version__ = "0.1.0"
