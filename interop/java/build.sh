#!/usr/bin/env bash
# Compiles every Java source under interop/java/src against the Tomcat jars of one version.
#   interop/java/build.sh 10   -> interop/java/build/tomcat10/classes   (Debian libtomcat10-java, 10.1.x)
#   interop/java/build.sh 9    -> interop/java/build/tomcat9/classes    (Debian libtomcat9-java, 9.0.x)
# Prints the classpath to use with `java -cp`. Rebuilds only when a source is newer than the stamp.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ver="${1:-10}"
out="$here/build/tomcat$ver/classes"
cp="$(python3 "$here/../javatool.py" classpath "$ver")"
stamp="$out/.stamp"
if [ ! -f "$stamp" ] || [ -n "$(find "$here/src" -name '*.java' -newer "$stamp" -print -quit)" ]; then
  rm -rf "$out"; mkdir -p "$out"
  javac -nowarn -encoding UTF-8 --release 17 -d "$out" -cp "$cp" $(find "$here/src" -name '*.java') >&2
  touch "$stamp"
fi
echo "$out:$cp"
