"""The command line: a thin layer over :func:`evalreport.evaluate` and the renderers.

Exit codes: 0 done; 1 a gate failed (``check``); 2 bad input or usage;
3 an internal error (a bug — rerun with ``EVALREPORT_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

# One BLAS thread, set before numpy loads (a user's own setting wins). OpenBLAS starts a thread
# per core when numpy is imported, and they spin: 70–80 ms of CPU in each process, on a 2-core
# machine taken from the process that draws the charts. The figures never used them: evaluate()
# holds BLAS to one thread anyway, so that their last bits do not depend on the machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from . import __version__  # noqa: E402
from .errors import EvalReportError, InputError, UsageError, printable  # noqa: E402
from .ladder import UNITS  # noqa: E402

def _click_exceptions():
    """Click's exception module(s): Typer ≥ 0.2x carries its own copy of Click (typer._click)."""
    modules = []
    for name in ("typer._click.exceptions", "click.exceptions"):
        try:
            modules.append(__import__(name, fromlist=["ClickException"]))
        except ImportError:
            pass
    return modules


_CLICK = _click_exceptions()
_NO_ARGS = tuple(m.NoArgsIsHelpError for m in _CLICK if hasattr(m, "NoArgsIsHelpError"))
_CLICK_ERRORS = tuple(m.ClickException for m in _CLICK)
_ABORT = (typer.Abort, *(m.Abort for m in _CLICK if hasattr(m, "Abort")))


class _OneLineErrors(typer.core.TyperGroup):
    """Usage errors caught by the option parser (a value that is not a number, an unknown option)
    in the same one-line form as evalreport's own: 'evalreport: error: …', exit 2."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except _NO_ARGS as err:
            if not standalone_mode:
                raise
            err.show()
            sys.exit(err.exit_code)
        except _CLICK_ERRORS as err:
            if not standalone_mode:
                raise
            ctx = getattr(err, "ctx", None)
            where = f" (see '{ctx.command_path} -h')" if ctx is not None else ""
            message = printable(err.format_message().replace("\n", " "))
            err_console.print(f"evalreport: error: {message}{where}", markup=False)
            sys.exit(err.exit_code)
        except _ABORT:
            if not standalone_mode:
                raise
            sys.exit(130)
        except EvalReportError as err:  # --version on a standard output that cannot be written
            if not standalone_mode:
                raise
            err_console.print(f"evalreport: error: {printable(str(err))}", markup=False)
            sys.exit(err.exit_code)
        except OSError as err:  # the parser's own help on a standard output that cannot be written
            if not standalone_mode:
                raise
            if isinstance(err, BrokenPipeError):
                console.on_broken_pipe()
                sys.exit(0)
            console.quiet = True
            console._to_devnull()
            err_console.print(f"evalreport: error: standard output: cannot write ({os.strerror(err.errno) if err.errno else err})",
                              markup=False)
            sys.exit(2)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)

    def resolve_command(self, ctx, args):
        """A file where the command should be (``evalreport preds.csv``) is told which command reads it."""
        try:
            return super().resolve_command(ctx, args)
        except _CLICK_ERRORS as err:  # a UsageError of the Click that Typer uses
            name = args[0] if args else ""
            if name and name not in self.commands and (name == "-" or os.path.exists(name)):
                raise type(err)(f"No such command '{name}'; to evaluate it: evalreport report {name}",
                                ctx) from None
            raise


app = typer.Typer(
    name="evalreport",
    cls=_OneLineErrors,
    help="How good are a classifier's probabilities? Log loss, cross-entropy, entropy and KL "
    "divergence — overall, per class and per slice — in one self-contained report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts hold brackets ([eps, 1-eps], [default: …]): print them as written
    context_settings={"help_option_names": ["-h", "--help"]},
)


class _Console(Console):
    """Rich's console, but a reader that goes away (``evalreport check … | head``) silences it
    instead of ending the command with exit 1, which is a failed gate's code: the exit code
    stays the verdict, and what is written to files is written.

    A write that fails otherwise (a full device, a file-size limit): on standard output, the
    table or JSON the user asked for is lost, which is exit 2 naming the stream; on standard
    error, nothing can be said, and the stream is silenced — the exit code never depends on it."""

    def on_broken_pipe(self) -> None:
        self.quiet = True
        self._to_devnull()

    def _to_devnull(self) -> None:
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, self.file.fileno())  # Python's flush at exit then meets no broken pipe
            os.close(devnull)
        except (OSError, ValueError, AttributeError):  # no file descriptor (a test's buffer)
            pass

    def print(self, *args, **kwargs) -> None:
        from .errors import OutputError

        try:
            super().print(*args, **kwargs)
            self.file.flush()
        except BrokenPipeError:
            self.on_broken_pipe()
        except OSError as err:
            self.quiet = True
            self._to_devnull()
            if not self.stderr:
                raise OutputError(f"standard output: cannot write ({os.strerror(err.errno) if err.errno else err})") \
                    from None


err_console = _Console(stderr=True, highlight=False, soft_wrap=True)
console = _Console(highlight=False)

INTERNAL_ERROR = 3


class Unit(str, Enum):
    nats = "nats"
    bits = "bits"


def _cli_errors(func):
    """Turn an EvalReportError into one line on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from . import errors

        style, errors.OPTION_STYLE = errors.OPTION_STYLE, "cli"  # messages name --options, not keywords
        try:
            return func(*args, **kwargs)
        except EvalReportError as err:
            err_console.print(f"evalreport: error: {printable(str(err))}", markup=False)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except MemoryError as err:  # the machine's (or ulimit's) bound, not a bug
            size = f" ({err})" if str(err) else ""
            err_console.print(f"evalreport: error: not enough memory for this input{printable(size)[:200]}; "
                              "give the command more memory, or fewer classes or rows per row group",
                              markup=False)
            raise typer.Exit(2) from None
        except Exception as err:  # a bug: one line, unless asked for the traceback
            if os.environ.get("EVALREPORT_DEBUG"):
                raise
            err_console.print(
                f"evalreport: internal error: {type(err).__name__}: {printable(str(err))[:500]} "
                "(this is a bug; rerun with EVALREPORT_DEBUG=1 for the traceback)",
                markup=False,
            )
            raise typer.Exit(INTERNAL_ERROR) from None
        finally:
            errors.OPTION_STYLE = style

    return wrapper


