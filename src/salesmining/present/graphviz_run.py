"""Running Graphviz's ``dot``: with a timeout, its output captured, simpler layouts retried.

Nothing Graphviz prints reaches the caller: stderr is captured and only ever summarised in our
own words (``"could not rank the layout"``, ``"timed out after 60 s"``). A failed layout is retried
with simpler ones (:data:`LAYOUTS`): first without clusters and with Graphviz's ``newrank``
ranking, then also with straight-line (polyline) edges. When every layout fails,
:class:`~salesmining.core.errors.MapUnavailableError` carries one plain sentence.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from salesmining.core.errors import MapUnavailableError, RenderError

__all__ = [
    "LAYOUTS",
    "TIMEOUT_S",
    "Attempt",
    "DotRunError",
    "clear_cache",
    "generation",
    "render_source",
    "require_dot",
    "run_dot",
    "run_dot_ahead",
    "simplified",
    "unavailable",
]

#: Seconds one ``dot`` run may take before it is stopped.
TIMEOUT_S = 60.0
#: The layouts tried in turn: as drawn, then simpler ones.
LAYOUTS = ("as drawn", "without clusters, new ranking", "without clusters, straight edges")
_CACHE: OrderedDict[tuple[str, str], bytes | str] = OrderedDict()  # output, or the problem of a failed run
_CACHE_SIZE = 32
_PENDING: dict[tuple[str, str], Future[bytes]] = {}  # runs started by run_dot_ahead, not finished yet
_LOCK = threading.Lock()  # the cache and the pending runs are shared with the background runs
_POOL: list[ThreadPoolExecutor] = []  # made on the first run ahead
_GENERATION = [0]  # bumped by clear_cache: what was made from earlier runs is stale


def clear_cache() -> None:
    """Forget earlier runs (their outputs and failures); runs still under way are not waited for
    and their outcomes not remembered."""
    with _LOCK:
        _CACHE.clear()
        _PENDING.clear()
        _GENERATION[0] += 1


def generation() -> int:
    """How often the runs were forgotten (:func:`clear_cache`): what was made from earlier runs
    (a drawing) is valid only within one generation."""
    return _GENERATION[0]


@dataclass(frozen=True)
class Attempt:
    """One ``dot`` run: the layout tried and, when it failed, why (in our words)."""

    layout: str
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


class DotRunError(RenderError):
    """``dot`` failed; ``problem`` says how, in our words (never Graphviz's text); ``attempts``:
    every layout tried (set by :func:`render_source`)."""

    def __init__(self, problem: str, attempts: tuple[Attempt, ...] = ()) -> None:
        super().__init__(problem)
        self.problem = problem
        self.attempts = attempts


def require_dot() -> None:
    if shutil.which("dot") is None:
        raise RenderError(
            "Graphviz's 'dot' program is not installed, so the graph cannot be drawn (its DOT source is still "
            "available via .source). Install it: 'sudo apt-get install graphviz' (Debian/Ubuntu), "
            "'brew install graphviz' (macOS), 'conda install graphviz', or https://graphviz.org/download/"
        )


def _problem(stderr: str, returncode: int) -> str:
    if "init_rank" in stderr or ("rank" in stderr.lower() and "trouble" in stderr.lower()):
        return "Graphviz could not rank the layout"
    if returncode < 0:
        return f"Graphviz crashed (signal {-returncode})"
    if "lost" in stderr and "edge" in stderr:
        return "Graphviz lost edges while routing them"
    if "routesplines" in stderr or "triangulation" in stderr:
        return "Graphviz could not route the edges"
    return f"Graphviz stopped with exit code {returncode}"


def _key(source: str, fmt: str) -> tuple[str, str]:
    return hashlib.sha1(source.encode("utf-8")).hexdigest(), fmt


def run_dot(source: str, fmt: str, *, timeout: float = TIMEOUT_S) -> bytes:
    """Run ``dot -T<fmt>`` on ``source``; the output, or :class:`DotRunError` (stderr never shown).

    A run that exits 0 but reports an error (lost edges, failed routing) is a failure too: its
    picture would miss edges. The same source again is not run again (its outcome is
    remembered), and one started by :func:`run_dot_ahead` is waited for."""
    key = _key(source, fmt)
    with _LOCK:
        known = _CACHE.get(key)
        if known is not None:  # the same source again (measuring, then drawing): no second run, no second wait
            _CACHE.move_to_end(key)
        pending = _PENDING.get(key)
    if isinstance(known, str):
        raise DotRunError(known)
    if known is not None:
        return known
    if pending is not None:
        return pending.result()
    return _run(key, source, fmt, timeout, generation())


def run_dot_ahead(source: str, fmt: str, *, timeout: float = TIMEOUT_S) -> None:
    """Start :func:`run_dot` on ``source`` in the background (at most two at once); a later
    :func:`run_dot` of the same source waits for it instead of running ``dot`` again."""
    key = _key(source, fmt)
    with _LOCK:
        if key in _CACHE or key in _PENDING:
            return
        if not _POOL:
            _POOL.append(ThreadPoolExecutor(max_workers=2, thread_name_prefix="salesmining-dot"))
        future = _POOL[0].submit(_run, key, source, fmt, timeout, generation())
        _PENDING[key] = future

    def done(_: Future[bytes]) -> None:
        with _LOCK:
            if _PENDING.get(key) is future:
                del _PENDING[key]

    future.add_done_callback(done)


def _run(key: tuple[str, str], source: str, fmt: str, timeout: float, started: int) -> bytes:
    """One ``dot`` run, its outcome remembered (not when ``dot`` could not be started, nor when
    the runs were forgotten since it ``started``: a :func:`generation`)."""
    try:
        res = subprocess.run(
            ["dot", f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        _remember(key, f"Graphviz took longer than {timeout:g} s", started)
        raise DotRunError(f"Graphviz took longer than {timeout:g} s") from None
    except OSError as exc:
        raise DotRunError(f"Graphviz could not be started ({exc.strerror or exc})") from None
    stderr = res.stderr.decode("utf-8", "replace")
    if res.returncode != 0 or not res.stdout or re.search(r"^Error:", stderr, flags=re.M):
        problem = _problem(stderr, res.returncode)
        _remember(key, problem, started)
        raise DotRunError(problem)
    _remember(key, res.stdout, started)
    return res.stdout


def _remember(key: tuple[str, str], outcome: bytes | str, started: int) -> None:
    with _LOCK:
        if started != _GENERATION[0]:
            return
        _CACHE[key] = outcome
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)


_CLUSTER = re.compile(r"^(\s*subgraph\s+)cluster_", flags=re.M)


def simplified(source: str, level: int) -> str:
    """The DOT source at a simpler layout ``level`` (0: as drawn; see :data:`LAYOUTS`).

    Clusters become plain subgraphs (their nodes stay, their boxes go) and ``newrank`` ranks
    the whole graph at once; level 2 also draws edges as polylines. Only our own subgraph
    statements are touched: labels never start a line (newlines in names are replaced)."""
    if level <= 0:
        return source
    out = _CLUSTER.sub(r"\1flat_", source)
    extra = "newrank=true splines=polyline" if level >= 2 else "newrank=true"
    end = out.rstrip().rfind("}")
    return out[:end] + f"\tgraph [{extra}]\n" + out[end:]


def render_source(source: str, fmt: str, *, timeout: float = TIMEOUT_S) -> tuple[bytes, tuple[Attempt, ...]]:
    """Render with retries at simpler layouts; the bytes and the attempts, or :class:`DotRunError`
    naming the last problem (callers turn it into a plain sentence)."""
    require_dot()
    attempts: list[Attempt] = []
    for level, layout in enumerate(LAYOUTS):
        try:
            data = run_dot(simplified(source, level), fmt, timeout=timeout)
        except DotRunError as exc:
            attempts.append(Attempt(layout, exc.problem))
            if exc.problem.startswith("Graphviz could not be started"):
                break
            continue
        attempts.append(Attempt(layout))
        return data, tuple(attempts)
    raise DotRunError(attempts[-1].problem, tuple(attempts))


def unavailable(attempts: tuple[Attempt, ...], *, hint: str) -> MapUnavailableError:
    """The plain sentence for a map no layout could draw."""
    tried = "; ".join(f"{a.layout}: {a.problem.removeprefix('Graphviz ')}" for a in attempts)
    return MapUnavailableError(
        f"The process map could not be drawn: Graphviz failed on every layout tried ({tried}). {hint}",
        tuple((a.layout, a.problem) for a in attempts),
    )
