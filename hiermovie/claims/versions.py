"""Which code made each output of a claims run, so that a verdict never mixes outputs of different code.

A stage's **code version** is a digest of the source of every hiermovie module its entry modules import,
directly or not, read as syntax (comments, docstrings and formatting do not count), and of the versions of
what it reads: earlier stages, and the benchmark (its generator version and config, as `synth.json` records
them) or, for the backbones, the very files they train on (a change to the LVU part of the generator does
not make the backbones stale). Every step folder of a claims run (a backbone, a cache, a TxE, a task table) is
recorded in OUT/steps.json with the version of its stage when it was started; a step made by other code is
*stale*: the run refuses to reuse it (naming the files that changed) unless told to redo it, and the report
leaves stale steps out.
"""

import ast
import hashlib
import json
import shutil
from pathlib import Path

import hiermovie
from hiermovie.errors import HiermovieError

PACKAGE_ROOT = Path(hiermovie.__file__).parent
# stage -> (entry modules, stages it reads from); the claims modules themselves are left out: their settings
# live in the profiles the entries import and in OUT/setup.json, which refuses other settings
# "benchmark" and "backbone inputs" are digests of the data (`input_digests`), not stages
DATA_NAMES = {"benchmark": "the benchmark (synth.json)", "backbone inputs": "the backbones' training clips"}
STAGES = {
    "backbones": (("hiermovie.extract.pretrain",), ("backbone inputs",)),
    "caches": (("hiermovie.extract.featurize", "hiermovie.datasets.synth.oracle"), ("backbones", "benchmark")),
    "txe": (("hiermovie.contextualize.pretrain", "hiermovie.contextualize.ablate"), ("caches",)),
    "tasks": (("hiermovie.tasks.runs", "hiermovie.contextualize.retrieval"), ("txe", "benchmark")),
}


def module_path(module: str, root: Path = PACKAGE_ROOT) -> Path | None:
    """The source file of `hiermovie.x.y` (a module or a package's __init__), or None."""
    parts = module.split(".")[1:]
    base = root.joinpath(*parts)
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(source: str) -> set[str]:
    """The hiermovie modules a source imports (`from hiermovie.x import y` yields x and x.y: y may be either)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.split(".")[0] == "hiermovie"}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "hiermovie":
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def closure(entries: tuple[str, ...], root: Path = PACKAGE_ROOT) -> dict[str, Path]:
    """{module: file} of the entry modules and everything they import from hiermovie, packages included."""
    todo, seen = list(entries), {}
    while todo:
        module = todo.pop()
        parts = module.split(".")
        for depth in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__ and a/b/__init__ too
            name = ".".join(parts[:depth])
            path = module_path(name, root)
            if name in seen or path is None:
                continue
            seen[name] = path
            todo.extend(imported_modules(path.read_text()))
    return seen


def syntax_digest(source: str) -> str:
    """A digest of the code's syntax tree without docstrings: edits to comments, docs or layout keep it."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            if isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
                node.body = body[1:] or [ast.Pass()]
    return hashlib.sha256(ast.dump(tree).encode()).hexdigest()[:12]


