"""Findings: rules that turn the analyses into ranked bottlenecks with evidence
(:func:`~salesmining.find_bottlenecks` → :class:`~salesmining.Findings`), and the headline
KPIs (:func:`~salesmining.kpis` → :class:`~salesmining.KPIs`).
"""
