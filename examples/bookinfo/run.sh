#!/usr/bin/env bash
# Runs the Bookinfo example mesh on 127.0.0.1 through the control plane: weft-control (config
# directory configs/example/dynamic/mesh.d, tokens configs/example/dynamic/tokens.yaml), then one
# demo app and one weft-proxy sidecar in dynamic mode per workload (bootstraps
# configs/example/dynamic/bootstrap-*.yaml: they register and get every resource pushed). Waits
# until every sidecar is ready and SYNCED, sends traffic through productpage's sidecar, then
# prints what the sidecars' /metrics saw and each node's status from GET /v1/nodes.
#
#   examples/bookinfo/run.sh            ~25 s, then stops everything (control plane last);
#                                       halfway through the traffic, routes/reviews-v3.yaml is
#                                       applied through the API (reviews: all but jason to v3)
#   KEEP=1 examples/bookinfo/run.sh     keeps the mesh up until Ctrl-C
#   STATIC=1 examples/bookinfo/run.sh   no control plane: the sidecars read configs/example/
#                                       (bootstrap-*.yaml with resources: [mesh.yaml])
#
# Environment: WEFT_BIN_DIR (default build/bin), TRAFFIC_SECONDS (default 15),
# CONFIG_DIR (default configs/example/dynamic, or configs/example with STATIC=1),
# CONTROL_PORT (default 15010: must match control_plane.url in the bootstraps).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
HERE=$ROOT/examples/bookinfo
BIN_DIR=${WEFT_BIN_DIR:-$ROOT/build/bin}
PROXY=$BIN_DIR/weft-proxy
CONTROL=$BIN_DIR/weft-control
STATIC=${STATIC:-0}
if [[ $STATIC == 1 ]]; then
  CONFIG_DIR=${CONFIG_DIR:-$ROOT/configs/example}
else
  CONFIG_DIR=${CONFIG_DIR:-$ROOT/configs/example/dynamic}
fi
TRAFFIC_SECONDS=${TRAFFIC_SECONDS:-15}
KEEP=${KEEP:-0}
CONTROL_PORT=${CONTROL_PORT:-15010}
CONTROL_URL=https://127.0.0.1:$CONTROL_PORT
CONTROL_TOKEN=$CONFIG_DIR/tokens/operator.token
PY=$(command -v python3)

say() { printf '==> %s\n' "$*"; }
die() { printf 'run: %s\n' "$*" >&2; exit 1; }

[[ -x $PROXY ]] || die "$PROXY not found: build first (make run does)"
if [[ $STATIC != 1 ]]; then
  [[ -x $CONTROL ]] || die "$CONTROL not found: build first (make run does)"
  [[ -d $CONFIG_DIR/mesh.d && -f $CONFIG_DIR/tokens.yaml && -f $CONTROL_TOKEN ]] ||
    die "$CONFIG_DIR needs mesh.d/, tokens.yaml and tokens/operator.token"
