# Shared by tests/netns/*.sh and ci/bench-membership: a private L2 segment made of network
# namespaces on a bridge, and grapped daemons in them. Source it; call netns_cleanup on exit.
# Needs: NETNS_TAG (short, unique), GRAPPED, NETNS_TMP. Optional: NETNS_GRAPPED_ARGS (extra flags).
NETNS_PIDS=()
NETNS_COUNT=0

netns_setup() {  # netns_setup COUNT
  NETNS_COUNT=$1
  ip link add "${NETNS_TAG}br" type bridge
  ip link set "${NETNS_TAG}br" type bridge mcast_snooping 0
  ip link set "${NETNS_TAG}br" up
  local i
  for i in $(seq 1 "$NETNS_COUNT"); do
    ip netns add "$NETNS_TAG-$i"
    ip link add "${NETNS_TAG}v$i" type veth peer name eth0 netns "$NETNS_TAG-$i"
    ip link set "${NETNS_TAG}v$i" master "${NETNS_TAG}br" up
    ip -n "$NETNS_TAG-$i" link set lo up
    ip -n "$NETNS_TAG-$i" addr add "10.213.$(( i / 250 )).$(( i % 250 + 1 ))/16" dev eth0
    ip -n "$NETNS_TAG-$i" link set eth0 up
  done
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$NETNS_TMP/key"
}

netns_cleanup() {
  local p i
  for p in "${NETNS_PIDS[@]}"; do { kill -9 "$p"; wait "$p"; } 2>/dev/null || true; done
  for i in $(seq 1 "$NETNS_COUNT"); do
    ip netns del "$NETNS_TAG-$i" 2>/dev/null || true
    ip link del "${NETNS_TAG}v$i" 2>/dev/null || true
  done
  ip link del "${NETNS_TAG}br" 2>/dev/null || true
}

netns_start() {  # netns_start I [KEYFILE]: grapped "nodeI" in namespace I; its PID in NETNS_PIDS[I]
  local i=$1 key=${2:-$NETNS_TMP/key}
  ip netns exec "$NETNS_TAG-$i" "$GRAPPED" --config /nonexistent --key "$key" --socket "$NETNS_TMP/n$i.sock" \
    --state-dir "$NETNS_TMP/state$i" --name "node$i" --id "$(printf 'a1b2c3d4%024x' "$i")" --speed 1000 \
    --cluster netns-test ${NETNS_GRAPPED_ARGS:-} >> "$NETNS_TMP/n$i.log" 2>&1 &
  NETNS_PIDS[$i]=$!
}

# netns_single ARGS…: the set-up of the suites that drive one daemon (tests/netns/jobs.sh, api.sh):
# NETNS_TMP (also TMP), grapped's extra ARGS, the cleanup trap, fail (prints node 1's log) and
# g (grappe against node 1). Call it before netns_setup 1; netns_start 1.
netns_single() {
  NETNS_TMP=$(mktemp -d)
  TMP=$NETNS_TMP
  NETNS_GRAPPED_ARGS="$*"
  trap 'netns_cleanup; rm -rf "$TMP"' EXIT
  fail() { echo "FAIL: $*" >&2; tail -20 "$TMP/n1.log" >&2; exit 1; }
  g() { "$GRAPPE" --socket "$TMP/n1.sock" "$@"; }
}
