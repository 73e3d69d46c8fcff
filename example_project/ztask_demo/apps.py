from django.apps import AppConfig


class ZtaskDemoConfig(AppConfig):
    name = "ztask_demo"
    verbose_name = "ztask demo"
