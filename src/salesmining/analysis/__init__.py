"""The analyses: the intended process (``stages``: :class:`~salesmining.StageModel`),
discovery (``discover``: :class:`~salesmining.ProcessGraph`), conformance (``conform``:
:class:`~salesmining.Conformance`), per-event gaps and stage visits (``visits``) and the tidy
series behind the charts (``series``).
"""
