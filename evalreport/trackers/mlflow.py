"""Log an evaluation to MLflow: to the active run (``MLFLOW_RUN_ID``) or a given one, else to a new
run in an experiment, on the tracking store ``MLFLOW_TRACKING_URI`` names (MLflow's default when
unset: a local store needs no server). Through ``MlflowClient`` only — no global active-run state
is touched, so a program that has its own run open keeps it.

Metrics, params and tags go in batches; the files go under ``evalreport/`` in the run's
artifacts, with fixed names, so logging the same report again replaces them instead of adding
copies. Any error from MLflow (an unreachable server, an unknown run, a param that already has
another value) is one :class:`~evalreport.errors.TrackerError` line.
"""

from __future__ import annotations

import os
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import TrackerError
from .figures import Payload

ARTIFACT_DIR = "evalreport"
#: An unreachable server must not hold a CI job for minutes: MLflow's own defaults retry 7 times
#: with backoff. Used unless the environment says otherwise.
HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1", "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
_BATCH = {"metrics": 1000, "params": 100, "tags": 100}  # MLflow's limits per log_batch call


def _client():
    """A client of the tracking store MLFLOW_TRACKING_URI names; a store it cannot use — a URI it
    refuses (an unknown scheme, a malformed address, a database without its driver, a file store
    MLflow 3 keeps in maintenance mode), a SQLite file it cannot write — is one TrackerError, at once."""
    for key, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise TrackerError("--mlflow needs MLflow, which is not installed: pip install 'evalreport[mlflow]'") from None
    uri = os.environ.get("MLFLOW_TRACKING_URI") or ""
    _check_sqlite(uri)
    try:
        client = MlflowClient()
        client.search_experiments(max_results=1)  # the store answers, or says why not
    except TrackerError:
        raise
    except BaseException as err:  # noqa: BLE001 — MlflowException, a driver's ImportError, ValueError of an address
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        raise TrackerError(f"MLflow: the tracking store {uri or '(MLflow default)'!r} cannot be used: "
                           f"{_one_line(err)}") from None
    return client


def _check_sqlite(uri: str) -> None:
    """A SQLite store whose file (or folder, for a new file) cannot be written is refused before
    MLflow retries for minutes."""
    if not uri.startswith("sqlite:///"):
        return
    path = Path(uri[len("sqlite:///"):].split("?", 1)[0])
    if not path.is_absolute():
        path = Path.cwd() / path
    target = path if path.exists() else path.parent
    if not target.exists():
        raise TrackerError(f"MLflow: the tracking store {uri!r} cannot be used: the folder {str(path.parent)!r} does "
                           "not exist")
    if not os.access(target, os.W_OK) or (path.exists() and not os.access(path.parent, os.W_OK)):
        raise TrackerError(f"MLflow: the tracking store {uri!r} cannot be used: {str(target)!r} is not writable "
                           "(SQLite writes beside its file too)")


def log(payload: Payload, run_id: str | None = None, experiment: str | None = None) -> str:
    """Log ``payload``; returns the run's id.

    The run: ``run_id``, else the active run of a program that has one open (``with
    mlflow.start_run():``), else ``MLFLOW_RUN_ID``, else a new run. Everything that can refuse the
    log is checked before the first write — every name, the run's state, a param the run already
    holds with another value (another input, another unit) — so a refused log writes nothing. A
    log that fails part-way (the server goes away) says what the run holds; a run it created is
    marked FAILED."""
    with _quiet():
        return _log(payload, run_id, experiment)


