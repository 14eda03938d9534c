"""Fail when any two modules of a package import each other, directly or through others.

    python scripts/check_cycles.py               # salesmining; exit 1 and list the cycles if any
    python scripts/check_cycles.py PACKAGE

Imports inside functions and under ``if TYPE_CHECKING:`` count: a lazy import still ties two
modules together, and a type-only one still makes a reader hold both in mind. The layers
contract (``lint-imports``) keeps imports pointing down between layers; this check also covers
modules within one layer.
"""

from __future__ import annotations

import sys


def import_cycles(package: str) -> list[tuple[str, ...]]:
    """Each cycle once, as the chain of modules ``(a, b, ..., a)``, shortest first."""
    import grimp

    graph = grimp.build_graph(package, include_external_packages=False)
    seen: set[frozenset[str]] = set()
    cycles: list[tuple[str, ...]] = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is None:
                continue
            cycle = (module, *back)
            key = frozenset(cycle)
            if key not in seen:
                seen.add(key)
                cycles.append(cycle)
    return sorted(cycles, key=lambda c: (len(c), c))


def main(argv: list[str]) -> int:
    package = argv[0] if argv else "salesmining"
    cycles = import_cycles(package)
    for cycle in cycles:
        print(" -> ".join(cycle))
    if cycles:
        print(f"{len(cycles)} import cycle(s) in {package} (lazy and TYPE_CHECKING imports count)", file=sys.stderr)
        return 1
    print(f"no import cycles in {package}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
