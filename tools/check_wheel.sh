#!/usr/bin/env bash
# The installed-wheel check (part of `make test`): build tnd's wheel, install it into a fresh virtual
# environment that reuses the test environment's packages (torch etc., not its editable tnd), and from a
# folder outside the checkout run what a new user runs first: the shipped table and a tiny search.
#   tools/check_wheel.sh PYTHON     (PYTHON: the test environment's interpreter, e.g. .venv/bin/python)
set -euo pipefail
PY=${1:?usage: tools/check_wheel.sh PYTHON}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tnd-wheel-check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

rm -rf "$ROOT/build"   # setuptools reuses build/lib: a deleted module would otherwise ship in the wheel
"$PY" -m pip wheel -q --no-deps --no-build-isolation -w "$WORK/dist" "$ROOT" >/dev/null
WHEEL=$(ls "$WORK"/dist/tnd-*.whl)
rm -rf "$ROOT/build"

# A fresh environment without pip; the test environment's site-packages come after its own (a .pth line),
# so the wheel's tnd is found first and the dependencies are reused without downloading anything.
"$PY" -m venv --without-pip "$WORK/venv"
VPY="$WORK/venv/bin/python"
SITE=$("$VPY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])' > "$SITE/zz_test_env.pth"
"$PY" -m pip --python "$VPY" install -q --no-deps --no-index "$WHEEL"

mkdir "$WORK/outside" && cd "$WORK/outside"
export TND_PRESETS="$WORK/no-user-presets"   # only what the wheel ships
export OMP_NUM_THREADS=1   # tiny networks: on a busy 2-core CI machine, thread spinning costs 10x
"$VPY" - "$WORK/venv" <<'PY'
import sys
import tnd
assert tnd.__file__.startswith(sys.argv[1]), f"tnd imported from {tnd.__file__}, not the installed wheel"
PY
"$WORK/venv/bin/tnd" --version
"$VPY" -m tnd --help >/dev/null
"$WORK/venv/bin/tnd" lut show cpu --top 1
# A tiny search on digits with the shipped demo preset and CPU table: one stage of two steps, one preference.
"$WORK/venv/bin/tnd" search --config demo --out run --no-progress --set preferences=[] \
    --set 'stages=[{cells: 2, ops: 8, epochs: 1, warmup_epochs: 0}]' --set weights.steps_per_epoch=2 \
    --set policy.samples=2 --set policy.alpha_every=1 --set derive.evaluate=supernet
test -s run/result.json
"$WORK/venv/bin/tnd" train --config digits --genotype run/result.json --out train --no-progress \
    --set epochs=1 --max-steps 2
test -s train/log.jsonl
echo "wheel check: $(basename "$WHEEL") installed outside the checkout: presets, CPU table, search and train work"
