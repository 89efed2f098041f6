"""cffi declarations (the ``cdef``) generated from a C header, so the header is the one copy.

Standalone (only the standard library and cffi): `pdaframe new-plugin --lang c` copies this
file into the plugin as ``_cdef.py``, where its build script (``_build_cffi.py``) calls
`cdef_from_header` at build time. What a header may hold: function prototypes, typedefs,
structs and enums, ``#define NAME <integer>`` constants, comments, an include guard
(``#ifndef X`` / ``#define X`` / ``#endif``), ``#include`` lines and a ``#ifdef
__cplusplus`` block (both left out). Anything else (other conditionals, macros with values
that are not integers, C the cffi parser rejects) is a `HeaderError` naming the file and
line. Line numbers are kept: every left-out line becomes an empty one.
"""
from __future__ import annotations

import re
from pathlib import Path

_DEFINE_INT = re.compile(r"#\s*define\s+([A-Za-z_]\w*)\s+(-?(?:0[xX][0-9a-fA-F]+|\d+))[uUlL]*\s*$")
_DEFINE_BARE = re.compile(r"#\s*define\s+([A-Za-z_]\w*)\s*$")
_LINE = re.compile(r":(\d+):(?:\d+:)?")


class HeaderError(ValueError):
    """A C header that the cdef generator cannot turn into cffi declarations (file, line)."""


def _strip_comments(text) -> str:
    """``text`` without C comments, each replaced by spaces and its newlines kept."""
    def blank(match):
        return re.sub(r"[^\n]", " ", match.group(0))
    return re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\])*"', lambda m: m.group(0)
                  if m.group(0).startswith('"') else blank(m), text, flags=re.S)


def cdef_from_header(path) -> str:
    """The cffi ``cdef`` text of the header ``path`` (see the module docstring).

    Raises
    ------
    HeaderError
        A line it cannot use, or C that cffi cannot parse: ``"<path>, line N: ..."``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise HeaderError(f"{path}: cannot read the header: {err}") from None
    if "/*" in _strip_comments(text):
        raise HeaderError(f"{path}: a /* comment is not closed")
    lines, stack = [], []                 # stack: for each open #if, whether to keep lines
    guard = None
    for number, line in enumerate(_strip_comments(text).split("\n"), 1):
        code = line.strip()
        where = f"{path}, line {number}"
        keep = all(stack)
        if code.startswith("#"):
            directive = re.match(r"#\s*(\w*)", code).group(1)
            if directive == "ifndef" and not _has_code(lines) and guard is None:
                guard = code.split()[-1]
                stack.append(True)
            elif directive in ("ifdef", "if") and "__cplusplus" in code:
                stack.append(False)
            elif directive == "endif":
                if not stack:
                    raise HeaderError(f"{where}: #endif without #if")
                stack.pop()
            elif directive == "define" and _DEFINE_BARE.match(code) and \
                    _DEFINE_BARE.match(code).group(1) == guard:
                pass
            elif directive == "define" and _DEFINE_INT.match(code):
                if keep:
                    name, value = _DEFINE_INT.match(code).groups()
                    lines.append(f"#define {name} {value}")
                    continue
            elif directive in ("include", "pragma") or not keep:
                pass
            elif directive == "define":
                raise HeaderError(f"{where}: '{code}': cffi takes only integer constants "
                                  f"(#define NAME 42); declare other values as functions or "
                                  f"'static const' in the C source")
            else:
                raise HeaderError(f"{where}: '{code}': #{directive} is not supported in a "
                                  f"header wrapped by cffi (only an include guard, #include, "
                                  f"#ifdef __cplusplus and integer #defines)")
            lines.append("")
        else:
            lines.append(line if keep and not code.startswith('extern "C"') else "")
    if stack:
        raise HeaderError(f"{path}: an #if/#ifndef is not closed by #endif")
    cdef = "\n".join(lines)
    _check(cdef, path)
    return cdef


def _has_code(lines) -> bool:
    """Whether any line so far holds code (an include guard must come first)."""
    return any(line.strip() for line in lines)


def _check(cdef, path):
    """Parse ``cdef`` with cffi; an error becomes a `HeaderError` naming the header's line
    (from cffi's message, else the first declaration that does not parse)."""
    error = _parse_error(cdef)
    if error is None:
        return
    message = " ".join(str(error).split())
    found = _LINE.search(message)
    line = int(found.group(1)) if found else _failing_line(cdef)
    where = f", line {line}" if line else ""
    raise HeaderError(f"{path}{where}: cffi cannot parse the declarations: {message}")


def _parse_error(cdef):
    from cffi import FFI
    try:
        FFI().cdef(cdef)
    except Exception as err:              # cffi.CDefError, pycparser's ParseError, ...
        return err
    return None


def _failing_line(cdef):
    """The first line of the first top-level declaration (``...;``) after which the text no
    longer parses; None if none is found."""
    depth, start = 0, 0
    for i, char in enumerate(cdef + ";"):
        depth += {"{": 1, "(": 1, "}": -1, ")": -1}.get(char, 0)
        if (char == ";" and depth <= 0) or i == len(cdef):
            if _parse_error(cdef[:i + 1] if i < len(cdef) else cdef) is not None:
                first = cdef.count("\n", 0, start) + 1
                for n, text in enumerate(cdef[start:i + 1].split("\n")):
                    if text.strip() and not text.lstrip().startswith("#"):
                        return first + n
                return first
            start = i + 1
    return None
