#!/usr/bin/env bash
# models/check.sh -- model-check the RePBFT abort-history switch (models/repbft-switch.pml).
#
#   bash models/check.sh            (needs spin and gcc: apt-get install -y spin gcc)
#
# Runs, each as spin -a -> gcc -DSAFETY -DMEMLIM=2048 -> ./pan -m10000, an exhaustive
# search of the whole state space (no bitstate hashing):
#   1. the correct model, with the engine's TC order (first follower first; "correct") and with
#      PROTOCOLS.md G12's order (leader first; -DTC_FIRST=0, "correct-g12"): every property must
#      hold (0 errors) and the search must be complete;
#   2. the H1 mutants (-DMUTANT_H1=1, 2, 3), and two mutants of the protocol around H1
#      (-DMUTANT_HISTORY, -DMUTANT_QUORUM): spin must find an assertion violation of PA/PE/PEP
#      (AGRC too for the quorum mutant);
#   3. the witnesses (-DWITNESS=1..8): each claims that a scenario is unreachable, and spin must
#      refute it, which shows that the model is not vacuous;
#   4. for information only, -DSTRICT_AGREEMENT: full agreement of accepted SWITCHes. Spin
#      refutes it (docs/repbft-model.md explains why), and the exit status does not depend on it.
# Exit status 0 iff 1, 2 and 3 all turn out as required. Each run prints a line of this form:
#   RESULT model=<name> errors=<n> violated=<assertion|-> states=<stored> transitions=<n> pan_seconds=<s> wall_seconds=<s> complete=<yes|no>
# The correct models are compiled with -O2 and run one after the other in the background while
# the short runs (compiled with -O0, which compiles faster) go on in the foreground.
# Optional environment: MAXP=1 (one TC rotation instead of two), KEEP=1 (keep the work directory).
set -uo pipefail

src="${BASH_SOURCE[0]}"
case "$src" in */*) here="${src%/*}" ;; *) here=. ;; esac
here="$(cd "$here" && pwd)"
model="$here/repbft-switch.pml"

for tool in spin gcc; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "check.sh: '$tool' is not installed. Install it with: apt-get install -y spin gcc" >&2
    exit 2
  fi
done
[ -f "$model" ] || { echo "check.sh: $model not found" >&2; exit 2; }

work="$(mktemp -d "${TMPDIR:-/tmp}/repbft-spin.XXXXXX")"
if [ "${KEEP:-0}" = "1" ]; then echo "work directory: $work"; else trap 'rm -rf "$work"' EXIT; fi

extra=()
[ -n "${MAXP:-}" ] && extra+=("-DMAXP=$MAXP")

now() { date +%s.%N; }

# run <name> <gcc -O level> <short|full> <spin defines...>: verifies in $work/<name>/ and writes
# $work/<name>.result. "short" makes pan look for the shortest counterexample (-DREACH, -i).
run() {
  local name="$1" opt="$2" mode="$3"; shift 3
  local reach="" iter=""
  if [ "$mode" = short ]; then reach="-DREACH"; iter="-i"; fi
  local dir="$work/$name" t0 t1
  mkdir -p "$dir"
  cp "$model" "$dir/model.pml"
  t0=$(now)
  (
    cd "$dir" || exit 1
    spin "$@" "${extra[@]}" -a model.pml >spin.log 2>&1 || { echo "spin -a failed" >>spin.log; exit 1; }
    gcc "$opt" -w -DSAFETY -DMEMLIM=2048 $reach -o pan pan.c >gcc.log 2>&1 || { echo "gcc failed" >>gcc.log; exit 1; }
    ./pan -m10000 $iter >pan.log 2>&1
    if [ -f model.pml.trail ]; then
      spin "$@" "${extra[@]}" -t model.pml 2>&1 | grep -E '^ {6,}[^ ]' | grep -v -E '^ +[A-Za-z0-9_]+(\[[0-9]+\])? = ' | sed 's/^ *//' >trail.txt
    fi
  )
  local rc=$?
  t1=$(now)
  local log="$dir/pan.log"
  local errors states transitions pan_s violated complete
  errors=$(grep -o 'errors: [0-9]*' "$log" 2>/dev/null | tail -1 | awk '{print $2}')
  states=$(awk '/states, stored/{print $1; exit}' "$log" 2>/dev/null)
  transitions=$(awk '/transitions \(= stored\+matched\)/{print $1; exit}' "$log" 2>/dev/null)
  pan_s=$(grep -o 'elapsed time [0-9.e+-]*' "$log" 2>/dev/null | awk '{print $3}')
  violated=$(grep -o 'assertion violated [A-Za-z0-9_]*' "$log" 2>/dev/null | head -1 | awk '{print $3}')
  complete=yes
  if [ "$rc" != 0 ] || [ -z "$errors" ] || grep -q -E 'max search depth too small|out of memory' "$log" 2>/dev/null; then
    complete=no
  elif [ "$errors" != 0 ]; then
    complete=stopped-at-error
  elif grep -q 'Search not completed' "$log"; then
    complete=no
  fi
  printf 'RESULT model=%s errors=%s violated=%s states=%s transitions=%s pan_seconds=%s wall_seconds=%.1f complete=%s\n' \
    "$name" "${errors:-?}" "${violated:--}" "${states:-?}" "${transitions:-?}" "${pan_s:-?}" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" "$complete" >"$work/$name.result"
}

