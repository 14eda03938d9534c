"""One-call diagnosis and before/after comparison: :func:`~salesmining.diagnose` →
:class:`~salesmining.Diagnosis`, :func:`~salesmining.compare` → :class:`~salesmining.Comparison`,
and what their reports show (``context``), rendered by :mod:`salesmining.present`.
"""
