from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    verbose_name = "djworkers demo"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import buttons, signals  # noqa: F401  (signals: the job_retried/job_failed receivers)

        buttons.discover()  # every example app's example_buttons.py
