#!/usr/bin/env bash
# Runs the Bookinfo example mesh on 127.0.0.1: one demo app and one weft-proxy sidecar per
# workload (bootstraps from configs/example/), sends traffic through productpage's sidecar,
# then prints what the sidecars' /metrics saw.
#
#   examples/bookinfo/run.sh            ~20 s, then stops everything
#   KEEP=1 examples/bookinfo/run.sh     keeps the mesh up until Ctrl-C
#
# Environment: WEFT_BIN_DIR (default build/bin), TRAFFIC_SECONDS (default 15),
# CONFIG_DIR (default configs/example).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
HERE=$ROOT/examples/bookinfo
BIN_DIR=${WEFT_BIN_DIR:-$ROOT/build/bin}
PROXY=$BIN_DIR/weft-proxy
CONFIG_DIR=${CONFIG_DIR:-$ROOT/configs/example}
TRAFFIC_SECONDS=${TRAFFIC_SECONDS:-15}
KEEP=${KEEP:-0}
PY=$(command -v python3)

say() { printf '==> %s\n' "$*"; }
die() { printf 'run: %s\n' "$*" >&2; exit 1; }

[[ -x $PROXY ]] || die "$PROXY not found: build first (make run does)"
shopt -s nullglob
BOOTSTRAPS=("$CONFIG_DIR"/bootstrap-*.yaml)
shopt -u nullglob
[[ ${#BOOTSTRAPS[@]} -gt 0 ]] || die "no bootstrap-*.yaml in $CONFIG_DIR"

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weft-bookinfo.XXXXXX")
PIDS=()      # everything started here, stopped on exit
PROXY_PIDS=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ ${#PIDS[@]} -gt 0 ]]; then
    say "stopping ${#PIDS[@]} processes (sidecars drain first)"
    # Sidecars get SIGTERM (graceful drain); the apps after them.
    for pid in "${PROXY_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 1 70); do
      local alive=0
      for pid in "${PROXY_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
      [[ $alive == 0 ]] && break
      sleep 0.1
    done
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    sleep 0.2
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
  fi
  say "logs kept in $RUN_DIR"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo; say "interrupted"; exit 130' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

mapfile -t PLAN < <("$PY" "$HERE/meshctl.py" plan "${BOOTSTRAPS[@]}")
for line in "${PLAN[@]}"; do
  read -r workload _ _ app_port admin out in _ <<<"$line"
  for p in "$app_port" "$admin" "$out" "$in"; do
    port_busy "$p" && die "port $p (for $workload) is already in use on 127.0.0.1; stop what uses it"
  done
done

say "starting ${#PLAN[@]} workloads (apps and sidecars), logs in $RUN_DIR"
ADMIN_PORTS=()
SUMMARY_ARGS=()
PP_INBOUND=""
PP_ADMIN=""
for line in "${PLAN[@]}"; do
  read -r workload service version app_port admin out in file <<<"$line"
  # The app calls other services through its sidecar's outbound listener (http_proxy);
  # no_proxy must not exclude the mesh names.
  http_proxy=http://127.0.0.1:$out HTTP_PROXY= no_proxy= NO_PROXY= \
    "$PY" "$HERE/app.py" --role "$service" --version "$version" --port "$app_port" \
    >"$RUN_DIR/$workload.app.log" 2>&1 &
  PIDS+=($!)
  "$PROXY" --config "$file" --concurrency 1 --log-level info \
    >"$RUN_DIR/$workload.access.log" 2>"$RUN_DIR/$workload.proxy.log" &
  PIDS+=($!)
  PROXY_PIDS+=($!)
  printf '    %-12s app 127.0.0.1:%-5s sidecar admin :%s outbound :%s inbound :%s\n' \
    "$workload" "$app_port" "$admin" "$out" "$in"
  ADMIN_PORTS+=("$admin")
  SUMMARY_ARGS+=("$workload=$admin")
  if [[ $service == productpage ]]; then PP_INBOUND=$in; PP_ADMIN=$admin; fi
done
[[ -n $PP_INBOUND ]] || die "no productpage workload in $CONFIG_DIR"

say "waiting for every sidecar's /ready"
if ! "$PY" "$HERE/meshctl.py" wait-ready 20 "${ADMIN_PORTS[@]}"; then
  for f in "$RUN_DIR"/*.proxy.log; do
    echo "--- $(basename "$f") (last lines)"; tail -n 5 "$f"
  done
  die "sidecars did not become ready"
fi
say "all sidecars ready"

URL="http://127.0.0.1:$PP_INBOUND/productpage"
say "one request: curl -H 'Host: productpage:9080' $URL"
curl -sS --noproxy '*' --max-time 10 -D "$RUN_DIR/first.headers" -o "$RUN_DIR/first.body" \
  -H 'Host: productpage:9080' "$URL" || true
sed -n '1p;/^x-request-id/Ip;/^traceparent/Ip' "$RUN_DIR/first.headers" | sed 's/^/    /'
"$PY" - "$RUN_DIR/first.body" <<'EOF' || true
import json, sys
try:
    page = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"    (body is not the productpage JSON: {e})"); sys.exit()
rv = page.get("reviews", {})
print(f"    details: {page.get('details', {}).get('title', page.get('details'))}")
print(f"    reviews: served by {rv.get('podname', rv)}")
EOF

say "driving traffic for ${TRAFFIC_SECONDS}s through productpage's sidecar (1 in 4 as end-user jason)"
"$PY" "$HERE/meshctl.py" traffic "$TRAFFIC_SECONDS" "$URL" "productpage:9080"

sleep 0.5
say "what the sidecars' /metrics report (istio_requests_total, istio_request_duration_milliseconds)"
"$PY" "$HERE/meshctl.py" summary "${SUMMARY_ARGS[@]}"

echo
say "where to look"
for line in "${PLAN[@]}"; do
  read -r workload _ _ _ admin _ _ _ <<<"$line"
  printf '    %-12s http://127.0.0.1:%s/metrics  /config_dump  /clusters  /ready\n' "$workload" "$admin"
done
echo "    access logs (JSON lines) and sidecar logs: $RUN_DIR/"
echo "    try: curl -H 'Host: productpage:9080' -H 'end-user: jason' $URL"

if [[ $KEEP == 1 ]]; then
  say "mesh is up; press Ctrl-C to stop"
  while true; do
    for pid in "${PROXY_PIDS[@]}"; do
      kill -0 "$pid" 2>/dev/null || die "a sidecar (pid $pid) exited; see $RUN_DIR"
    done
    sleep 1
  done
fi