# Input options shared by report (and later check / compare).
Predictions = Annotated[str, typer.Argument(help="CSV (optionally .gz), Parquet, or - for CSV on stdin.", show_default=False)]
LabelCol = Annotated[str, typer.Option("--label-col", help="Column with the true class of each row.")]
ProbPrefix = Annotated[str, typer.Option("--prob-prefix", help="Probability columns are PREFIX + class name.")]
ScoreCol = Annotated[Optional[str], typer.Option("--score-col", help="Binary shortcut: one column with P(--positive-label).")]
PositiveLabel = Annotated[str, typer.Option("--positive-label", help="The label --score-col gives the probability of.")]
TargetPrefix = Annotated[Optional[str], typer.Option("--target-prefix", help="Soft targets: columns PREFIX + class hold the true distribution P.")]
Logits = Annotated[bool, typer.Option("--logits", help="The probability columns hold logits: softmax them first (a score column: sigmoid).")]
WeightCol = Annotated[Optional[str], typer.Option("--weight-col", help="Per-row sample weights.")]
GroupBy = Annotated[Optional[list[str]], typer.Option("--group-by", help="A per-slice table for this column (repeatable).")]
IdCol = Annotated[Optional[str], typer.Option("--id-col", help="Names rows in the worst-examples table [default: id, when present].")]
UnitOpt = Annotated[Unit, typer.Option("--unit", help="Unit of every figure shown and written.")]
Eps = Annotated[float, typer.Option("--eps", help="Clip predictions to [eps, 1-eps] before the log.")]
Renormalize = Annotated[bool, typer.Option("--renormalize", help="Rescale rows that do not sum to 1 instead of rejecting them.")]
Bootstrap = Annotated[int, typer.Option("--bootstrap", help="Bootstrap replicates for the 95% intervals (multiple of 4; 0: none).")]
Seed = Annotated[int, typer.Option("--seed", help="Seed of the bootstrap (same seed, same intervals).")]
Classes = Annotated[Optional[str], typer.Option("--classes", help="The classes, comma-separated, in column order: the columns are PREFIX + class (with --prob-prefix '' the bare names, as model.classes_); other PREFIX columns are ignored.")]
Delimiter = Annotated[str, typer.Option("--delimiter", help="The CSV field delimiter: one character, or 'tab'.")]
Decimal = Annotated[str, typer.Option("--decimal", help="The CSV decimal mark: '.' or ','.")]
FilterOpt = Annotated[Optional[str], typer.Option("--filter", help="An lm-evaluation-harness run logged under several filters: the one to read (a document is logged once per filter).")]
MaxSlices = Annotated[int, typer.Option("--max-slices", help="Per --group-by column, the slices with the most weight shown; the rest are folded into '(other)' (1–10,000).")]
class Engine(str, Enum):
    local = "local"
    dask = "dask"


EngineOpt = Annotated[Engine, typer.Option("--engine", help="local: this process; dask: a directory or glob of Parquet/CSV files on a Dask cluster.")]
Scheduler = Annotated[Optional[str], typer.Option("--scheduler", help="With --engine dask: the address of a running scheduler [default: a local cluster].")]
Bands = Annotated[Optional[str], typer.Option("--bands", help="Replace band thresholds (nats), e.g. great=0.01,fine=0.1.")]
Config = Annotated[Optional[Path], typer.Option("--config", help="Settings file (evalreport.toml or a pyproject.toml) [default: ./evalreport.toml, ./pyproject.toml].")]


#: The input options that report, check and compare share: (name, annotated type, default).
_SHARED_OPTIONS = [
    ("label_col", LabelCol, "label"),
    ("prob_prefix", ProbPrefix, "p_"),
    ("score_col", ScoreCol, None),
    ("positive_label", PositiveLabel, "1"),
    ("target_prefix", TargetPrefix, None),
    ("logits", Logits, False),
    ("weight_col", WeightCol, None),
    ("group_by", GroupBy, None),
    ("id_col", IdCol, None),
    ("unit", UnitOpt, Unit.nats),
    ("eps", Eps, float(sys.float_info.epsilon)),
    ("renormalize", Renormalize, False),
    ("classes", Classes, None),
    ("delimiter", Delimiter, ","),
    ("decimal", Decimal, "."),
    ("bootstrap", Bootstrap, 200),
    ("seed", Seed, 0),
    ("max_slices", MaxSlices, 100),
    ("filter", FilterOpt, None),
    ("bands", Bands, None),
    ("config", Config, None),
]


