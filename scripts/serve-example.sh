#!/usr/bin/env bash
# Serves examples/app.mjs (a node:http-style app served by cgiwire over FastCGI on a unix socket) behind a real
# nginx running examples/nginx-fastcgi.conf (kept connections: upstream keepalive + fastcgi_keep_conn on), both
# with everything in a fresh temporary folder. Prints the URL and stays in the foreground until Ctrl-C or
# SIGTERM, then stops both by pid and removes the folder.
#
#   bash scripts/serve-example.sh            # serve until Ctrl-C
#   bash scripts/serve-example.sh --once     # start, fetch the URL once, print the response, stop (exit 0 on a 200)
#   PORT=8080 bash scripts/serve-example.sh  # choose the port (default: a free one); nginx listens on 127.0.0.1 only
#
# Needs the build (bash scripts/setup.sh, or npm run build:ts). Installs nginx with apt-get when missing (root, or
# sudo); the Debian package may then start its own system nginx on port 80, which this script neither needs nor uses.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

once=0
for arg in "$@"; do
  case $arg in
    --once) once=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "serve-example: unknown argument: $arg (try --help)" >&2; exit 2 ;;
  esac
done

say() { echo "serve-example: $*" >&2; }

# ---- what it needs
if [ ! -f dist/index.js ]; then
  say "dist/index.js is missing: run 'bash scripts/setup.sh' (or 'npm run build:ts') first"; exit 1
fi
find_nginx() { command -v nginx 2>/dev/null || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true; }
NGINX=$(find_nginx)
if [ -z "$NGINX" ]; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  if [ -n "$SUDO" ] && ! command -v sudo >/dev/null; then say "nginx is missing and this is not root: install nginx"; exit 1; fi
  say "installing nginx (apt-get)"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o Dpkg::Use-Pty=0 nginx >/dev/null
  NGINX=$(find_nginx)
  [ -n "$NGINX" ] || { say "nginx did not install"; exit 1; }
fi
command -v curl >/dev/null || { [ "$once" -eq 0 ] || { say "--once needs curl"; exit 1; }; }

# Job control: the app and nginx get process groups of their own, so a Ctrl-C reaches only this script, which
# then stops them in order (nginx first, gracefully, then the app).
set -m

# ---- a folder of our own for sockets, config, logs and nginx's temporary files
run=$(mktemp -d "${TMPDIR:-/tmp}/cgiwire-example.XXXXXX")
app_pid= nginx_pid=
stop() { # pid signal: signals it and waits (at most 5 s, then SIGKILL)
  local pid=$1 i
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "-$2" "$pid" 2>/dev/null || true
  for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  trap - EXIT INT TERM
  stop "$nginx_pid" QUIT     # graceful: finishes requests in progress
  stop "$app_pid" TERM       # the app closes its server and exits
  rm -rf "$run"
}
trap cleanup EXIT
trap 'echo >&2; say "stopping"; cleanup; exit 0' INT TERM
fail() {
  say "$*"
  if [ -s "$run/error.log" ]; then say "last lines of nginx's error log:"; tail -n 15 "$run/error.log" >&2; fi
  exit 1
}

# As root nginx's workers run as www-data (or nobody): they need the folder and the socket, nothing else.
user_line= worker_group=
if [ "$(id -u)" -eq 0 ]; then
  if id www-data >/dev/null 2>&1; then user_line='user www-data;'; worker_group=$(id -gn www-data)
  else user_line='user nobody;'; worker_group=$(id -gn nobody); fi
  chgrp "$worker_group" "$run"
  chmod 750 "$run"
fi

