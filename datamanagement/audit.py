"""The audit trail browser: who changed what, when and why, across every clinical record (django-simple-history).

Per patient or trial-wide, filtered by patient, user, record type and dates, newest first, a page at a
time (keyset pagination on (time, record type, history id): a page costs the same whatever the size of
the trial). Each entry names its user (never an id) and its record by its clinical identity ("ANC
2026-11-07, BPD-01-001", "Cycle 2 bendamustine day 1, BPD-01-001") with a link to the record's page, and
shows the value of every field of a created record, the old and new value of every changed one. Each
version is diffed against the previous version of the same object.

Electronic signatures (trialsite.Signature: a DLT confirmed, rejected, recorded or withdrawn, an escalation
decision signed or re-reviewed, a cycle locked or unlocked) are entries too, of record type "signature": the
signer's printed name, the date-time, the meaning, and the record signed by its clinical name with its link.
They have no history table (a signature is never changed): they are read from trialsite.Signature itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import groupby

from django.contrib.contenttypes.models import ContentType
from django.db.models import Case, F, IntegerField, Model, OuterRef, Q, Subquery, Value, When
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from cohorts.models import Cohort, DoseLevel, Drug, Enrolment, Patient, Trial
from cohorts.selectors import FieldChange, history_differ
from cohorts.selectors import _display as display_value  # the differ's own formatting: ISO dates, criteria as "I1 yes"
from dosing.models import Administration, Cycle, DoseModification, OffTreatment, PlannedDose, Visit
from escalation.models import EscalationDecision
from response.models import FollowUp, MyelomaAssessment
from toxicity.ctcae import CtcaeError
from toxicity.models import AdverseEvent, ConMed, Dlt, DltProposal, LabResult
from toxicity.selectors import trial_terminology
from trialsite.models import Signature

from .exports import csv_stream

# record type -> (model, path from the history row to the patient id, or None for trial-level records)
RECORDS: dict[str, tuple[type[Model], str | None]] = {
    "patient": (Patient, "id"),  # paths are followed in SQL: the history tables keep their foreign keys
    "enrolment": (Enrolment, "patient_id"),
    "cycle": (Cycle, "patient_id"),
    "planned_dose": (PlannedDose, "cycle__patient_id"),
    "administration": (Administration, "cycle__patient_id"),
    "modification": (DoseModification, "patient_id"),
    "visit": (Visit, "patient_id"),
    "off_treatment": (OffTreatment, "patient_id"),
    "adverse_event": (AdverseEvent, "patient_id"),
    "lab": (LabResult, "patient_id"),
    "conmed": (ConMed, "patient_id"),
    "dlt_proposal": (DltProposal, "patient_id"),
    "dlt": (Dlt, "patient_id"),
    "assessment": (MyelomaAssessment, "patient_id"),
    "follow_up": (FollowUp, "patient_id"),
    "cohort": (Cohort, None),
    "decision": (EscalationDecision, None),
}
SIGNATURE = "signature"
# the record types a signature can sign (trialsite.signatures.sign's callers), named as their own entries are
SIGNED: dict[str, type[Model]] = {"dlt_proposal": DltProposal, "dlt": Dlt, "cycle": Cycle, "decision": EscalationDecision}
KINDS = [*RECORDS, SIGNATURE]  # every record type of the trail, in its order for entries at the same time
ORDER = {key: i for i, key in enumerate(KINDS)}
ACTIONS = {"+": "Created", "~": "Changed", "-": "Deleted"}
SIGNED_ACTION = "Signed"
PAGE_SIZE = 100
# the tab of the patient pages that shows each record type (trial-level records: the escalation page)
PAGES = {
    "patient": "patient_detail",
    "enrolment": "patient_detail",
    "follow_up": "patient_detail",
    "cycle": "patient_treatment",
    "planned_dose": "patient_treatment",
    "administration": "patient_treatment",
    "modification": "patient_treatment",
    "visit": "patient_treatment",
    "off_treatment": "patient_treatment",
    "adverse_event": "patient_safety",
    "lab": "patient_safety",
    "conmed": "patient_safety",
    "dlt_proposal": "patient_safety",
    "dlt": "patient_safety",
    "assessment": "patient_response",
}
LABS = {"anc": "ANC", "platelets": "platelets", "hemoglobin": "hemoglobin", "wbc": "WBC", "temperature": "temperature"}


@dataclass(frozen=True)
class Entry:
    when: datetime
    who: str
    username: str
    record_type: str
    record: str
    url: str
    object_id: int
    history_id: int
    patient: str
    action: str
    reason: str
    changes: tuple[FieldChange, ...]

    @property
    def cursor(self) -> str:
        return f"{self.when.isoformat()}~{self.record_type}~{self.history_id}"


@dataclass(frozen=True)
class Group:
    day: date
    patient: str
    entries: list[Entry] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    entries: list[Entry]
    older: str  # the cursor of the next (older) page, or ""

    def groups(self) -> list[Group]:
        """The page's entries by day (newest first), then by patient (the one changed last first; trial-level records as "")."""
        out = []
        for day, rows in groupby(self.entries, key=lambda e: timezone.localtime(e.when).date()):
            by_patient: dict[str, list[Entry]] = {}
            for e in rows:
                by_patient.setdefault(e.patient, []).append(e)
            out += [Group(day, patient, entries) for patient, entries in by_patient.items()]
        return out