#: How the baseline alone is read, where it differs (compare, check --baseline): None = as the candidate.
_BASELINE_OPTIONS = [
    ("baseline_logits", Annotated[Optional[bool], typer.Option(
        "--baseline-logits/--no-baseline-logits", show_default=False,
        help="The baseline's columns hold logits (or not), whatever --logits says of the candidate.")], None),
    ("baseline_prob_prefix", Annotated[Optional[str], typer.Option(
        "--baseline-prob-prefix", help="The baseline's probability columns are PREFIX + class.")], None),
    ("baseline_score_col", Annotated[Optional[str], typer.Option(
        "--baseline-score-col", help="The baseline's binary score column.")], None),
    ("baseline_positive_label", Annotated[Optional[str], typer.Option(
        "--baseline-positive-label", help="The label the baseline's score column is the probability of.")], None),
    ("baseline_classes", Annotated[Optional[str], typer.Option(
        "--baseline-classes", help="The baseline's classes, comma-separated, in its column order.")], None),
    ("common_rows", Annotated[bool, typer.Option(
        "--common-rows", help="Compare the rows whose id both files hold, saying how many each lost (default: "
        "the same ids on both sides, else an error).")], False),
]


def _with_options(options: list, key: str):
    """Give a command a group of options; it receives them as one dict, under ``key``.

    Typer reads a command's parameters from its signature, so the options are
    appended to the wrapper's signature once here instead of being listed in
    every command.
    """

    def decorate(func):
        signature = inspect.signature(func, eval_str=True)  # real annotations: Typer reads them from here
        own = [p for p in signature.parameters.values() if p.name != key]
        added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
                 for name, annotation, default in options]

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            group = {name: kwargs.pop(name) for name, _, _ in options}
            return func(*args, **{key: group}, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=own + added)
        del wrapper.__wrapped__  # typer must see the new signature, not the wrapped one
        return wrapper

    return decorate


#: Where to attach the evaluation besides the local files (see trackers/).
_TRACKER_OPTIONS = [
    ("mlflow", Annotated[bool, typer.Option(
        "--mlflow", help="Also log to MLflow: the run MLFLOW_RUN_ID names, else a new run (MLFLOW_TRACKING_URI's store).")], False),
    ("mlflow_experiment", Annotated[Optional[str], typer.Option(
        "--mlflow-experiment", help="With --mlflow and no MLFLOW_RUN_ID: the experiment of the new run.")], None),
    ("wandb", Annotated[bool, typer.Option(
        "--wandb", help="Also log to Weights & Biases: a new run in WANDB_PROJECT (WANDB_MODE=offline: no network).")], False),
]

_with_inputs = _with_options(_SHARED_OPTIONS, "opts")
_with_trackers = _with_options(_TRACKER_OPTIONS, "tracking")
_with_baseline_inputs = _with_options(_BASELINE_OPTIONS, "baseline_opts")


