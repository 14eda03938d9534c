"""Generate docs/api.md, the API reference, from the docstrings of ``salesmining.__all__``.

    python scripts/gen_api_docs.py            # rewrite docs/api.md
    python scripts/gen_api_docs.py --check    # exit 1 when docs/api.md is out of date

Every public name is documented with its signature and docstring; classes also with their
fields and their public properties and methods. The output depends only on the code (names are
listed in ``__all__`` order within each group, members alphabetically), so re-running the script
on unchanged code rewrites the same file. ``tests/test_api_docs.py`` fails when docs/api.md
differs from what this script writes: re-run it whenever the API or a docstring changes.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import salesmining as sm

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "docs" / "api.md"
MAX_SIGNATURE = 88  # longer signatures get one parameter per line

DEFINITION_SECTIONS = {"Parameters", "Other Parameters", "Returns", "Yields", "Raises", "Attributes", "Warns"}
ROLE = re.compile(r":(?:[\w-]+:)?[\w-]+:`~?([^`<]*?)(?:\s*<[^`>]*>)?`")
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


# --------------------------------------------------------------------------------------------
# docstrings → Markdown


def _inline(text: str) -> str:
    """RST inline markup to Markdown; ``<`` and ``>`` outside code escaped."""
    text = ROLE.sub(lambda m: f"``{m.group(1).split('.')[-1] if m.group(0).count('~') else m.group(1)}``", text)
    parts = re.split(r"(``.+?``|`[^`]+`)", text)
    out = []
    for part in parts:
        if part.startswith("``") and part.endswith("``") and len(part) > 4:
            inner = part[2:-2]
            out.append(f"``{inner}``" if "`" in inner else f"`{inner}`")
        elif part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(part)
        else:
            out.append(part.replace("<", "&lt;").replace(">", "&gt;"))
    return "".join(out)


def _sections(doc: str) -> Iterator[tuple[str | None, list[str]]]:
    """Split a numpy-style docstring into (section title or None, lines)."""
    lines = doc.splitlines()
    title: str | None = None
    body: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        underline = lines[i + 1] if i + 1 < len(lines) else ""
        if (
            line.strip()
            and not line.startswith(" ")
            and re.fullmatch(r"[-=~]{3,}", underline.strip())
            and abs(len(underline.strip()) - len(line.strip())) <= 2
        ):
            yield title, body
            title, body = line.strip(), []
            i += 2
            continue
        body.append(line)
        i += 1
    yield title, body


def _blocks(lines: list[str]) -> Iterator[tuple[str, list[str]]]:
    """Paragraph-level blocks: ("doctest", lines), ("literal", lines) or ("text", lines)."""
    i = 0
    literal_next = False
    while i < len(lines):
        line = lines[i]
        if not line.strip():
            yield "blank", [line]
            i += 1
            continue
        if line.lstrip().startswith(">>>"):
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i])
                i += 1
            yield "doctest", block
            continue
        if literal_next and line.startswith(" "):
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                block.append(lines[i])
                i += 1
            while block and not block[-1].strip():
                block.pop()
                i -= 1
            yield "literal", block
            literal_next = False
            continue
        block = []
        while i < len(lines) and lines[i].strip() and not lines[i].lstrip().startswith(">>>"):
            block.append(lines[i])
            i += 1
        literal_next = block[-1].rstrip().endswith("::")
        yield "text", block


def _dedent(lines: list[str]) -> list[str]:
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return [line[indent:] for line in lines]


def _prose(lines: list[str]) -> list[str]:
    out: list[str] = []
    for kind, block in _blocks(lines):
        if kind == "blank":
            out.append("")
        elif kind == "doctest":
            out += ["```pycon", *_dedent(block), "```"]
        elif kind == "literal":
            out += ["```text", *_dedent(block), "```"]
        else:
            block = [*block[:-1], re.sub(r"::$", ":", block[-1].rstrip())]
            out += [_inline(line) for line in block]
    return out


def _definitions(lines: list[str]) -> list[str]:
    """``name:`` / ``name : type`` entries with indented descriptions → a Markdown list."""
    out: list[str] = []
    entry: list[str] = []
    description: list[str] = []

    def flush() -> None:
        if not entry:
            return
        head = entry[0].strip().rstrip(":").strip()
        names, _, kind = head.partition(" : ")
        label = ", ".join(f"`{n.strip()}`" for n in names.split(",") if n.strip())
        label += f" ({_inline(kind.strip())})" if kind.strip() else ""
        body = _prose(_dedent(description))
        while body and not body[-1].strip():
            body.pop()
        while body and not body[0].strip():
            body.pop(0)
        if body and not body[0].startswith("```"):
            out.append(f"- {label}: {body[0]}")
            body = body[1:]
        else:
            out.append(f"- {label}")
        out.extend(f"  {line}" if line.strip() else "" for line in body)
        entry.clear()
        description.clear()

    for line in lines:
        if line.strip() and not line.startswith(" "):
            flush()
            entry.append(line)
        elif entry:
            description.append(line)
        elif line.strip():
            out.append(_inline(line.strip()))
    flush()
    return out


def doc_to_markdown(doc: str | None) -> str:
    if not doc:
        return ""
    out: list[str] = []
    for title, lines in _sections(inspect.cleandoc(doc)):
        if title is not None:
            out += ["", f"**{title}**", ""]
        out += _definitions(lines) if title in DEFINITION_SECTIONS else _prose(lines)
    text = "\n".join(line.rstrip() for line in out)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --------------------------------------------------------------------------------------------
# signatures


class _Annotation(str):
    """A string annotation shown without quotes."""

    def __repr__(self) -> str:
        return str(self)


def _clean(param: inspect.Parameter) -> inspect.Parameter:
    if isinstance(param.annotation, str):
        param = param.replace(annotation=_Annotation(param.annotation))
    return param


def _format(name: str, sig: inspect.Signature) -> str:
    params = [_clean(p) for p in sig.parameters.values()]
    ret = sig.return_annotation
    if isinstance(ret, str):
        ret = _Annotation(ret)
    sig = sig.replace(parameters=params, return_annotation=ret)
    one_line = f"{name}{sig}"
    if len(one_line) <= MAX_SIGNATURE:
        return ADDRESS.sub("", one_line)
    items: list[str] = []
    kinds = inspect.Parameter
    star_done = False
    for i, p in enumerate(params):
        if p.kind == kinds.KEYWORD_ONLY and not star_done:
            items.append("*")
            star_done = True
        if p.kind == kinds.VAR_POSITIONAL:
            star_done = True
        items.append(str(p))
        following = params[i + 1] if i + 1 < len(params) else None
        if p.kind == kinds.POSITIONAL_ONLY and (following is None or following.kind != kinds.POSITIONAL_ONLY):
            items.append("/")
    tail = "" if ret is inspect.Signature.empty else f" -> {inspect.formatannotation(ret)}"
    body = "".join(f"    {item},\n" for item in items)
    return ADDRESS.sub("", f"{name}(\n{body}){tail}")


def _signature(obj: Callable[..., Any], name: str, *, drop_first: bool = False) -> str | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    if drop_first:
        sig = sig.replace(parameters=list(sig.parameters.values())[1:])
    if inspect.isclass(obj):  # a constructor: no "-> None"
        sig = sig.replace(return_annotation=inspect.Signature.empty)
    return _format(name, sig)


def _code(text: str) -> list[str]:
    return ["```python", text, "```"]


# --------------------------------------------------------------------------------------------
# names


def _kind(obj: object) -> str:
    if inspect.isclass(obj):
        return "Exceptions" if issubclass(obj, BaseException) else "Classes"
    if callable(obj):
        return "Functions"
    return "Constants"


def _anchor(name: str) -> str:
    return re.sub(r"[^\w\- ]", "", name.lower()).replace(" ", "-")


def _function(name: str, obj: Callable[..., Any]) -> list[str]:
    out = [f"### `{name}`", ""]
    sig = _signature(obj, f"sm.{name}")
    if sig:
        out += [*_code(sig), ""]
    doc = doc_to_markdown(inspect.getdoc(obj))
    return out + ([doc, ""] if doc else [])


def _members(cls: type) -> list[tuple[str, object]]:
    """Public members defined in salesmining (not object's or the built-in bases')."""
    seen: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith("salesmining"):
            continue
        for key, value in vars(klass).items():
            if not key.startswith("_"):
                seen[key] = value
    return sorted(seen.items())


def _return_of(func: Callable[..., Any]) -> str:
    try:
        ret = inspect.signature(func).return_annotation
    except (TypeError, ValueError):
        return ""
    if ret is inspect.Signature.empty:
        return ""
    return f" → `{ret if isinstance(ret, str) else inspect.formatannotation(ret)}`"


def _class(name: str, cls: type) -> list[str]:
    out = [f"### `{name}`", ""]
    if issubclass(cls, BaseException):
        bases = ", ".join(f"`{b.__name__}`" for b in cls.__bases__)
        out += [f"*Exception; subclass of {bases}.*", ""]
    all_fields = dataclasses.fields(cls) if dataclasses.is_dataclass(cls) else ()
    fields: list[dataclasses.Field[Any]] = []
    if any(f.init and f.name.startswith("_") for f in all_fields):
        # built by the library: list the public fields instead of the internal constructor
        out += ["*Returned by salesmining; the constructor takes internal arguments.*", ""]
        fields = [f for f in all_fields if not f.name.startswith("_")]
    elif not issubclass(cls, BaseException) or "__init__" in vars(cls):
        sig = _signature(cls, f"sm.{name}")
        if sig:
            out += [*_code(sig), ""]
    doc = doc_to_markdown(inspect.getdoc(cls))
    if doc:
        out += [doc, ""]

    members = _members(cls)
    if fields:
        out += ["| field | type | default |", "|---|---|---|"]
        for f in fields:
            out.append(f"| `{f.name}` | `{_cell(str(f.type))}` | {_default(f)} |")
        out.append("")

    for key, value in members:
        if isinstance(value, property | functools.cached_property):
            func = value.fget if isinstance(value, property) else value.func
            assert func is not None
            label = "property" if isinstance(value, property) else "property, cached"
            out += [f"#### `{name}.{key}`", "", f"*{label}*{_return_of(func)}", ""]
            doc = doc_to_markdown(inspect.getdoc(func))
        elif isinstance(value, classmethod | staticmethod):
            label = "classmethod" if isinstance(value, classmethod) else "staticmethod"
            out += [f"#### `{name}.{key}`", "", f"*{label}*", ""]
            sig = _signature(getattr(cls, key), f"{name}.{key}")
            out += [*_code(sig), ""] if sig else []
            doc = doc_to_markdown(inspect.getdoc(value.__func__))
        elif inspect.isfunction(value):
            out += [f"#### `{name}.{key}`", ""]
            sig = _signature(value, f"{name}.{key}", drop_first=True)
            out += [*_code(sig), ""] if sig else []
            doc = doc_to_markdown(inspect.getdoc(value))
        else:
            continue
        if doc:
            out += [doc, ""]
    return out


def _default(field: dataclasses.Field[Any]) -> str:
    if field.default is not dataclasses.MISSING:
        return f"`{_cell(ADDRESS.sub('', repr(field.default)))}`"
    if field.default_factory is not dataclasses.MISSING:
        factory = field.default_factory
        return f"`{getattr(factory, '__name__', 'factory')}()`"
    return "required"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _constant(name: str, value: object) -> list[str]:
    out = [f"### `{name}`", ""]
    if name == "__version__":
        return [*out, "The installed version of salesmining (a string).", ""]
    if isinstance(value, Mapping) and all(isinstance(v, Mapping) for v in value.values()):
        out += [f"`{type(value).__name__}` of {len(value)} groups.", "", "| key | sub-key | value |", "|---|---|---|"]
        for key, sub in value.items():
            for sub_key, text in sub.items():
                out.append(f"| `{key}` | `{sub_key}` | {_cell(_inline(str(text)))} |")
    elif isinstance(value, Mapping):
        out += [f"`{type(value).__name__}` of {len(value)} entries.", "", "| key | value |", "|---|---|"]
        for key, text in value.items():
            out.append(f"| `{key}` | {_cell(_inline(str(text)))} |")
    else:
        out += _code(f"{name} = {ADDRESS.sub('', repr(value))}")
    return [*out, ""]


def render() -> str:
    groups: dict[str, list[str]] = {"Functions": [], "Classes": [], "Exceptions": [], "Constants": []}
    for name in sm.__all__:
        groups[_kind(getattr(sm, name))].append(name)

    out = [
        "# API reference",
        "",
        "<!-- Generated by scripts/gen_api_docs.py from the docstrings; do not edit by hand. -->",
        "<!-- Re-run `python scripts/gen_api_docs.py` after changing the public API or a docstring. -->",
        "",
        doc_to_markdown(sm.__doc__).split("\n\n```pycon")[0],
        "",
        "Everything below is importable from the package: `import salesmining as sm`.",
        "",
    ]
    for group, names in groups.items():
        if names:
            out.append(f"- **{group}:** " + ", ".join(f"[`{n}`](#{_anchor(n)})" for n in names))
    out.append("")
    for group, names in groups.items():
        if not names:
            continue
        out += [f"## {group}", ""]
        for name in names:
            obj = getattr(sm, name)
            if group == "Functions":
                out += _function(name, obj)
            elif group == "Constants":
                out += _constant(name, obj)
            else:
                out += _class(name, obj)
    text = "\n".join(out)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date: run python scripts/gen_api_docs.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)} ({len(sm.__all__)} names)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