@dataclass(frozen=True)
class Cursor:
    when: datetime
    record_type: str
    history_id: int

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """The cursor of an "older" link, or None (the first page) for anything else."""
        try:
            when, key, history_id = (text or "").split("~")
            parsed = datetime.fromisoformat(when)
        except ValueError:
            return None
        if key not in ORDER or not (history_id.isascii() and history_id.isdecimal() and len(history_id) <= 18) or parsed.tzinfo is None:
            return None
        return cls(parsed, key, int(history_id))

    def older(self, key: str, when: str = "history_date", row_id: str = "history_id") -> Q:
        """The rows of record type `key` after this cursor in the order (time, record type, history id), newest first
        (`when` and `row_id`: the row's time and id fields, a signature's own for signatures)."""
        if ORDER[key] < ORDER[self.record_type]:
            return Q(**{f"{when}__lte": self.when})
        if key == self.record_type:
            return Q(**{f"{when}__lt": self.when}) | Q(**{when: self.when, f"{row_id}__lt": self.history_id})
        return Q(**{f"{when}__lt": self.when})


def record_label(key: str) -> str:
    model = Signature if key == SIGNATURE else RECORDS[key][0]
    return str(model._meta.verbose_name).capitalize()


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _by_user_and_dates(rows, user_field: str, date_field: str, *, user, since, until):
    """The trail's user filter and its date range (whole days, `since` to `until` inclusive) on any row type."""
    if user is not None:
        rows = rows.filter(**{user_field: user})
    if since is not None:
        rows = rows.filter(**{f"{date_field}__gte": _day_start(since)})
    if until is not None:
        rows = rows.filter(**{f"{date_field}__lt": _day_start(until + timedelta(days=1))})
    return rows


