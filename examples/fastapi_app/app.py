"""FastAPI example: the cart of the Tomcat app /app at /app/py/, the same session and login.

    TRIBES_AGENT_SOCKET=/run/tribes/agent.sock uvicorn --workers 4 examples.fastapi_app.app:app
"""
from __future__ import annotations

from typing import Any

from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

import tribes.web
from examples.common import PREFIX, cart_of, check_password, dump, from_api, login_page, page
from tribes.web.asgi import TribesSessionMiddleware


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form without python-multipart."""
    q = parse_qs((await request.body()).decode("utf-8", "replace"))
    return {k: v[0] for k, v in q.items()}


def create_app(**tribes_config: Any) -> FastAPI:
    app = FastAPI()
    app.add_middleware(TribesSessionMiddleware, **tribes_config)   # request.session = the Tomcat session

    @app.get(f"{PREFIX}/", response_class=HTMLResponse)
    async def index(request: Request) -> str:
        s: Any = request.session
        return page("fastapi", s.user, s.session_id, cart_of(s))

    @app.post(f"{PREFIX}/cart")
    async def add(request: Request) -> RedirectResponse:
        item = (await form(request)).get("item", "")
        if item.strip():
            request.session["cart"] = cart_of(request.session) + [item.strip()]
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    @app.get(f"{PREFIX}/login", response_class=HTMLResponse)
    async def login_form() -> str:
        return login_page()

    @app.post(f"{PREFIX}/login")
    async def login(request: Request) -> Any:
        f = await form(request)
        username, password = f.get("username", ""), f.get("password", "")
        roles = check_password(username, password)
        if roles is None:
            return HTMLResponse(login_page("wrong user name or password"), status_code=401)
        tribes.web.login(request, username, roles)           # Tomcat's principal; new session id
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    @app.get(f"{PREFIX}/logout")
    async def logout(request: Request) -> RedirectResponse:
        tribes.web.logout(request)                           # logged out on every node
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    @app.api_route(f"{PREFIX}/api/session", methods=["GET", "POST"])
    async def api(request: Request) -> JSONResponse:
        s: Any = request.session
        if request.method == "POST":
            body = await request.json()
            try:
                for name in body.get("remove", []):
                    s.pop(name, None)
                for name, value in (body.get("set") or {}).items():
                    s[name] = from_api(value)
            except TypeError as exc:
                return JSONResponse({"error": "TypeError", "message": str(exc)}, status_code=400)
            except ValueError as exc:
                return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=413)
            if body.get("login"):
                tribes.web.login(request, body["login"]["name"], body["login"].get("roles", []))
            if body.get("logout"):
                tribes.web.logout(request)
            if body.get("invalidate"):
                s.invalidate()
                return JSONResponse({"invalidated": True})
        return JSONResponse(dump(s, s.user, s.session_id))

    return app


app = create_app()