def _version(value: bool) -> None:
    if value:
        console.print(f"evalreport {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """evalreport: how good are a classifier's probabilities?"""


@app.command()
@_cli_errors
@_with_inputs
@_with_trackers
def report(
    predictions: Predictions,
    output: Annotated[str, typer.Option("-o", "--output", help="The HTML report.")] = "report.html",
    json_path: Annotated[Optional[str], typer.Option("--json", help="Also write the figures as JSON (- for stdout).")] = None,
    markdown: Annotated[Optional[str], typer.Option("--markdown", help="Also write a Markdown summary (- for stdout).")] = None,
    opts: dict = None,  # the shared input options (see _with_inputs)
    tracking: dict = None,  # where else to log it (see _with_trackers)
    engine: EngineOpt = Engine.local,
    scheduler: Scheduler = None,
) -> None:
    """The full evaluation: an HTML report, plus JSON and Markdown when asked."""
    from .config import resolve_ladder
    from .output import write_all

    targets = _plan([("-o", output), ("--json", json_path), ("--markdown", markdown)], [predictions], opts,
                    engine=engine)
    ladder = resolve_ladder(opts["bands"], opts["config"])
    # the charts' process (forked by the entry point, else now) imports matplotlib while this one imports numpy
    # and pyarrow and reads
    _check_trackers(tracking)
    with _drawer(engine) as drawer:
        # the charts that need no row-sample fit are drawn while this process fits
        result = _report_result(predictions, opts, ladder, engine, scheduler, on_figures=drawer and drawer.begin)
        render = _Once({"-o": lambda: _html(result, drawer), "--json": result.to_json,
                        "--markdown": result.to_markdown})
        outputs = [(t, render(t.option)) for t in targets]
        files = {"report.html": render("-o"), "report.json": render("--json"),
                 "report.md": render("--markdown")} if _tracking(tracking) else {}
    write_all(outputs)
    _summary(result, _written(targets))
    _track(tracking, lambda: _tracked().result_payload(result, _encoded(files)))


class _Once:
    """Each output rendered once, whichever asks first: a file written here and the copy a tracker
    keeps are the same bytes (an HTML report carries the time it was made)."""

    def __init__(self, render: dict) -> None:
        self._render, self._done = render, {}

    def __call__(self, option: str) -> str:
        if option not in self._done:
            self._done[option] = self._render[option]()
        return self._done[option]


def _tracking(tracking: dict | None) -> bool:
    return bool(tracking and (tracking.get("mlflow") or tracking.get("wandb")))


def _check_trackers(tracking: dict | None) -> None:
    """Options that cannot work, before any work."""
    if tracking and tracking.get("mlflow_experiment") and not tracking.get("mlflow"):
        raise UsageError("--mlflow-experiment goes with --mlflow")


def _tracked():
    """What trackers log (trackers/figures.py), imported only when a tracker is asked for."""
    from .trackers import figures

    return figures


def _encoded(files: dict) -> dict:
    return {name: text.encode() for name, text in files.items()}


def _track(tracking: dict | None, payload) -> None:
    """Log to the trackers asked for, once the local outputs are written; a tracker's error is
    exit 2 with its one line (the outputs stay)."""
    if not _tracking(tracking):
        return
    built = payload()
    for line in built.renamed:
        err_console.print(f"note: {line}", markup=False)
    if tracking.get("mlflow"):
        from .trackers import mlflow

        run_id = mlflow.log(built, experiment=tracking.get("mlflow_experiment"))
        err_console.print(f"logged to MLflow run {run_id}", markup=False)
    if tracking.get("wandb"):
        from .trackers import wandb

        html = next((v.decode() for k, v in built.files.items() if k.endswith(".html")), None)
        where = wandb.log(built, wandb.tables_of(built.source), html)
        err_console.print(f"logged to W&B run {where}" if where is not None else
                          "note: W&B is disabled (WANDB_MODE=disabled): nothing was logged to it", markup=False)


def _drawer(engine):
    """The drawing process (render.drawer) for a local run, where forking pays; else nothing."""
    import contextlib

    from .render.drawer import Drawer, take_early

    early = take_early()  # forked by the entry point, before the options were parsed
    if engine is not Engine.local:
        if early is not None:
            early.close()
        return contextlib.nullcontext()
    return early or Drawer.start() or contextlib.nullcontext()


def _report_result(predictions: str, opts: dict, ladder, engine, scheduler, on_figures=None, sample_fits=True):
    from .api import evaluate, gate_result

    evaluate = evaluate if sample_fits else gate_result
    if engine is Engine.dask:
        from .dask_engine import client, read_files
        from .load import InputSpec

        options = _inputs(opts)
        frame = read_files(predictions, InputSpec.from_options(options))  # a bad folder costs no cluster
        with client(scheduler):
            result = evaluate(frame, **options, ladder=ladder)
    else:
        if scheduler:
            raise UsageError("--scheduler goes with --engine dask")
        with _Progress() as progress:
            result = evaluate(predictions, **_inputs(opts), ladder=ladder, on_rows=progress, on_figures=on_figures)
    return result


def _compare_result(baseline: str, candidate: str, opts: dict, baseline_opts: dict, ladder, engine, scheduler):
    """Two models compared on this machine, or on a Dask cluster (both sides folders of parts)."""
    from .api import compare

    options = _inputs(opts)
    if engine is not Engine.dask:
        if scheduler:
            raise UsageError("--scheduler goes with --engine dask")
        return compare(baseline, candidate, **options, **baseline_opts, ladder=ladder)
    from .api import _baseline_spec
    from .dask_engine import client, read_files
    from .load import InputSpec

    spec = InputSpec.from_options(options)
    own = ("logits", "prob_prefix", "score_col", "positive_label", "classes")  # how the baseline alone is read
    base_spec = _baseline_spec(spec, **{k: baseline_opts.get(f"baseline_{k}") for k in own})
    frames = read_files(baseline, base_spec), read_files(candidate, spec)  # a bad folder costs no cluster
    with client(scheduler):
        return compare(*frames, **options, **baseline_opts, ladder=ladder)


def _config_files(opts: dict) -> list[str]:
    """The settings files a run may read (an output must not replace them)."""
    return [str(opts["config"])] if opts.get("config") else ["evalreport.toml", "pyproject.toml"]


def _plan(outputs, inputs, opts: dict, append=(), engine=None):
    """Check the outputs against the inputs and each other before any work (see output.plan_outputs)."""
    from .output import plan_outputs

    if engine is Engine.dask:
        import glob

        inputs = [f for pattern in inputs if pattern for f in (glob.glob(os.path.join(pattern, "*"))
                                                                if os.path.isdir(pattern) else glob.glob(pattern))]
    return plan_outputs(outputs, [*inputs, *_config_files(opts)], append)


def _written(targets) -> list[str]:
    from .errors import display_path

    return [display_path(t.given) for t in targets if t.kind not in ("stdout", "append")]


def _html(result, drawer=None) -> str:
    """The report page, its charts drawn by the drawing process when there is one, else on two
    processes where that helps (see all_charts); the same page either way."""
    from .render.pipes import drawing_processes
    from .render.html import prepare_templates, to_html

    if drawer:
        prepare_templates()  # loaded (on a first run, compiled) while the charts are drawn
    return to_html(result, processes=drawing_processes(), drawn=drawer.charts(result) if drawer else None)


def _inputs(opts: dict) -> dict:
    """The shared options as evaluate()/compare() take them (the ladder is resolved apart)."""
    out = {k: v for k, v in opts.items() if k not in ("bands", "config")}
    out["group_by"] = tuple(out["group_by"] or ())
    out["unit"] = out["unit"].value
    return out


class _Progress:
    """Rows read so far, on stderr, once a run takes more than a second. Silent when stderr
    is not a terminal or CI is set, so logs and captured output stay clean."""

    def __init__(self) -> None:
        self.enabled = err_console.is_terminal and not os.environ.get("CI")
        self._start = None
        self._bar = None

    def __call__(self, rows: int) -> None:
        if not self.enabled:
            return
        import time

        now = time.monotonic()
        self._start = self._start or now
        if self._bar is None and now - self._start > 1.0:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self._bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                 console=err_console, transient=True)
            self._task = self._bar.add_task("reading")
            self._bar.start()
        if self._bar is not None:
            self._bar.update(self._task, description=f"read {rows:,} rows")

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc) -> None:
        if self._bar is not None:
            self._bar.stop()


