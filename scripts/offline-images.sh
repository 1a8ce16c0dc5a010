#!/usr/bin/env bash
# Make the base images yadockeri needs from binaries on this machine, for hosts that
# cannot reach a container registry (shared/ENVIRONMENT.md). Idempotent: an image that
# exists is left alone.
#   busybox:latest            busybox-static with every applet linked (example app, tests)
#   yadockeri/nginx-base:local  Debian's nginx + its libraries + busybox (router base image)
set -euo pipefail

have() { docker image inspect "$1" >/dev/null 2>&1; }

add_busybox() {  # $1: root folder
  mkdir -p "$1/bin" "$1/tmp" "$1/etc"
  cp /bin/busybox "$1/bin/busybox"
  for applet in $(/bin/busybox --list); do
    [ -e "$1/bin/$applet" ] || ln -s busybox "$1/bin/$applet"
  done
  chmod 1777 "$1/tmp"
}

make_busybox() {
  local root; root=$(mktemp -d)
  add_busybox "$root"
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  tar -C "$root" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["sh"]' - busybox:latest >/dev/null
  rm -rf "$root"
}

make_nginx() {
  local root lib; root=$(mktemp -d)
  add_busybox "$root"
  mkdir -p "$root/usr/sbin" "$root/etc/nginx" "$root/var/log/nginx" "$root/var/lib/nginx" \
    "$root/run" "$root/var/cache/nginx" "$root/usr/share/nginx/html"
  cp /usr/sbin/nginx "$root/usr/sbin/nginx"
  for lib in $(ldd /usr/sbin/nginx | grep -o '/[^ ]*'); do
    mkdir -p "$root$(dirname "$lib")"; cp -L "$lib" "$root$lib"
  done
  cp /etc/nginx/mime.types "$root/etc/nginx/mime.types"
  printf 'root:x:0:0:root:/root:/bin/sh\nnginx:x:101:101:nginx:/nonexistent:/bin/false\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnginx:x:101:\n' >"$root/etc/group"
  ln -sf /dev/stdout "$root/var/log/nginx/access.log"
  ln -sf /dev/stderr "$root/var/log/nginx/error.log"
  tar -C "$root" -c . | docker import -c 'ENV PATH=/usr/sbin:/bin' \
    -c 'CMD ["nginx", "-g", "daemon off;"]' - yadockeri/nginx-base:local >/dev/null
  rm -rf "$root"
}

have busybox:latest || make_busybox
have yadockeri/nginx-base:local || make_nginx
echo "offline images: busybox:latest yadockeri/nginx-base:local"
