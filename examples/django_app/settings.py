"""Django example settings: sessions and logins are Tomcat's (no database needed)."""
from __future__ import annotations

import os

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = False
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "examples.django_app.urls"
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]   # for login()/logout(); no database
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

# tribes: three settings
SESSION_ENGINE = "tribes.web.django"
MIDDLEWARE = [
    "tribes.web.django.SessionMiddleware",          # JSESSIONID of the Tomcat context, via the agent
    "django.middleware.csrf.CsrfViewMiddleware",
    "tribes.web.django.AuthenticationMiddleware",   # request.user = the Tomcat principal (roles = groups)
]
TRIBES = {"CONTEXT": os.environ.get("TRIBES_CONTEXT", "/app")}

AUTHENTICATION_BACKENDS = ["examples.django_app.views.DemoBackend"]
CSRF_USE_SESSIONS = True                               # the CSRF token is the session attribute _csrftoken
LOGGING = {"version": 1, "disable_existing_loggers": False,
           "handlers": {"console": {"class": "logging.StreamHandler"}},
           "loggers": {"tribes": {"handlers": ["console"], "level": "INFO"}}}