@contextmanager
def _quiet():
    """MLflow's, SQLAlchemy's and Alembic's own logging and warnings say nothing while evalreport
    logs: a problem reaches the user as one TrackerError line."""
    import logging
    import warnings

    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic", "sqlalchemy", "urllib3")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _log(payload: Payload, run_id: str | None, experiment: str | None) -> str:
    client = _client()
    from mlflow.entities import Metric, Param, RunTag

    _check_names(payload)
    run_id = run_id or _active_run_id() or os.environ.get("MLFLOW_RUN_ID") or None
    created = False
    written: list[str] = []
    try:
        if run_id:
            _check_run(client.get_run(run_id), payload)  # an unknown run is an error here, not a new run
        else:
            exp = None
            if experiment:
                found = client.get_experiment_by_name(experiment)
                exp = found.experiment_id if found else client.create_experiment(experiment)
            else:
                exp = os.environ.get("MLFLOW_EXPERIMENT_ID") or _default_experiment(client)
            run_id = client.create_run(exp, run_name="evalreport").info.run_id
            created = True
        now = int(time.time() * 1000)
        params = [Param(k, _param_value(v)) for k, v in payload.params.items()]
        metrics = [Metric(k, v, now, 0) for k, v in payload.metrics.items()]
        tags = [RunTag(k, v[:5000]) for k, v in payload.tags.items()]
        for kind, items in (("params", params), ("metrics", metrics), ("tags", tags)):  # params first: they can refuse
            step = _BATCH[kind]
            for i in range(0, len(items), step):
                client.log_batch(run_id, **{kind: items[i : i + step]})
                if kind not in written:
                    written.append(kind)
        with tempfile.TemporaryDirectory(prefix="evalreport-mlflow-") as tmp:
            for name, data in payload.files.items():
                (Path(tmp) / name).write_bytes(data)
            client.log_artifacts(run_id, tmp, ARTIFACT_DIR)
        if created:
            client.set_terminated(run_id)
    except TrackerError:
        raise
    except Exception as err:  # noqa: BLE001 — MLflow's and its transports' errors, as one line
        if created:
            try:
                client.set_terminated(run_id, status="FAILED")
            except Exception:  # noqa: BLE001
                pass
        text = _one_line(err)
        if "Changing param values is not allowed" in text:
            import re

            keys = re.findall(r"'key': '([^']+)'", text)
            text = (f"run {run_id} already holds another evaluation (its params differ: "
                    f"{', '.join(keys[:3]) or 'see MLflow'}); log this one to a new run")
        if written:
            text += (f"; the run {run_id} now holds part of this evaluation (its {' and '.join(written)}, not all "
                     "of its files)" + (", and is marked FAILED" if created else "") + ": log it again to a new run")
        raise TrackerError(f"MLflow: {text}") from None
    return run_id


def _param_value(value: str) -> str:
    return value[:6000]


def _active_run_id() -> str | None:
    """The run a program has open with ``mlflow.start_run()`` (only if it imported mlflow itself)."""
    import sys

    fluent = sys.modules.get("mlflow")
    if fluent is None or not hasattr(fluent, "active_run"):
        return None
    try:
        active = fluent.active_run()
    except Exception:  # noqa: BLE001 — no usable active run
        return None
    return active.info.run_id if active is not None else None


def _check_run(run, payload: Payload) -> None:
    """Refuse, before any write, a run MLflow would refuse part-way: a deleted run, or one that
    holds another evaluation (a param with another value: another input, unit or option)."""
    if run.info.lifecycle_stage != "active":
        raise TrackerError(f"MLflow: run {run.info.run_id} is {run.info.lifecycle_stage}; log to another run")
    held = run.data.params
    differ = [k for k, v in payload.params.items() if k in held and held[k] != _param_value(v)]
    if differ:
        shown = ", ".join(f"{k}={held[k][:40]!r}, not {_param_value(payload.params[k])[:40]!r}" for k in differ[:2])
        raise TrackerError(f"MLflow: run {run.info.run_id} already holds another evaluation (its params differ: "
                           f"{shown}{', …' if len(differ) > 2 else ''}); nothing was logged — log this one to a new run")


def _check_names(payload: Payload) -> None:
    """Every name as MLflow will check it, before any write (figures.py makes them so; a name that
    is not is a bug, caught here rather than half-way through a log)."""
    from .figures import valid_name

    for kind, names in (("metric", payload.metrics), ("param", payload.params), ("tag", payload.tags)):
        bad = next((n for n in names if not valid_name(n)), None)
        if bad is not None:
            raise TrackerError(f"MLflow: the {kind} name {bad!r} is not one MLflow takes; nothing was logged")


def _default_experiment(client) -> str:
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if name:
        found = client.get_experiment_by_name(name)
        return found.experiment_id if found else client.create_experiment(name)
    return "0"  # MLflow's Default experiment


def _one_line(err: Exception) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 300 else text[:299] + "…"
