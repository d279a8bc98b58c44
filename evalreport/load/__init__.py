"""Load: a predictions file or DataFrame → validated batches of numpy arrays.

Every input error is found here, before any figure is computed, and raised as
an :class:`~evalreport.errors.InputError` naming the file, the column and the
first offending rows (1-based data rows: row 1 is the first line after the
header). Nothing downstream validates again.

The input is read in chunks of rows, so a file of any size passes through in
bounded memory; a DataFrame goes through the very same checks.
"""

# The modules, one job each, in pipeline order; every name keeps its old import path.
from .spec import (  # noqa: F401
    Batch,
    check_whole,
    classes_of,
    DEFAULT_CHUNK_ROWS,
    DEFAULT_EPS,
    InputSpec,
    Layout,
    _list_cols,
    MISSING_GROUP,
    _negative_name,
    NUMERIC_NA,
    plan_layout,
    SourceInfo,
    SUM_TOLERANCE,
)
from .stream import (  # noqa: F401
    _first_line,
    _hashed_meanwhile,
    _Hashing,
    _head,
    _prefetch,
    _Reader,
    _sha256_file,
)
from .csv import (  # noqa: F401
    _CsvReader,
    PIECE_BYTES,
    _pieces,
)
from .parquet import (  # noqa: F401
    _ParquetReader,
)
from .frame import (  # noqa: F401
    _FrameReader,
    Table,
)
from .validate import (  # noqa: F401
    _arrow_categories,
    _as_text,
    _bad_weights,
    _class_codes,
    _fill,
    id_text,
    _in_unit_range,
    parse_distribution,
    _row_sums_off,
    _text_values,
    _Validator,
)
from .source import (  # noqa: F401
    LoadedInput,
    _open_reader,
)
from .pair import (  # noqa: F401
    align_pair,
    JsonBaseline,
    read_json_baseline,
    read_table,
    _text_differs,
)
