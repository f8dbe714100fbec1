"""Shared bits of the example apps: the demo users, the page, the JSON API's value mapping."""
from __future__ import annotations

import html
import os
from typing import Any

from tribes.javaser import to_json

#: base path of the Python pages inside the Tomcat context /app
PREFIX = "/app/py"


def users() -> dict[str, tuple[str, list[str]]]:
    """Demo users: TRIBES_EXAMPLE_USERS="alice:secret:tribes,shopper;bob:pw:shopper" (default alice/secret)."""
    spec = os.environ.get("TRIBES_EXAMPLE_USERS", "alice:secret:tribes,shopper")
    out: dict[str, tuple[str, list[str]]] = {}
    for item in spec.split(";"):
        if item.count(":") >= 2:
            name, pw, roles = item.split(":", 2)
            out[name] = (pw, [r for r in roles.split(",") if r])
    return out


def check_password(name: str, password: str) -> list[str] | None:
    u = users().get(name)
    return u[1] if u is not None and u[0] == password else None


def page(framework: str, user: tuple[str, list[str], str | None] | None, session_id: str | None,
         cart: list[Any], messages: list[str] = ()) -> str:  # type: ignore[assignment]
    """The cart page. Elements tests look for (same as Tomcat's /shop/cart): #user, #roles, #node,
    #session, #cart li, form#add with input#item and button#add-button, a#logout, a#login."""
    e = html.escape
    who = (f'<h1>Hello, <span id="user">{e(user[0])}</span>!</h1>'
           f'<p>Roles: <span id="roles">{e(",".join(user[1]))}</span> '
           f'(auth <span id="auth">{e(str(user[2]))}</span>)</p>'
           f'<p><a id="logout" href="{PREFIX}/logout">Log out</a></p>') if user else (
        f'<h1>Hello, guest</h1><p><a id="login" href="{PREFIX}/login">Log in</a></p>')
    items = "".join(f"<li>{e(str(x))}</li>" for x in cart)
    flashes = "".join(f'<li class="flash">{e(str(m))}</li>' for m in messages)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Cart ({e(framework)})</title></head>
<body>
{who}
<ul id="messages">{flashes}</ul>
<p>Served by <span id="node">python-{e(framework)}</span>, session <span id="session">{e(session_id or "")}</span></p>
<h2>Cart</h2>
<ul id="cart">{items}</ul>
<form id="add" method="post" action="{PREFIX}/cart">
  <input id="item" name="item" autocomplete="off"> <button id="add-button" type="submit">Add</button>
</form>
</body></html>
"""


def login_page(error: str = "") -> str:
    err = f'<p id="error">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Log in</title></head><body>
<h1>Log in</h1>{err}
<form id="login-form" method="post" action="{PREFIX}/login">
  <input id="username" name="username"> <input id="password" name="password" type="password">
  <button id="login-button" type="submit">Log in</button>
</form></body></html>
"""


def cart_of(session: Any) -> list[Any]:
    v = session.get("cart")
    return list(v) if isinstance(v, (list, tuple)) else []


def from_api(value: Any) -> Any:
    """JSON -> Python value: {"$bytes": hex} is bytes, {"$tuple": [...]} a tuple, {"$set": [...]} a set."""
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return bytes.fromhex(value["$bytes"])
        if set(value) == {"$tuple"}:
            return tuple(from_api(x) for x in value["$tuple"])
        if set(value) == {"$set"}:
            return set(from_api(x) for x in value["$set"])
        if set(value) == {"$object"}:
            return object()                          # unmappable on purpose (tests the TypeError)
        return {k: from_api(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_api(x) for x in value]
    return value


def dump(session: Any, user: tuple[str, list[str], str | None] | None, session_id: str | None) -> dict[str, Any]:
    """The session as JSON: id, user, and every attribute with its Java class (tribes.javaser.to_json)."""
    return {"id": session_id, "user": user[0] if user else None, "roles": user[1] if user else [],
            "auth": user[2] if user else None,
            "attributes": {k: to_json(session[k]) for k in sorted(session.keys())}}
