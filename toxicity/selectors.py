"""Reads for toxicity: the DLT rules' inputs, the safety tab, the investigators' review queue."""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db.models import Case, F, IntegerField, OuterRef, Q, QuerySet, Subquery, When
from django.http import Http404

from accounts.models import User
from cohorts import selectors as cohort_selectors
from cohorts.models import Patient
from dosing.models import Cycle, DoseModification, OffTreatment, PlannedDose, Visit
from trialsite.models import Signature

from . import ctcae, dlt
from .models import AdverseEvent, ConMed, CtcaeTerm, Dlt, DltEvaluation, DltProposal, LabResult

OPEN_PROPOSALS = (DltProposal.Status.PROPOSED, DltProposal.Status.REOPENED)


# ---------------------------------------------------------------- the CTCAE terminology

_TERMINOLOGIES: dict[str, ctcae.Terminology] = {}
_TERMINOLOGIES_LOCK = threading.Lock()


def terminology(version: str) -> ctcae.Terminology:
    """A CTCAE version's terms from the table, indexed in memory once per process (one query, the first time).
    An empty version is not kept, so a table loaded later is read then; `ctcae_load` forgets what it changed."""
    found = _TERMINOLOGIES.get(version)
    if found is not None:
        return found
    rows = CtcaeTerm.objects.filter(version=version).values_list("meddra_code", "term", "soc", "grades", "grade_texts")
    terms = [
        ctcae.Term(code, name, soc, tuple(int(g) for g in grades), {int(g): t for g, t in (texts or {}).items()}) for code, name, soc, grades, texts in rows
    ]
    found = ctcae.Terminology(version, terms)
    if terms:
        with _TERMINOLOGIES_LOCK:
            _TERMINOLOGIES[version] = found
    return found


def terminology_forget(version: str | None = None) -> None:
    with _TERMINOLOGIES_LOCK:
        if version is None:
            _TERMINOLOGIES.clear()
        else:
            _TERMINOLOGIES.pop(version, None)


def trial_terminology(trial) -> ctcae.Terminology:
    return terminology(trial.ctcae_version)


# ---------------------------------------------------------------- the rules' inputs


def dlt_windows(patient_ids: list[int]) -> dict[int, dlt.PatientWindow]:
    """The DLT rules' input for each patient who has started cycle 1: seven queries whatever the number.
    Each event's supportive care is its own flags and the conmeds linked to it (toxicity.dlt.with_conmeds)."""
    patients = {
        pid: (anc, plt, marrow, window, length)
        for pid, anc, plt, marrow, window, length in Patient.objects.filter(pk__in=patient_ids).values_list(
            "pk", "baseline_anc", "baseline_platelets", "baseline_marrow_pc_pct", "trial__dlt_window_days", "trial__cycle_length_days"
        )
    }
    cycles: dict[int, dict[int, tuple[date, date]]] = defaultdict(dict)
    for pid, number, planned, day1 in Cycle.objects.filter(patient_id__in=patient_ids, number__in=(1, 2)).values_list(
        "patient_id", "number", "planned_day1", "day1"
    ):
        cycles[pid][number] = (planned, day1)
    events = _rule_events(patient_ids)
    conmeds = _rule_conmeds(patient_ids)
    labs = _rule_labs(patient_ids)
    mods = _rule_modifications(patient_ids)
    stops = {pid: (on, reason) for pid, on, reason in OffTreatment.objects.filter(patient_id__in=patient_ids).values_list("patient_id", "decided_on", "reason")}
    out = {}
    for pid, (anc, plt, marrow, window_days, length) in patients.items():
        c = cycles.get(pid, {})
        if 1 not in c:
            continue
        day1 = c[1][1]
        c2_planned, c2_given = c[2] if 2 in c else (day1 + timedelta(days=length), None)
        stopped_on, stopped_reason = stops.get(pid, (None, None))
        out[pid] = dlt.PatientWindow(
            cycle1_day1=day1,
            baseline_anc=anc,
            baseline_platelets=plt,
            baseline_marrow_pct=marrow,
            events=dlt.with_conmeds(events.get(pid, ()), conmeds.get(pid, ())),
            conmeds=tuple(conmeds.get(pid, ())),
            labs=tuple(labs.get(pid, ())),
            modifications=tuple(mods.get(pid, ())),
            c2d1_planned=c2_planned,
            c2d1_given=c2_given,
            stopped_on=stopped_on,
            stopped_reason=stopped_reason,
            window_days=window_days,
        )
    return out


