#!/usr/bin/env bash
# ctest "netns-membership": real grapped daemons, each in its own network namespace on a bridge
# this test creates (and always removes): discovery, failure detection, suspicion and
# refutation, another cluster's key, packet loss, restart with the same node number; the cluster
# key's epochs: a rekey, a restart keeping its epoch, a node forgotten (shut out, refused again
# when it comes back from its medium), unforgotten (rejoins by itself).
set -euo pipefail
GRAPPED=$(readlink -f "$1"); GRAPPE=$(readlink -f "$2")
[ "$(id -u)" -eq 0 ] || { echo "SKIP: network namespaces need root"; exit 77; }
command -v ip >/dev/null || { echo "SKIP: iproute2 (ip) is not installed"; exit 77; }
SRC=$(cd "$(dirname "$0")/../.." && pwd)
NETNS_TAG=g$$
NETNS_TMP=$(mktemp -d)
TMP=$NETNS_TMP
N=5
# shellcheck source=../../ci/netns-lib.sh
. "$SRC/ci/netns-lib.sh"
cleanup() {
  netns_cleanup
  [ -n "${GRAPPE_KEEP_NETNS_LOGS:-}" ] && echo "logs kept in $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$TMP"/n*.log; do echo "--- $f" >&2; tail -15 "$f" >&2; done
  exit 1
}
now() { date +%s.%N; }
since() { python3 -c "print(round($(now) - $1, 2))"; }

netns_setup 8
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$TMP/otherkey"
start() { netns_start "$@"; PIDS[$1]=${NETNS_PIDS[$1]}; }
PIDS=()

# seen VIEWER NODE -> state of nodeNODE in VIEWER's view ("none" if unknown)
seen() {
  "$GRAPPE" --socket "$TMP/n$1.sock" nodes --json 2>/dev/null |
    python3 -c "import json,sys; d={n['name']:n['state'] for n in json.load(sys.stdin)}; print(d.get('node$2','none'))" 2>/dev/null || echo none
}
# wait_for SECONDS DESCRIPTION COMMAND…: polls until COMMAND succeeds
wait_for() {
  local limit=$1 what=$2 t0; shift 2; t0=$(now)
  while ! "$@"; do
    python3 -c "import sys; sys.exit(0 if $(now) - $t0 < $limit else 1)" || fail "$what not within $limit s"
    sleep 0.1
  done
}
all_alive() {  # all_alive NODES…: every listed node sees every other listed node alive
  for v in "$@"; do
    "$GRAPPE" --socket "$TMP/n$v.sock" nodes --json 2>/dev/null | python3 -c "
import json,sys
d={n['name']:n['state'] for n in json.load(sys.stdin)}
sys.exit(0 if all(d.get('node'+w)=='alive' for w in sys.argv[1:]) else 1)" "$@" 2>/dev/null || return 1
  done
}
proto_sum() {  # proto_sum COUNTER VIEWERS…: a membership-protocol counter summed over viewers
  local what=$1; shift
  for v in "$@"; do
    "$GRAPPE" --socket "$TMP/n$v.sock" status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['cluster_status']['protocol']['$what'])" || echo x
  done | python3 -c "import sys; v=sys.stdin.read().split(); sys.exit('status unreadable') if 'x' in v else print(sum(map(int, v)))"
}
everyone_sees() {  # everyone_sees STATE NODE VIEWERS…
  local st=$1 who=$2; shift 2
  for v in "$@"; do [ "$(seen "$v" "$who")" = "$st" ] || return 1; done
}

echo "== $N daemons discover each other"
t0=$(now)
for i in $(seq 1 $N); do start "$i"; done
wait_for 3 "all $N nodes seeing each other" all_alive 1 2 3 4 5
echo "ok: 5 nodes all alive everywhere after $(since "$t0") s"
numbers_and_loads() {
  "$GRAPPE" --socket "$TMP/n1.sock" nodes --json | python3 -c "
import json,sys; ns=json.load(sys.stdin); nums=[n['number'] for n in ns]
sys.exit(0 if len(set(nums))==len(nums) and 0 not in nums and all('load' in n and n['cpus']>=1 for n in ns) else 1)"
}
wait_for 5 "distinct node numbers and a load vector for every node" numbers_and_loads
"$GRAPPE" --socket "$TMP/n1.sock" nodes
echo "ok: distinct node numbers and load vectors for every node after $(since "$t0") s"
NUM3=$("$GRAPPE" --socket "$TMP/n3.sock" status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['cluster_status']['self']['number'])")

