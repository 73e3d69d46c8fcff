"""An app whose jobs module fails to import (Q3: the error must name the module, never be swallowed).

Installed only inside tests, via ``override_settings(INSTALLED_APPS=...)``.
"""
