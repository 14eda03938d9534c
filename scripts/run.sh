#!/usr/bin/env bash
# One entry point for a fresh machine (Debian/Ubuntu, root or not):
#
#   bash scripts/run.sh diagnose   # set up, then diagnose the bundled sample log → out/report.html
#   bash scripts/run.sh test       # set up, run the quality gates, then the whole test suite (extra args go to pytest)
#   bash scripts/run.sh lint       # set up, then only the quality gates
#   bash scripts/run.sh setup      # only set up
#
# With SALESMINING_WITH_SPARK=1 (CI sets it) it also installs Java and the `spark` extra, so the
# PySpark engine is tested too.
#
# Set-up: creates a virtual environment (.venv, or $SALESMINING_VENV), installs salesmining with
# its dev extra, and gets Graphviz's `dot`, Chromium and CJK fonts from Debian when they are missing and
# it can (root, or password-less sudo); otherwise it prints exactly what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${SALESMINING_VENV:-.venv}"
PY="${PYTHON:-python3}"

say() { printf '[run.sh] %s\n' "$*" >&2; }

apt_install() {
  local pkgs=("$@")
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo="sudo"; else return 1; fi
  fi
  command -v apt-get >/dev/null 2>&1 || return 1
  say "installing Debian packages: ${pkgs[*]}"
  $sudo apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null
}

ensure_system() {
  local required=() optional=()
  command -v "$PY" >/dev/null 2>&1 || required+=(python3)
  if command -v "$PY" >/dev/null 2>&1 && ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then required+=(python3-venv); fi
  command -v dot >/dev/null 2>&1 || optional+=(graphviz)
  # headless Chromium: PDF reports and the browser test (tests/test_browser.py skips without it)
  command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || optional+=(chromium)
  if [ "${SALESMINING_WITH_SPARK:-0}" = "1" ] && ! command -v java >/dev/null 2>&1; then optional+=(default-jre-headless); fi
  local fonts=""
  if command -v fc-list >/dev/null 2>&1; then fonts="$(fc-list 2>/dev/null || true)"; fi
  if ! grep -qi 'Noto Sans CJK' <<<"$fonts"; then optional+=(fonts-noto-cjk fontconfig); fi
  local all=("${required[@]}" "${optional[@]}")
  if [ "${#all[@]}" -gt 0 ]; then
    if ! apt_install "${all[@]}"; then
      if [ "${#required[@]}" -gt 0 ]; then
        say "missing: ${required[*]} — install with: sudo apt-get install ${all[*]}"
        exit 1
      fi
      say "Graphviz 'dot', Chromium and/or CJK fonts are missing and cannot be installed without root."
      say "Graphs, PDFs or the browser test will be unavailable (their tests are skipped). To fix: sudo apt-get install ${optional[*]}"
    fi
  fi
}

ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    "$PY" -m venv "$VENV"
  fi
  local stamp="$VENV/.salesmining-installed-${SALESMINING_WITH_SPARK:-0}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    say "installing salesmining and its dev tools into $VENV"
    "$VENV/bin/python" -m pip install -q --upgrade pip
    extras="dev"
    if [ "${SALESMINING_WITH_SPARK:-0}" = "1" ]; then extras="dev,spark"; fi
    "$VENV/bin/python" -m pip install -q -e ".[$extras]"
    touch "$stamp"
  fi
  # run everything with the venv first on PATH (e.g. notebook kernels started as plain `python`)
  VIRTUAL_ENV="$(cd "$VENV" && pwd)"
  export VIRTUAL_ENV
  export PATH="$VIRTUAL_ENV/bin:$PATH"
}

# The quality gates CI runs before the tests; any failing gate fails the run.
gates() {
  local py="$VENV/bin/python" failed=()
  say "gate: ruff check";        "$VENV/bin/ruff" check src tests scripts notebooks benchmarks sample_logs/*.py || failed+=("ruff check")
  say "gate: ruff format";       "$VENV/bin/ruff" format --check src tests scripts notebooks benchmarks sample_logs/*.py || failed+=("ruff format --check")
  say "gate: mypy (strict)";     "$VENV/bin/mypy" || failed+=("mypy")
  say "gate: import layers";     "$VENV/bin/lint-imports" --no-cache || failed+=("lint-imports")
  say "gate: no import cycles";  "$py" scripts/check_cycles.py || failed+=("import cycles")
  if [ "${#failed[@]}" -gt 0 ]; then
    say "failed gates: ${failed[*]}"
    return 1
  fi
  say "all gates passed"
}

cmd="${1:-}"
[ $# -gt 0 ] && shift
case "$cmd" in
  setup)
    ensure_system; ensure_venv ;;
  diagnose)
    ensure_system; ensure_venv
    mkdir -p out
    # byte-compile once (editable install; PYTHONDONTWRITEBYTECODE would make every run recompile)
    "$VENV/bin/python" -m compileall -q src/salesmining >/dev/null
    "$VENV/bin/salesmining" diagnose sample_logs/opportunities.csv --stages sample_logs/stages.yaml \
      -o out/report.html --json out/findings.json "$@"
    say "report written to out/report.html" ;;
  lint)
    ensure_venv; gates ;;
  test)
    ensure_system; ensure_venv
    gates
    # two workers (CI has 2 cores); SALESMINING_TEST_WORKERS=0 runs in one process
    "$VENV/bin/python" -m pytest -n "${SALESMINING_TEST_WORKERS:-2}" "$@" ;;
  *)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2 ;;
esac