fi
shopt -s nullglob
BOOTSTRAPS=("$CONFIG_DIR"/bootstrap-*.yaml)
shopt -u nullglob
[[ ${#BOOTSTRAPS[@]} -gt 0 ]] || die "no bootstrap-*.yaml in $CONFIG_DIR"

RUN_DIR=$(mktemp -d "${TMPDIR:-/tmp}/weft-bookinfo.XXXXXX")
if [[ $STATIC != 1 ]]; then
  # The API is served over TLS: the sidecars (ca_certificate: control-data/trust-bundle.pem,
  # relative to their bootstrap) and meshctl.py verify it with the trust bundle weft-control
  # writes to its data dir. So the sidecars run from a copy of the config directory that holds
  # that data dir.
  cp -r "$CONFIG_DIR" "$RUN_DIR/config"
  CONTROL_DATA=$RUN_DIR/config/control-data
  export WEFT_CA_CERTIFICATE=$CONTROL_DATA/trust-bundle.pem
  BOOTSTRAPS=("${BOOTSTRAPS[@]/#$CONFIG_DIR/$RUN_DIR/config}")
fi
PIDS=()      # everything started here, stopped on exit
PROXY_PIDS=()
CONTROL_PID=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [[ ${#PIDS[@]} -gt 0 ]]; then
    say "stopping ${#PIDS[@]} processes (sidecars drain${CONTROL_PID:+ and deregister} first, then the apps)"
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
  fi
  if [[ -n $CONTROL_PID ]]; then
    # The control plane last: the sidecars have deregistered by now.
    say "stopping weft-control"
    kill -TERM "$CONTROL_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$CONTROL_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CONTROL_PID" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
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
if [[ $STATIC != 1 ]]; then
  port_busy "$CONTROL_PORT" &&
    die "port $CONTROL_PORT (for weft-control) is already in use on 127.0.0.1; stop what uses it"
  say "starting weft-control on $CONTROL_URL (config dir ${CONFIG_DIR#$ROOT/}/mesh.d)"
  "$CONTROL" serve --listen "127.0.0.1:$CONTROL_PORT" --config-dir "$CONFIG_DIR/mesh.d" \
    --data-dir "$CONTROL_DATA" --tokens "$CONFIG_DIR/tokens.yaml" \
    >"$RUN_DIR/control.log" 2>&1 &
  CONTROL_PID=$!
  if ! "$PY" "$HERE/meshctl.py" cp-ready 10 "$CONTROL_URL" "$CONTROL_TOKEN"; then
    tail -n 20 "$RUN_DIR/control.log" >&2
    die "weft-control did not become ready"
  fi
  if [[ -f $CONFIG_DIR/routes/reviews-v1-v3.yaml ]]; then
    say "applying ${CONFIG_DIR#$ROOT/}/routes/reviews-v1-v3.yaml through the API"
    "$PY" "$HERE/meshctl.py" cp-apply "$CONTROL_URL" "$CONTROL_TOKEN" \
      "$CONFIG_DIR/routes/reviews-v1-v3.yaml"
  fi
fi

say "starting ${#PLAN[@]} workloads (apps and sidecars), logs in $RUN_DIR"
ADMIN_PORTS=()
SUMMARY_ARGS=()
NODE_IDS=()
PP_INBOUND=""
PP_ADMIN=""
for line in "${PLAN[@]}"; do
  read -r workload service version app_port admin out in file node_id <<<"$line"
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
  NODE_IDS+=("$node_id")
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
if [[ $STATIC != 1 ]]; then
  say "waiting until GET /v1/nodes shows every node SYNCED"
  if ! "$PY" "$HERE/meshctl.py" cp-synced 20 "$CONTROL_URL" "$CONTROL_TOKEN" "${NODE_IDS[@]}"; then
    tail -n 20 "$RUN_DIR/control.log" >&2
    die "the sidecars did not converge"
  fi
  "$PY" "$HERE/meshctl.py" cp-nodes "$CONTROL_URL" "$CONTROL_TOKEN"
fi

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
SHIFT=""
if [[ $STATIC != 1 && -f $CONFIG_DIR/routes/reviews-v3.yaml ]]; then
  # Halfway through, the reviews VirtualService changes through the API: everyone but jason
  # moves to v3, pushed to every sidecar while the requests flow.
  half=$((TRAFFIC_SECONDS / 2))
  echo "  at ${half}s: apply routes/reviews-v3.yaml (everyone but jason from v1/v3 to v3)"
  ( sleep "$half"
    "$PY" "$HERE/meshctl.py" cp-apply "$CONTROL_URL" "$CONTROL_TOKEN" \
      "$CONFIG_DIR/routes/reviews-v3.yaml" 10 ) &
  SHIFT=$!
fi
"$PY" "$HERE/meshctl.py" traffic "$TRAFFIC_SECONDS" "$URL" "productpage:9080"
if [[ -n $SHIFT ]]; then wait "$SHIFT" || say "the change did not reach every sidecar"; fi

sleep 0.5
say "what the sidecars' /metrics report (istio_requests_total, istio_request_duration_milliseconds)"
"$PY" "$HERE/meshctl.py" summary "${SUMMARY_ARGS[@]}"
if [[ $STATIC != 1 ]]; then
  echo
  say "what weft-control reports (GET $CONTROL_URL/v1/nodes)"
  "$PY" "$HERE/meshctl.py" cp-nodes "$CONTROL_URL" "$CONTROL_TOKEN"
fi

echo
say "where to look"
for line in "${PLAN[@]}"; do
  read -r workload _ _ _ admin _ _ _ <<<"$line"
  printf '    %-12s http://127.0.0.1:%s/metrics  /config_dump  /clusters  /ready\n' "$workload" "$admin"
done
if [[ $STATIC != 1 ]]; then
  printf '    %-12s %s/v1/nodes  /v1/resources  /v1/prometheus/targets  /metrics\n' \
    weft-control "$CONTROL_URL"
  echo "                 (curl --cacert $WEFT_CA_CERTIFICATE"
  echo "                  -H \"Authorization: Bearer \$(cat ${CONTROL_TOKEN#$ROOT/})\")"
fi
echo "    access logs (JSON lines), sidecar and control plane logs: $RUN_DIR/"
echo "    try: curl -H 'Host: productpage:9080' -H 'end-user: jason' $URL"

if [[ $KEEP == 1 ]]; then
  say "mesh is up; press Ctrl-C to stop"
  while true; do
    for pid in "${PROXY_PIDS[@]}"; do
      kill -0 "$pid" 2>/dev/null || die "a sidecar (pid $pid) exited; see $RUN_DIR"
    done
    if [[ -n $CONTROL_PID ]]; then
      kill -0 "$CONTROL_PID" 2>/dev/null || die "weft-control exited; see $RUN_DIR/control.log"
    fi
    sleep 1
  done
fi