def _keys(key: str, trial: Trial, visible, *, patient, user, since, until, cursor: Cursor | None, limit: int) -> list[tuple]:
    """One light query: (time, history id, previous history id of the same object) of the `limit` newest history
    rows of record type `key` that match (a change is diffed against its object's previous version, whoever made it)."""
    model, path = RECORDS[key]
    history = model.history
    rows = history.all()
    if path is None:
        if patient is not None:
            return []
        rows = rows.filter(trial_id=trial.pk)
    elif patient is not None:
        rows = rows.filter(**{f"{path}__in": visible, path: patient.pk})
    else:
        # Trial-wide, most recent rows match: the planner should walk the history_date index newest first and stop
        # at `limit`, not gather every row of the trial's patients to sort them (which grows with the trial).
        # `+ 0` keeps the patient index out of this test (SQLite has no statistics to know better). The walk and the
        # previous-version lookup below use the (history_date, history_id) and (id, history_id) indexes of migration
        # datamanagement/0005_audit_trail_history_indexes.
        rows = rows.alias(visible_pid=F(path) + 0).filter(visible_pid__in=visible)
    rows = _by_user_and_dates(rows, "history_user", "history_date", user=user, since=since, until=until)
    if cursor is not None:
        rows = rows.filter(cursor.older(key))
    previous = history.filter(id=OuterRef("id"), history_id__lt=OuterRef("history_id")).order_by("-history_id").values("history_id")[:1]
    return list(rows.annotate(prev=Subquery(previous)).order_by("-history_date", "-history_id").values_list("history_date", "history_id", "prev")[:limit])


def _signatures(trial: Trial, visible, *, patient) -> tuple:
    """The signatures of the trial's records (the patients' `visible`, or `patient`'s only), annotated with the
    signed record's patient (`pid`); escalation decisions are the trial's, with no patient."""
    cts = ContentType.objects.get_for_models(*SIGNED.values(), for_concrete_models=True)
    by_patient = [m for m in SIGNED.values() if m is not EscalationDecision]
    pid = Case(
        *(When(content_type=cts[m], then=Subquery(m.objects.filter(pk=OuterRef("object_id")).values("patient_id")[:1])) for m in by_patient),
        default=Value(None),
        output_field=IntegerField(),
    )
    rows = Signature.objects.alias(pid=pid) if patient is None else Signature.objects.all()
    if patient is not None:
        mine = Q()
        for m in by_patient:
            mine |= Q(content_type=cts[m], object_id__in=m.objects.filter(patient_id=patient.pk, patient_id__in=visible).values("pk"))
        return rows.filter(mine), pid
    decisions = Q(content_type=cts[EscalationDecision], object_id__in=EscalationDecision.objects.filter(trial_id=trial.pk).values("pk"))
    return rows.filter(Q(pid__in=visible) | decisions), pid


def _signature_keys(trial: Trial, visible, *, patient, user, since, until, cursor: Cursor | None, limit: int) -> list[tuple]:
    """As `_keys`, for signatures: (time, signature id, None) of the `limit` newest that match (nothing to diff against)."""
    rows, _ = _signatures(trial, visible, patient=patient)
    rows = _by_user_and_dates(rows, "signer", "signed_at", user=user, since=since, until=until)
    if cursor is not None:
        rows = rows.filter(cursor.older(SIGNATURE, "signed_at", "id"))
    return [(when, pk, None) for when, pk in rows.order_by("-signed_at", "-id").values_list("signed_at", "id")[:limit]]


def _signature_rows(wanted: set[int]) -> tuple[list, dict[str, dict[int, Model]]]:
    """The signatures a page shows, each with `key` (its record's type), and the records they sign by type and id
    (a query for the signatures and one per type of record signed, whatever the page holds)."""
    types = {ct.pk: _key_of(model) for model, ct in ContentType.objects.get_for_models(*SIGNED.values(), for_concrete_models=True).items()}
    rows = list(Signature.objects.filter(pk__in=wanted or [0]).order_by("id"))
    for r in rows:
        r.key = types.get(r.content_type_id, "")
    signed: dict[str, dict[int, Model]] = {}
    for key, model in SIGNED.items():
        ids = [r.object_id for r in rows if r.key == key]
        pid = F("patient_id") if model is not EscalationDecision else Value(None, output_field=IntegerField())
        signed[key] = {rec.pk: rec for rec in model.objects.filter(pk__in=ids or [0]).annotate(pid=pid)}
    return rows, signed


def _key_of(model: type[Model]) -> str:
    return next(k for k, m in SIGNED.items() if m is model)


