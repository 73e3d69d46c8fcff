"""The slacker endpoint, alone: what the ``slacker`` scenario's http worker POSTs to."""

from django.urls import include, path

urlpatterns = [path("slacker/", include("djworkers.slacker.urls"))]
