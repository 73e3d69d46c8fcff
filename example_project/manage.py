#!/usr/bin/env python
"""The djworkers example project. Start everything with ``make demo`` from the repository root,
or ``python manage.py djworkers_run --all --runserver`` from here."""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    # Run from a checkout without installing: make the djworkers package importable.
    sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "example_project.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
