from django.apps import AppConfig


class SlackerDemoConfig(AppConfig):
    name = "slacker_demo"
    verbose_name = "Offload example (slacker)"
