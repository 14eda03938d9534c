"""Reading input files: bytes from paths, buffers and ``.gz``; text encodings; the field separator."""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import IO

import pandas as pd

from salesmining.core.errors import EncodingError, LogSchemaError
from salesmining.log.quality import IngestWarning

__all__ = ["PathOrBuffer", "decode_bytes", "read_bytes", "read_table_file", "source_name"]

#: What the file readers accept: a path, an open text or binary file, or the bytes themselves.
PathOrBuffer = str | os.PathLike[str] | IO[str] | IO[bytes] | bytes

_WESTERN = ("cp1252", "latin_1", "iso8859_15", "iso8859_1", "windows-1252")
_CJK_AND_OTHERS = (
    "gb18030",
    "gbk",
    "gb2312",
    "big5",
    "big5hkscs",
    "shift_jis",
    "cp932",
    "euc_jp",
    "euc_kr",
    "cp949",
    "utf_16",
    "utf_32",
)


def source_name(obj: object) -> str:
    """The file name of a path or open file (``"<buffer>"`` when it has none)."""
    if isinstance(obj, (str, os.PathLike)):
        return Path(obj).name
    name = getattr(obj, "name", None)
    return Path(name).name if isinstance(name, str) else "<buffer>"


def read_bytes(obj: PathOrBuffer) -> bytes | str:
    """The content of a path (``.gz`` decompressed), a buffer or bytes; a missing file is a :class:`LogSchemaError`."""
    if isinstance(obj, bytes):
        return obj
    if isinstance(obj, (str, os.PathLike)):
        p = Path(obj)
        if not p.exists():
            raise LogSchemaError(f"no such file: {p}", source=str(p))
        data = p.read_bytes()
        if p.suffix == ".gz" or data[:2] == b"\x1f\x8b":
            import gzip

            data = gzip.decompress(data)
        return data
    content = obj.read()
    return content


def decode_bytes(
    data: bytes | str, *, encoding: str | None, source: str
) -> tuple[str, str | None, IngestWarning | None]:
    """Decode a file's bytes: the given encoding, else UTF-8 (BOM or not), else a *confidently*
    detected fallback (reported), else an :class:`EncodingError` that says what to pass."""
    if isinstance(data, str):
        return data.lstrip("\ufeff"), None, None
    if encoding is not None:
        try:
            return data.decode(encoding).lstrip("\ufeff"), encoding, None
        except (UnicodeDecodeError, LookupError) as exc:
            raise EncodingError(f"{source} cannot be read as {encoding!r}: {exc}", source=source) from exc
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc).lstrip("\ufeff"), enc, None
            except UnicodeDecodeError:
                break
    try:
        return data.decode("utf-8"), "utf-8", None
    except UnicodeDecodeError as exc:
        bad_at = exc.start
    line = data[:bad_at].count(b"\n") + 1
    chosen = _utf16_without_bom(data) or _detect_fallback(data)
    if chosen is None:
        raise EncodingError(
            f"{source} is not valid UTF-8 (first bad byte 0x{data[bad_at]:02x} on line {line}) and its encoding "
            "cannot be told safely; pass encoding=... — Salesforce and Excel exports on Windows are usually "
            "encoding='cp1252', Chinese ones encoding='gb18030'",
            source=source,
            row=max(line - 2, 0),
        )
    text = data.decode(chosen)
    warn = IngestWarning(
        "encoding_fallback",
        f"{source} is not UTF-8 (first non-UTF-8 byte on line {line}); decoded as {chosen} "
        f"(pass encoding=... to override)",
        1,
        source=source,
    )
    return text.lstrip("\ufeff"), chosen, warn


def _utf16_without_bom(data: bytes) -> str | None:
    """UTF-16 without a byte-order mark (some Excel "Unicode text" exports): text whose every
    other byte is NUL in the first kilobytes, decoded as little- or big-endian UTF-16."""
    head = data[:4096]
    if len(head) < 8 or len(head) % 2:
        head = head[: len(head) - len(head) % 2]
    if len(head) < 8:
        return None
    even, odd = head[0::2], head[1::2]
    for enc, zeros, text in (("utf-16-le", odd, even), ("utf-16-be", even, odd)):
        if zeros.count(0) >= 0.9 * len(zeros) and text.count(0) == 0:
            try:
                data.decode(enc)
            except UnicodeDecodeError:
                return None
            return enc
    return None


