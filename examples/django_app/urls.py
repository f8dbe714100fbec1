from __future__ import annotations

from django.urls import path

from examples.django_app import views

urlpatterns = [
    path("app/py/", views.index),
    path("app/py/cart", views.add),
    path("app/py/login", views.login_view),
    path("app/py/logout", views.logout_view),
    path("app/py/api/session", views.api),
]