echo "== RePBFT abort-history switch: $(spin -V | head -1)"
echo "== model: models/repbft-switch.pml ${extra[*]:-}"
start=$(now)

( run correct -O2 full; run correct-g12 -O2 full -DTC_FIRST=0 ) &
correct_pid=$!

fail=0
expect_error() {   # <name> <acceptable assertion regex>
  local r; r=$(cat "$work/$1.result"); echo "$r"
  if ! grep -q -E "errors=[1-9]" <<<"$r" || ! grep -q -E "violated=($2) " <<<"$r"; then
    echo "   FAIL: $1 should have violated $2"; fail=1
  fi
}

echo "-- mutants of rule H1 (each must be refuted: PA, PE or PEP violated)"
for m in 1 2 3; do
  if [ "$m" = 1 ]; then mode=short; else mode=full; fi
  run "mutant-h1-$m" -O0 "$mode" "-DMUTANT_H1=$m"
  expect_error "mutant-h1-$m" 'PA_property|PE_property|PEP_property'
  if [ "$m" = 1 ]; then
    echo "   shortest counterexample (MUTANT_H1=1: a proof counts as valid with f = 1 genuine endorsement):"
    sed 's/^/     | /' "$work/mutant-h1-1/trail.txt" 2>/dev/null
  fi
done

echo "-- mutants of the protocol around H1 (each must be refuted too)"
run mutant-history -O0 full -DMUTANT_HISTORY
expect_error mutant-history 'PA_property|PE_property|PEP_property'
run mutant-quorum -O0 full -DMUTANT_QUORUM
expect_error mutant-quorum 'PA_property|PE_property|PEP_property|AGRC_property'

echo "-- witnesses (each scenario must be reachable)"
for w in 1 2 3 4 5 6 7 8; do
  run "witness-$w" -O0 full "-DWITNESS=$w"
  expect_error "witness-$w" 'WITNESS_reached'
done

echo "-- information only: strict agreement of all accepted SWITCHes, no faulty replica (expected to be refuted)"
run strict-agreement -O0 short -DSTRICT_AGREEMENT -DFAULTY=4
cat "$work/strict-agreement.result"
sed 's/^/     | /' "$work/strict-agreement/trail.txt" 2>/dev/null

wait "$correct_pid"
echo "-- correct model (H1/H2 as designed): all properties must hold, exhaustive search"
for name in correct correct-g12; do
  r=$(cat "$work/$name.result" 2>/dev/null || echo "RESULT model=$name (no result)"); echo "$r"
  if ! grep -q "errors=0 " <<<"$r" || ! grep -q "complete=yes" <<<"$r"; then
    echo "   FAIL: the correct model ($name) must have 0 errors in a complete search"; fail=1
    sed 's/^/     | /' "$work/$name/pan.log" 2>/dev/null | head -30
    sed 's/^/     | /' "$work/$name/trail.txt" 2>/dev/null
  fi
  grep -E 'State-vector|total actual memory' "$work/$name/pan.log" 2>/dev/null | sed 's/^/     /'
done

end=$(now)
printf '== total wall time: %.1f s\n' "$(awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')"
if [ "$fail" = 0 ]; then
  echo "check.sh: PASS (correct model: 0 errors; every mutant refuted; every witness reached)"
else
  echo "check.sh: FAIL"
fi
exit "$fail"
