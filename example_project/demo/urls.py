from django.urls import path

from . import views

app_name = "demo"
urlpatterns = [
    path("", views.home, name="home"),
    path("state.json", views.state, name="state"),
    path("enqueue/<str:kind>/", views.enqueue, name="enqueue"),
]
