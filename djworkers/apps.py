"""App config: ``ready()`` only wires (checks, settings-change receiver, autodiscovery)."""

from django.apps import AppConfig


class DjworkersConfig(AppConfig):
    name = "djworkers"
    verbose_name = "djworkers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks, conf  # noqa: F401  (registers the check and the setting_changed receiver)
        from .monitoring import stats  # noqa: F401  (registers the job-stats receivers)
        from .registry import autodiscover

        # Like the admin's autodiscovery: every process (web and workers) sees the
        # same registry, so eager mode, replay and status work everywhere.
        autodiscover()
