"""The subset of Go's text/template that `docker --format` users actually write.

Supported: `{{.A.B}}`, `{{.}}`, `{{json X}}`, `{{X | json}}`, `{{.Label "k"}}` (a callable
field), `{{index .Config.Labels "k"}}`, `join`, `lower`, `upper`, `title`, `len`,
`truncate`, `println`, the `table` prefix (header row + tabwriter alignment), trim markers
`{{-`/`-}}` and docker's `\\t`/`\\n` escapes. `if`/`range`/`with` are refused with a clear
error rather than silently mis-rendered. Values print the way Go's `%v` prints them
(`map[k:v]`, `[a b]`, `true`), and `json` escapes `<>&` as Go's encoder does, so scripts that
parse docker's output parse ours.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from .errors import CliError


class _NoValue:
    def __str__(self) -> str:
        return "<no value>"


NO_VALUE = _NoValue()
_ACTION_RE = re.compile(r"\{\{(-?)\s*(.*?)\s*(-?)\}\}", re.S)
_TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|\||[^\s|]+')


def preformat(fmt: str) -> tuple[str, bool]:
    """Docker's pre-processing: strip `table `, trim, turn `\\t`/`\\n` into real characters."""
    is_table = fmt.startswith("table")
    if is_table:
        fmt = fmt[len("table"):]
    fmt = fmt.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return fmt, is_table


def render(template: str, data: Any) -> str:
    """Render one value through the template."""
    out: list[str] = []
    pos = 0
    for m in _ACTION_RE.finditer(template):
        literal = template[pos : m.start()]
        if m.group(1):
            literal = literal.rstrip()
        out.append(literal)
        out.append(go_str(_eval_pipeline(m.group(2), data)))
        pos = m.end()
        if m.group(3):
            rest = template[pos:]
            pos += len(rest) - len(rest.lstrip())
    out.append(template[pos:])
    return "".join(out)


def header(template: str, names: dict[str, str]) -> str:
    """The header row of a `table` format: each `{{.Field}}` becomes its column title."""

    def title(m: re.Match[str]) -> str:
        expr = m.group(2).strip()
        field = expr.lstrip(".").split()[0] if expr.startswith(".") else expr
        return names.get(field, field.upper())

    return _ACTION_RE.sub(title, template)


def tabwrite(lines: list[str], minwidth: int = 10, padding: int = 3) -> str:
    """Align tab-separated cells the way Go's tabwriter (minwidth 10, padding 3) does."""
    rows = [line.split("\t") for line in lines]
    widths: dict[int, int] = {}
    for cells in rows:
        for i, cell in enumerate(cells[:-1]):
            widths[i] = max(widths.get(i, 0), max(minwidth, len(cell) + padding))
    out = []
    for cells in rows:
        parts = [cell.ljust(widths[i]) for i, cell in enumerate(cells[:-1])]
        out.append("".join(parts) + cells[-1])
    return "".join(line + "\n" for line in out)


def go_str(value: Any) -> str:
    """Go's `%v` for the JSON-ish values we render."""
    if value is NO_VALUE:
        return "<no value>"
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e21 else repr(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_str(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    return str(value)


def go_json(value: Any) -> str:
    """Go's json.Marshal: compact, with `<`, `>`, `&` escaped."""
    if value is NO_VALUE:
        value = None
    text = json.dumps(_jsonable(value), separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items() if not callable(v)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _fail(expr: str, why: str) -> CliError:
    return CliError(f"template parsing error: template: :1: {why} in {{{{{expr}}}}}", 1)


def _eval_pipeline(expr: str, data: Any) -> Any:
    tokens = _TOKEN_RE.findall(expr)
    if not tokens:
        raise _fail(expr, "missing value for command")
    if tokens[0] in ("if", "range", "with", "end", "else", "define", "template", "block"):
        raise _fail(expr, f"cosmos-sim does not support the '{tokens[0]}' action")
    commands: list[list[str]] = [[]]
    for tok in tokens:
        if tok == "|":
            commands.append([])
        else:
            commands[-1].append(tok)
    result: Any = NO_VALUE
    for i, cmd in enumerate(commands):
        if not cmd:
            raise _fail(expr, "missing command in pipeline")
        extra = [result] if i > 0 else []
        result = _eval_command(expr, cmd, data, extra)
    return result


def _eval_command(expr: str, cmd: list[str], data: Any, extra: list[Any]) -> Any:
    head, args = cmd[0], [_eval_arg(expr, a, data) for a in cmd[1:]] + extra
    if head.startswith("."):
        value = _field(data, head)
        if callable(value):
            return value(*args)
        if args:
            raise _fail(expr, f"{head} is not a method but has arguments")
        return value
    func = _FUNCS.get(head)
    if func is None:
        if not args:
            return _eval_arg(expr, head, data)
        raise _fail(expr, f'function "{head}" not defined')
    try:
        return func(*args)
    except TypeError:
        raise _fail(expr, f"wrong number of args for {head}") from None


def _eval_arg(expr: str, tok: str, data: Any) -> Any:
    if tok.startswith('"'):
        return json.loads(tok)
    if tok.startswith("`"):
        return tok[1:-1]
    if tok.startswith("."):
        return _field(data, tok)
    if re.fullmatch(r"-?\d+", tok):
        return int(tok)
    if tok in ("true", "false"):
        return tok == "true"
    if tok == "nil":
        return None
    raise _fail(expr, f'function "{tok}" not defined')


def _field(data: Any, path: str) -> Any:
    value = data
    for part in [p for p in path.split(".") if p]:
        if isinstance(value, dict):
            value = value.get(part, NO_VALUE)
        else:
            return NO_VALUE
    return value


def _index(container: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(container, dict):
            container = container.get(key, NO_VALUE)
        elif isinstance(container, list) and isinstance(key, int) and 0 <= key < len(container):
            container = container[key]
        else:
            return NO_VALUE
    return container


def _truncate(value: Any, n: int) -> str:
    text = go_str(value)
    return text[:n]


_FUNCS: dict[str, Callable[..., Any]] = {
    "json": go_json,
    "index": _index,
    "join": lambda items, sep: sep.join(go_str(i) for i in (items or [])),
    "lower": lambda v: go_str(v).lower(),
    "upper": lambda v: go_str(v).upper(),
    "title": lambda v: go_str(v).title(),
    "len": lambda v: len(v) if isinstance(v, (list, dict, str)) else 0,
    "truncate": _truncate,
    "println": lambda *v: " ".join(go_str(x) for x in v) + "\n",
    "print": lambda *v: "".join(go_str(x) for x in v),
}
