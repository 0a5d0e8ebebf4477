"""Writes for toxicity: adverse events, lab panels, DLT evaluation and the investigators' adjudication.

Every service is keyword-only and atomic, locks the patient row first, validates
everything before writing, and records who and why. A write that changes what
the DLT rules read queues the patient's re-evaluation once the transaction has
committed (the outbox: trialsite.outbox.record_change; the pipeline runs the rules).

- events.py: adverse events (record, correct, retract) and their checks;
- labs.py: lab panels and their units;
- conmeds.py: concomitant medications (record, correct, retract), the supportive care the DLT rules read;
- visits.py: a visit day (doses, labs, vital signs, new events) in one transaction;
- evaluation.py: the DLT evaluation (dlt_evaluate_many), syncing proposals and evaluations;
- adjudication.py: confirm, reject, record missed, withdraw, and reopening adjudicated proposals;
- _common.py: the helpers they share.
"""

from .adjudication import dlt_confirm, dlt_record_missed, dlt_reject, dlt_withdraw
from .conmeds import CONMED_FIELDS, check_conmed, conmed_record, conmed_retract, conmed_update
from .evaluation import dlt_evaluate_many
from .events import AE_FIELDS, ae_record, ae_retract, ae_update
from .labs import COUNT_UNITS, HB_UNITS, LAB_LABELS, convert_labs, lab_record
from .visits import DoseEntry, VisitSaved, visit_day_record

__all__ = [
    "AE_FIELDS",
    "CONMED_FIELDS",
    "COUNT_UNITS",
    "HB_UNITS",
    "LAB_LABELS",
    "DoseEntry",
    "VisitSaved",
    "ae_record",
    "ae_retract",
    "ae_update",
    "check_conmed",
    "conmed_record",
    "conmed_retract",
    "conmed_update",
    "convert_labs",
    "dlt_confirm",
    "dlt_evaluate_many",
    "dlt_record_missed",
    "dlt_reject",
    "dlt_withdraw",
    "lab_record",
    "visit_day_record",
]
