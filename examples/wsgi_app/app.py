"""Plain WSGI example with the member **in the process** (no agent): for single-process servers.

    python3 -m examples.wsgi_app.app --bind 10.0.0.50 --jvm-route py1 --port 8000

The same pages as the other examples under /app/py/, written against the generic WSGI middleware
(``environ["tribes.session"]``) and ``tribes.web.login``/``logout``.
"""
from __future__ import annotations

import argparse
import json
import logging
from typing import Any, Callable, Iterable
from urllib.parse import parse_qs

import tribes.web
from examples.common import PREFIX, cart_of, check_password, dump, from_api, login_page, page
from tribes.web.wsgi import TribesSessionMiddleware


def _form(environ: dict[str, Any]) -> dict[str, str]:
    n = int(environ.get("CONTENT_LENGTH") or 0)
    return {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(n).decode("utf-8", "replace")).items()}


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    s = environ["tribes.session"]
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")

    def answer(status: str, body: str, ctype: str = "text/html; charset=utf-8",
               extra: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
        data = body.encode()
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(data))), *(extra or [])])
        return [data]

    def redirect() -> Iterable[bytes]:
        return answer("303 See Other", "", extra=[("Location", f"{PREFIX}/")])

    if path == f"{PREFIX}/":
        return answer("200 OK", page("wsgi", s.user, s.session_id, cart_of(s)))
    if path == f"{PREFIX}/cart" and method == "POST":
        item = _form(environ).get("item", "").strip()
        if item:
            s["cart"] = cart_of(s) + [item]
        return redirect()
    if path == f"{PREFIX}/login":
        if method != "POST":
            return answer("200 OK", login_page())
        f = _form(environ)
        roles = check_password(f.get("username", ""), f.get("password", ""))
        if roles is None:
            return answer("401 Unauthorized", login_page("wrong user name or password"))
        tribes.web.login(environ, f["username"], roles)
        return redirect()
    if path == f"{PREFIX}/logout":
        tribes.web.logout(environ)
        return redirect()
    if path == f"{PREFIX}/api/session":
        if method == "POST":
            n = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(n) or b"{}")
            try:
                for name in body.get("remove", []):
                    s.pop(name, None)
                for name, value in (body.get("set") or {}).items():
                    s[name] = from_api(value)
            except TypeError as exc:
                return answer("400 Bad Request", json.dumps({"error": "TypeError", "message": str(exc)}),
                              "application/json")
            except ValueError as exc:
                return answer("413 Payload Too Large", json.dumps({"error": type(exc).__name__, "message": str(exc)}),
                              "application/json")
            if body.get("login"):
                tribes.web.login(environ, body["login"]["name"], body["login"].get("roles", []))
            if body.get("logout"):
                tribes.web.logout(environ)
            if body.get("invalidate"):
                s.invalidate()
                return answer("200 OK", json.dumps({"invalidated": True}), "application/json")
        return answer("200 OK", json.dumps(dump(s, s.user, s.session_id)), "application/json")
    return answer("404 Not Found", "not found", "text/plain")


def main() -> None:
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from tribes.web.client import EmbeddedMember
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bind", required=True, help="address of the cluster member and of the HTTP server")
    p.add_argument("--jvm-route", default="py1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--context", default="/app")
    p.add_argument("--max-write-bytes", type=int, default=None)
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    member = EmbeddedMember.create(contexts=[a.context, "/"], max_write=a.max_write_bytes, bind=a.bind,
                                   jvm_route=a.jvm_route).start()              # joins + state transfer
    wrapped = TribesSessionMiddleware(app, backend=member, context=a.context)

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    with make_server(a.bind, a.port, wrapped, handler_class=Quiet) as server:
        logging.info("serving http://%s:%d%s/ (in-process member, jvmRoute %s)", a.bind, a.port, PREFIX, a.jvm_route)
        try:
            server.serve_forever()
        finally:
            member.stop()


if __name__ == "__main__":
    main()
