#!/usr/bin/env bash
# Builds the shiftformer server image offline (no registry is contacted), in two steps:
#   1. the base image shiftformer-base:<key>, made once per JDK, module set and health check source: a
#      jlink runtime (the JDK modules jdeps finds in the jar, plus jdk.incubator.vector), the C
#      libraries it links (copied from this machine with ldd), a static health check built with gcc,
#      /etc/passwd with the user 10001, /tmp and /models; tar | docker import;
#   2. the image TAG (and shiftformer:latest): docker build of Dockerfile on that base, adding this
#      build's jar, the user, the ports, the health check and the entry point. Skipped when TAG already
#      holds a jar with the same SHA-256 on the same base (labels org.shiftformer.jar.sha256, .base).
#
# usage: build-image.sh --jar cli/target/shiftformer.jar --version 0.1.0-SNAPSHOT [--work DIR] [--if-docker]
#   --if-docker   when no Docker daemon answers, say so and exit 0 (the Maven build outside CI; the
#                 Testcontainers tests then skip with the reason). With CI=true a missing daemon fails.
# needs: JAVA_HOME (a JDK 25 with jlink and jdeps), docker, gcc with a static C library (libc6-dev).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

jar="" version="" work="" if_docker=false
while [ $# -gt 0 ]; do
  case "$1" in
    --jar) jar="$2"; shift 2 ;;
    --version) version="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --if-docker) if_docker=true; shift ;;
    *) echo "build-image.sh: unknown argument '$1' (usage: --jar FILE --version V [--work DIR] [--if-docker])" >&2; exit 2 ;;
  esac
done
. "$here/image-lib.sh" build-image.sh
[ -n "$jar" ] && [ -f "$jar" ] || fail "the cli jar '$jar' does not exist: build it first (mvn -pl cli -am package, or ./shiftformer image)"
[ -n "$version" ] || fail "--version is required (the image tag is shiftformer:VERSION)"
work="${work:-$(dirname "$jar")/../../testcontainers/target/image}"
tag="shiftformer:$version"

require_docker "$tag" "$if_docker" "the Testcontainers tests will be skipped"
: "${JAVA_HOME:?build-image.sh needs JAVA_HOME set to a JDK 25 (for jlink and jdeps)}"
for tool in jlink jdeps; do
  [ -x "$JAVA_HOME/bin/$tool" ] || fail "$JAVA_HOME/bin/$tool is missing: JAVA_HOME must be a full JDK 25"
done
command -v gcc >/dev/null 2>&1 || fail "gcc is missing: the image's health check is a static C program (apt-get install gcc libc6-dev)"

start=$SECONDS
mkdir -p "$work"
# The JDK modules the jar uses (jdeps does not report incubator modules: the Vector API is added).
# (jdeps takes 5-20 s: its answer is kept per jar checksum.)
jar_sha="$(sha256sum "$jar" | cut -d' ' -f1)"
modules_file="$work/modules-$jar_sha"
if [ ! -s "$modules_file" ]; then
  rm -f "$work"/modules-*
  { "$JAVA_HOME/bin/jdeps" --multi-release 25 --ignore-missing-deps --print-module-deps "$jar" | tr ',' '\n'
    echo jdk.incubator.vector; } | sort -u | paste -sd, - > "$modules_file.tmp"
  mv "$modules_file.tmp" "$modules_file"
fi
modules="$(cat "$modules_file")"
key="$( { cat "$JAVA_HOME/release"; echo "$modules"; cat "$here/healthcheck.c" "$here/build-image.sh" "$here/image-lib.sh"; } | sha256sum | cut -c1-16)"
base="shiftformer-base:$key"
if [ "$(docker image inspect --format '{{ index .Config.Labels "org.shiftformer.jar.sha256" }} {{ index .Config.Labels "org.shiftformer.base" }}' "$tag" 2>/dev/null || true)" = "$jar_sha $base" ]; then
  echo "build-image.sh: $tag is up to date (jar sha256 ${jar_sha:0:16}, base $base)"
  exit 0
fi

if ! docker image inspect "$base" >/dev/null 2>&1; then
  echo "build-image.sh: building $base (jlink: $modules)"
  rootfs="$work/rootfs"
  rm -rf "$rootfs"
  mkdir -p "$rootfs/opt/shiftformer/bin" "$rootfs/etc" "$rootfs/models" "$rootfs/tmp" "$rootfs/lib64"
  "$JAVA_HOME/bin/jlink" --add-modules "$modules" --output "$rootfs/opt/shiftformer/runtime" \
      --strip-debug --no-man-pages --no-header-files --generate-cds-archive
  gcc -static -Os -s -Wall -Wextra -o "$rootfs/opt/shiftformer/bin/healthcheck" "$here/healthcheck.c"

  # Shared libraries the runtime links, at the same paths as here. The AWT, sound and splash-screen
  # libraries are left out: they need X11 and ALSA, and nothing the server runs loads them.
  runtime="$rootfs/opt/shiftformer/runtime"
  objects=("$runtime/bin/java" "$runtime/lib/server/libjvm.so")
  for so in "$runtime"/lib/*.so; do
    case "$(basename "$so")" in
      libawt_xawt.so|libjawt.so|libsplashscreen.so|libjsound.so) ;;
      *) objects+=("$so") ;;
    esac
  done
  copy_libs "$rootfs" "${objects[@]}"

  passwd_files "$rootfs" shiftformer
  chmod 755 "$rootfs/models"
  tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf - . \
    | docker import --message "shiftformer base: jlink runtime ($modules), health check" - "$base" >/dev/null
  rm -rf "$rootfs"
  # Older bases (another JDK or module set) are no longer needed; ones still in use stay.
  docker images --format '{{.Repository}}:{{.Tag}}' shiftformer-base | grep -vx "$base" | xargs -r docker rmi >/dev/null 2>&1 || true
fi

context="$work/context"
rm -rf "$context"
mkdir -p "$context"
cp "$here/Dockerfile" "$context/Dockerfile"
cp "$jar" "$context/shiftformer.jar"
chmod 644 "$context/shiftformer.jar"
legacy_build "$tag" "$work/docker-build.log" --build-arg "BASE=$base" --build-arg "VERSION=$version" \
    --build-arg "JAR_SHA256=$jar_sha" --label "org.shiftformer.base=$base" -t "$tag" -t shiftformer:latest "$context"
rm -rf "$context"
docker image prune -f --filter label=org.opencontainers.image.title=shiftformer >/dev/null 2>&1 || true
echo "build-image.sh: built $tag and shiftformer:latest (jar sha256 ${jar_sha:0:16}, base $base) in $((SECONDS - start)) s"