def _rows(key: str, wanted: set[int]) -> list:
    """One query: the history rows of record type `key` a page shows or diffs against, with their patient (`pid`)."""
    model, path = RECORDS[key]
    pid = F(path) if path else Value(None, output_field=IntegerField())
    rows = model.history.filter(history_id__in=wanted or [0]).annotate(pid=pid)  # [0]: a query even when the page has none
    return list(rows.select_related("history_user").order_by("history_id"))


class _Names:
    """The clinical names of a page's records, from their history rows and a few batched reads of their related rows."""

    def __init__(self, trial: Trial, rows: dict[str, list]):
        def ids(keys: tuple[str, ...], attr: str) -> set[int]:
            return {getattr(r, attr) for k in keys for r in rows.get(k, []) if getattr(r, attr, None)}

        pids = {r.pid for rs in rows.values() for r in rs if r.pid}
        # `or [0]`: a query even when nothing is asked, so every page of the trail costs the same queries
        self.study_ids = dict(Patient.objects.filter(pk__in=pids or [0]).values_list("pk", "study_id"))
        self.cycles = dict(
            Cycle.objects.filter(pk__in=ids(("planned_dose", "administration", "modification", "visit"), "cycle_id")).values_list("pk", "number")
        )
        self.drugs = dict(Drug.objects.filter(trial=trial).values_list("pk", "name"))
        self.levels = dict(DoseLevel.objects.filter(trial=trial).values_list("pk", "label"))
        self.terms = trial_terminology(trial)  # read once per process
        people = User.objects.values_list("pk", "first_name", "last_name", "username")
        self.users = {pk: (f"{first} {last}".strip() or username) for pk, first, last, username in people}
        self.usernames = {pk: username for pk, *_, username in people}

    def by_name(self, model, changes: tuple[FieldChange, ...]) -> tuple[FieldChange, ...]:
        """Foreign keys as a monitor reads them (a user's name, a drug, a level, a cycle); links the record's own name
        already gives (its patient, trial, cycle's parent rows) are left out rather than shown as ids."""
        _, targets = _labels(model)
        lookups: dict[type[Model], dict] = {
            User: self.users,
            Drug: self.drugs,
            DoseLevel: self.levels,
            Cycle: {k: f"cycle {v}" for k, v in self.cycles.items()},
        }
        out = []
        for c in changes:
            target = targets.get(c.field)
            if target is None:
                out.append(c)
            elif target in lookups:
                table = lookups[target]

                def show(value, table=table):
                    return None if value is None else str(table.get(int(value), "another record"))

                out.append(FieldChange(c.field, show(c.old), show(c.new)))
        return tuple(out)

    def _term(self, code: str) -> str:
        try:
            return self.terms.term(code).name
        except CtcaeError:
            return code

    def _dose(self, r) -> str:
        return f"Cycle {self.cycles.get(r.cycle_id, '?')} {self.drugs.get(r.drug_id, 'drug').lower()} day {r.day}"

    def name(self, key: str, r) -> str:
        """What a monitor calls the record: "ANC 2026-11-07", "Cycle 2 bendamustine day 1", "Cohort 3 at level 2"."""
        names = {
            "patient": lambda: "Patient",
            "enrolment": lambda: f"Enrolment on {r.enrolled_on.isoformat()}",
            "cycle": lambda: f"Cycle {r.number}",
            "planned_dose": lambda: f"{self._dose(r)}, planned",
            "administration": lambda: f"{self._dose(r)}, {r.get_status_display().lower()}",
            "modification": lambda: f"{r.get_kind_display()} from {r.effective_on.isoformat()} (cycle {self.cycles.get(r.cycle_id, '?')})",
            "visit": lambda: f"{r.get_kind_display()} visit {r.expected_on.isoformat()}",
            "off_treatment": lambda: f"Off treatment {r.decided_on.isoformat()}",
            "adverse_event": lambda: f"{self._term(r.term)} grade {r.grade}, onset {r.onset.isoformat()}",
            "lab": lambda: f"{', '.join(v for k, v in LABS.items() if getattr(r, k) is not None) or 'Labs'} {r.on.isoformat()}",
            "conmed": lambda: f"{r.drug} ({r.get_category_display() if r.category != 'other' else 'concomitant medication'}) from {r.start.isoformat()}",
            "dlt_proposal": lambda: f"DLT proposal {r.rule} from {r.onset.isoformat()}",
            "dlt": lambda: f"DLT {r.rule} from {r.onset.isoformat()}",
            "assessment": lambda: f"Myeloma assessment {r.on.isoformat()}",
            "follow_up": lambda: "Follow-up",
            "cohort": lambda: f"Cohort {r.number} at level {self.levels.get(r.level_id, '?')}",
            "decision": lambda: (
                f"Escalation decision {r.action}"
                + (f" at level {self.levels.get(r.level_id)}" if r.level_id else "")
                + f", proposed {timezone.localtime(r.proposed_at).date().isoformat()}"
            ),
        }
        text = names[key]()
        study_id = self.study_ids.get(r.pid, "") if r.pid else ""
        return f"{text}, {study_id}" if study_id and key != "patient" else (f"Patient {study_id}" if key == "patient" else text)

    def url(self, key: str, r, trial: Trial) -> str:
        if key in ("cohort", "decision"):
            return reverse("trial_escalation", args=[trial.code])
        study_id = self.study_ids.get(r.pid) if r.pid else None
        return reverse(PAGES[key], args=[study_id]) if study_id else ""