def file_digest(paths: list[Path], root: Path) -> str:
    """A digest of the named files' bytes and their paths relative to `root`."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(f"{path.relative_to(root)}\n".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:12]


def input_digests(data: Path, backbone_files: list[Path]) -> dict[str, dict]:
    """The data a claims run reads, as STAGES' pseudo-stages: "benchmark" (generator version and config of
    synth.json) and "backbone inputs" (the files the backbones train on)."""
    manifest = json.loads((Path(data) / "synth.json").read_text())
    recipe = json.dumps({"generator_version": manifest["generator_version"], "config": manifest["config"]})
    return {
        "benchmark": {"version": hashlib.sha256(recipe.encode()).hexdigest()[:12], "files": {}},
        "backbone inputs": {"version": file_digest(backbone_files, Path(data)), "files": {}},
    }


def code_versions(inputs: dict[str, dict], root: Path = PACKAGE_ROOT) -> dict[str, dict]:
    """{stage: {"version": digest, "files": {file: digest}}} of every stage in STAGES and of the `inputs`
    (`input_digests`) they read."""
    versions: dict[str, dict] = dict(inputs)
    for stage, (entries, upstream) in STAGES.items():  # in order: a stage's upstream stages come first
        files = {
            str(path.relative_to(root.parent)): syntax_digest(path.read_text())
            for path in sorted(closure(entries, root).values())
        }
        parts = [f"{name}={digest}" for name, digest in files.items()]
        parts += [f"{stage_name}:{versions[stage_name]['version']}" for stage_name in upstream]
        versions[stage] = {"version": hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12], "files": files}
    return versions


def changed_files(stage: str, old: dict, new: dict) -> list[str]:
    """What differs between two code_versions() for `stage` and what it reads: files, or the data."""
    changed, todo = set(), [stage]
    while todo:
        name = todo.pop()
        if name not in STAGES:
            if old.get(name, {}).get("version") != new[name]["version"]:
                changed.add(DATA_NAMES[name])
            continue
        before, after = old.get(name, {}).get("files", {}), new[name]["files"]
        changed |= {f for f in set(before) | set(after) if before.get(f) != after.get(f)}
        todo.extend(STAGES[name][1])
    return sorted(changed)


class Ledger:
    """OUT/steps.json: for each step folder, the stage and code version it was started with."""

    def __init__(self, out: Path, versions: dict[str, dict], redo_stale: bool = False):
        self.out, self.versions, self.redo_stale = Path(out), versions, redo_stale
        self.path = self.out / "steps.json"
        saved = json.loads(self.path.read_text()) if self.path.is_file() else {}
        self.steps: dict[str, dict] = saved.get("steps", {})
        self.seen: dict[str, dict] = saved.get("versions", {})  # a stage version -> the code_versions() it was in

    def _key(self, folder: Path) -> str:
        return str(Path(folder).relative_to(self.out))

    def is_current(self, folder: Path, stage: str) -> bool:
        """Whether `folder` was made by the current code of `stage` (a folder never recorded is not)."""
        entry = self.steps.get(self._key(folder))
        return entry is not None and entry["version"] == self.versions[stage]["version"]

    def stale_reason(self, folder: Path, stage: str) -> str:
        entry = self.steps.get(self._key(folder))
        if entry is None:
            return "made before code versions were recorded"
        old = self.seen.get(entry["version"], {})
        files = changed_files(stage, old, self.versions) if old else []
        return f"made by other code ({', '.join(files[:4]) + (', ...' if len(files) > 4 else '') or stage})"

    def claim(self, folder: Path, stage: str) -> Path:
        """Before a step starts or resumes in `folder`: refuse (or, with redo_stale, delete) outputs there made
        by other code, then record the current version. Returns the folder."""
        folder = Path(folder)
        present = folder.exists() and any(folder.iterdir()) if folder.is_dir() else folder.exists()
        if present and not self.is_current(folder, stage):
            if not self.redo_stale:
                raise HiermovieError(
                    f"{folder}: {self.stale_reason(folder, stage)}; rerun with --redo-stale (make claims "
                    "REDO_STALE=1) to redo it and what reads it, or use a new --out"
                )
            shutil.rmtree(folder) if folder.is_dir() else folder.unlink()
        version = self.versions[stage]["version"]
        entry = {"stage": stage, "version": version}
        if self.steps.get(self._key(folder)) != entry:  # a step reused by every group is recorded once
            self.steps[self._key(folder)] = entry
            self.seen[version] = self.versions
            self._save()
        return folder

    def _save(self) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".partial")
        partial.write_text(json.dumps({"steps": self.steps, "versions": self.seen}, indent=1))
        partial.replace(self.path)
