#!/bin/sh
# nginx, plus a counter of requests per stack. nginx writes "STACK MSEC" per request into a
# FIFO (in chunks of at most 4 KiB: atomic, so workers never interleave); activity.awk counts
# them and prints one summary line per busy stack a second on stdout, which yadockeri follows.
# Per-request lines would go through Docker's log pipeline: counting here costs almost nothing.
set -u
fifo=/run/yadockeri/activity.fifo
mkdir -p /run/yadockeri
rm -f "$fifo"
mkfifo "$fifo"
awk -f /etc/nginx/activity.awk < "$fifo" &
counter=$!
# The ticker holds the FIFO open for writing, so the counter sees no end while nginx reloads.
( while sleep 1; do echo tick; done ) > "$fifo" &
ticker=$!
nginx -g 'daemon off;' &
server=$!

stop() {
    kill -QUIT "$server" 2>/dev/null   # finish requests in flight
    wait "$server"
    kill "$ticker" 2>/dev/null
    wait "$counter"                     # counts the last second, then ends
    exit 0
}
trap stop TERM QUIT INT
wait "$server"
status=$?
kill "$ticker" "$counter" 2>/dev/null
exit "$status"
