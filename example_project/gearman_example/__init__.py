"""django-gearman's example app (G9): the ``reverse`` and ``background_counting`` jobs and the
``gearman_example_client`` command. Installed when ``DJWORKERS_EXAMPLE_GEARMAN`` names a gearmand."""