def _summary(result, written: list[str]) -> None:
    if result.lm is not None:
        _lm_summary(result, written)
        return
    o = result.overall
    score = "mean KL" if result.soft else "cross-entropy"
    ci = f" [95% {o.band_score_ci95[0]:.4f}–{o.band_score_ci95[1]:.4f}]" if o.band_score_ci95 else ""
    alert = " — CHECK THE WARNING BELOW FIRST" if result.alerts else ""
    skill = f" — {o.skill_words}" if o.no_skill else ""
    err_console.print(
        f"{o.band_label}: {score} {o.band_score:.4f}{ci} {result.unit} "
        f"({result.rows:,} rows, {len(result.classes)} classes){skill}"
        + (f" → {', '.join(written)}" if written else "") + alert,
        markup=False,
    )
    _warnings(result.warnings)


def _lm_summary(result, written: list[str]) -> None:
    """A language-model evaluation's one line: its tasks (the multiple-choice documents as a
    classifier over their options), or its sequences' per-token cross-entropy."""
    lm, u = result.lm, result.unit
    parts = []
    if lm.tasks:
        parts.append(f"lm-eval run{' ' + lm.model if lm.model else ''}: {len(lm.tasks)} task(s), "
                     f"{sum(t.documents for t in lm.tasks):,} documents")
    if result.classifier:
        o = result.overall
        ci = f" [95% {o.band_score_ci95[0]:.4f}–{o.band_score_ci95[1]:.4f}]" if o.band_score_ci95 else ""
        parts.append(f"multiple choice: {o.band_label}, cross-entropy over the options {o.band_score:.4f}{ci} {u}, "
                     f"accuracy {100 * o.accuracy:.1f}%")
    s = lm.overall
    if s is not None and s.cross_entropy is not None:
        ci = f" [95% {s.ci95[0]:.4f}–{s.ci95[1]:.4f}]" if s.ci95 else ""
        perplexity = f"{s.perplexity:,.2f}" if s.perplexity < 1e9 else f"{s.perplexity:.4g}"
        parts.append(f"cross-entropy {s.cross_entropy:.4f}{ci} {u} per token, perplexity {perplexity} "
                     f"({s.sequences:,} sequences, {s.tokens:,.0f} tokens)")
    elif s is not None and s.bits_per_byte is not None:
        ci = f" [95% {s.bits_per_byte_ci95[0]:.4f}–{s.bits_per_byte_ci95[1]:.4f}]" if s.bits_per_byte_ci95 else ""
        parts.append(f"{s.bits_per_byte:.4f}{ci} bits per byte ({s.sequences:,} sequences)")
    err_console.print("; ".join(parts) + (f" → {', '.join(written)}" if written else ""), markup=False)
    _warnings(result.warnings)


def _warnings(warnings, side: str = "") -> None:
    for w in warnings:
        err_console.print(f"warning: {side}{printable(w)}", markup=False)