echo "== kill -9 of node5: dead everywhere within the suspicion bound"
{ kill -9 "${PIDS[5]}"; wait "${PIDS[5]}"; } 2>/dev/null || true; t0=$(now)
wait_for 8 "node5 dead on every node" everyone_sees dead 5 1 2 3 4
echo "ok: node5 dead everywhere after $(since "$t0") s"

echo "== SIGSTOP/SIGCONT of node4: suspect, then alive again by refutation"
kill -STOP "${PIDS[4]}"
wait_for 5 "node4 suspected" bash -c "[ \"\$(\"$GRAPPE\" --socket $TMP/n1.sock nodes --json | python3 -c \"import json,sys; print({n['name']:n['state'] for n in json.load(sys.stdin)}['node4'])\")\" != alive ]"
echo "ok: node4 is $(seen 1 4) on node1"
kill -CONT "${PIDS[4]}"; t0=$(now)
wait_for 6 "node4 alive again" all_alive 1 2 3 4
grep -q "refuting suspicion" "$TMP/n4.log" || fail "node4 did not refute"
echo "ok: node4 alive again after $(since "$t0") s (refuted)"

echo "== a daemon with another cluster's key never appears"
start 6 "$TMP/otherkey"
sleep 3
for v in 1 2 3 4; do [ "$(seen "$v" 6)" = none ] || fail "node6 (other key) appears on node$v"; done
REJ=$("$GRAPPE" --socket "$TMP/n1.sock" status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['cluster_status']['packets']['rejected'])")
[ "$REJ" -gt 0 ] || fail "node1 counted no rejected packets"
[ "$(seen 6 1)" = none ] || fail "node6 sees node1"
echo "ok: node6 invisible; node1 rejected $REJ packets"
{ kill -9 "${PIDS[6]}"; wait "${PIDS[6]}"; } 2>/dev/null || true

echo "== restart: node3 leaves, comes back with the same number"
kill -TERM "${PIDS[3]}"; wait "${PIDS[3]}" 2>/dev/null || true
wait_for 3 "node3 marked left" everyone_sees left 3 1 2 4
start 3
wait_for 5 "node3 rejoined" all_alive 1 2 3 4
NUM3B=$("$GRAPPE" --socket "$TMP/n3.sock" status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['cluster_status']['self']['number'])")
[ "$NUM3" = "$NUM3B" ] || fail "node3 came back as number $NUM3B, was $NUM3"
echo "ok: node3 rejoined as number $NUM3B"

echo "== cluster rekey: every live member takes the new key, and nobody is declared dead"
keys() {  # keys NODE FIELD -> the field of grappe status's "keys" (epoch, credential, forgotten)
  "$GRAPPE" --socket "$TMP/n$1.sock" status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['cluster_status']['keys']['$2'])"
}
fpr() { "$GRAPPE" --socket "$TMP/n$1.sock" status --json | python3 -c "import json,sys; print(json.load(sys.stdin)['cluster_status']['key_fingerprint'])"; }
epochs_are() {  # epochs_are EPOCH NODES…
  local e=$1; shift
  for v in "$@"; do [ "$(keys "$v" epoch 2>/dev/null)" = "$e" ] || return 1; done
}
[ "$(keys 1 credential)" = invitation ] || fail "node1 (started with the invitation) does not say so"
FPR0=$(fpr 1)
D0=$(proto_sum deaths 1 2 3 4)
"$GRAPPE" --socket "$TMP/n1.sock" cluster rekey || fail "grappe cluster rekey failed"
"$GRAPPE" --socket "$TMP/n3.sock" status | grep -q "epoch" || fail "grappe status shows no key epoch"
wait_for 10 "key epoch 1 on every node" epochs_are 1 1 2 3 4
[ "$(fpr 1)" != "$FPR0" ] || fail "the key's fingerprint did not change with the rekey"
for v in 2 3 4; do [ "$(fpr "$v")" = "$(fpr 1)" ] || fail "node$v's key differs from node1's after the rekey"; done
sleep 3
all_alive 1 2 3 4 || fail "a member is not alive on every node after the rekey"
[ "$(proto_sum deaths 1 2 3 4)" = "$D0" ] || fail "a live member was declared dead during the rekey"
echo "ok: every member at key epoch 1 (fingerprint $(fpr 1)), none declared dead"
# An unprivileged user may not rekey.
if command -v setpriv >/dev/null; then
  chmod 600 "$TMP/key" "$TMP/otherkey"
  chmod 711 "$TMP"  # the socket's directory, for a moment (the key files in it are 0600)
  OUT=$(setpriv --reuid 65534 --regid 65534 --clear-groups "$GRAPPE" --socket "$TMP/n1.sock" cluster rekey 2>&1) && fail "an unprivileged user could rekey"
  chmod 700 "$TMP"
  echo "$OUT" | grep -q "only root" || fail "an unprivileged rekey was refused without the reason: $OUT"
  echo "ok: an unprivileged user is refused: $OUT"
