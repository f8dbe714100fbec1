"""Flask example: the cart of the Tomcat app /app, served at /app/py/ from the same session.

    TRIBES_AGENT_SOCKET=/run/tribes/agent.sock gunicorn -w 4 -b 0.0.0.0:8000 examples.flask_app.app:app
(see examples/README.md for the agent command.)
"""
from __future__ import annotations

from typing import Any

from flask import Flask, flash, get_flashed_messages, jsonify, redirect, request, session

import tribes.web
from examples.common import PREFIX, cart_of, check_password, dump, from_api, login_page, page
from tribes.web.flask import TribesSessionInterface


def create_app(**tribes_config: Any) -> Flask:
    app = Flask(__name__)
    app.secret_key = "not-used-for-sessions"         # flash() needs a session, not a secret
    app.session_interface = TribesSessionInterface(**tribes_config)   # JSESSIONID of /app via the agent

    @app.get(f"{PREFIX}/")
    def index() -> Any:
        s: Any = session
        return page("flask", s.user, s.session_id, cart_of(session), get_flashed_messages())

    @app.post(f"{PREFIX}/cart")
    def add() -> Any:
        item = request.form.get("item", "").strip()
        if item:
            session["cart"] = cart_of(session) + [item]      # a new list: replicated as one attribute
            flash(f"added {item}")
        return redirect(f"{PREFIX}/", 303)

    @app.route(f"{PREFIX}/login", methods=["GET", "POST"])
    def login() -> Any:
        if request.method == "GET":
            return login_page()
        name = request.form.get("username", "")
        roles = check_password(name, request.form.get("password", ""))
        if roles is None:
            return login_page("wrong user name or password"), 401
        tribes.web.login(request, name, roles)                # Tomcat's principal; new session id
        return redirect(f"{PREFIX}/", 303)

    @app.get(f"{PREFIX}/logout")
    def logout() -> Any:
        tribes.web.logout(request)                            # logged out on every node
        return redirect(f"{PREFIX}/", 303)

    # JSON API for scripts and tests: GET the session; POST {"set": {...}, "remove": [...],
    # "invalidate": true, "flash": "text", "login": {"name": ..., "roles": [...]}, "logout": true}
    @app.route(f"{PREFIX}/api/session", methods=["GET", "POST"])
    def api() -> Any:
        s: Any = session
        if request.method == "POST":
            body = request.get_json(force=True) or {}
            try:
                for name in body.get("remove", []):
                    session.pop(name, None)
                for name, value in (body.get("set") or {}).items():
                    session[name] = from_api(value)
            except TypeError as exc:
                return jsonify(error="TypeError", message=str(exc)), 400
            except ValueError as exc:
                return jsonify(error=type(exc).__name__, message=str(exc)), 413
            if body.get("flash"):
                flash(body["flash"])
            if body.get("login"):
                tribes.web.login(request, body["login"]["name"], body["login"].get("roles", []))
            if body.get("logout"):
                tribes.web.logout(request)
            if body.get("invalidate"):
                s.invalidate()
                return jsonify(invalidated=True)
        return jsonify(dump(session, s.user, s.session_id))

    return app


app = create_app()
