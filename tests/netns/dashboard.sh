#!/usr/bin/env bash
# ctest "netns-dashboard": the web dashboard of real grapped daemons, each in its own network
# namespace on a bridge this test creates (and always removes), fetched over HTTP as a browser
# would (Python's HTTP client), then in headless Chromium:
#   the page and its assets; the state lists every node; a node killed turns dead within the
#   membership's detection time; the load history gains points; the event stream sends the state
#   at least once a second; an action without a session is refused, one with the session of
#   `grappe dashboard`'s link acts (block, seen by `grappe node show`), the link works once; then
#   the same in headless Chromium (tests/netns/dashboard_browser.py), with node 2's job listed on
#   node 1's page.
set -euo pipefail
GRAPPED=$(readlink -f "$1"); GRAPPE=$(readlink -f "$2"); JOBINIT=$(readlink -f "$3")
[ "$(id -u)" -eq 0 ] || { echo "SKIP: network namespaces need root"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: iproute2 (ip) is not installed"; exit 77; }
SRC=$(cd "$(dirname "$0")/../.." && pwd)
NETNS_TAG=d$$
NETNS_TMP=$(mktemp -d)
TMP=$NETNS_TMP
# shellcheck source=../../ci/netns-lib.sh
. "$SRC/ci/netns-lib.sh"
trap 'netns_cleanup; rm -rf "$TMP"' EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$TMP"/n*.log; do echo "--- $f" >&2; tail -15 "$f" >&2; done
  exit 1
}
NETNS_GRAPPED_ARGS="--dashboard-port 7480 --dashboard-assets $SRC/overlay/usr/share/grappe/dashboard --job-init $JOBINIT"
netns_setup 3
for i in 1 2 3; do netns_start "$i"; done

# web I CHECK [ARG]: a check of tests/netns/dashboard_client.py against node I, from its namespace.
web() { local i=$1; shift; ip netns exec "$NETNS_TAG-$i" python3 "$SRC/tests/netns/dashboard_client.py" "10.213.0.$(( i + 1 ))" "$@"; }
wait_state() {  # wait_state SECONDS VIEWER NODE STATE
  local t0 got; t0=$(date +%s)
  until got=$(web "$2" state "node$3" 2>&1) && [ "$got" = "$4" ]; do
    [ $(( $(date +%s) - t0 )) -lt "$1" ] || fail "node$3 not $4 in node$2's dashboard within $1 s: $got"
    sleep 0.2
  done
}

wait_state 20 1 2 alive
wait_state 20 1 3 alive
echo "ok: node 1's dashboard lists node2 and node3 alive"
web 1 page || fail "the page"
echo "ok: the page, its script and its style, with a CSP; no path outside the assets"
out=$(web 1 history node2) || fail "the load history: $out"
echo "ok: $out"
out=$(web 1 events) || fail "the event stream: $out"
echo "ok: $out"
web 1 refused || fail "an action without a session"
LINK=$("$GRAPPE" --socket "$TMP/n1.sock" dashboard) || fail "grappe dashboard: $LINK"
TOKEN=$(grep -o 'token=[0-9a-f]\{64\}' <<<"$LINK" | head -1 | cut -d= -f2)
[ -n "$TOKEN" ] || fail "grappe dashboard printed no link with a token: $LINK"
web 1 session "$TOKEN" || fail "the session's action"
"$GRAPPE" --socket "$TMP/n1.sock" node show > "$TMP/show.txt" 2>&1
grep -q "^flags block" "$TMP/show.txt" || fail "block from the dashboard not applied: $(cat "$TMP/show.txt")"
echo "ok: without a session an action is refused; grappe dashboard's link (once) gives a session whose block applies"

"$GRAPPE" --socket "$TMP/n1.sock" node unblock > /dev/null

# The same in a real browser (headless Chromium driven by Selenium, from node 1's namespace).
BROWSER_SKIP=
for need in /usr/bin/chromium /usr/bin/chromedriver; do [ -x "$need" ] || BROWSER_SKIP="$need is missing"; done
/usr/bin/python3 -c "import selenium" 2>/dev/null || BROWSER_SKIP="python3-selenium is missing"
if [ -z "$BROWSER_SKIP" ]; then
  mkdir -p "$SRC/out/test"
  LINK=$("$GRAPPE" --socket "$TMP/n1.sock" dashboard) || fail "grappe dashboard: $LINK"
  TOKEN=$(grep -o 'token=[0-9a-f]\{64\}' <<<"$LINK" | head -1 | cut -d= -f2)
  # A job of node 2: node 1's page lists it too (from node 2's own dashboard).
  JOB2=$(cd / && "$GRAPPE" --socket "$TMP/n2.sock" run -d --stay -- sleep 120) || fail "grappe run on node 2: $JOB2"
  disown "${NETNS_PIDS[3]}" 2>/dev/null || true  # the browser's script kills it: no "Killed" line
  ip netns exec "$NETNS_TAG-1" env HOME="$TMP" /usr/bin/python3 "$SRC/tests/netns/dashboard_browser.py" "http://10.213.0.2:7480/" \
    "$SRC/out/test/dashboard-map.png" "${NETNS_PIDS[3]}" "$TOKEN" "$JOB2" || fail "the dashboard in a browser"
  "$GRAPPE" --socket "$TMP/n1.sock" node show > "$TMP/show.txt" 2>&1
  grep -q "^flags block" "$TMP/show.txt" || fail "the page's block button did not block the node: $(cat "$TMP/show.txt")"
  echo "ok: the page's block button (with the session) blocked node 1"
else
  { kill -9 "${NETNS_PIDS[3]}"; wait "${NETNS_PIDS[3]}"; } 2>/dev/null || true
  t0=$(date +%s)
  wait_state 20 1 3 dead
  echo "ok: node3 killed: dead in node 1's dashboard after $(( $(date +%s) - t0 )) s"
  echo "SKIP: the checks in a real browser: $BROWSER_SKIP (./build.sh deps installs chromium, chromium-driver and python3-selenium)"
  exit 77
fi
echo "netns-dashboard: all checks passed"
