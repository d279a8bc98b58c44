"""The command line: a thin layer over :func:`evalreport.evaluate` and the renderers.

Exit codes: 0 done; 1 a gate failed (``check``); 2 bad input or usage;
3 an internal error (a bug — rerun with ``EVALREPORT_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import functools
import math
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .errors import EvalReportError, InputError

app = typer.Typer(
    name="evalreport",
    help="How good are a classifier's probabilities? Log loss, cross-entropy, entropy and KL "
    "divergence — overall, per class and per slice — in one self-contained report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)
console = Console(highlight=False)

INTERNAL_ERROR = 3


class Unit(str, Enum):
    nats = "nats"
    bits = "bits"


def _cli_errors(func):
    """Turn an EvalReportError into one line on stderr and its exit code."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except EvalReportError as err:
            err_console.print(f"evalreport: error: {err}", markup=False)
            raise typer.Exit(err.exit_code) from None
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as err:  # a bug: one line, unless asked for the traceback
            if os.environ.get("EVALREPORT_DEBUG"):
                raise
            err_console.print(
                f"evalreport: internal error: {type(err).__name__}: {err} "
                "(this is a bug; rerun with EVALREPORT_DEBUG=1 for the traceback)",
                markup=False,
            )
            raise typer.Exit(INTERNAL_ERROR) from None

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
Bands = Annotated[Optional[str], typer.Option("--bands", help="Replace band thresholds (nats), e.g. great=0.01,fine=0.1.")]
Config = Annotated[Optional[Path], typer.Option("--config", help="Settings file (evalreport.toml or a pyproject.toml) [default: ./evalreport.toml, ./pyproject.toml].")]


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
def report(
    predictions: Predictions,
    output: Annotated[str, typer.Option("-o", "--output", help="The HTML report.")] = "report.html",
    json_path: Annotated[Optional[str], typer.Option("--json", help="Also write the figures as JSON (- for stdout).")] = None,
    markdown: Annotated[Optional[str], typer.Option("--markdown", help="Also write a Markdown summary (- for stdout).")] = None,
    label_col: LabelCol = "label",
    prob_prefix: ProbPrefix = "p_",
    score_col: ScoreCol = None,
    positive_label: PositiveLabel = "1",
    target_prefix: TargetPrefix = None,
    logits: Logits = False,
    weight_col: WeightCol = None,
    group_by: GroupBy = None,
    id_col: IdCol = None,
    unit: UnitOpt = Unit.nats,
    eps: Eps = float(sys.float_info.epsilon),
    renormalize: Renormalize = False,
    bands: Bands = None,
    config: Config = None,
) -> None:
    """The full evaluation: an HTML report, plus JSON and Markdown when asked."""
    from .api import evaluate
    from .config import resolve_ladder
    from .output import write_all

    ladder = resolve_ladder(bands, config)
    result = evaluate(
        predictions,
        label_col=label_col,
        prob_prefix=prob_prefix,
        score_col=score_col,
        positive_label=positive_label,
        target_prefix=target_prefix,
        logits=logits,
        weight_col=weight_col,
        group_by=tuple(group_by or ()),
        id_col=id_col,
        unit=unit.value,
        eps=eps,
        renormalize=renormalize,
        ladder=ladder,
    )
    outputs = [(output, result.to_html())]
    if json_path:
        outputs.append((json_path, result.to_json()))
    if markdown:
        outputs.append((markdown, result.to_markdown()))
    write_all(outputs)
    o = result.overall
    written = ", ".join(p for p, _ in outputs if p != "-")
    score = "mean KL" if result.soft else "cross-entropy"
    err_console.print(
        f"{o.band_label}: {score} {o.band_score:.4f} {result.unit} "
        f"({result.rows:,} rows, {len(result.classes)} classes) → {written}",
        markup=False,
    )
    for w in result.warnings:
        err_console.print(f"warning: {w}", markup=False)


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
    factor = 1.0 if unit is Unit.nats else 1.0 / math.log(2.0)
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
    factor = 1.0 if unit is Unit.nats else 1.0 / math.log(2.0)
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
        table.add_row(label, f"{v:.4f}" if math.isfinite(v) else "∞ (Q is 0 where P is not)")
    console.print(table)


def main() -> None:
    """Console-script entry point."""
    app(prog_name="evalreport")