@app.command()
@_cli_errors
@_with_inputs
@_with_baseline_inputs
@_with_trackers
def check(
    predictions: Predictions,
    max_score: Annotated[Optional[float], typer.Option("--max-score", help="Fail above this band score (in --unit).")] = None,
    max_band: Annotated[Optional[str], typer.Option("--max-band", help="Fail when the band is worse than this one (a band id).")] = None,
    max_class_score: Annotated[Optional[float], typer.Option("--max-class-score", help="Fail when any class's score is above this (in --unit).")] = None,
    max_class_band: Annotated[Optional[str], typer.Option("--max-class-band", help="Fail when any class's band is worse than this one.")] = None,
    min_accuracy: Annotated[Optional[float], typer.Option("--min-accuracy", help="Fail below this accuracy (a share, 0–1).")] = None,
    max_ece: Annotated[Optional[float], typer.Option("--max-ece", help="Fail above this expected calibration error (top label, 15 bins).")] = None,
    min_skill: Annotated[Optional[float], typer.Option("--min-skill", help="Fail when the skill over always predicting the class frequencies is below this (0: no better than them).")] = None,
    baseline: Annotated[Optional[str], typer.Option("--baseline", help="The baseline model's predictions for the same rows, or a JSON report of a previous run.")] = None,
    max_regression: Annotated[Optional[float], typer.Option("--max-regression", help="Fail when the score rises above the baseline's by more than this (in --unit).")] = None,
    max_ece_regression: Annotated[Optional[float], typer.Option("--max-ece-regression", help="Fail when the ECE (15 equal-width bins) rises above the baseline's by more than this (a share).")] = None,
    max_slice_score: Annotated[Optional[float], typer.Option("--max-slice-score", help="Fail for each slice value (of --group-by) whose score is above this (in --unit).")] = None,
    max_slice_regression: Annotated[Optional[float], typer.Option("--max-slice-regression", help="Fail for each slice value whose score rises above the baseline's by more than this (--significant: Holm-corrected).")] = None,
    max_bits_per_byte: Annotated[Optional[float], typer.Option("--max-bits-per-byte", help="Language models: fail above this many bits per byte (a file's sequences; each perplexity task of a harness run).")] = None,
    max_perplexity: Annotated[Optional[float], typer.Option("--max-perplexity", help="Language models: fail above this per-token perplexity (a file's sequences; the word_perplexity of each perplexity task).")] = None,
    min_acc: Annotated[Optional[float], typer.Option("--min-acc", help="Language models: fail when a multiple-choice task's acc (the harness's) is below this share.")] = None,
    significant: Annotated[bool, typer.Option("--significant", help="Fail a gate only when its whole 95% interval lies beyond the threshold.")] = False,
    output: Annotated[Optional[str], typer.Option("-o", "--output", help="Also write the HTML report.")] = None,
    json_path: Annotated[Optional[str], typer.Option("--json", help="Write the verdicts and figures as JSON (- for stdout).")] = None,
    markdown: Annotated[Optional[str], typer.Option("--markdown", help="Write a Markdown verdict (also appended to $GITHUB_STEP_SUMMARY when set).")] = None,
    junit: Annotated[Optional[str], typer.Option("--junit", help="Write JUnit XML: one testcase per gate.")] = None,
    opts: dict = None,  # the shared input options (see _with_inputs)
    baseline_opts: dict = None,  # how the baseline alone is read (see _with_baseline_inputs)
    tracking: dict = None,  # where else to log it (see _with_trackers)
    engine: EngineOpt = Engine.local,
    scheduler: Scheduler = None,
) -> None:
    """The CI gate: evaluate, then pass or fail each gate (exit 0 all pass, 1 a gate failed, 2 bad input)."""
    from .config import read_settings, resolve_ladder
    from .gates import evaluate_gates, gate_spec_from
    from .output import write_all
    from .render.jsonout import check_to_dict, dumps
    from .render.junit import to_junit
    from .render.markdown import check_to_markdown

    summary_file = os.environ.get("GITHUB_STEP_SUMMARY") or None
    _check_trackers(tracking)
    settings, where, settings_path = read_settings(opts["config"])
    gates = gate_spec_from(settings, where, max_score=max_score, max_band=max_band, max_class_score=max_class_score,
                           max_class_band=max_class_band, min_accuracy=min_accuracy, max_ece=max_ece,
                           min_skill=min_skill, max_regression=max_regression,
                           max_ece_regression=max_ece_regression, max_slice_score=max_slice_score,
                           max_slice_regression=max_slice_regression, max_bits_per_byte=max_bits_per_byte,
                           max_perplexity=max_perplexity, min_acc=min_acc, significant=significant)
    from_settings = not baseline and bool((settings.get("gates") or {}).get("baseline"))
    baseline = baseline or _settings_baseline(settings, settings_path)
    _check_baseline_gates(gates, baseline, baseline_opts)
    targets = _plan([("-o", output), ("--json", json_path), ("--markdown", markdown), ("--junit", junit)],
                    [predictions, baseline], opts, append=[("GITHUB_STEP_SUMMARY", summary_file)], engine=engine)
    ladder = resolve_ladder(opts["bands"], opts["config"])
    gates.check_bands(ladder)
    # the fits on the row sample only show in a file or a tracker's copy: a bare check skips them
    shown = bool(targets) or _tracking(tracking)
    result, comparison, json_baseline = _checked(predictions, baseline, opts, baseline_opts, ladder, engine,
                                                 scheduler, sample_fits=shown)
    report = evaluate_gates(result, gates, comparison, json_baseline)

    render = _Once({"-o": lambda: _html(result), "--json": lambda: dumps(check_to_dict(report)),
                    "--markdown": lambda: check_to_markdown(report), "--junit": lambda: to_junit(report),
                    "GITHUB_STEP_SUMMARY": lambda: render("--markdown") + "\n"})
    write_all([(t, render(t.option)) for t in targets])

    # the verdict's table goes where nothing else does: stderr when a file is written to stdout
    out = err_console if any(t.kind == "stdout" for t in targets) else console
    out.print(_gate_table(report))
    for note in report.notes:
        out.print(note, markup=False)
    if result.classifier and result.overall.no_skill:
        out.print(f"note: the model is {result.overall.skill_words}; --min-skill 0 gates on it", markup=False)
    if from_settings:
        out.print(f"baseline: {printable(baseline)} (named by {printable(str(settings_path))})", markup=False)
    _summary(result, _written(targets))
    _track(tracking, lambda: _tracked().result_payload(
        result, _encoded({"report.html": render("-o"), "check.json": render("--json"), "check.md": render("--markdown"),
                          "junit.xml": render("--junit")}), check=check_to_dict(report)))
    raise typer.Exit(report.return_code)


