"""The one place that imports pm4py (lazily): XES files, and later Petri nets / BPMN.

pm4py is AGPL-3.0; importing it only here, only when needed, keeps ``import salesmining``
fast and lets users who never touch XES or drawn models avoid loading it.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from salesmining.core.errors import EngineError, LogSchemaError

__all__ = [
    "align_traces",
    "bpmn_to_petri_net",
    "drawn_model_kind",
    "petri_net_labels",
    "pm4py",
    "read_xes_frame",
    "state_machine_to_petri_net",
    "token_replay_traces",
    "write_xes_frame",
]


def pm4py() -> Any:
    """Import pm4py quietly (no progress bars, no internal warnings)."""
    os.environ.setdefault("PM4PY_SHOW_PROGRESS_BAR", "false")
    os.environ.setdefault("PM4PY_SHOW_INTERNAL_WARNINGS", "false")
    try:
        import pm4py as _pm4py
    except ImportError as exc:  # pragma: no cover - pm4py is a dependency
        raise EngineError("pm4py is needed for this operation: pip install pm4py") from exc
    return _pm4py


def read_xes_frame(path: str | os.PathLike[str]) -> pd.DataFrame:
    """An XES (or .xes.gz) file as pm4py's DataFrame (XES column names, case attributes as ``case:*``)."""
    p = Path(path)
    if not p.exists():
        raise LogSchemaError(f"no such file: {p}", source=str(p))
    pm = pm4py()
    try:
        df = pm.read_xes(str(p), return_legacy_log_object=False)
    except Exception as exc:  # pm4py/lxml raise many kinds; re-raised as LogSchemaError
        raise LogSchemaError(f"{p.name} is not a readable XES file: {exc}", source=p.name) from exc
    if not isinstance(df, pd.DataFrame):
        df = pm.convert_to_dataframe(df)
    out: pd.DataFrame = df
    return out


def write_xes_frame(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Write a pm4py-style DataFrame as XES (gzip-compressed when the name ends in .gz)."""
    pm = pm4py()
    p = str(path)
    pm.write_xes(df, p, case_id_key="case:concept:name")


# --- drawn models: Petri nets and BPMN -------------------------------------------------------
@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence pm4py's internal deprecation noise (e.g. numpy's ``matrix``), which callers cannot act on.

    Without this, running under ``-W error`` makes pm4py's own soundness check swallow the
    error and report a sound net as unsound.
    """
    with warnings.catch_warnings():
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.simplefilter("ignore", category)
        yield


def drawn_model_kind(obj: object) -> str | None:
    """What a drawn model is: ``"Petri net"``, ``"BPMN"`` or ``None`` (not a pm4py model).

    A Petri net is pm4py's ``(net, initial_marking, final_marking)``. pm4py is imported only
    when the object comes from pm4py.
    """

    def from_pm4py(x: object) -> bool:
        return type(x).__module__.split(".")[0] == "pm4py"

    if isinstance(obj, tuple) and len(obj) == 3 and all(from_pm4py(x) for x in obj):
        from pm4py.objects.petri_net.obj import Marking, PetriNet

        net, im, fm = obj
        if isinstance(net, PetriNet) and isinstance(im, Marking) and isinstance(fm, Marking):
            return "Petri net"
    if from_pm4py(obj):
        from pm4py.objects.bpmn.obj import BPMN

        if isinstance(obj, BPMN):
            return "BPMN"
    return None


def bpmn_to_petri_net(bpmn: Any) -> tuple[Any, Any, Any]:
    """A pm4py BPMN as ``(net, initial_marking, final_marking)``."""
    pm = pm4py()
    with _quiet():
        net, im, fm = pm.convert_to_petri_net(bpmn)
    return net, im, fm


def petri_net_labels(net: Any) -> frozenset[str]:
    """The visible transition labels of a Petri net."""
    return frozenset(str(t.label) for t in net.transitions if t.label is not None)


def state_machine_to_petri_net(
    name: str, n_states: int, edges: list[tuple[int, int, str | None]]
) -> tuple[Any, Any, Any]:
    """A pm4py Petri net of a labelled state machine: ``(net, initial_marking, final_marking)``.

    Places ``p0 .. p(n-2)`` and ``end`` (the last state); one transition per edge, silent where
    the label is ``None``. The state machine of a stage model comes from
    :func:`salesmining.analysis.conform.stage_model_edges`.
    """
    from pm4py.objects.petri_net.obj import Marking, PetriNet
    from pm4py.objects.petri_net.utils import petri_utils

    pm4py()  # quiet environment before pm4py objects are used
    net = PetriNet(name)
    places = [PetriNet.Place(f"p{i}") for i in range(n_states - 1)] + [PetriNet.Place("end")]
    for p in places:
        net.places.add(p)
    for k, (u, v, label) in enumerate(edges):
        t = PetriNet.Transition(f"t{k}", label)
        net.transitions.add(t)
        petri_utils.add_arc_from_to(places[u], t, net)
        petri_utils.add_arc_from_to(t, places[v], net)
    return net, Marking({places[0]: 1}), Marking({places[-1]: 1})


def _legacy_log(traces: list[list[str]]) -> Any:
    from pm4py.objects.log.obj import Event, EventLog, Trace

    base = pd.Timestamp("2000-01-01", tz="UTC")
    return EventLog(
        [
            Trace(
                [Event({"concept:name": a, "time:timestamp": base + pd.Timedelta(seconds=j)}) for j, a in enumerate(t)],
                attributes={"concept:name": str(i)},
            )
            for i, t in enumerate(traces)
        ]
    )


def align_traces(traces: list[list[str]], net: Any, im: Any, fm: Any) -> list[dict[str, Any]]:
    """pm4py alignments of each trace: ``cost`` (in moves), ``fitness``, ``model_moves`` and ``log_moves`` (labels)."""
    pm = pm4py()
    if not traces:
        return []
    from pm4py.objects.petri_net.utils.align_utils import STD_MODEL_LOG_MOVE_COST

    with _quiet():
        res = pm.conformance_diagnostics_alignments(_legacy_log(traces), net, im, fm)
    out = []
    for r in res:
        if r is None:
            raise EngineError("pm4py found no alignment (is the final marking reachable?)")
        moves = r["alignment"]
        out.append(
            {
                "cost": int(r["cost"]) // STD_MODEL_LOG_MOVE_COST,
                "fitness": float(r["fitness"]),
                "model_moves": [str(m) for lg, m in moves if lg == ">>" and m is not None],
                "log_moves": [str(lg) for lg, m in moves if m == ">>"],
            }
        )
    return out


def token_replay_traces(traces: list[list[str]], net: Any, im: Any, fm: Any) -> list[dict[str, Any]]:
    """pm4py token-based replay of each trace: ``fitness`` and ``is_fit``."""
    pm = pm4py()
    if not traces:
        return []
    with _quiet():
        res = pm.conformance_diagnostics_token_based_replay(_legacy_log(traces), net, im, fm)
    return [{"fitness": float(r["trace_fitness"]), "is_fit": bool(r["trace_is_fit"])} for r in res]
