"""Load: a predictions file or DataFrame → validated batches of numpy arrays.

Every input error is found here, before any figure is computed, and raised as
an :class:`~evalreport.errors.InputError` naming the file, the column and the
first offending rows (1-based data rows: row 1 is the first line after the
header). Nothing downstream validates again.

The input is read in chunks of rows, so a file of any size passes through in
bounded memory; a DataFrame goes through the very same checks.

One module per job, in pipeline order: ``spec`` (the options and what a header
means), ``stream`` (the reader interface, hashing, prefetching), ``lines``
(cutting CSV into pieces of whole rows), ``csv``, ``parquet``, ``frame`` (the
sources), ``validate`` (a chunk → a Batch), ``source`` (a path, stdin or a
DataFrame → batches) and ``pair`` (two inputs matched row by row).
"""

from .frame import Table
from .pair import JsonBaseline, check_layouts, check_two_sources, open_pair, read_json_baseline
from .spill import PairedRows
from .source import LanguageInput, LoadedInput, open_input
from .spec import (
    DEFAULT_CHUNK_ROWS,
    DEFAULT_EPS,
    MAX_CLASSES,
    MISSING_GROUP,
    NUMERIC_NA,
    SUM_TOLERANCE,
    Batch,
    InputSpec,
    Layout,
    SourceInfo,
    check_whole,
    classes_of,
    plan_layout,
)
from .validate import _arrow_categories, _class_codes, _Validator, id_text, parse_distribution

__all__ = [
    "Batch", "DEFAULT_CHUNK_ROWS", "DEFAULT_EPS", "InputSpec", "MAX_CLASSES", "JsonBaseline", "LanguageInput", "Layout",
    "LoadedInput", "open_input",
    "MISSING_GROUP", "NUMERIC_NA", "SUM_TOLERANCE", "SourceInfo", "Table", "PairedRows", "check_two_sources", "check_whole",
    "check_layouts", "classes_of", "id_text", "parse_distribution", "plan_layout", "read_json_baseline", "open_pair",
    "_Validator", "_arrow_categories", "_class_codes",
]
