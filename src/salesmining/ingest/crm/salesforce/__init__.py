"""Salesforce: ``OpportunityHistory`` plus the related exports, one module per export.

* :mod:`.history` — ``OpportunityHistory`` (the main input), :mod:`.field_history` —
  ``OpportunityFieldHistory``, :mod:`.stage_events` — stage and field-change events from both;
* :mod:`.opportunities` — ``Opportunity`` and the stage outcome classes (``OpportunityStage``);
* :mod:`.approvals` — ``ProcessInstance`` / ``ProcessInstanceStep``;
* :mod:`.activities` — ``Task`` and ``Event``;
* :mod:`.keys` — record ids and helpers the exports share; :mod:`.reader` — :func:`read_salesforce`.
"""

from __future__ import annotations

from salesmining.ingest.crm.salesforce.reader import read_salesforce

__all__ = ["read_salesforce"]