def _checked(predictions: str, baseline: str | None, opts: dict, baseline_opts: dict, ladder, engine, scheduler,
             sample_fits: bool = True):
    """What check gates on: the result, and the comparison with a baseline of predictions or the
    JSON report of a previous run (checked to be of the same rows)."""
    from .load import read_json_baseline

    if baseline and baseline.lower().endswith(".json"):
        json_baseline = read_json_baseline(baseline)
        result = _report_result(predictions, opts, ladder, engine, scheduler, sample_fits=sample_fits)
        json_baseline.check_against(result.rows, result.classes, result.soft, result.eps, result.weighted)
        return result, None, json_baseline
    if baseline:
        comparison = _compare_result(baseline, predictions, opts, baseline_opts, ladder, engine, scheduler)
        return comparison.candidate, comparison, None
    return _report_result(predictions, opts, ladder, engine, scheduler, sample_fits=sample_fits), None, None


def _check_baseline_gates(gates, baseline: str | None, baseline_opts: dict) -> None:
    """The gates and the baseline must make sense together, before the evaluation (which may take a
    while): a baseline needs a regression gate, a regression gate a baseline (of predictions, for a
    paired one), a baseline reading option a baseline of predictions."""
    if baseline and all(getattr(gates, k) is None for k in ("max_regression", "max_ece_regression",
                                                           "max_slice_regression")):
        raise UsageError("--baseline is given, but no --max-regression: say how much the score may rise over the "
                         "baseline's (e.g. --max-regression 0.02); without it the baseline would not be used")
    gates.require_any()
    if gates.max_regression is not None and not baseline:
        raise UsageError("--max-regression needs --baseline FILE (the baseline model's predictions or JSON)")
    for key in ("max_ece_regression", "max_slice_regression"):
        if getattr(gates, key) is not None and (not baseline or baseline.lower().endswith(".json")):
            raise UsageError(f"--{key.replace('_', '-')} needs --baseline FILE with the baseline model's predictions "
                             "(a JSON report holds no rows to pair)")
    given = [name for name, value in baseline_opts.items() if value is not None and value is not False]
    if given and (not baseline or baseline.lower().endswith(".json")):
        raise UsageError(f"--{given[0].replace('_', '-')} reads a baseline's predictions; "
                         + ("the baseline is a JSON report" if baseline else "there is no --baseline"))


def _gate_table(report) -> Table:
    """The verdict on the terminal: one row per gate."""
    from .render.fmt import interval, num

    table = Table(title=f"evalreport check: {'PASSED' if report.passed else 'FAILED'}", title_justify="left")
    for col in ("gate", "condition", "value", "95% interval", "result"):
        table.add_column(col, justify="right" if col in ("value",) else "left")
    for g in report.gates:
        value = g.value if isinstance(g.value, str) or g.value is None else num(g.value)
        ci = interval(g.ci95, 4)
        condition = g.condition + (f"\n{g.detail}" if g.detail else "")
        table.add_row(g.gate, condition, str(value), ci, "pass" if g.passed else "FAIL",
                      style=None if g.passed else "bold red")
    return table


def _settings_baseline(settings: dict, path) -> str | None:
    """The baseline a settings file names, resolved against the file's own folder (as tools that
    read pyproject.toml do: one config gates against one baseline from any folder)."""
    baseline = (settings.get("gates") or {}).get("baseline")
    if not baseline or path is None:
        return baseline
    from pathlib import Path

    resolved = Path(baseline) if Path(baseline).is_absolute() else path.parent / baseline
    return str(resolved)


