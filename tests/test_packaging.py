"""The wheel ships the templates, and a normal (non-editable) install finds them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import EXAMPLES, ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
    )
    (path,) = out.glob("evalreport-*.whl")
    return path


def test_wheel_contains_templates_and_entry_point(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "evalreport/templates/report.html.j2" in names
    assert "evalreport/templates/style.css" in names
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "evalreport = evalreport.entry:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_non_editable_install_renders_a_report(wheel, tmp_path):
    target = tmp_path / "site"
    # evalreport from the wheel alone; its dependencies come from this environment
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
                   check=True)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = dict(os.environ, PYTHONPATH=str(target))  # ahead of any editable install of the checkout
    where = subprocess.run(
        [sys.executable, "-c", "import evalreport, evalreport.render.html as h; print(evalreport.__file__); print(h.template_dir())"],
        cwd=work, env=env, capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    assert where[0].startswith(str(target)), where  # not the source checkout
    assert where[1] == str(target / "evalreport" / "templates"), where
    script = target / "bin" / "evalreport"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "evalreport"]
    out = subprocess.run(
        [*cmd, "report", str(EXAMPLES / "iris_predictions.csv"), "-o", "r.html", "--json", "m.json"],
        cwd=work, env=env, capture_output=True, text=True,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads((work / "m.json").read_text())["rows"] == 150
    assert "<!DOCTYPE html>" in (work / "r.html").read_text()
