#!/usr/bin/env bash
# Side-by-side comparison of runsheet with sysid/playbook 3.0.0 (PyPI) on this
# machine: start-up, one manual step end to end, and the in-process cost of
# persisting one manual step's state. Prints Markdown tables for
# docs/performance.md. NOT part of CI: it downloads playbook from PyPI.
#
#   benches/playbook_compare.sh [N]        # N runs per measurement, default 30
#
# Needs Python >= 3.13 (playbook 3.0.0 requires it; under 3.11 pip silently
# installs the unrelated playbook 0.0.2). Set PYTHON313=/path/to/python3.13, or
# have `python3.13` on PATH, or a pyenv 3.13.x. playbook's code is installed into
# a venv under the target dir, never copied into this repository.
set -euo pipefail

N=${1:-30}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
VENV=${PLAYBOOK_VENV:-$TARGET/playbook-3.0.0-venv}

find_python() {
    if [[ -n ${PYTHON313:-} ]]; then echo "$PYTHON313"; return; fi
    if command -v python3.13 >/dev/null 2>&1; then command -v python3.13; return; fi
    for p in "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python3; do
        [[ -x $p ]] && { echo "$p"; return; }
    done
    echo "playbook 3.0.0 needs Python >= 3.13 and none was found; set PYTHON313" >&2
    exit 2
}

if [[ ! -x $VENV/bin/playbook ]]; then
    PY=$(find_python)
    "$PY" -m venv "$VENV"
    "$VENV/bin/pip" install --quiet 'playbook==3.0.0'
fi
VERSION=$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("playbook"))')
if [[ $VERSION != 3.0.0 ]]; then
    echo "installed playbook is $VERSION, not 3.0.0 (wrong Python?); delete $VENV and retry" >&2
    exit 2
fi

(cd "$ROOT" && cargo build --release --quiet)
RS=$TARGET/release/runsheet
mkdir -p "$TARGET/tmp"
WORK=$(mktemp -d "$TARGET/tmp/playbook-compare.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# runsheet's in-process figure for one durable action on the build's disk (the
# first table of the durable section; the second one is tmpfs).
RS_DURABLE=$(cd "$ROOT" && RUNSHEET_BENCH_REPEAT=400 cargo bench --quiet --bench figures -- durable 2>/dev/null \
    | awk -F'|' '/^\| runsheet \(decide/ { gsub(/ ms| /, "", $3); print $3; exit }')

cat > "$WORK/one.playbook.toml" <<'EOF'
schema_version = 2

[runbook]
id = "one"
title = "One manual step"

[[steps]]
id = "check"
type = "manual"
instructions = "Check the console."
EOF

cat > "$WORK/one.toml" <<EOF
id = "one"
title = "One manual step"
version = "1"
owner = "IT"
approver = "CISO"
approved = $(date -u +%Y-%m-%d)
review_every_months = 12
purpose = "Compare with playbook."
cadence = "on-demand"
controls = ["A.5.37"]
[[steps]]
id = "check"
title = "Check the console."
EOF

RS="$RS" WORK="$WORK" N="$N" RS_DURABLE="$RS_DURABLE" "$VENV/bin/python" - <<'EOF'
import os, statistics, subprocess, sys, time
from datetime import datetime, timezone

rs, work, n = os.environ["RS"], os.environ["WORK"], int(os.environ["N"])
pb = os.path.join(os.path.dirname(sys.executable), "playbook")
env = dict(os.environ, NO_COLOR="1")

def timed(cmd, stdin=b""):
    t = time.perf_counter()
    r = subprocess.run(cmd, input=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    dt = time.perf_counter() - t
    assert r.returncode == 0, (cmd, r.returncode)
    return dt

def pair(a, b, sa=b"", sb=b""):
    """Interleaved: a, b, b, a, ... after one warm-up each."""
    timed(a, sa); timed(b, sb)
    ta, tb = [], []
    for i in range(n):
        if i % 2 == 0:
            ta.append(timed(a, sa)); tb.append(timed(b, sb))
        else:
            tb.append(timed(b, sb)); ta.append(timed(a, sa))
    return statistics.median(ta), statistics.median(tb)

ms = lambda s: f"{s * 1e3:.2f} ms" if s < 0.01 else f"{s * 1e3:.1f} ms"
rows = []
r, p = pair([rs, "--version"], [pb, "--version"])
rows.append(("start-up: `--version` (whole process)", r, p))
r, p = pair(
    [rs, "--db", f"{work}/rs.sqlite3", "run", "--plain", f"{work}/one.toml"],
    [pb, "run", f"{work}/one.playbook.toml", "--state-path", f"{work}/pb.db"],
    b"\n", b"done\n")
rows.append(("one-step run end to end: start, mark the manual step done, finish (whole process)", r, p))

# In-process: the call playbook makes when an operator marks a manual step done
# (_record_operator_action -> create_execution), on a fresh connection as it does.
from playbook.infrastructure.persistence import SQLiteRunRepository, SQLiteNodeExecutionRepository
from playbook.domain.models import NodeExecution, NodeStatus, RunInfo, RunStatus, TriggerType
db = f"{work}/pb-inproc.db"
runs, nodes = SQLiteRunRepository(db), SQLiteNodeExecutionRepository(db)
now = datetime.now(timezone.utc)
run_id = runs.create_run(RunInfo(workflow_name="one", run_id=0, start_time=now, status=RunStatus.RUNNING,
                                 trigger=TriggerType.RUN, source_path="x", definition_hash="0"))
samples = []
for i in range(400 + 20):
    e = NodeExecution(workflow_name="one", run_id=run_id, node_id=f"s{i}", attempt=1, start_time=now,
                      end_time=now, status=NodeStatus.OK, operator_decision="done", duration_ms=0)
    t = time.perf_counter()
    nodes.create_execution(e)
    if i >= 20:
        samples.append(time.perf_counter() - t)
pb_persist = statistics.median(samples)
rs_persist = float(os.environ["RS_DURABLE"]) / 1e3 if os.environ.get("RS_DURABLE") else float("nan")
rows.append(("persist one manual step's state (in-process median of 400; runsheet: Session::execute, "
             "playbook: SQLiteNodeExecutionRepository.create_execution)", rs_persist, pb_persist))

print(f"\n### runsheet vs playbook 3.0.0 (Python {sys.version.split()[0]}; median of {n} interleaved runs unless noted)\n")
print("| what | runsheet | playbook 3.0.0 | playbook / runsheet |")
print("| --- | ---: | ---: | ---: |")
for what, r, p in rows:
    print(f"| {what} | {ms(r)} | {ms(p)} | {p / r:.1f}× |")
print("\nDurability differs: playbook commits with SQLite's defaults (rollback journal, synchronous=FULL) "
      "and no hash chain; runsheet uses WAL + synchronous=FULL and extends a SHA-256 chain.")
EOF
