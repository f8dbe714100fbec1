"""The Flask app of bench/bench_web.py: it reads and writes its session on every request.

    gunicorn -w 4 -b ADDR:PORT 'interop.web.benchapp:create_app("cookie")'   # Flask's signed-cookie session
    gunicorn -w 4 -b ADDR:PORT 'interop.web.benchapp:create_app("redis")'    # Flask-Session 0.8 on Redis
    gunicorn -w 4 -b ADDR:PORT 'interop.web.benchapp:create_app("tribes")'   # tribes.web.flask + `tribes agent`

GET /app/py/bench[?set=V]: n = session["n"] + 1 (a read and a write on every request), and with
`set`, session["v"] = V (the visibility probe's write). Answers n as text.

Environment: BENCH_REDIS_URL (redis variant, default redis://127.0.0.1:6379/0); the tribes variant
passes TRIBES_AGENT_SOCKET / TRIBES_CONTEXT (default /app) to the adapter.
"""
from __future__ import annotations

import os
from typing import Any

from flask import Flask, request, session


def _tribes(app: Flask) -> None:
    from interop.web.pyapp import install_tribes_session   # the adapter's documented set-up, in one place
    install_tribes_session(app, socket=os.environ.get("TRIBES_AGENT_SOCKET"),
                           context=os.environ.get("TRIBES_CONTEXT", "/app"))


def create_app(kind: str = "cookie") -> Flask:
    app = Flask("tribes-bench-" + kind)
    app.secret_key = os.environ.get("BENCH_SECRET", "bench-secret-not-for-production")
    if kind == "redis":
        import redis
        from flask_session import Session
        app.config.update(SESSION_TYPE="redis",
                          SESSION_REDIS=redis.Redis.from_url(os.environ.get("BENCH_REDIS_URL",
                                                                            "redis://127.0.0.1:6379/0")),
                          SESSION_COOKIE_PATH="/app")
        Session(app)
    elif kind == "tribes":
        _tribes(app)
    elif kind == "cookie":
        app.config.update(SESSION_COOKIE_PATH="/app")
    else:
        raise ValueError(f"unknown session kind {kind!r}: cookie, redis or tribes")

    @app.get("/app/py/bench")
    def bench() -> Any:
        n = int(session.get("n", 0)) + 1
        session["n"] = n
        v = request.args.get("set")
        if v is not None:
            session["v"] = v
        return str(n)

    @app.get("/app/py/ping")
    def ping() -> Any:
        return "ok"

    return app
