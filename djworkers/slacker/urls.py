"""``path("slacker/", include("djworkers.slacker.urls"))``: the http worker's endpoint."""

from django.urls import path

from . import views

app_name = "djworkers_slacker"

urlpatterns = [path("", views.execute, name="execute")]