def _labels(model) -> tuple[dict[str, str], dict[str, type[Model]]]:
    """A model's field labels by name and by label, and its foreign keys' targets by label."""
    labels = {f.name: str(f.verbose_name) for f in model._meta.fields}
    targets = {str(f.verbose_name): f.related_model for f in model._meta.fields if f.is_relation and f.related_model is not None}
    return labels, targets


def _created(model, values, rec, names: _Names) -> tuple[FieldChange, ...]:
    """A created record's values (empty fields left out), foreign keys by name."""
    labels, _ = _labels(model)
    return names.by_name(model, tuple(FieldChange(labels.get(n, n), None, v) for n, v in values(rec) if v is not None))


def trail_page(
    trial: Trial,
    *,
    patient: Patient | None = None,
    user: User | None = None,
    record_types: list[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    visible_patients=None,
    cursor: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """The `limit` newest entries after `cursor`: one query per record type plus a few to name them, whatever the trial's size."""
    keys = [k for k in KINDS if not record_types or k in record_types]
    visible = visible_patients if visible_patients is not None else Patient.objects.filter(trial=trial).values("pk")
    found = {
        key: (_signature_keys if key == SIGNATURE else _keys)(
            *((trial, visible) if key == SIGNATURE else (key, trial, visible)),
            patient=patient,
            user=user,
            since=since,
            until=until,
            cursor=cursor,
            limit=limit + 1,
        )
        for key in keys
    }
    newest = sorted(((when, ORDER[k], hid, prev, k) for k, rs in found.items() for when, hid, prev in rs), reverse=True)
    more = len(newest) > limit
    newest = newest[:limit]
    wanted: dict[str, set[int]] = {k: set() for k in keys}
    for _, _, hid, prev, k in newest:
        wanted[k].update((hid, prev) if prev else (hid,))
    # one query per record type, whatever the page holds
    rows = {k: _rows(k, ids) for k, ids in wanted.items() if k != SIGNATURE}
    signatures, signed = _signature_rows(wanted[SIGNATURE]) if SIGNATURE in wanted else ([], {})
    by_id = {(k, r.history_id): r for k, rs in rows.items() for r in rs} | {(SIGNATURE, s.pk): s for s in signatures}
    heads = [(when, order, hid, k, by_id[k, hid]) for when, order, hid, _, k in newest]
    named = {k: [r for *_, key, r in heads if key == k] for k in keys if k != SIGNATURE}
    for k, records in signed.items():
        named[k] = [*named.get(k, []), *records.values()]
    names = _Names(trial, named)
    differs = {k: (history_differ(RECORDS[k][0]), _values(RECORDS[k][0])) for k in keys if k != SIGNATURE}
    entries = []
    for _, _, _, key, rec in heads:
        if key == SIGNATURE:
            entries.append(_signature_entry(rec, signed, names, trial))
            continue
        model = RECORDS[key][0]
        differ, values = differs[key]
        created = rec.history_type == "+"
        changes = _created(model, values, rec, names) if created else names.by_name(model, tuple(differ(rec, _previous(rows[key], rec))))
        who = rec.history_user
        entries.append(
            Entry(
                when=rec.history_date,
                who=(who.get_full_name() or who.username) if who else "system",
                username=who.username if who else "",
                record_type=key,
                record=names.name(key, rec),
                url=names.url(key, rec, trial),
                object_id=rec.id,
                history_id=rec.history_id,
                patient=names.study_ids.get(rec.pid, "") if rec.pid else "",
                action=ACTIONS.get(rec.history_type, rec.history_type),
                reason=rec.history_change_reason or "",
                changes=changes,
            )
        )
    return Page(entries, entries[-1].cursor if more and entries else "")


def _signature_entry(sig: Signature, signed: dict[str, dict[int, Model]], names: _Names, trial: Trial) -> Entry:
    """A signature as a monitor reads it: the signer's printed name (as signed, 21 CFR 11.50), the date-time, its
    meaning, and the record signed by its clinical name with the link to its page."""
    record = signed.get(sig.key, {}).get(sig.object_id)
    return Entry(
        when=sig.signed_at,
        who=sig.signer_name,
        username=names.usernames.get(sig.signer_id, ""),
        record_type=SIGNATURE,
        record=names.name(sig.key, record) if record is not None else "A record no longer in the trial",
        url=names.url(sig.key, record, trial) if record is not None else "",
        object_id=sig.object_id,
        history_id=sig.pk,
        patient=names.study_ids.get(record.pid, "") if record is not None and record.pid else "",
        action=SIGNED_ACTION,
        reason="",
        changes=(FieldChange("meaning", None, sig.meaning),),
    )


def _previous(rows: list, rec):
    """The version of the same object just before `rec` among the rows read (its previous version is always among them)."""
    before = [r for r in rows if r.id == rec.id and r.history_id < rec.history_id]
    return max(before, key=lambda r: r.history_id) if before else None


def _values(model):
    """A function of a history row: (field, value as the differ shows it) of every field of the record."""
    skip = {"id", "history_id", "history_date", "history_change_reason", "history_type", "history_user", "history_relation"}
    fields = [f for f in model._meta.fields if f.name not in skip]

    def values(rec) -> list[tuple[str, str | None]]:
        out = []
        for f in fields:
            value = getattr(rec, f.attname)
            if f.choices:
                value = dict(f.choices).get(value, value)
            if isinstance(value, bool):
                value = "yes" if value else "no"
            out.append((f.name, display_value(value) if value not in ([], {}) else None))
        return out

    return values


def trail(trial: Trial, *, batch: int = 500, **filters) -> Iterator[Entry]:
    """Every entry that matches, newest first, a page of `batch` at a time (the CSV export: constant memory)."""
    cursor = None
    while True:
        page = trail_page(trial, cursor=cursor, limit=batch, **filters)
        yield from page.entries
        cursor = Cursor.parse(page.older)
        if cursor is None:
            return


def csv_rows(entries) -> Iterator[str]:
    """The trail as CSV text (exports.csv_stream): one line per changed field (a creation, one per value)."""
    header = ["when", "user", "record_type", "record", "record_id", "patient", "action", "field", "old", "new", "reason"]
    rows = (
        [e.when.isoformat(), e.username or "system", e.record_type, e.record, e.object_id, e.patient, e.action, c.field, c.old or "", c.new or "", e.reason]
        for e in entries
        for c in e.changes or (FieldChange("", None, None),)
    )
    return csv_stream(header, rows)
