"""Issue 27: the documentation is tested like the code.

Every fenced block of the README and docs/ is run against examples/, in a fresh folder:

- ``bash`` blocks: each command (a line, or lines joined by a trailing backslash) must succeed
  (``check`` may also exit 1: a gate that fails is a result);
- ``console`` blocks: each ``$ command`` is run and what it prints (stdout and stderr) must be the
  lines shown under it, exactly (trailing spaces aside);
- ``python`` blocks: run in order, one namespace per page, as a reader would paste them.

A block that cannot run here (it needs a cluster, a tracking server, a network install, minutes of
benchmark) is preceded by ``<!-- not run: the reason -->``; the reason is required. docs/cli.md is
generated from the Typer app and must equal what it generates now; ``mkdocs build --strict`` must pass.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted(p for p in (ROOT / "docs").glob("*.md") if p.name != "cli.md")]
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```\s*$", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not run:\s*(.*?)\s*-->\s*$")


def blocks(page: Path) -> list[tuple[str, str, int, str | None]]:
    """(language, body, line, reason it is not run) of each fenced block of a page."""
    text = page.read_text()
    out = []
    for m in FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1]
        skip = NOT_RUN.search(before)
        out.append((m.group(1), m.group(2), text[: m.start()].count("\n") + 1, skip.group(1) if skip else None))
    return out


def _commands(body: str) -> list[str]:
    joined = re.sub(r"\\\n\s*", " ", body)
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _console(body: str) -> list[tuple[str, list[str]]]:
    """(command, the lines shown after it) of a console block."""
    body = re.sub(r"\\\n\s*", " ", body)
    out: list[tuple[str, list[str]]] = []
    for line in body.splitlines():
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line.rstrip())
    return out


@pytest.fixture()
def folder(tmp_path):
    """A fresh working folder with examples/ beside it, and evalreport on the PATH."""
    shutil.copytree(ROOT / "examples", tmp_path / "examples", ignore=shutil.ignore_patterns("reports"))
    return tmp_path


def _env() -> dict:
    env = dict(os.environ, CI="1", COLUMNS="100", TERM="dumb", NO_COLOR="1")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("GITHUB_STEP_SUMMARY", None)
    return env


def _run(command: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=_env(), capture_output=True, text=True, timeout=300)


CASES = [(page, i) for page in PAGES for i, _ in enumerate(blocks(page))]


@pytest.mark.parametrize("page, index", CASES, ids=[f"{p.name}:{blocks(p)[i][2]}" for p, i in CASES])
def test_every_fenced_block_runs(page, index, folder):
    language, body, line, skip = blocks(page)[index]
    where = f"{page.name}, line {line}"
    if skip is not None:
        assert skip.strip(), f"{where}: a block not run must say why"
        pytest.skip(f"{where}: not run: {skip}")
    if language == "bash":  # one shell, as a reader pastes the block: an export holds for the lines after it
        script = []
        for i, command in enumerate(_commands(body)):
            allowed = "0|1" if re.search(r"\bevalreport\s+check\b", command) else "0"
            script += [command, f'case $? in {allowed}) ;; *) echo "command {i} failed" >&2; exit 97;; esac']
        done = _run("\n".join(script), folder)
        assert done.returncode == 0, f"{where}:\n{body}\n{done.stderr[-2000:]}"
    elif language == "console":
        last = 0
        for command, shown in _console(body):
            if command.strip() == "echo $?":
                printed = [str(last)]
            else:
                done = _run(command, folder)
                last = done.returncode
                printed = [x.rstrip() for x in (done.stdout + done.stderr).splitlines()]
            assert printed == shown, f"{where}: {command}\nprints:\n" + "\n".join(printed)
    elif language == "python":
        pass  # run below, the page's blocks in order
    else:
        pytest.skip(f"{where}: a {language or 'plain'} block is text, not a command")


@pytest.mark.parametrize("page", [p for p in PAGES if any(b[0] == "python" and b[3] is None for b in blocks(p))],
                         ids=lambda p: p.name)
def test_python_blocks_run_in_order(page, folder, monkeypatch):
    monkeypatch.chdir(folder)
    namespace: dict = {"__name__": "__docs__"}
    for language, body, line, skip in blocks(page):
        if language == "python" and skip is None:
            exec(compile(body, f"{page.name}:{line}", "exec"), namespace)  # noqa: S102 — the docs' own snippets


def test_the_command_line_reference_is_generated_from_the_app():
    """docs/cli.md is what Typer generates from the app now: an option added without it fails here."""
    done = subprocess.run([sys.executable, "-m", "typer", "evalreport.cli", "utils", "docs", "--name", "evalreport",
                           "--title", "Command-line reference"], capture_output=True, text=True, env=_env(),
                          cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() + "\n" == (ROOT / "docs" / "cli.md").read_text(), (
        "docs/cli.md is stale: python -m typer evalreport.cli utils docs --name evalreport "
        "--title 'Command-line reference' --output docs/cli.md")


def test_every_option_of_every_command_is_in_the_reference():
    from typer.main import get_command

    from evalreport.cli import app

    reference = (ROOT / "docs" / "cli.md").read_text()
    for name, command in get_command(app).commands.items():
        assert f"evalreport {name}" in reference
        for param in command.params:
            for flag in param.opts:
                if flag.startswith("-"):
                    assert f"`{flag}" in reference or f", {flag}" in reference, (name, flag)


def test_mkdocs_builds_strictly(tmp_path):
    pytest.importorskip("mkdocs")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, env=dict(_env(), NO_MKDOCS_2_WARNING="1"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "api" / "index.html").exists()


def test_the_readme_is_short():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200, len(lines)


def _update(pages: list[Path]) -> None:
    """Rewrite the output shown in every console block with what its commands print now (run from
    the repository: ``python tests/test_docs.py``), in a fresh folder as the test runs them."""
    import tempfile

    for page in pages:
        text = page.read_text()
        for language, body, line, skip in reversed(blocks(page)):
            if language != "console" or skip is not None:
                continue
            with tempfile.TemporaryDirectory() as tmp:
                shutil.copytree(ROOT / "examples", Path(tmp) / "examples", ignore=shutil.ignore_patterns("reports"))
                new, last = [], 0
                for raw in re.split(r"^(?=\$ )", body, flags=re.M):
                    if not raw.startswith("$ "):
                        continue
                    head = re.match(r"\$ (?:.*\\\n)*.*\n?", raw).group(0).rstrip("\n")
                    command = re.sub(r"\\\n\s*", " ", head[2:])
                    if command.strip() == "echo $?":
                        printed = [str(last)]
                    else:
                        done = _run(command, Path(tmp))
                        last = done.returncode
                        printed = [x.rstrip() for x in (done.stdout + done.stderr).splitlines()]
                    new.append("\n".join([head, *printed]))
            start = text.index(body, sum(len(x) + 1 for x in text.split("\n")[: line - 1]))
            text = text[:start] + "\n".join(new) + "\n" + text[start + len(body):]
        page.write_text(text)


if __name__ == "__main__":
    _update([Path(a) for a in sys.argv[1:]] or PAGES)


def test_the_docstrings_examples_run():
    """The Python reference shows the docstrings: their examples are run as doctests."""
    import doctest
    import importlib
    import pkgutil

    import evalreport

    attempted = 0
    for info in pkgutil.walk_packages(evalreport.__path__, "evalreport."):
        if info.name.startswith(("evalreport.trackers.", "evalreport.dask")) or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        failed, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS, verbose=False)
        assert failed == 0, info.name
        attempted += tried
    assert attempted >= 2  # evaluate()'s examples at least
