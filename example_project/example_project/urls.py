from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("slacker/", include("djworkers.slacker.urls")),  # the http worker's endpoint
    path("", include("demo.urls")),
]