def _rule_events(patient_ids: list[int]) -> dict[int, list[dlt.AdverseEvent]]:
    """Each patient's current adverse events (not entered in error) as the rules read them, by onset: one query."""
    events: dict[int, list[dlt.AdverseEvent]] = defaultdict(list)
    rows = AdverseEvent.objects.filter(patient_id__in=patient_ids, in_error=False).values_list(
        "patient_id",
        "pk",
        "term",
        "ctcae_version",
        "verbatim",
        "grade",
        "onset",
        "resolved",
        "attribution",
        "progression",
        "supportive",
        "with_pain",
        "event_id",
    )
    for pid, pk, term, version, verbatim, grade, onset, resolved, attribution, progression, supportive, pain, event_id in rows.order_by("onset", "pk"):
        t = terminology(version).by_code.get(term)
        name = t.name if t else term
        events[pid].append(
            dlt.AdverseEvent(
                id=pk,
                term=term,
                name=f"{name}: {verbatim}" if verbatim else name,
                kind=t.kind if t else ctcae.Kind.OTHER,
                grade=grade,
                onset=onset,
                resolved=resolved,
                attribution=attribution or {},
                progression=progression,
                supportive=frozenset(supportive or ()),
                with_pain=pain,
                event=event_id or pk,
            )
        )
    return events


def _rule_conmeds(patient_ids: list[int]) -> dict[int, list[dlt.ConMed]]:
    """Each patient's current supportive-care conmeds linked to current events, as the rules read them: one query
    (on the links; a conmed linked to no event gives no event its supportive care)."""
    links = ConMed.adverse_events.through.objects.filter(
        conmed__patient_id__in=patient_ids, conmed__in_error=False, adverseevent__in_error=False, conmed__category__in=dlt.SUPPORTIVE_VALUES
    ).values_list(
        "conmed_id",
        "conmed__patient_id",
        "conmed__category",
        "conmed__start",
        "conmed__stop",
        "adverseevent_id",
        "adverseevent__event_id",
        "conmed__drug",
        "conmed__dose",
        "conmed__dose_unit",
    )
    found: dict[int, tuple[int, str, date, date | None, set[int], str]] = {}
    for cid, pid, category, start, stop, ae_id, root, drug, dose, unit in links.order_by("conmed_id"):
        name = " ".join(str(v) for v in (drug, format(dose.normalize(), "f") if dose is not None else None, unit) if v not in (None, ""))
        found.setdefault(cid, (pid, category, start, stop, set(), name))[4].add(root or ae_id)
    out: dict[int, list[dlt.ConMed]] = defaultdict(list)
    for cid, (pid, category, start, stop, roots, name) in found.items():
        out[pid].append(dlt.ConMed(category=category, start=start, stop=stop, events=frozenset(roots), id=cid, drug=name))
    return out


def _rule_labs(patient_ids: list[int]) -> dict[int, list[dlt.LabValue]]:
    """Each patient's lab panels as the rules read them, by date: one query."""
    labs: dict[int, list[dlt.LabValue]] = defaultdict(list)
    for pid, on, anc, plt, temp in (
        LabResult.objects.filter(patient_id__in=patient_ids).values_list("patient_id", "on", "anc", "platelets", "temperature").order_by("on")
    ):
        labs[pid].append(dlt.LabValue(on=on, anc=anc, platelets=plt, temperature=temp))
    return labs