@app.command("compare")
@_cli_errors
@_with_inputs
@_with_baseline_inputs
@_with_trackers
def compare_cmd(
    baseline: Annotated[str, typer.Argument(help="The baseline model's predictions.", show_default=False)],
    candidate: Annotated[str, typer.Argument(help="The candidate model's predictions for the same rows.", show_default=False)],
    output: Annotated[str, typer.Option("-o", "--output", help="The HTML comparison.")] = "compare.html",
    json_path: Annotated[Optional[str], typer.Option("--json", help="Also write the comparison as JSON (- for stdout).")] = None,
    markdown: Annotated[Optional[str], typer.Option("--markdown", help="Also write a Markdown summary (- for stdout).")] = None,
    opts: dict = None,  # the shared input options (see _with_inputs)
    baseline_opts: dict = None,  # how the baseline alone is read (see _with_baseline_inputs)
    tracking: dict = None,  # where else to log it (see _with_trackers)
    engine: EngineOpt = Engine.local,
    scheduler: Scheduler = None,
) -> None:
    """Two models' predictions for the same rows, side by side, with paired differences."""
    from .config import resolve_ladder
    from .output import write_all

    targets = _plan([("-o", output), ("--json", json_path), ("--markdown", markdown)], [baseline, candidate], opts,
                    engine=engine)
    _check_trackers(tracking)
    c = _compare_result(baseline, candidate, opts, baseline_opts, resolve_ladder(opts["bands"], opts["config"]),
                        engine, scheduler)
    render = _Once({"-o": c.to_html, "--json": c.to_json, "--markdown": c.to_markdown})
    write_all([(t, render(t.option)) for t in targets])
    d = c.score
    ci = f" [95% {d.ci95[0]:+.4f} to {d.ci95[1]:+.4f}]" if d.ci95 else ""
    alert = " — CHECK THE WARNINGS BELOW FIRST" if c.baseline.alerts or c.candidate.alerts else ""
    err_console.print(
        f"{d.headline}: {d.difference:+.4f}{ci} {c.unit} ({d.baseline:.4f} → {d.candidate:.4f}; "
        f"{c.candidate.rows:,} rows matched by {c.matched_by}) → {', '.join(_written(targets))}{alert}",
        markup=False,
    )
    if c.detectable_words:
        err_console.print(c.detectable_words[0].upper() + c.detectable_words[1:] + ".", markup=False)
    _warnings(c.baseline.warnings, "baseline: ")
    _warnings(c.candidate.warnings, "candidate: ")
    _track(tracking, lambda: _tracked().comparison_payload(
        c, _encoded({"compare.html": render("-o"), "compare.json": render("--json"), "compare.md": render("--markdown")})))


@app.command("bands")
@_cli_errors
def bands_cmd(
    unit: UnitOpt = Unit.nats,
    bands: Bands = None,
    config: Config = None,
) -> None:
    """Print the interpretation ladder in force (decided in nats, shown in --unit)."""
    from .config import resolve_ladder
    from .render.fmt import band_range

    ladder = resolve_ladder(bands, config)
    factor = UNITS[unit.value]
    table = Table(title=f"Interpretation ladder ({ladder.source}), mean score in {unit.value}")
    table.add_column("id")
    table.add_column("band")
    table.add_column(f"score ({unit.value})")
    for row in ladder.rows():
        table.add_row(row["id"], row["label"], band_range(row, factor))
    console.print(table)


@app.command()
@_cli_errors
def dist(
    p: Annotated[str, typer.Option("--p", help="Distribution P, comma-separated, e.g. 0.1,0.4,0.5.", show_default=False)],
    q: Annotated[str, typer.Option("--q", help="Distribution Q, comma-separated, same length.", show_default=False)],
    unit: UnitOpt = Unit.nats,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """H(P), H(Q), H(P,Q), H(Q,P), KL(P‖Q) and KL(Q‖P) of two discrete distributions."""
    import json

    from .compute import distribution_figures
    from .load import parse_distribution

    pv = parse_distribution(p, "--p")
    qv = parse_distribution(q, "--q")
    if len(pv) != len(qv):
        raise InputError("--p/--q", f"P has {len(pv)} values but Q has {len(qv)}; they must have the same length")
    factor = UNITS[unit.value]
    figures = {k: v * factor for k, v in distribution_figures(pv, qv).items()}
    if json_out:
        clean = {k: (v if math.isfinite(v) else None) for k, v in figures.items()}
        console.print_json(json.dumps({"unit": unit.value, **clean}))
        return
    names = {
        "entropy_p": "H(P)",
        "entropy_q": "H(Q)",
        "cross_entropy_pq": "H(P,Q)",
        "cross_entropy_qp": "H(Q,P)",
        "kl_pq": "KL(P‖Q)",
        "kl_qp": "KL(Q‖P)",
    }
    table = Table()
    table.add_column("quantity")
    table.add_column(f"value ({unit.value})", justify="right")
    for key, label in names.items():
        v = figures[key]
        # H(P,Q) and KL(P‖Q) are infinite where Q is 0 and P is not; H(Q,P) and KL(Q‖P) the other way round
        why = "Q is 0 where P is not" if key.endswith("pq") else "P is 0 where Q is not"
        table.add_row(label, f"{v:.4f}" if math.isfinite(v) else f"∞ ({why})")
    console.print(table)


def main() -> None:
    """Console-script entry point. Python warnings (a library's deprecation, a glyph no font has)
    are not the user's business and never reach stderr, which carries one line per problem; the
    test suite calls the app directly and turns them into errors instead."""
    import warnings

    warnings.simplefilter("ignore")
    # a terminal or pipe that cannot encode "≤" or "→" (PYTHONIOENCODING=ascii, a legacy code page)
    # gets them as \u2264, as stderr does by default — not a failed command after the work is done
    # (LC_ALL=C with PYTHONUTF8=0 gives an ASCII stdout whose errors are "surrogateescape": no help)
    if getattr(sys.stdout, "errors", None) in ("strict", "surrogateescape") and hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="backslashreplace")
    app(prog_name="evalreport")
