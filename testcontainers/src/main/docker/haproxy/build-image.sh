#!/usr/bin/env bash
# Builds the HAProxy image of the load-balancer topology (HaproxyContainer) offline, no registry contacted,
# in two steps, like the server's image (../build-image.sh):
#   1. the base shiftformer-haproxy-base:<key>: this machine's haproxy binary (Debian's haproxy package),
#      the shared libraries ldd lists for it (copied from this machine), /etc/passwd with the user 10001,
#      /etc/haproxy and /tmp; tar | docker import. The key hashes the binary, its libraries, this script
#      and the Dockerfile, so the base is rebuilt only when one of them changes.
#   2. the image TAG: docker build of this directory's Dockerfile on that base (the user, the entry point,
#      labels). Skipped when TAG is already built on the same base (label org.shiftformer.haproxy.base).
# The configuration is not in the image: HaproxyContainer writes /etc/haproxy/haproxy.cfg per topology.
#
# usage: build-image.sh --version 0.1.0-SNAPSHOT [--work DIR] [--if-docker]
#   --if-docker   when no Docker daemon answers, say so and exit 0 (the Maven build outside CI; the
#                 container tests then skip with the reason). With CI=true a missing daemon fails.
# needs: docker, haproxy (apt-get install haproxy: .ci/run installs it; or HAPROXY_BIN=/path/to/haproxy), ldd.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

version="" work="" if_docker=false
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --if-docker) if_docker=true; shift ;;
    *) echo "haproxy/build-image.sh: unknown argument '$1' (usage: --version V [--work DIR] [--if-docker])" >&2; exit 2 ;;
  esac
done
. "$here/../image-lib.sh" haproxy/build-image.sh
[ -n "$version" ] || fail "--version is required (the image tag is shiftformer-haproxy:VERSION)"
work="${work:-$here/../../../../target/haproxy-image}"
tag="shiftformer-haproxy:$version"

require_docker "$tag" "$if_docker" "the load-balancer tests will be skipped"
# Debian puts it in /usr/sbin, which a non-root user's PATH may lack; HAPROXY_BIN names another build.
haproxy="${HAPROXY_BIN:-$(command -v haproxy || true)}"
if [ -z "$haproxy" ] && [ -x /usr/sbin/haproxy ]; then haproxy=/usr/sbin/haproxy; fi
if [ -z "$haproxy" ] || [ ! -x "$haproxy" ]; then
  why="haproxy is missing${HAPROXY_BIN:+ (HAPROXY_BIN=$HAPROXY_BIN is not an executable)}: the image packages this machine's haproxy binary and the libraries it links (apt-get install haproxy; .ci/run installs it)"
  if $if_docker && [ "${CI:-}" != "true" ]; then
    echo "haproxy/build-image.sh: $why: not building $tag; the load-balancer tests will be skipped" >&2
    exit 0
  fi
  fail "$why"
fi
haproxy="$(readlink -f "$haproxy")"
command -v ldd >/dev/null 2>&1 || fail "ldd is missing: it lists the libraries haproxy links (apt-get install libc-bin)"
libs="$(ldd_libs "$haproxy")"

start=$SECONDS
key="$( { sha256sum "$haproxy"; for lib in $libs; do sha256sum "$(readlink -f "$lib")"; done
          cat "$here/build-image.sh" "$here/Dockerfile" "$here/../image-lib.sh"; } | sha256sum | cut -c1-16)"
base="shiftformer-haproxy-base:$key"
if [ "$(docker image inspect --format '{{ index .Config.Labels "org.shiftformer.haproxy.base" }}' "$tag" 2>/dev/null || true)" = "$base" ]; then
  echo "haproxy/build-image.sh: $tag is up to date (base $base)"
  exit 0
fi

if ! docker image inspect "$base" >/dev/null 2>&1; then
  echo "haproxy/build-image.sh: building $base ($("$haproxy" -v | head -1))"
  rootfs="$work/rootfs"
  rm -rf "$rootfs"
  mkdir -p "$rootfs/usr/sbin" "$rootfs/etc/haproxy"
  cp -L "$haproxy" "$rootfs/usr/sbin/haproxy"
  copy_libs "$rootfs" "$haproxy"
  passwd_files "$rootfs" haproxy
  tar -C "$rootfs" --numeric-owner --owner=0 --group=0 -cf - . \
    | docker import --message "shiftformer haproxy base: $("$haproxy" -v | head -1)" - "$base" >/dev/null
  rm -rf "$rootfs"
  # Older bases (another haproxy build) are no longer needed; ones still in use stay.
  docker images --format '{{.Repository}}:{{.Tag}}' shiftformer-haproxy-base | grep -vx "$base" | xargs -r docker rmi >/dev/null 2>&1 || true
fi

mkdir -p "$work"
legacy_build "$tag" "$work/docker-build.log" --build-arg "BASE=$base" --build-arg "VERSION=$version" \
    --label "org.shiftformer.haproxy.base=$base" -t "$tag" "$here"
docker image prune -f --filter label=org.opencontainers.image.title=shiftformer-haproxy >/dev/null 2>&1 || true
echo "haproxy/build-image.sh: built $tag (base $base) in $((SECONDS - start)) s"