def _rule_modifications(patient_ids: list[int]) -> dict[int, list[dlt.Modification]]:
    """Each patient's cycle 1 dose modifications as the rules read them, by effective date: one query."""
    mods: dict[int, list[dlt.Modification]] = defaultdict(list)
    mod_rows = DoseModification.objects.filter(patient_id__in=patient_ids, cycle__number=1).values_list(
        "patient_id", "pk", "effective_on", "kind", "in_cycle_1", "adverse_event_id"
    )
    for pid, pk, on, kind, in_c1, event_id in mod_rows.order_by("effective_on", "pk"):
        mods[pid].append(dlt.Modification(id=pk, on=on, kind=kind, in_cycle_1=in_c1, event_id=event_id))
    return mods


def patients_in_window(today: date) -> QuerySet:
    """Patients the nightly run re-evaluates: cycle 1 started and the DLT evaluation not yet final
    (never evaluated, pending, or pending past its date), with the proposals or of the window alone
    (a patient with a proposal is evaluable, but the escalation engine reads the window once it is rejected)."""
    done = [DltEvaluation.Status.EVALUABLE, DltEvaluation.Status.NOT_EVALUABLE]
    final = DltEvaluation.objects.filter(status__in=done, window_status__in=done)
    return Patient.objects.filter(cycles__number=1).exclude(pk__in=final.values("patient_id")).values_list("pk", flat=True).order_by("pk")


def patients_under_other_rules() -> QuerySet:
    """Patients whose stored DLT evaluation was made under another version of the rules (toxicity.dlt.RULE_VERSION):
    the nightly run evaluates them again, final or not, in one query (rows stored before versions are version 1)."""
    return DltEvaluation.objects.exclude(rule_version=dlt.RULE_VERSION).values_list("patient_id", "patient__trial_id").order_by("patient_id")


# ---------------------------------------------------------------- the safety tab


@dataclass
class LabRow:
    lab: LabResult
    grades: dict[str, int]
    cycle1_day: int | None = None  # day of cycle 1 (1-28) when the sample falls in the DLT window
    visit: str = ""  # the treatment visit of that date (cycle n day d), if any


@dataclass
class EventRow:
    event_id: int
    term: str
    name: str
    soc: str
    episodes: list[AdverseEvent]

    @property
    def worst(self) -> int:
        return max((e.grade for e in self.episodes if not e.in_error), default=0)


@dataclass
class Safety:
    patient: Patient
    events: list[EventRow]
    labs: list[LabRow]
    proposals: list[DltProposal]
    dlts: list[Dlt]
    evaluation: DltEvaluation | None
    window: dlt.PatientWindow | None
    today: date
    drugs: list[str] = field(default_factory=list)
    conmeds: list[ConMed] = field(default_factory=list)

    @property
    def conmeds_by_event(self) -> dict[int, list[ConMed]]:
        """The current conmeds linked to each adverse event episode (by its id)."""
        out: dict[int, list[ConMed]] = defaultdict(list)
        for c in self.conmeds:
            if not c.in_error:
                for e in c.adverse_events.all():
                    out[e.pk].append(c)
        return dict(out)

    @property
    def open_proposals(self) -> list[DltProposal]:
        return [p for p in self.proposals if p.status in OPEN_PROPOSALS]


def lab_grades(lab: LabResult) -> dict[str, int]:
    out = {}
    for name, grader in ctcae.GRADERS.items():
        value = getattr(lab, name)
        if value is not None:
            out[name] = grader(Decimal(value))
    return out


