"""README.md and docs/*.md stay true to the repository: every relative link and #anchor resolves (GitHub's
heading slugs), every `hiermovie ...` command line shown names a command that exists and only options its
--help lists (with allowed values for choice options), and every `make X` names a Makefile target.

Command lines are read from fenced code blocks (a line starting with `hiermovie` or `make`, after any
VAR=value) and from inline code anywhere. In a documented line, `[...]` marks optional parts, `a|b` (or `a\\|b`
in a table) alternatives and CAPITALS placeholders. A failure names the file, the line and what is broken."""

import os
import re
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from urllib.parse import unquote

import pytest
import typer

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
INLINE_CODE = re.compile(r"(`+)(.+?)\1")
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$")
OPTION = re.compile(r"^--?[A-Za-z][\w-]*$")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*([:.][A-Z0-9_]+)*$")
ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")


# ---------------------------------------------------------------- reading the Markdown


def _lines(path: Path) -> Iterator[tuple[int, str, bool]]:
    """(line number, text, inside a fenced code block) for every line but the fences themselves."""
    fence = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        match = FENCE.match(line)
        if match and (fence is None or match.group(1) == fence):
            fence = match.group(1) if fence is None else None
            continue
        yield number, line, fence is not None


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: its text as rendered, lowercased, punctuation but - and _ removed, spaces
    to hyphens."""
    text = INLINE_CODE.sub(lambda match: match.group(2).strip(), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link reads as its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file; a repeated slug gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for _, line, in_code in _lines(path):
        match = None if in_code else HEADING.match(line)
        if match:
            base = slug(match.group(2))
            found.add(base if base not in seen else f"{base}-{seen[base]}")
            seen[base] = seen.get(base, 0) + 1
    return found


def _without_code(line: str) -> str:
    return INLINE_CODE.sub("", line)


def links(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, target) of every inline or reference-style link outside code."""
    for number, line, in_code in _lines(path):
        if in_code:
            continue
        text = _without_code(line)
        for match in LINK.finditer(text):
            yield number, match.group(1)
        reference = REFERENCE.match(text)
        if reference:
            yield number, reference.group(1)


def commands(path: Path, program: str) -> Iterator[tuple[int, str]]:
    """(line number, words after `program`) of each command line shown: code-block lines and inline code."""
    for number, line, in_code in _lines(path):
        shown = [line] if in_code else [match.group(2) for match in INLINE_CODE.finditer(line)]
        for text in shown:
            text = re.sub(r"(^|\s)#.*$", "", text.strip().removeprefix("$ ")) if in_code else text.strip()
            words = text.split()
            while words and ASSIGNMENT.match(words[0]):
                words = words[1:]
            if len(words) >= 1 and words[0] == program and (len(words) > 1 or not in_code):
                yield number, " ".join(words[1:])


# ---------------------------------------------------------------- checking


def link_problems(path: Path, root: Path = ROOT) -> list[str]:
    problems = []
    for number, target in links(path):
        if not target or re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / unquote(file_part)).resolve() if file_part else path
        where = f"{path.relative_to(root)}:{number}"
        if not linked.exists():
            problems.append(f"{where}: broken link {target!r}: {os.path.relpath(linked, root)} does not exist")
        elif anchor and linked.suffix == ".md" and unquote(anchor) not in anchors(linked):
            problems.append(f"{where}: broken link {target!r}: no heading with anchor #{anchor} in {linked.name}")
    return problems


def _words(text: str) -> list[list[str]]:
    """A documented command line as words, each a list of its alternatives; optional brackets dropped."""
    text = text.replace("\\|", "|").replace("[", " ").replace("]", " ")
    text = re.sub(r"\s*\|\s*(?=-)", " | ", text)  # `--a X | --b Y`: two options, not one word
    words = []
    for word in text.split():
        if word == "|" or word == "...":
            continue
        words.append([part for part in word.split("|") if part])
    return words


# typer builds on its own copy of click (typer._click), so commands and parameters are told apart by what they
# have: a group has `commands`, a parameter says whether it is an "option" or an "argument"


def _is_group(command) -> bool:
    return hasattr(command, "commands")


def _option_params(command) -> dict:
    opts = {"--help": None}
    for param in command.params:
        if param.param_type_name == "option":
            opts.update({name: param for name in (*param.opts, *param.secondary_opts)})
    return opts


def _choices(param) -> list[str] | None:
    """The values a parameter allows, or None when any value goes: click's Choice, or typer's Enum annotation."""
    choices = getattr(getattr(param, "type", None), "choices", None)
    annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
    if choices is None and isinstance(annotation, type) and issubclass(annotation, Enum):
        choices = [member.value for member in annotation]
    return None if choices is None else [str(choice) for choice in choices]


def _bad_choices(param, values: list[str]) -> list[str]:
    """Values outside the parameter's choices, as messages; CAPITAL placeholders pass."""
    choices = None if param is None else _choices(param)
    if choices is None:
        return []
    bad = [value for value in values if value not in choices and not PLACEHOLDER.match(value)]
    return [f"{value!r} is not one of {choices}" for value in bad]


