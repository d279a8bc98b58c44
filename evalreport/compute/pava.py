"""Pool adjacent violators: SciPy's compiled algorithm, without the price of ``scipy.optimize``.

``scipy.optimize.isotonic_regression`` is a thin wrapper around one compiled function
(``scipy/optimize/_pava_pybind``), but importing it imports the whole ``scipy.optimize``
package — every solver, and the parsing of their docstrings: 0.15–0.3 s, paid by every run for
a fit that takes 30 µs on 2,000 forecasts. So the compiled module is loaded from its file on its
own (0.7 ms) and called exactly as the wrapper calls it. Should that ever fail (a SciPy that moved
or changed it), the public function is used: the same answer, at the import's price. A test holds
the two to the same bits.
"""

from __future__ import annotations

import numpy as np

_pava = None


def _compiled():
    """SciPy's compiled ``pava(x, w, r)``, loaded once; None when it cannot be loaded on its own."""
    global _pava
    if _pava is None:
        try:
            import importlib.util
            from pathlib import Path

            import scipy

            path = next((Path(scipy.__file__).parent / "optimize").glob("_pava_pybind.*"))
            spec = importlib.util.spec_from_file_location("scipy.optimize._pava_pybind", path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            _pava = module.pava
        except Exception:  # noqa: BLE001 — any failure: the public function serves
            _pava = False
    return _pava or None


def isotonic_blocks(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The weighted least-squares non-decreasing fit of ``y`` (weights ``w``, all > 0): the
    fitted value of each element, and where the pooled blocks start (with len(y) appended)."""
    pava = _compiled()
    if pava is None:
        from scipy.optimize import isotonic_regression

        fit = isotonic_regression(y, weights=w)
        return fit.x, fit.blocks
    x = np.array(y, dtype=np.float64, order="C", copy=True)
    wx = np.array(w, dtype=np.float64, order="C", copy=True)
    r = np.full(len(x) + 1, -1, dtype=np.intp)
    x, _, r, b = pava(x, wx, r)
    return x, r[: b + 1]