def safety_overview(patient: Patient, *, today: date) -> Safety:
    """Everything the safety tab draws, in a fixed number of queries."""
    aes = list(AdverseEvent.objects.filter(patient=patient).select_related("entered_by").order_by("onset", "pk"))
    grouped: dict[int, EventRow] = {}
    for ae in aes:
        root = ae.event_id or ae.pk
        if root not in grouped:
            grouped[root] = EventRow(root, ae.term, ae.term_name, ae.soc, [])
        grouped[root].episodes.append(ae)
    window = dlt_windows([patient.pk]).get(patient.pk)
    visits = {}
    for number, day, expected, done in Visit.objects.filter(patient=patient, kind=Visit.Kind.TREATMENT).values_list(
        "cycle__number", "day", "expected_on", "done_on"
    ):
        visits.setdefault(done or expected, f"C{number}D{day}")
    labs = [
        LabRow(lab, lab_grades(lab), (lab.on - window.cycle1_day1).days + 1 if window and window.in_window(lab.on) else None, visits.get(lab.on, ""))
        for lab in LabResult.objects.filter(patient=patient).order_by("on")
    ]
    proposals = list(DltProposal.objects.filter(patient=patient).select_related("adjudicated_by").exclude(status=DltProposal.Status.WITHDRAWN))
    dlts = list(Dlt.objects.filter(patient=patient).select_related("confirmed_by", "proposal"))
    evaluation = DltEvaluation.objects.filter(patient=patient).first()
    safety = Safety(patient, list(grouped.values()), labs, proposals, dlts, evaluation, window, today, conmeds=list(patient_conmeds(patient)))
    linked = safety.conmeds_by_event
    for ae in aes:
        ae.linked_conmeds = linked.get(ae.pk, [])  # the AE table's supportive care column
    return safety


def patient_conmeds(patient: Patient) -> QuerySet[ConMed]:
    """The patient's concomitant medications (retracted ones too) with the events they treat: two queries."""
    return ConMed.objects.filter(patient=patient).select_related("entered_by").prefetch_related("adverse_events").order_by("start", "pk")


def event_conmeds(ae: AdverseEvent) -> QuerySet[ConMed]:
    """The current conmeds linked to any episode of an adverse event's event."""
    root = ae.event_id or ae.pk
    return ConMed.objects.filter(Q(adverse_events__pk=root) | Q(adverse_events__event_id=root), in_error=False).distinct().order_by("start", "pk")


# ---------------------------------------------------------------- the investigators' queue


def review_queue(user: User) -> QuerySet[DltProposal]:
    """Proposals awaiting an investigator (proposed, or reopened because the data behind them changed)."""
    visible = cohort_selectors.patients_for_user(user)
    return (
        DltProposal.objects.filter(status__in=OPEN_PROPOSALS, patient__in=visible.values("pk"))
        .select_related("patient__site", "patient__dlt_evaluation", "patient__enrolment__level", "adjudicated_by")
        .order_by("proposed_at", "pk")
    )


REVIEW_PAGE = 10  # an investigator adjudicates one proposal at a time, each with its evidence table


@dataclass(frozen=True)
class ReviewPage:
    proposals: list[DltProposal]
    total: int  # counted in SQL
    after: str  # the cursor of the next page, or ""


def review_queue_page(user: User, after: str | None = None, size: int | None = None) -> ReviewPage:
    """A page of the queue, oldest first, after the cursor "<proposed_at>~<pk>" of the previous page's last proposal
    (keyset: a page costs the same however long the queue); a cursor that does not parse gives the first page."""
    size = size or REVIEW_PAGE
    queue = review_queue(user)
    total = queue.count()
    when, _, pk = (after or "").partition("~")
    try:
        since = datetime.fromisoformat(when)
    except ValueError:
        since = None
    if since is not None and since.tzinfo is not None and pk.isascii() and pk.isdecimal() and len(pk) <= 18:
        queue = queue.filter(Q(proposed_at__gt=since) | Q(proposed_at=since, pk__gt=int(pk)))
    rows = list(queue[: size + 1])
    last = rows[size - 1] if len(rows) > size else None
    shown = rows[:size]
    attach_proposal_signatures(shown)
    return ReviewPage(shown, total, f"{last.proposed_at.isoformat()}~{last.pk}" if last else "")