def command_problems(text: str, root, path: tuple[str, ...] = ("hiermovie",)) -> list[str]:
    """What is wrong with `hiermovie <text>`: an unknown command, an option the command lacks, a value outside a
    choice; [] when it parses. `root` is the click group that `path` names."""
    words, command, path = _words(text), root, list(path)
    while _is_group(command) and words and not words[0][0].startswith("-"):
        name = words.pop(0)[0]
        if name not in command.commands:
            known = ", ".join(sorted(command.commands))
            return [f"unknown command {' '.join([*path, name])!r} (known: {known})"]
        command, path = command.commands[name], [*path, name]
    # options of a group (`hiermovie --quiet extract ...`) come before its command
    problems, params, positional = [], _option_params(command), 0
    arguments = [param for param in command.params if param.param_type_name == "argument"]
    while words:
        word = words.pop(0)
        options = [part.split("=", 1)[0] for part in word if OPTION.match(part.split("=", 1)[0])]
        if not options:
            if positional < len(arguments):
                problems += [f"{' '.join(path)}: {bad}" for bad in _bad_choices(arguments[positional], word)]
            positional += 1
            continue
        for option in options:
            if option not in params:
                problems.append(f"{' '.join(path)}: no option {option} in its --help (it has {', '.join(params)})")
                continue
            param = params[option]
            takes_value = param is not None and not param.is_flag and not param.count
            if takes_value and "=" not in word[0] and words and not words[0][0].startswith("-"):
                value = words.pop(0)
                problems += [f"{' '.join(path)} {option}: {bad}" for bad in _bad_choices(param, value)]
        if _is_group(command) and words and not words[0][0].startswith("-"):
            return problems + command_problems(" ".join("|".join(w) for w in words), command, tuple(path))
    return problems


def make_targets(makefile: Path) -> set[str]:
    targets = set()
    for line in makefile.read_text().splitlines():
        match = re.match(r"^([^\s#$.][^:=]*?)\s*::?(?!=)", line)
        if match:
            targets.update(match.group(1).split())
    return targets


# ---------------------------------------------------------------- the tests


@pytest.fixture(scope="module")
def cli():
    """The `hiermovie` command line as click builds it."""
    from hiermovie.cli.main import app

    return typer.main.get_command(app)


def test_docs_exist():
    assert (ROOT / "README.md").is_file() and len(DOCS) > 1, "README.md and docs/*.md expected"


def test_links_and_anchors_resolve():
    problems = [problem for path in DOCS for problem in link_problems(path)]
    assert not problems, "\n".join(problems)


def test_hiermovie_command_lines_parse(cli):
    problems = [
        f"{path.relative_to(ROOT)}:{number}: `hiermovie {text}`: {problem}"
        for path in DOCS
        for number, text in commands(path, "hiermovie")
        for problem in command_problems(text, cli)
    ]
    assert not problems, "\n".join(problems)


def test_make_targets_exist():
    targets = make_targets(ROOT / "Makefile")
    problems = []
    for path in DOCS:
        for number, text in commands(path, "make"):
            for word in text.split():
                if ASSIGNMENT.match(word) or word.startswith("-"):
                    continue
                if word not in targets:
                    problems.append(f"{path.relative_to(ROOT)}:{number}: `make {text}`: no target {word!r} in Makefile")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- the checker itself


def test_slugs_follow_github():
    assert slug("The event cache: extraction (`hiermovie extract`, `make extract`) and its format") == (
        "the-event-cache-extraction-hiermovie-extract-make-extract-and-its-format"
    )
    assert slug("LVU part (`DIR/lvu/`)") == "lvu-part-dirlvu"
    assert slug("Deviations in `tiny`") == "deviations-in-tiny"
    assert slug("max_discrepancy ≈ uniform") == "max_discrepancy--uniform"


def test_checker_finds_broken_links_and_options(tmp_path, cli):
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n## Part\n\n## Part\n\n[ok](#part-1) [bad anchor](#nowhere) [bad file](missing.md)\n\n"
        "```\nhiermovie extract --backbone CKPT --bogus 3\nhiermovie nosuch --out X\n```\n"
        "`hiermovie synth --size huge --out DIR`, `hiermovie task verb|poem --cache C --data D --out O`\n"
    )
    found = link_problems(page, root=tmp_path)
    assert len(found) == 2 and "page.md:7: broken link '#nowhere'" in found[0] and "missing.md" in found[1]
    shown = {number: command_problems(text, cli) for number, text in commands(page, "hiermovie")}
    assert "no option --bogus" in shown[10][0]
    assert "unknown command 'hiermovie nosuch'" in shown[11][0]
    assert "'huge' is not one of" in command_problems("synth --size huge --out DIR", cli)[0]
    assert "'poem' is not one of" in command_problems("task verb|poem --cache C --data D --out O", cli)[0]
    documented = "--quiet backbone pretrain --data V --out R --method cvrl|modist [--profile tiny]"
    assert command_problems(documented, cli) == []