fi

echo "== two rekeys at once, from two nodes: the cluster never splits"
"$GRAPPE" --socket "$TMP/n1.sock" cluster rekey > "$TMP/rk1" 2>&1 & RK1=$!
"$GRAPPE" --socket "$TMP/n3.sock" cluster rekey > "$TMP/rk3" 2>&1 & RK3=$!
wait $RK1 && OK1=yes || OK1=no
wait $RK3 && OK3=yes || OK3=no
same_key() { local f; f=$(fpr 1); for v in 2 3 4; do [ "$(fpr "$v")" = "$f" ] || return 1; done; }
wait_for 10 "one key on every node after two concurrent rekeys" same_key
sleep 3
all_alive 1 2 3 4 || fail "the cluster split after two concurrent rekeys: $(cat "$TMP/rk1" "$TMP/rk3")"
[ "$(proto_sum deaths 1 2 3 4)" = "$D0" ] || fail "a live member was declared dead during two concurrent rekeys"
E2=$(keys 1 epoch)
echo "ok: concurrent rekeys (node1: $OK1, node3: $OK3) left one key, epoch $E2, on every node; none declared dead"
# A refused rekey names the other one and what to do (stage refused here, or refused by a member).
[ "$OK1" = no ] && grep -qE "rekey: .*(another rekey|took too long).*(try|run it) again" "$TMP/rk1" || [ "$OK1" = yes ] || fail "node1's refused rekey did not say why: $(cat "$TMP/rk1")"

echo "== grapped restarts at the epoch it had (state directory)"
kill -TERM "${PIDS[2]}"; wait "${PIDS[2]}" 2>/dev/null || true
start 2
wait_for 8 "node2 back after its restart" all_alive 1 2 3 4
[ "$(keys 2 epoch)" = "$E2" ] || fail "node2 restarted at epoch $(keys 2 epoch), not $E2"
echo "ok: node2 restarted at key epoch $E2"

echo "== node forget: node4 is shut out of the cluster (a rekey without it)"
OUT=$("$GRAPPE" --socket "$TMP/n2.sock" node forget node4 2>&1) || fail "grappe node forget node4 failed: $OUT"
E3=$((E2 + 1))
wait_for 10 "key epoch $E3 on nodes 1-3" epochs_are "$E3" 1 2 3
[ "$(keys 4 epoch)" = "$E2" ] || fail "the forgotten node4 got the new key"
wait_for 15 "node4 dead on nodes 1-3" everyone_sees dead 4 1 2 3
sees_nobody() { for w in "$@"; do [ "$(seen 4 "$w")" != alive ] || return 1; done; }
wait_for 15 "node4 seeing nobody alive" sees_nobody 1 2 3
all_alive 1 2 3 || fail "nodes 1-3 lost each other when node4 was forgotten"
[ "$(keys 1 forgotten)" = 1 ] && [ "$(keys 3 forgotten)" = 1 ] || fail "nodes 1 and 3 do not know node4 is forgotten"
echo "ok: node4 dead on nodes 1-3, which are at key epoch $E3; node4 holds epoch $E2 and sees nobody"