def attach_proposal_signatures(proposals: list[DltProposal]) -> None:
    """Each proposal's past signatures, oldest first, as `signatures`: its own (a rejection) and those of the DLT
    it became (confirmed, withdrawn, confirmed again after reopening), so a reopened proposal's card shows what
    was signed before. One query whatever the number of proposals (trialsite.signatures wrote them)."""
    ids = [p.pk for p in proposals]
    cts = ContentType.objects.get_for_models(DltProposal, Dlt)
    proposal_of = Case(
        When(content_type=cts[Dlt], then=Subquery(Dlt.objects.filter(pk=OuterRef("object_id")).values("proposal_id")[:1])),
        default=F("object_id"),
        output_field=IntegerField(),
    )
    mine = Q(content_type=cts[DltProposal], object_id__in=ids) | Q(content_type=cts[Dlt], object_id__in=Dlt.objects.filter(proposal_id__in=ids).values("pk"))
    signed: dict[int, list[Signature]] = defaultdict(list)
    for sig in Signature.objects.filter(mine).annotate(proposal=proposal_of).order_by("signed_at", "id") if ids else []:
        signed[sig.proposal].append(sig)
    for p in proposals:
        p.signatures = signed.get(p.pk, [])


def dlts_for_user(user: User) -> QuerySet[Dlt]:
    visible = cohort_selectors.patients_for_user(user)
    return Dlt.objects.filter(patient__in=visible.values("pk")).select_related("patient", "confirmed_by", "proposal").order_by("onset", "pk")


def recent_adjudications(user: User, limit: int = 20) -> QuerySet[DltProposal]:
    visible = cohort_selectors.patients_for_user(user)
    return (
        DltProposal.objects.filter(Q(status=DltProposal.Status.CONFIRMED) | Q(status=DltProposal.Status.REJECTED), patient__in=visible.values("pk"))
        .select_related("patient", "adjudicated_by")
        .order_by("-adjudicated_at")[:limit]
    )


# ---------------------------------------------------------------- a visit day


@dataclass
class VisitDay:
    """What the visit page shows: the visit, its window, the doses scheduled that day with what is recorded,
    the panel of the visit's date and the patient's open adverse events."""

    visit: Visit
    window: tuple[date, date]
    doses: list  # (PlannedDose, Administration | None)
    lab: LabResult | None
    open_events: list[AdverseEvent]
    other_visits: list[Visit]


def visit_get_for_user(user: User, pk: int) -> Visit:
    """A visit of a patient the user may see (404 otherwise, the same answer for another site)."""
    visible = cohort_selectors.patients_for_user(user)
    visit = Visit.objects.select_related("patient__site", "patient__trial", "cycle").filter(pk=pk, patient__in=visible.values("pk")).first()
    if visit is None:
        raise Http404("No such visit")
    return visit


def visit_day(visit: Visit) -> VisitDay:
    """The visit page's reads: a fixed number of queries whatever the number of patients, cycles or visits."""
    doses: list = []
    if visit.cycle_id is not None and visit.day is not None:
        planned = list(PlannedDose.objects.filter(cycle_id=visit.cycle_id, day=visit.day).select_related("drug").order_by("drug__order"))
        given = {a.planned_id: a for a in visit.cycle.administrations.filter(day=visit.day, planned__isnull=False)}
        doses = [(p, given.get(p.pk)) for p in planned]
    on = visit.done_on or visit.expected_on
    lab = LabResult.objects.filter(patient_id=visit.patient_id, on=on).first()
    events = list(AdverseEvent.objects.filter(patient_id=visit.patient_id, in_error=False, resolved__isnull=True).order_by("-onset")[:20])
    others = list(Visit.objects.filter(patient_id=visit.patient_id, cycle_id=visit.cycle_id).order_by("expected_on")) if visit.cycle_id else []
    window = (visit.expected_on - timedelta(days=visit.window_days), visit.expected_on + timedelta(days=visit.window_days))
    return VisitDay(visit=visit, window=window, doses=doses, lab=lab, open_events=events, other_visits=others)


def missed_dlt_evidence(patient: Patient, rule: str, *, today: date) -> dlt.CriterionEvidence | None:
    """What the rules see for `rule` in the patient's DLT window (None before cycle 1 or for an unknown rule):
    the missed-DLT form shows it, and asks for an explicit confirmation when it does not meet the criterion."""
    window = dlt_windows([patient.pk]).get(patient.pk)
    if window is None or rule not in dlt.RULE_TITLES:
        return None
    return dlt.criterion_evidence(window, rule, today=today)
