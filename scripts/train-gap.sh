#!/usr/bin/env bash
# The generalisation gap of a trained model (docs/training.md, sessions 14 and 15): its
# SE < 3 % on N of its own training rows (default 10,000: the first N rows of the database
# that are neither validation nor test rows) against its SE < 3 % on its test rows (the
# card's figure). Works on a copy of the model in a temporary directory: the model is not
# touched. Never run in CI (it needs the model's training database).
#
#   scripts/train-gap.sh MODEL_DIR DATABASE [N]   e.g. scripts/train-gap.sh models/Co5+ data-local/co5-d4h.h5
set -euo pipefail
{ # read whole before running
model=${1:?usage: scripts/train-gap.sh MODEL_DIR DATABASE [N]}
data=${2:?usage: scripts/train-gap.sh MODEL_DIR DATABASE [N]}
n=${3:-10000}
[ -f "$model/split.json" ] && [ -f "$model/meta.json" ] || { echo "$model: no split.json/meta.json (not a trained model directory)" >&2; exit 2; }
[ -f "$data" ] || { echo "$data: no such database" >&2; exit 2; }
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "N must be a positive whole number of rows, not '$n'" >&2; exit 2; }
model=$(realpath "$model"); data=$(realpath "$data")
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp -r "$model"/. "$tmp"/
node -e '
const fs = require("fs"); const [p, n] = [process.argv[1], Number(process.argv[2])];
const s = JSON.parse(fs.readFileSync(p, "utf8"));
const held = new Set([...s.val, ...s.test]); const rows = [];
for (let i = 0; i < s.rows && rows.length < n; i++) if (!held.has(i)) rows.push(i);
s.test = rows; fs.writeFileSync(p, JSON.stringify(s));' "$tmp/split.json" "$n"
node bin/xasmap.js evaluate --model "$tmp" --data "$data" --report "$tmp/report" > /dev/null
train=$(node -e 'const i = require(process.argv[1]).models[0].intervals; if (i.edges[1] !== 3) throw new Error("report intervals do not start at 3 %"); console.log((100 * i.fractions[0]).toFixed(2))' "$tmp/report/report.json")
test=$(node -e 'console.log((100 * require(process.argv[1]).evaluation.fractionBelow3).toFixed(2))' "$model/meta.json")
node -e 'const [m, a, b] = process.argv.slice(1); console.log(`${m}: SE < 3 % on training rows ${a} %, on test rows ${b} %, gap ${(a - b).toFixed(1)} points`)' "$model" "$train" "$test"
exit
}
