#!/usr/bin/env bash
# One more training round for the sLCNN-7 of several ions, continuing the shipped models
# (models/ION) on their own databases and test splits: a machine that has none of the
# data-local networks of earlier sessions can still go on (never run in CI). Two lanes run
# side by side, one core each; in each lane an ion's database is made (or found in
# data-local/), then its round runs (`ONLY=slcnn7 RECIPE=adam RUN=$RUN scripts/make-model.sh
# ION COUNT 0 TUNE PER_DIAG shipped`: TUNE epochs of Adam on the MAE, lr LR default 4e-3,
# decaying linearly). The new model replaces models/ION only if it does better on that test
# split; its card copies the dense-baseline figures of the shipped card.
#
#   scripts/make-rounds.sh PLAN          e.g. RUN=e scripts/make-rounds.sh scripts/plans/session10b.txt
#   DRY=1 scripts/make-rounds.sh PLAN    prints the commands of each lane
#
# PLAN: one ion per line, `ION COUNT PER_DIAG [TUNE] [RUN] [SEEDS]` (TUNE default 40; COUNT
# and PER_DIAG as in the ion's MODEL.md "Regenerate" command; RUN names this round's networks,
# default $RUN or e: a second round of one ion in the same plan needs its own; SEEDS, e.g. 2
# or 2,3: further databases of COUNT spectra made with these seeds, data-local/<ion>-d4h-s<S>.h5,
# whose rows are all training rows, `train --extra-data`); lines alternate between the two lanes.
# TAIL=N (environment): after each round, N more epochs of Adam from the new model at
# TAIL_LR (default 5e-4, decaying linearly) over the same databases, as run ${RUN}t; it too
# replaces models/ION only if better (docs/training.md, session 18: Co4+ 50.9 -> 52.5 % below
# 3 % with N = 6, the rounds end with the training loss still falling).
# Progress goes to data-local/rounds-<lane>.status, output to data-local/make-<ion>*.log.
# To end a plan early without cutting a round short: `touch data-local/rounds.stop`; each
# lane finishes what it is doing and starts no further ion (remove the file to run again).
set -uo pipefail
{ # bash reads this whole block before running it: editing the file cannot derail a running copy
plan=${1:?usage: scripts/make-rounds.sh PLAN}
[ -f "$plan" ] || { echo "no plan file $plan" >&2; exit 2; }
plan=$(realpath "$plan")
cd "$(dirname "$0")/.."
run=${RUN:-e}
mkdir -p data-local
lines() { sed -e 's/#.*//' "$plan" | awk 'NF'; }
bad=$(lines | awk '$2 !~ /^[0-9]+$/ || $3 !~ /^[0-9]+$/ || ($4 != "" && $4 !~ /^[0-9]+$/) || ($5 != "" && $5 !~ /^[a-z]+$/) || ($6 != "" && $6 !~ /^[0-9]+(,[0-9]+)*$/) { print $1 }')
[ -z "$bad" ] || { echo "$plan: bad line for $bad (ION COUNT PER_DIAG [TUNE] [RUN] [SEEDS])" >&2; exit 2; }
[ -n "${DRY:-}" ] || [ ! -e data-local/rounds.stop ] || { echo "data-local/rounds.stop is left from an earlier run: remove it to start" >&2; exit 2; }
lane() { # LANE: the ions of every second plan line
  local k=0 status=data-local/rounds-$1.status
  lines | while read -r ion count per tune r seeds; do
    k=$((k + 1))
    [ $((k % 2)) -eq "$1" ] || continue
    local tag run=${r:-$run}; tag=$(echo "$ion" | tr -d '+' | tr 'A-Z' 'a-z')
    local db=(env DB_ONLY=1 scripts/make-model.sh "$ion" "$count" 0 0 "$per")
    local extra=() more=() s
    for s in ${seeds//,/ }; do
      extra+=("data-local/$tag-d4h-s$s.h5")
      more+=("[ -f data-local/$tag-d4h-s$s.h5 ] || node bin/xasmap.js dataset --ion $ion --count $count --seed $s --ranges d4h --per-diag $per --out data-local/$tag-d4h-s$s.h5")
    done
    # a round (TUNE epochs) and its optional tail continue models/ION the same way
    local step=(env NO_BUILD=1 ONLY=slcnn7 RECIPE=adam EXTRA="${extra[*]}")
    local round=("${step[@]}" RUN="$run" scripts/make-model.sh "$ion" "$count" 0 "${tune:-40}" "$per" shipped)
    local tail=()
    [ -z "${TAIL:-}" ] || tail=("${step[@]}" RUN="${run}t" LR="${TAIL_LR:-0.0005}" scripts/make-model.sh "$ion" "$count" 0 "$TAIL" "$per" shipped)
    if [ -n "${DRY:-}" ]; then echo "lane $1: ${db[*]}; ${more[*]:+$(printf '%s; ' "${more[@]}")}${round[*]}${tail[*]:+; ${tail[*]}}"; continue; fi
    if [ -e data-local/rounds.stop ]; then echo "$ion not started: data-local/rounds.stop $(date +%H:%M)" >> "$status"; continue; fi
    echo "$ion database $(date +%H:%M)" >> "$status"
    "${db[@]}" > "data-local/make-$tag-data.log" 2>&1 || { echo "$ion FAILED database" >> "$status"; continue; }
    local c ok=1
    for c in "${more[@]}"; do bash -c "$c" >> "data-local/make-$tag-data.log" 2>&1 || ok=; done
    [ -n "$ok" ] || { echo "$ion FAILED extra database" >> "$status"; continue; }
    echo "$ion round $(date +%H:%M)" >> "$status"
    "${round[@]}" > "data-local/make-$tag$run.log" 2>&1 || echo "$ion FAILED round" >> "$status"
    if [ ${#tail[@]} -gt 0 ]; then
      echo "$ion tail $(date +%H:%M)" >> "$status"
      "${tail[@]}" > "data-local/make-$tag${run}t.log" 2>&1 || echo "$ion FAILED tail" >> "$status"
    fi
    echo "$ion done $(date +%H:%M)" >> "$status"
  done
}
[ -n "${DRY:-}" ] || npx tsc -p tsconfig.json
lane 1 &
lane 0 &
wait
exit
}
