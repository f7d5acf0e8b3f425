"""A small pflag-like option parser for the docker verbs.

argparse cannot reproduce docker's rules (options stop at the image for `run`, `-e K=V` and
`-eK=V`, combined short flags like `-dit`, `--rm=false`, repeatable options, docker's error
texts), so each verb declares a table and this module parses against it.
"""

from __future__ import annotations

from typing import NamedTuple

from .errors import CliError

FLAG = "flag"  # boolean, may be written --x=false
VALUE = "value"  # one value, last one wins
MULTI = "multi"  # repeatable value, collected in order


class Opt(NamedTuple):
    """One option: its kind, the key it is stored under and its aliases."""

    kind: str
    dest: str


def build_table(entries: list[tuple[str, str, str]]) -> dict[str, Opt]:
    """Turn `[("--name|-n", VALUE, "name"), ...]` into a lookup by every alias."""
    table: dict[str, Opt] = {}
    for names, kind, dest in entries:
        for name in names.split("|"):
            table[name] = Opt(kind, dest)
    return table


def _truthy(verb: str, name: str, text: str) -> bool:
    low = text.lower()
    if low in ("true", "1", "t"):
        return True
    if low in ("false", "0", "f"):
        return False
    raise CliError(
        f'invalid argument "{text}" for "{name}" flag: strconv.ParseBool: parsing "{text}": '
        f"invalid syntax\nSee 'docker {verb} --help'.",
        125,
    )


def parse(
    verb: str, args: list[str], table: dict[str, Opt], interspersed: bool = True
) -> tuple[dict[str, object], list[str]]:
    """Parse `args`; returns (options by dest, positionals).

    With `interspersed=False` parsing stops at the first positional (docker `run`: everything
    after the image belongs to the container command).
    """
    opts: dict[str, object] = {}
    for opt in table.values():
        if opt.kind == MULTI:
            opts.setdefault(opt.dest, [])
    positionals: list[str] = []
    i = 0
    while i < len(args):
        tok = args[i]
        i += 1
        if tok == "--":
            positionals.extend(args[i:])
            break
        if tok.startswith("--") and len(tok) > 2:
            name, eq, inline = tok.partition("=")
            opt = table.get(name)
            if opt is None:
                raise CliError(f"unknown flag: {name}\nSee 'docker {verb} --help'.", 125)
            if opt.kind == FLAG:
                opts[opt.dest] = _truthy(verb, name, inline) if eq else True
                continue
            if not eq:
                if i >= len(args):
                    raise CliError(
                        f"flag needs an argument: {name}\nSee 'docker {verb} --help'.", 125
                    )
                inline = args[i]
                i += 1
            _store(opts, opt, inline)
            continue
        if tok.startswith("-") and len(tok) > 1:
            i = _parse_shorts(verb, tok, args, i, table, opts)
            continue
        positionals.append(tok)
        if not interspersed:
            positionals.extend(args[i:])
            break
    return opts, positionals


def _parse_shorts(
    verb: str, tok: str, args: list[str], i: int, table: dict[str, Opt], opts: dict[str, object]
) -> int:
    """Handle `-d`, `-dit`, `-e K=V`, `-eK=V`, `-e=K=V`; returns the new index into args."""
    j = 1
    while j < len(tok):
        name = "-" + tok[j]
        opt = table.get(name)
        if opt is None:
            raise CliError(
                f"unknown shorthand flag: '{tok[j]}' in {tok}\nSee 'docker {verb} --help'.", 125
            )
        if opt.kind == FLAG:
            opts[opt.dest] = True
            j += 1
            continue
        rest = tok[j + 1 :]
        if rest.startswith("="):
            rest = rest[1:]
        if not rest:
            if i >= len(args):
                raise CliError(
                    f"flag needs an argument: '{tok[j]}' in {name}\nSee 'docker {verb} --help'.",
                    125,
                )
            rest = args[i]
            i += 1
        _store(opts, opt, rest)
        break
    return i


def _store(opts: dict[str, object], opt: Opt, value: str) -> None:
    if opt.kind == MULTI:
        opts[opt.dest].append(value)  # type: ignore[union-attr]
    else:
        opts[opt.dest] = value
