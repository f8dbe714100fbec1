"""Django example views: the cart of the Tomcat app /app at /app/py/, the same session and login."""
from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import authenticate, login, logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from examples.common import PREFIX, cart_of, check_password, dump, from_api, login_page, page
from tribes.web.django import TomcatUser


class DemoBackend:
    """Checks the example's demo users (TRIBES_EXAMPLE_USERS); the user exists only as a principal."""

    def authenticate(self, request: HttpRequest | None, username: str = "", password: str = "") -> Any:
        roles = check_password(username, password)
        return TomcatUser(username, roles) if roles is not None else None

    def get_user(self, user_id: Any) -> None:
        return None


def _user(request: HttpRequest) -> tuple[str, list[str], str | None] | None:
    u: Any = request.user
    return (u.username, u.roles, u.auth_type) if u.is_authenticated else None


def _sid(request: HttpRequest) -> str | None:
    return request.session.tribes_session.session_id  # type: ignore[attr-defined, no-any-return]


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(page("django", _user(request), _sid(request), cart_of(request.session)))


@csrf_exempt
def add(request: HttpRequest) -> HttpResponse:
    item = request.POST.get("item", "").strip()
    if item:
        request.session["cart"] = cart_of(request.session) + [item]
    return HttpResponseRedirect(f"{PREFIX}/", status=303)


@csrf_exempt
def login_view(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return HttpResponse(login_page())
    user = authenticate(request, username=request.POST.get("username", ""),
                        password=request.POST.get("password", ""))
    if user is None:
        return HttpResponse(login_page("wrong user name or password"), status=401)
    login(request, user)                       # -> tribes.web.login: Tomcat's principal, new session id
    return HttpResponseRedirect(f"{PREFIX}/", status=303)


def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)                            # -> tribes.web.logout + invalidate: logged out everywhere
    return HttpResponseRedirect(f"{PREFIX}/", status=303)


@csrf_exempt
def api(request: HttpRequest) -> HttpResponse:
    s: Any = request.session
    if request.method == "POST":
        body = json.loads(request.body or b"{}")
        try:
            for name in body.get("remove", []):
                s.pop(name, None)
            for name, value in (body.get("set") or {}).items():
                s[name] = from_api(value)
        except TypeError as exc:
            return JsonResponse({"error": "TypeError", "message": str(exc)}, status=400)
        except ValueError as exc:
            return JsonResponse({"error": type(exc).__name__, "message": str(exc)}, status=413)
        if body.get("login"):
            login(request, TomcatUser(body["login"]["name"], body["login"].get("roles", [])),
                  backend="examples.django_app.views.DemoBackend")
        if body.get("logout"):
            logout(request)
        if body.get("invalidate"):
            s.flush()
            return JsonResponse({"invalidated": True})
    return JsonResponse(dump(s, _user(request), _sid(request)))