# Characters a Western (cp1252) export holds beyond ASCII: Latin-1 letters and common punctuation.
_WESTERN_CHARS = re.compile(
    r"[\u00a0-\u00ff\u20ac\u2018\u2019\u201c\u201d\u2013\u2014\u2026\u2022\u0152\u0153\u0160\u0161\u017d\u017e\u0178]"
)
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def _looks_western(data: bytes) -> bool:
    """cp1252 text with isolated accented letters (``Präsentation``, ``geprüft``): every non-ASCII
    character is a Latin-1 letter or common punctuation and most runs of them are one character
    long (the two-byte characters of GBK, Big5 or Shift-JIS come in runs of two or more)."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return False
    runs = _NON_ASCII_RUN.findall(text)
    if not runs or any(_WESTERN_CHARS.sub("", r) for r in runs):
        return False
    return sum(len(r) == 1 for r in runs) >= 0.6 * len(runs)


def _detect_fallback(data: bytes) -> str | None:
    """Pick cp1252/latin-1 for Western text, a CJK codec for Chinese/Japanese/Korean; None if unsure."""
    from charset_normalizer import from_bytes

    results = list(from_bytes(data, cp_isolation=None))
    names = [r.encoding for r in results]
    best = results[0] if results else None
    if best is not None and best.encoding in _CJK_AND_OTHERS and best.chaos < 0.1:
        return str(best.encoding)
    if (
        any(n in _WESTERN for n in names)
        or (
            best is not None
            and best.language in ("English", "Spanish", "French", "German", "Portuguese", "Italian", "Dutch")
        )
        or _looks_western(data)
    ):
        try:
            data.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            return "latin-1"
    return None


def _head_lines(text: str, n: int) -> list[str]:
    """The first ``n`` lines of ``text`` (as ``str.splitlines`` cuts them) without splitting all of it."""
    size = 1 << 16
    while True:
        lines = text[:size].splitlines()
        if len(lines) > n or size >= len(text):
            return lines[:n]
        size *= 4


def _sniff_sep(text: str) -> str:
    sample = "\n".join(_head_lines(text, 50))
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def read_table_file(
    path_or_buffer: PathOrBuffer, *, encoding: str | None = None, sep: str | None = None
) -> tuple[pd.DataFrame, str, str | None, list[IngestWarning], list[str]]:
    """Read a delimited text file as all-string columns (nothing converted, nothing dropped).

    Returns (frame, source name, encoding used, warnings, notes).
    """
    source = source_name(path_or_buffer)
    data = read_bytes(path_or_buffer)
    fast = _read_utf8_fast(data, sep) if encoding is None else None
    df: pd.DataFrame | None
    if fast is not None:
        df, delimiter, text = fast
        used: str | None = "utf-8"
        warn = None
    else:
        text, used, warn = decode_bytes(data, encoding=encoding, source=source)
        delimiter = sep or _sniff_sep(text)
        df = _read_with_polars(text.encode("utf-8"), delimiter, text)
    try:
        if df is None:
            df = pd.read_csv(
                io.StringIO(text),
                sep=delimiter,
                dtype=str,
                keep_default_na=False,
                na_filter=False,
                skip_blank_lines=True,
            )
    except pd.errors.ParserError as exc:
        raise LogSchemaError(
            f"{source} is not a well-formed delimited file ({str(exc).strip()}); "
            "check the separator (sep=...) and quoting",
            source=source,
        ) from exc
    except pd.errors.EmptyDataError as exc:
        raise LogSchemaError(f"{source} is empty", source=source) from exc
    except (ValueError, csv.Error) as exc:  # e.g. a separator pandas refuses, a field beyond the size limit
        raise LogSchemaError(f"{source} cannot be read as a delimited file: {exc}", source=source) from exc
    _refuse_duplicate_header(text, delimiter, source)
    df.columns = [str(c).strip() for c in df.columns]
    notes = [f"read {source} as {used or 'text'} with separator {delimiter!r}"]
    return df, source, used, [warn] if warn else [], notes


_HEAD_BYTES = 1 << 20


def _read_utf8_fast(data: bytes | str, sep: str | None) -> tuple[pd.DataFrame, str, str] | None:
    """A UTF-8 file without a byte-order mark, read by polars straight from its bytes (polars
    refuses invalid UTF-8, and then the decoding path takes over): (frame, separator, the text
    of its first lines, for the header check). ``None`` when the decoding path must read it."""
    if not isinstance(data, bytes) or data[:2] in (b"\xff\xfe", b"\xfe\xff") or data[:3] == b"\xef\xbb\xbf":
        return None
    head = data[:_HEAD_BYTES]
    if len(data) > len(head):
        head = head[: head.rfind(b"\n") + 1]
    try:
        head_text = head.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if sep is None:
        if len(data) > len(head) and len(head_text.splitlines()) <= 50:
            return None  # the sniffer reads the first 50 lines; these are longer than the head
        sep = _sniff_sep(head_text)
    frame = _read_with_polars(data, sep, head_text)
    return None if frame is None else (frame, sep, head_text)


def _read_with_polars(data: bytes, delimiter: str, head: str) -> pd.DataFrame | None:
    """UTF-8 bytes as all-string columns, read by polars' multi-threaded CSV reader — or ``None``
    when the file has something pandas' reader treats its own way (blank lines, which it skips;
    a lone ``\r`` line end; empty or repeated header names; a separator of several characters;
    rows longer than the header; any quoting polars refuses). The pandas reader then reads it,
    so the frame is the same either way."""
    if len(delimiter) != 1 or len(delimiter.encode("utf-8")) != 1:
        return None
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None
    import polars as pl

    try:
        frame = pl.read_csv(
            data,
            separator=delimiter,
            infer_schema=False,
            empty_string_is_null=False,
            truncate_ragged_lines=False,
            raise_if_empty=True,
            quote_char='"',
        )
    except (
        pl.exceptions.PolarsError,
        ValueError,
        OSError,
    ):  # a refusal: the pandas reader decides (and words the error)
        return None
    # header names as the csv module reads them (polars keeps doubled quotes in names doubled)
    names = _header(head, delimiter)
    if (
        names is None
        or len(names) != frame.width
        or any(not n.strip() for n in names)
        or len(set(names)) != len(names)
        or frame.null_count().sum_horizontal()[0]
    ):
        return None
    frame.columns = names
    first = pl.col(names[0])
    maybe_blank = (first.str.len_bytes() == 0) | first.str.starts_with(" ") | first.str.starts_with("\t")
    if (
        len(frame)
        and frame.select(maybe_blank.any()).item()  # a blank first field is empty or starts with a space or tab
        and frame.select(
            pl.all_horizontal(first.str.strip_chars(" \t") == "", *[pl.col(c) == "" for c in names[1:]]).any()
        ).item()
    ):
        return None  # a blank line (or a row of empty fields): pandas skips the one, keeps the other
    import pyarrow as pa

    string = pd.StringDtype(na_value=float("nan"))
    return frame.to_arrow().to_pandas(types_mapper={pa.large_string(): string, pa.string_view(): string}.get)


def _header(text: str, delimiter: str) -> list[str] | None:
    """The first record of ``text`` as the csv module reads it (``None`` when it cannot)."""
    lines = (m.group() for m in re.finditer(r"[^\n]*\n?", text))  # lazily: only the header's lines are cut
    try:
        return next(csv.reader(lines, delimiter=delimiter), [])
    except csv.Error:
        return None


def _refuse_duplicate_header(text: str, delimiter: str, source: str) -> None:
    """A column name that appears twice (after trimming) is a :class:`LogSchemaError` naming it:
    which copy holds the data cannot be told, and pandas would silently rename one ``name.1``."""
    header = _header(text, delimiter)
    if header is None:
        return
    names = [h.strip() for h in header]
    seen: set[str] = set()
    dups: list[str] = []
    for n in names:
        if n in seen and n not in dups:
            dups.append(n)
        seen.add(n)
    if dups:
        where = "; ".join(f"{d!r} in columns {[i + 1 for i, n in enumerate(names) if n == d]}" for d in dups)
        raise LogSchemaError(
            f"{source}: the header names {where} more than once; rename the copies so each column has one name",
            source=source,
            column=dups[0],
        )
