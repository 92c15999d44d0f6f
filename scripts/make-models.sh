#!/usr/bin/env bash
# Builds several models one after another (scripts/make-model.sh each) while the next ion's
# training database is made beside the current training at lower priority, so no core
# stands idle (never run in CI). Resumable like make-model.sh: run it again after an
# interruption; finished databases and models are skipped.
#
#   scripts/make-models.sh PLAN        e.g. scripts/make-models.sh scripts/plans/session6.txt
#   DRY=1 scripts/make-models.sh PLAN  prints the commands only
#   RUN=b scripts/make-models.sh PLAN  retrains every ion of PLAN on its existing database and
#                                      split under new names (make-model.sh RUN), e.g.
#                                      scripts/plans/session7.txt
#
# PLAN: one ion per line, `ION PER_DIAG WARM_ION EPOCHS TUNE [COUNT]` (COUNT default
# 100000; WARM_ION "-" for a fresh start); `#` starts a comment. Progress and failures go
# to data-local/make-models.status, each ion's output to data-local/make-<ion>.log.
set -euo pipefail
{ # bash reads this whole block before running it: editing the file cannot derail a running copy
plan=${1:?usage: scripts/make-models.sh PLAN}
[ -f "$plan" ] || { echo "no plan file $plan" >&2; exit 2; }
plan=$(realpath "$plan")
cd "$(dirname "$0")/.."
d=data-local
status=$d/make-models.status
mkdir -p $d
tagOf() { echo "$1" | tr -d '+' | tr 'A-Z' 'a-z'; }
lines() { sed -e 's/#.*//' "$plan" | awk 'NF'; }
note() { if [ -n "${DRY:-}" ]; then echo "$*"; else echo "$*" >> $status; fi; }
run() { # LOG COMMAND...: runs COMMAND with its output to LOG (DRY: prints it)
  local log=$1; shift
  if [ -n "${DRY:-}" ]; then echo "$* > $log"; else "$@" > "$log" 2>&1; fi
}
# make-model.sh step 1 (DB_ONLY), at lower priority
databases() {
  lines | while read -r ion per _warm _epochs _tune count; do
    local tag; tag=$(tagOf "$ion")
    if [ ! -f $d/$tag-d4h.h5 ]; then
      run $d/make-$tag-data.log env DB_ONLY=1 nice -n 10 scripts/make-model.sh "$ion" "${count:-100000}" 0 0 "$per" \
        || { note "FAILED database $ion"; continue; }
    fi
    note "database $ion $(date +%H:%M)"
  done
}
lines | while read -r ion per warm epochs tune count; do
  [[ "$per" =~ ^[0-9]+$ && "$epochs" =~ ^[0-9]+$ && "$tune" =~ ^[0-9]+$ ]] || { echo "$plan: bad line for $ion (ION PER_DIAG WARM_ION EPOCHS TUNE [COUNT])" >&2; exit 2; }
done
[ -n "${DRY:-}" ] || npx tsc -p tsconfig.json
if [ -n "${DRY:-}" ]; then databases; else : > $status; databases & fi
lines | while read -r ion per warm epochs tune count; do
  [ -n "${DRY:-}" ] || until grep -q "^database $ion " $status || grep -q "^FAILED database $ion$" $status; do sleep 20; done
  [ -z "${DRY:-}" ] && grep -q "^FAILED database $ion$" $status && continue
  [ "$warm" = "-" ] && warm=""
  run $d/make-$(tagOf "$ion")${RUN:-}.log nice -n 5 scripts/make-model.sh "$ion" "${count:-100000}" "$epochs" "$tune" "$per" $warm \
    || note "FAILED model $ion"
  note "model $ion $(date +%H:%M)"
done
wait
[ -n "${DRY:-}" ] || cat $status
exit
}
