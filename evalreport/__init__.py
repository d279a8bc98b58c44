"""evalreport: how good are a classifier's probabilities?

>>> from evalreport import evaluate
>>> result = evaluate(df, label_col="label")      # doctest: +SKIP
>>> result.overall.log_loss, result.overall.band  # doctest: +SKIP
"""

__version__ = "0.1.0"

from .api import compare, evaluate  # noqa: E402
from .errors import EvalReportError, InputError, UsageError  # noqa: E402
from .interpret import DEFAULT_LADDER, Ladder  # noqa: E402
from .result import Result  # noqa: E402

__all__ = ["evaluate", "compare", "Result", "Ladder", "DEFAULT_LADDER", "EvalReportError", "InputError", "UsageError", "__version__"]
