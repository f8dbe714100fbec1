"""TribesSession / SessionStore / SessionService over an in-memory member (no network)."""
from __future__ import annotations

import pytest

from tribes import javaser as j
from tribes.managers.principal import Principal
from tribes.web import SessionWriteTooLarge
from tribes.web.session import SessionStore, TribesSession, WebConfig, parse_cookie_ids, valid_session_id

from tests.unit.web_fakes import LocalBackend


def make(max_write: int = 1 << 20) -> tuple[LocalBackend, SessionStore]:
    b = LocalBackend(max_write=max_write)
    return b, SessionStore(WebConfig(context="/app"), b)


def test_new_session_is_created_only_when_written() -> None:
    b, store = make()
    s = store.open(None)
    assert len(s) == 0 and s.is_new
    assert store.save(s).set is None and not b.dm.sessions
    s = store.open(None)
    s["cart"] = ["book"]
    action = store.save(s)
    assert action.set and action.set.endswith(".py1") and len(action.set.split(".")[0]) == 32
    assert action.set.split(".")[0].isupper()
    assert b.dm.sessions[action.set].attributes["cart"] == ["book"]


def test_one_request_is_one_delta_with_only_changed_attributes() -> None:
    b, store = make()
    sid = b.tomcat_session({"i": j.JavaInteger(1), "l": j.JavaLong(2), "keep": "k", "cart": ["a"]})
    s = store.open(sid)
    s["i"] = 43
    s["l"] = 5
    s["cart"].append("b")                                # in-place change: detected at the end
    del s["keep"]
    b.calls.clear()
    assert store.save(s).set is None                     # same id: no new cookie
    commit, = [c for c in b.calls if c["op"] == "commit"]
    assert sorted(commit["set"]) == ["cart", "i", "l"] and commit["remove"] == ["keep"]
    attrs = b.dm.sessions[sid].attributes
    assert type(attrs["i"]) is j.JavaInteger and attrs["i"] == 43
    assert type(attrs["l"]) is j.JavaLong and attrs["l"] == 5
    assert attrs["cart"] == ["a", "b"] and "keep" not in attrs


def test_last_writer_per_attribute() -> None:
    b, store = make()
    sid = b.tomcat_session({"a": "1", "b": "1"})
    py = store.open(sid)
    py["a"] = "python"                         # a Python request writes a ...
    b.cluster.contexts["localhost#/app"].set_attribute(sid, "b", "tomcat")   # ... while Tomcat writes b
    store.save(py)
    attrs = b.dm.sessions[sid].attributes
    assert attrs == {"a": "python", "b": "tomcat"}


def test_opaque_java_objects_survive_untouched() -> None:
    b, store = make()
    desc = j.ClassDesc.make("tribeslab.Bean", 1, {"count": "I", "text": "Ljava/lang/String;"})
    bean = j.JavaObject.new(desc, {"count": 7, "text": "x"})
    sid = b.tomcat_session({"bean": bean})
    before = j.dumps(b.dm.sessions[sid].attributes["bean"])
    s = store.open(sid)
    assert s["bean"].class_name == "tribeslab.Bean"
    s["other"] = 1
    b.calls.clear()
    store.save(s)
    assert "bean" not in b.calls[-1]["set"]
    assert j.dumps(b.dm.sessions[sid].attributes["bean"]) == before


def test_write_limit_refuses_and_leaves_session_unchanged() -> None:
    b, store = make(max_write=1000)
    sid = b.tomcat_session({"keep": "v1"})
    s = store.open(sid)
    s["keep"] = "v2"
    with pytest.raises(SessionWriteTooLarge, match="exceeds the limit of 1000 bytes"):
        s["big"] = "x" * 2000
    store.save(s)
    assert b.dm.sessions[sid].attributes == {"keep": "v1"}
    # the agent refuses it as well (a worker with another limit)
    ans = b.call({"op": "commit", "ctx": "/app", "id": sid, "set": {"big": j.dumps("x" * 2000)}})
    assert ans["code"] == "too_large" and b.dm.sessions[sid].attributes == {"keep": "v1"}


def test_forged_malformed_and_foreign_ids_get_a_fresh_session() -> None:
    b, store = make()
    root_sid = b.cluster.contexts["localhost#"].create_session({"root": "x"}).id
    for bad in ["0123456789ABCDEF0123456789ABCDEF.tomcat1", "../../x", "a" * 500, "", "0123456789abcdef" * 2,
                root_sid]:
        s = store.open(bad)
        assert len(s) == 0 and s.session_id is None
        s["k"] = "v"
        new = store.save(s).set
        assert new and new != bad and new.endswith(".py1")
    assert b.cluster.managers["localhost#"].sessions[root_sid].attributes == {"root": "x"}


def test_id_with_another_route_is_served_without_rename_and_renamed_ids_follow() -> None:
    b, store = make()
    sid = b.tomcat_session({"n": 1}, sid="A" * 32 + ".tomcat1")
    s = store.open(sid)
    s["n"] = 2
    assert store.save(s).set is None and sid in b.dm.sessions
    # JvmRouteBinderValve on tomcat2 renames it (a replicated CHANGE_SESSION_ID)
    new = "A" * 32 + ".tomcat2"
    b.dm.change_session_id(b.dm.sessions[sid], new, 0, notify=False, replicated=True)
    s = store.open(sid)
    assert s["n"] == 2 and s.session_id == new
    assert store.save(s).set == new                      # the browser gets the new id
    # a login rename (new hex part) is never followed: session fixation
    b.dm.change_session_id(b.dm.sessions[new], "B" * 32 + ".tomcat2", 0, notify=False, replicated=True)
    s = store.open(new)
    assert s.session_id is None and len(s) == 0


