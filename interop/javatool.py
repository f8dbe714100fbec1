"""Locating the Tomcat jars of a version, building and running the Java programs of interop/java.

Usable as a module (tests, benchmarks) and as a script: ``python3 interop/javatool.py classpath 10``.
"""
from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from typing import Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
JAVA_DIR = os.path.join(HERE, "java")

# Jars the Java peer compiles against, per Tomcat major version (Debian bookworm packages).
_TOMCAT10_JARS = [
    "/usr/share/tomcat10/lib/catalina-tribes.jar",
    "/usr/share/tomcat10/lib/catalina-ha.jar",
    "/usr/share/tomcat10/lib/catalina.jar",
    "/usr/share/tomcat10/lib/servlet-api.jar",
    "/usr/share/tomcat10/lib/tomcat-util.jar",
    "/usr/share/tomcat10/lib/tomcat-util-scan.jar",
    "/usr/share/tomcat10/lib/tomcat-api.jar",
    "/usr/share/tomcat10/lib/tomcat-coyote.jar",
    "/usr/share/tomcat10/lib/jaspic-api.jar",
    "/usr/share/tomcat10/lib/annotations-api.jar",
    "/usr/share/tomcat10/bin/tomcat-juli.jar",
]
_TOMCAT9_JARS = [
    "/usr/share/java/tomcat9-tribes.jar",
    "/usr/share/java/tomcat9-catalina-ha.jar",
    "/usr/share/java/tomcat9-catalina.jar",
    "/usr/share/java/tomcat9-servlet-api.jar",
    "/usr/share/java/tomcat9-util.jar",
    "/usr/share/java/tomcat9-util-scan.jar",
    "/usr/share/java/tomcat9-api.jar",
    "/usr/share/java/tomcat9-coyote.jar",
    "/usr/share/java/tomcat9-jaspic-api.jar",
    "/usr/share/java/tomcat9-annotations-api.jar",
    "/usr/share/java/tomcat9-juli.jar",
]

INSTALL_HINT = (
    "install Java and the Tomcat jars: apt-get install -y tomcat10-common libtomcat9-java "
    "(never the `tomcat10` package), or run scripts/setup.sh as root"
)


def tomcat_jars(version: str | int) -> list[str]:
    v = str(version).split(".")[0]
    if v == "10":
        return list(_TOMCAT10_JARS)
    if v == "9":
        return list(_TOMCAT9_JARS)
    raise ValueError(f"unsupported Tomcat version {version!r}: use 9 or 10")


def missing_requirements(version: str | int = 10) -> str | None:
    """Why the Java side cannot run here, or None when it can."""
    for tool in ("java", "javac"):
        if shutil.which(tool) is None:
            return f"{tool} not found: {INSTALL_HINT}"
    missing = [j for j in tomcat_jars(version) if not os.path.exists(j)]
    if missing:
        return f"Tomcat {version} jars missing ({missing[0]}): {INSTALL_HINT}"
    return None


def classpath(version: str | int) -> str:
    jars = tomcat_jars(version)
    return ":".join(j for j in jars if os.path.exists(j))


def build(version: str | int = 10) -> str:
    """Compile interop/java/src for `version`; returns the full classpath (classes + jars)."""
    why = missing_requirements(version)
    if why:
        raise RuntimeError(why)
    out = subprocess.run(
        ["bash", os.path.join(JAVA_DIR, "build.sh"), str(version).split(".")[0]],
        check=True, capture_output=True, text=True,
    )
    return out.stdout.strip().splitlines()[-1]


def java_command(main_class: str, args: Sequence[str] = (), version: str | int = 10,
                 jvm_opts: Sequence[str] = ()) -> list[str]:
    cp = build(version)
    return ["java", "-Djava.net.preferIPv4Stack=true", *jvm_opts, "-cp", cp, main_class, *args]


def run_java(main_class: str, args: Sequence[str] = (), version: str | int = 10,
             input: bytes | None = None, timeout: float = 300,
             jvm_opts: Sequence[str] = ()) -> subprocess.CompletedProcess[bytes]:
    """Run a main class of interop/java to completion; raises on a non-zero exit."""
    cmd = java_command(main_class, args, version, jvm_opts)
    return subprocess.run(cmd, input=input, capture_output=True, timeout=timeout, check=True)


def _main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "classpath":
        print(classpath(argv[1]))
        return 0
    if len(argv) >= 2 and argv[0] == "build":
        print(build(argv[1]))
        return 0
    print("usage: javatool.py classpath|build 9|10", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
