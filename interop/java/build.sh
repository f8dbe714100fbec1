#!/usr/bin/env bash
# Compiles every Java source under interop/java/src against the Tomcat jars of one version.
#   interop/java/build.sh 10   -> interop/java/build/tomcat10/classes   (Debian libtomcat10-java, 10.1.x)
#   interop/java/build.sh 9    -> interop/java/build/tomcat9/classes    (Debian libtomcat9-java, 9.0.x)
# Prints the classpath to use with `java -cp`. Rebuilds only when a source is newer than the stamp.
# Concurrent callers are serialized with flock, and a rebuild compiles into a fresh directory that
# replaces the old one with a rename, so a running JVM never sees a half-written class directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
ver="${1:-10}"
base="$here/build/tomcat$ver"
out="$base/classes"
cp="$(python3 "$here/../javatool.py" classpath "$ver")"
mkdir -p "$base"
exec 9>"$base/.lock"
flock 9
stamp="$out/.stamp"
if [ ! -f "$stamp" ] || [ -n "$(find "$here/src" -name '*.java' -newer "$stamp" -print -quit)" ]; then
  tmp="$(mktemp -d "$base/classes.new.XXXXXX")"
  touch "$tmp/.stamp.pending"
  if ! javac -nowarn -encoding UTF-8 --release 17 -d "$tmp" -cp "$cp" $(find "$here/src" -name '*.java') >&2; then
    rm -rf "$tmp"; exit 1
  fi
  mv "$tmp/.stamp.pending" "$tmp/.stamp"
  # the stamp takes the time the compilation started, so an edit made meanwhile triggers a rebuild
  old="$base/classes.old.$$"
  [ -d "$out" ] && mv "$out" "$old"
  mv "$tmp" "$out"
  rm -rf "$old"
fi
echo "$out:$cp"