echo "== a new node from a medium joins at the new epoch by itself, and learns who is forgotten"
start 8
wait_for 20 "node8 in the cluster" all_alive 1 2 3 8
[ "$(keys 8 epoch)" = "$E3" ] || fail "node8 joined at epoch $(keys 8 epoch), not $E3"
wait_for 10 "node8 knowing node4 is forgotten" bash -c "[ \"\$(\"$GRAPPE\" --socket $TMP/n8.sock status --json | python3 -c \"import json,sys; print(json.load(sys.stdin)['cluster_status']['keys']['forgotten'])\")\" = 1 ]"
echo "ok: node8 rejoined from its invitation at epoch $E3 and knows node4 is forgotten"

echo "== the forgotten node, rebooted from its medium (the invitation, no state), is refused"
{ kill -9 "${PIDS[4]}"; wait "${PIDS[4]}"; } 2>/dev/null || true
rm -rf "$TMP/state4"
start 4
sleep 8
for v in 1 2 3 8; do [ "$(seen "$v" 4)" != alive ] || fail "forgotten node4 came back on node$v"; done
REF=$("$GRAPPE" --socket "$TMP/n1.sock" status --json | python3 -c "import json,sys; s=json.load(sys.stdin)['cluster_status']; print(s['keys']['rejoin']['refused'] + s['packets']['rejected_by_reason'].get('forgotten', 0))")
[ "$REF" -gt 0 ] || fail "node1 counted none of the forgotten node's attempts"
echo "ok: node4 (epoch $(keys 4 epoch)) stays out; node1 refused $REF of its packets and rejoin requests"

echo "== node unforget: node4, still running from its medium, rejoins by itself at the new epoch"
"$GRAPPE" --socket "$TMP/n3.sock" node unforget node4 || fail "grappe node unforget node4 failed"
wait_for 20 "node4 back in the cluster" all_alive 1 2 3 4 8
wait_for 5 "key epoch $((E3 + 1)) everywhere" epochs_are $((E3 + 1)) 1 2 3 4 8
grep -q "rejoined at key epoch $((E3 + 1))" "$TMP/n4.log" || fail "node4's log does not say it rejoined"
echo "ok: node4 rejoined at key epoch $((E3 + 1)) ($(grep -o 'rejoined at key epoch [0-9]* from [0-9.]*' "$TMP/n4.log" | tail -1))"

echo "== 5% packet loss: membership still converges"
LOSS=""
for i in 1 2 3 4 7; do
  if ip netns exec "$NETNS_TAG-$i" tc qdisc add dev eth0 root netem loss 5% 2>/dev/null; then LOSS="tc netem"
  elif command -v nft >/dev/null && ip netns exec "$NETNS_TAG-$i" nft -f - <<NFT
table inet loss {
  chain in {
    type filter hook input priority 0;
    numgen random mod 100 < 5 drop
  }
}
NFT
  then LOSS="nftables random drop (no netem in this kernel)"
  else echo "SKIP part: neither tc netem nor nftables can drop packets here"; LOSS=none; break; fi
done
if [ "$LOSS" != none ]; then
  D0=$(proto_sum deaths 1 2 3 4) && S0=$(proto_sum suspicions 1 2 3 4) || fail "grappe status gave no protocol counters"
  start 7; t0=$(now)
  wait_for 10 "convergence under loss" all_alive 1 2 3 4 7
  JOIN=$(since "$t0")
  sleep 5
  # A lost probe may make a node suspect for a moment; it refutes, and that is SWIM working.
  # A flap is a live node declared dead, or one not alive again within a suspicion timeout.
  wait_for 5 "every node alive again after 5 s under loss" all_alive 1 2 3 4 7
  D1=$(proto_sum deaths 1 2 3 4) && S1=$(proto_sum suspicions 1 2 3 4) || fail "grappe status gave no protocol counters"
  [ "$D1" = "$D0" ] || fail "membership flapped under 5% loss: $((D1 - D0)) live node(s) declared dead"
  echo "ok: under 5% loss, $((S1 - S0)) suspicion(s), all refuted, no node declared dead"
  "$GRAPPE" --socket "$TMP/n1.sock" nodes --json | python3 -c "
import json,sys; ns=json.load(sys.stdin); nums=[n['number'] for n in ns if n['number']]
assert len(set(nums))==len(nums), 'node numbers collide (a dead node\'s number was reused): %s' % nums" || fail "node numbers collide"
  echo "ok: with 5% loss ($LOSS) node7 joined in $JOIN s and no one flapped for 5 s"
fi
echo "netns membership: all checks passed"
