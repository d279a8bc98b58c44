"""evalreport: how good are a classifier's probabilities?

>>> from evalreport import evaluate
>>> result = evaluate(df, label_col="label")      # doctest: +SKIP
>>> result.overall.log_loss, result.overall.band  # doctest: +SKIP

The names below are imported on first use, so the command line starts without
loading pandas or SciPy until a command needs them.
"""

__version__ = "0.1.0"

_EXPORTS = {
    "evaluate": "api",
    "compare": "api",
    "Result": "result",
    "Comparison": "result",
    "Ladder": "ladder",
    "DEFAULT_LADDER": "ladder",
    "EvalReportError": "errors",
    "InputError": "errors",
    "UsageError": "errors",
    "TrackerError": "errors",
}
__all__ = [*_EXPORTS, "__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'evalreport' has no attribute {name!r}")
