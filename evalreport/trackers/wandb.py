"""Log an evaluation to Weights & Biases: to the run given, else the active one (``wandb.run``),
else a new run in ``WANDB_PROJECT`` (default ``evalreport``), whose mode (``WANDB_MODE=offline``
needs no network) and entity W&B's own settings decide.

The run's summary gets the figures (the same names as in MLflow), its config the input and
options; the per-class and per-slice tables go in as ``wandb.Table`` (``evalreport/per_class``,
``evalreport/slices/<column>``), the HTML report as a ``wandb.Html`` panel
(``evalreport/report``) and, with the JSON and Markdown, as an artifact of type ``evaluation``
named after the run, so logging again makes a new version of the same artifact, not another one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ..errors import TrackerError
from .figures import Payload


def _wandb():
    try:
        import wandb
    except ImportError:
        raise TrackerError("--wandb needs Weights & Biases, which is not installed: pip install 'evalreport[wandb]'") \
            from None
    return wandb


def disabled(run=None) -> bool:
    """Whether W&B is switched off (WANDB_MODE=disabled, WANDB_DISABLED, or a disabled run given):
    then nothing is logged, and nothing may say it was."""
    if run is not None and getattr(run, "disabled", False):
        return True
    mode = (os.environ.get("WANDB_MODE") or "").lower()
    return mode == "disabled" or (os.environ.get("WANDB_DISABLED") or "").lower() in ("true", "1", "yes")


def log(payload: Payload, tables: dict, html: str | None, run=None, project: str | None = None) -> str | None:
    """Log ``payload``; ``tables``: key → (columns, rows). Returns the run's path (entity/project/id,
    or the offline run's folder); None when W&B is disabled (:func:`disabled`): nothing is logged."""
    wandb = _wandb()
    if disabled(run):
        return None
    own = False
    try:
        if run is None:
            run = wandb.run
        if run is None:
            run = wandb.init(project=project or os.environ.get("WANDB_PROJECT") or "evalreport",
                             job_type="evaluation")
            own = True
        run.summary.update({**payload.metrics, **payload.tags})
        run.config.update(payload.params, allow_val_change=True)
        logged = {key: wandb.Table(columns=list(columns), data=[list(r) for r in rows])
                  for key, (columns, rows) in tables.items()}
        if html is not None:
            logged["evalreport/report"] = wandb.Html(html, inject=False)
        run.log(logged)
        artifact = wandb.Artifact(f"evalreport-{run.id}", type="evaluation")
        with tempfile.TemporaryDirectory(prefix="evalreport-wandb-") as tmp:
            for name, data in payload.files.items():
                (Path(tmp) / name).write_bytes(data)
                artifact.add_file(str(Path(tmp) / name), name=name)
            run.log_artifact(artifact)
            if own:
                run.finish()  # uploads (or, offline, writes) the files before the folder goes
        where = run.dir if getattr(run, "offline", False) else run.path
        return str("/".join(where) if isinstance(where, (list, tuple)) else where)
    except TrackerError:
        raise
    except Exception as err:  # noqa: BLE001 — W&B's errors, as one line
        if own:
            try:
                run.finish(exit_code=1)
            except Exception:  # noqa: BLE001
                pass
        text = " ".join(str(err).split()) or type(err).__name__
        raise TrackerError(f"W&B: {text[:300]}") from None


def tables_of(d: dict) -> dict:
    """A result's or a comparison's JSON → its per-class and per-slice tables (an interval as two
    columns, as result.to_frame gives them)."""
    from ..render.notebook import flat

    def table(rows: list[dict], first: list[str]) -> tuple[list[str], list[list]]:
        rows = [flat(r) for r in rows]
        columns = list(dict.fromkeys([*first, *(k for r in rows for k in r)]))
        return columns, [[r.get(c) for c in columns] for r in rows]

    out = {"evalreport/per_class": table(d["per_class"], ["class"])}
    for column, rows in d["groups"].items():
        out[f"evalreport/slices/{column}"] = table(rows, ["value", "kind"])
    return out
