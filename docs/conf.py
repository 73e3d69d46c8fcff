"""Sphinx configuration for the djworkers docs (``make docs`` builds them with -W)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# autodoc imports djworkers modules, which need configured settings.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
import django  # noqa: E402

django.setup()

import djworkers  # noqa: E402

project = "djworkers"
author = "djworkers developers"
copyright = "djworkers developers"
release = djworkers.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]
# No intersphinx: the docs must build without network access.
autodoc_member_order = "bysource"
autodoc_typehints = "description"

exclude_patterns = ["_build"]
root_doc = "index"
highlight_language = "python"
pygments_style = "sphinx"
nitpicky = False

html_theme = "alabaster"
html_title = f"djworkers {release}"
html_theme_options = {
    "description": "Periodic caching and background work for Django",
    "fixed_sidebar": True,
}