def test_login_rotates_the_id_and_sets_tomcats_principal() -> None:
    b, store = make()
    s = store.open(None)
    s["cart"] = ["a"]
    first = store.save(s).set
    assert first
    s = store.open(first)
    s.login("alice", ["tribes", "shopper"])
    second = store.save(s).set
    assert second and second.split(".")[0] != first.split(".")[0] and first not in b.dm.sessions
    sess = b.dm.sessions[second]
    assert isinstance(sess.principal, Principal) and sess.principal.name == "alice"
    assert sess.principal.roles == ["tribes", "shopper"] and sess.auth_type == "FORM"
    s = store.open(second)
    assert s.user == ("alice", ["tribes", "shopper"], "FORM") and s["cart"] == ["a"]
    s.logout()
    store.save(s)
    assert b.dm.sessions[second].principal is None and store.open(second).user is None


def test_tomcat_login_is_visible() -> None:
    b, store = make()
    sid = b.tomcat_session({})
    sess = b.dm.sessions[sid]
    sess.set_principal(Principal("bob", ["tribes"]))
    sess.set_auth_type("FORM")
    assert store.open(sid).user == ("bob", ["tribes"], "FORM")


def test_invalidate_ends_the_session_and_deletes_the_cookie() -> None:
    b, store = make()
    sid = b.tomcat_session({"a": 1})
    s = store.open(sid)
    s.invalidate()
    assert store.save(s).delete and sid not in b.dm.sessions


def test_unmappable_value_raises_typeerror_naming_it() -> None:
    _b, store = make()
    s = store.open(None)
    with pytest.raises(TypeError, match="'thing'"):
        s["thing"] = object()


def test_cookie_helpers() -> None:
    cfg = WebConfig(context="/app")
    assert cfg.cookie_header("X", https=False) == "JSESSIONID=X; Path=/app; HttpOnly"
    assert "Secure" in cfg.cookie_header("X", https=True)
    assert WebConfig(context="/").path == "/" and WebConfig(context="/shop", cookie_path="/").path == "/"
    assert WebConfig(context="/app", cookie_name="SID", cookie_secure=True).cookie_header("Y", False).startswith(
        "SID=Y; Path=/app; Secure")
    assert parse_cookie_ids('a=1; JSESSIONID=AB; JSESSIONID="CD"', "JSESSIONID") == ["AB", "CD"]
    assert valid_session_id("A" * 32 + ".py1") and not valid_session_id("a" * 32) and not valid_session_id(None)


def test_a_read_only_request_ends_a_request_of_the_session() -> None:
    """Access time refreshed (so an actively read session does not expire), no DELTA."""
    b, store = make()
    sid = b.tomcat_session({"a": "1"})
    sess = b.dm.sessions[sid]
    from tribes.managers.cluster import now_ms
    before = sess.this_accessed_time = sess.last_accessed_time = now_ms() - 60_000
    s = store.open(sid)
    assert s["a"] == "1"
    b.calls.clear()
    assert store.save(s).set is None
    commit, = [c for c in b.calls if c["op"] == "commit"]
    assert commit["set"] == {} and commit["remove"] == [] and commit["access"]
    assert sess.this_accessed_time > before and not sess.is_dirty
    untouched = store.open(sid)                  # a request that never looks at the session: no call
    b.calls.clear()
    store.save(untouched)
    assert b.calls == []


def test_none_removes_and_collections_map_to_java() -> None:
    b, store = make()
    sid = b.tomcat_session({"gone": "x", "stays": j.JavaLong(1)})
    s = store.open(sid)
    s["gone"] = None
    s["tags"] = {"a"}
    s["pair"] = ("k", 2)
    s["raw"] = bytearray(b"\x01")
    store.save(s)
    attrs = b.dm.sessions[sid].attributes
    assert "gone" not in attrs and attrs["stays"] == j.JavaLong(1)
    assert isinstance(attrs["tags"], j.JavaHashSet) and set(attrs["tags"]) == {"a"}
    assert isinstance(attrs["pair"], j.JavaArrayList) and attrs["pair"] == ["k", 2]
    assert attrs["raw"] == b"\x01"
    s = store.open(sid)
    assert type(s["stays"]) is int and s["stays"] == 1        # plain for Python, still a Long in Java
    s["stays"] = s["stays"] + 1
    store.save(s)
    assert type(b.dm.sessions[sid].attributes["stays"]) is j.JavaLong


def test_the_first_id_known_in_this_context_wins() -> None:
    """A browser sends ROOT's JSESSIONID too (Path=/): like Tomcat, an unknown id is skipped."""
    b, store = make()
    root_sid = b.cluster.contexts["localhost#"].create_session({"root": "x"}).id
    app_sid = b.tomcat_session({"cart": ["a"]})
    s = store.open_ids(["garbage", root_sid, app_sid], TribesSession)
    assert s["cart"] == ["a"] and s.session_id == app_sid
    assert store.save(s).set is None                      # the id the browser sent: no new cookie