port=${PORT:-$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")}
url="http://127.0.0.1:$port/"

# ---- the app: cgiwire, FastCGI on a unix socket
sock=$run/app.sock
node examples/app.mjs "$sock" &
app_pid=$!
for _ in $(seq 100); do
  [ -S "$sock" ] && break
  kill -0 "$app_pid" 2>/dev/null || fail "the app exited before it listened"
  sleep 0.1
done
[ -S "$sock" ] || fail "the app did not listen on $sock within 10 s"
if [ -n "$worker_group" ]; then chgrp "$worker_group" "$sock"; chmod 660 "$sock"; fi

# ---- nginx: its own main config; the site is examples/nginx-fastcgi.conf with our socket and port
conf_path=$("$NGINX" -V 2>&1 | grep -o -- '--conf-path=[^ ]*' | cut -d= -f2 || true)
params=$(dirname "${conf_path:-/etc/nginx/nginx.conf}")/fastcgi_params
if [ ! -f "$params" ]; then # an nginx without Debian's files: the params cgiwire uses
  params=$run/fastcgi_params
  for p in 'QUERY_STRING $query_string' 'REQUEST_METHOD $request_method' 'CONTENT_TYPE $content_type' \
    'CONTENT_LENGTH $content_length' 'SCRIPT_NAME $fastcgi_script_name' 'REQUEST_URI $request_uri' \
    'SERVER_PROTOCOL $server_protocol' 'REQUEST_SCHEME $scheme' 'GATEWAY_INTERFACE CGI/1.1' \
    'SERVER_SOFTWARE nginx/$nginx_version' 'REMOTE_ADDR $remote_addr' 'REMOTE_PORT $remote_port' \
    'SERVER_ADDR $server_addr' 'SERVER_PORT $server_port' 'SERVER_NAME $server_name'; do
    echo "fastcgi_param ${p%% *} ${p#* };"
  done > "$params"
fi
sed -e "s#unix:/run/cgiwire/#unix:$run/#" -e "s#listen 127.0.0.1:8080;#listen 127.0.0.1:$port;#" \
  -e "s#include fastcgi_params;#include $params;#" examples/nginx-fastcgi.conf > "$run/site.conf"
mkdir -p "$run/tmp"
cat > "$run/nginx.conf" <<EOF
# Written by scripts/serve-example.sh; the site itself is $run/site.conf (from examples/nginx-fastcgi.conf).
$user_line
worker_processes 1;
daemon off;
pid $run/nginx.pid;
error_log $run/error.log notice;
events { worker_connections 256; }
http {
    access_log $run/access.log;
    client_body_temp_path $run/tmp/body;
    proxy_temp_path $run/tmp/proxy;
    fastcgi_temp_path $run/tmp/fastcgi;
    uwsgi_temp_path $run/tmp/uwsgi;
    scgi_temp_path $run/tmp/scgi;
    include $run/site.conf;
}
EOF
"$NGINX" -p "$run" -c "$run/nginx.conf" -e "$run/error.log" &
nginx_pid=$!
up=0
for _ in $(seq 100); do
  kill -0 "$nginx_pid" 2>/dev/null || fail "nginx exited at start"
  if grep -q 'start worker process' "$run/error.log" 2>/dev/null; then
    if ! command -v curl >/dev/null || curl -s -o /dev/null --max-time 2 "$url"; then up=1; break; fi
  fi
  sleep 0.1
done
[ "$up" -eq 1 ] || fail "nginx did not answer on $url within 10 s"

if [ "$once" -eq 1 ]; then
  rc=0
  curl -sS -i --fail-with-body --max-time 10 "$url" || rc=$?
  echo
  if [ "$rc" -eq 0 ]; then say "ok: $url answered 200 (nginx $nginx_pid, app $app_pid); stopping"
  else say "FAILED: curl exit $rc for $url"; [ -s "$run/error.log" ] && tail -n 15 "$run/error.log" >&2; fi
  cleanup
  exit "$rc"
fi

echo
echo "  cgiwire example: open $url"
echo "  (also ${url}hello, and: curl --data-binary @README.md ${url}echo)"
echo "  nginx pid $nginx_pid, app pid $app_pid, files in $run; Ctrl-C to stop"
echo
# Stay until a signal (the trap stops both) or until one of the two exits on its own.
rc=0
wait -n "$app_pid" "$nginx_pid" || rc=$?
if kill -0 "$app_pid" 2>/dev/null; then fail "nginx exited (status $rc)"; else app_pid=; fail "the app exited (status $rc)"; fi
