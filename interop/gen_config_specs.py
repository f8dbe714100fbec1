"""Generate tribes/config/_tomcat_specs.py from the real Tomcat jars.

Runs interop/java/src/ConfigAttributesDump.java against Tomcat 10.1 and 9.0 (reflection over the
classes server.xml can name), merges both answers and writes a Python module: for every class,
every attribute Tomcat's digester can set (``IntrospectionUtils.setProperty``: setters taking
String, int, long, boolean or InetAddress), its type and Tomcat's default (the getter's value on a
fresh instance).  ``python3 interop/gen_config_specs.py`` rewrites the module;
``--check`` exits 1 when the committed module differs (tests/interop/test_config_specs.py).
"""
from __future__ import annotations

import json
import os
import pprint
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from interop import javatool  # noqa: E402

TARGET = os.path.join(ROOT, "tribes", "config", "_tomcat_specs.py")

# Getters whose value on a fresh instance depends on the machine or on a running cluster; the
# default written instead is the field initialiser read in Tomcat's source (reason given).
DEFAULT_FIXES: dict[tuple[str, str], tuple[Any, str]] = {
    ("ReceiverBase", "address"): ("auto", "field host = \"auto\"; getAddress() resolves it to the local address"),
    ("ReceiverBase", "host"): ("auto", "field host = \"auto\"; getHost() resolves it to the local address"),
    ("ReceiverBase", "bind"): (None, "field bind is null until getBind() resolves host"),
    ("ReceiverBase", "listen"): (False, "field listen = false"),
    ("ClusterManagerBase", "domain"): (None, "getDomain() needs a started cluster"),
    ("McastService", "mcastDropTime"): (3000, "alias of dropTime"),
    ("McastService", "mcastBindAddress"): (None, "alias of bind"),
    ("StaticMember", "hostname"): (None, "no host until set"),
}
_RECEIVERS = ("org.apache.catalina.tribes.transport.nio.NioReceiver",
              "org.apache.catalina.tribes.transport.bio.BioReceiver")
_MANAGERS = ("org.apache.catalina.ha.session.DeltaManager", "org.apache.catalina.ha.session.BackupManager")


def _fix(cls: str, attr: str) -> tuple[Any, str] | None:
    if cls in _RECEIVERS and ("ReceiverBase", attr) in DEFAULT_FIXES:
        return DEFAULT_FIXES[("ReceiverBase", attr)]
    if cls in _MANAGERS and ("ClusterManagerBase", attr) in DEFAULT_FIXES:
        return DEFAULT_FIXES[("ClusterManagerBase", attr)]
    return DEFAULT_FIXES.get((cls.rsplit(".", 1)[-1], attr))


def _effective_type(setters: list[str]) -> str:
    # IntrospectionUtils tries setX(String) first, then int/long/boolean/InetAddress.
    if "string" in setters:
        return "string"
    for kind in ("int", "long", "boolean", "inetaddress"):
        if kind in setters:
            return kind
    return setters[0]


def dump(version: int) -> dict[str, Any]:
    for attempt in range(3):
        try:
            out = javatool.run_java("ConfigAttributesDump", [], version, jvm_opts=["-Xmx256m"])
            return json.loads(out.stdout.decode("utf-8"))
        except subprocess.CalledProcessError as exc:
            # interop/java/build is shared: another run may be rebuilding it right now
            if attempt == 2 or b"ClassNotFoundException" not in (exc.stderr or b""):
                raise
            time.sleep(2)
    raise AssertionError("unreachable")


def merge(d10: dict[str, Any], d9: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for cls in d10:
        a, b = d10.get(cls), d9.get(cls)
        versions = tuple(v for v, d in (("9", b), ("10", a)) if d is not None)
        base = a if a is not None else b
        assert base is not None
        attrs: dict[str, Any] = {}
        names = sorted(set((a or {"attributes": {}})["attributes"]) | set((b or {"attributes": {}})["attributes"]))
        for name in names:
            s10 = a["attributes"].get(name) if a else None
            s9 = b["attributes"].get(name) if b else None
            spec = s10 or s9
            entry: dict[str, Any] = {"type": _effective_type(spec["setters"]), "default": spec["default"]}
            if len(spec["setters"]) > 1:
                entry["setters"] = tuple(spec["setters"])
            attr_versions = tuple(v for v, s in (("9", s9), ("10", s10)) if s is not None)
            if attr_versions != versions:
                entry["versions"] = attr_versions
            if s10 and s9 and s9["default"] != s10["default"]:
                entry["default_9"] = s9["default"]
            fix = _fix(cls, name)
            if fix is not None:
                entry["default"] = fix[0]
                entry.pop("default_9", None)
            attrs[name] = entry
        result[cls] = {
            "versions": versions,
            "types": tuple(base["types"]),
            "set_property_fallback": bool(base["setProperty"]),
            "attributes": attrs,
        }
    return result


def render(specs: dict[str, Any]) -> str:
    head = (
        '"""Every attribute Tomcat\'s digester can set on the classes a server.xml <Cluster> names.\n\n'
        "GENERATED by interop/gen_config_specs.py from the Tomcat jars by reflection (Tomcat 10.1 and\n"
        "9.0.70): do not edit by hand.  Per class: the Tomcat versions that ship it, its supertypes, whether\n"
        "it has a setProperty(name, value) fallback, and per attribute the type of the setter the digester\n"
        "uses ('string', 'int', 'long', 'boolean', 'inetaddress' or 'unsupported:<java type>'), Tomcat's\n"
        "default ('bytes:[..]'/'object:<class>' for values that are not plain), and, where they differ, the\n"
        "versions that have it and the 9.0 default.\n"
        '"""\n'
        "from __future__ import annotations\n\nfrom typing import Any\n\n"
    )
    return head + "TOMCAT_CLASSES: dict[str, dict[str, Any]] = " + pprint.pformat(specs, width=110, sort_dicts=True) + "\n"


def main(argv: list[str]) -> int:
    text = render(merge(dump(10), dump(9)))
    if "--check" in argv:
        with open(TARGET, encoding="utf-8") as f:
            same = f.read() == text
        print("up to date" if same else f"{TARGET} differs from the jars: run python3 interop/gen_config_specs.py")
        return 0 if same else 1
    with open(TARGET, "w", encoding="utf-8") as f:
        f.write(text)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
