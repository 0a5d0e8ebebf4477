"""The demo trial of `make run`: a BPD trial in progress, written day by day through the product's services.

Twenty patients at two sites (twelve enrolled, five screen failures, three in screening), dated relative to
`today`. What a site and a sponsor would have entered over six months is replayed in date order, each write
with that day as its `today`: registration, enrolment, cycles, every dose, visits, labs, adverse events,
myeloma assessments, stops and follow-up (by the site coordinators); DLT adjudication and the escalation
decisions (by the investigator, who signs the engine's proposals with their password); queries and a cycle
lock (by the data manager). Derived results are never written here: on the days someone reviews, the
pipeline (pipeline.flow.drain, and nightly for what time alone changes) computes them as it would on site.

The story (protocol s.2-s.4):
- level 1: 3 patients, no DLT -> escalate (E0of3), signed;
- level 2: 3 patients, one febrile neutropenia (H1) confirmed by the investigator -> expand to 6 (E1of3),
  signed; 3 more without DLT -> 1 of 6, escalate (E1of6), signed;
- level 3: 3 patients in their DLT window today, one with an H2 proposal awaiting adjudication: the engine
  waits and enrolment is on hold;
- responses from the assessments (IMWG): CR, VGPR, PR, MR, SD, a PR that progresses (off treatment, next
  therapy) and a primary progression;
- queries: one closed, one answered, three open; patient 01-001's cycle 1 locked.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from accounts.models import Site, User
from cohorts.models import DoseLevel, Patient, Trial
from cohorts.services import patient_change_status, patient_enroll, patient_register
from cohorts.status import PatientStatus
from datamanagement.models import DataQuery
from datamanagement.quality import cycle_lock, query_answer, query_close, query_raise
from dosing.models import Cycle, DoseModification, PlannedDose, Visit
from dosing.services import DoseEntry, administrations_record, cycle_start, dose_modify, patient_off_treatment, visit_record
from escalation.models import EscalationDecision
from escalation.services import decision_sign
from pipeline.flow import drain, nightly
from response.services import assessment_record, followup_record
from toxicity.ctcae import meddra
from toxicity.models import AdverseEvent, DltProposal, LabResult
from toxicity.services import ae_record, ae_update, dlt_confirm, lab_record


class DemoError(Exception):
    """The demo cannot be written (the trial does not follow the story)."""


@dataclass(frozen=True)
class Person:
    key: str  # how the story names the patient
    site: str
    initials: str
    born: date
    sex: str
    height: str
    weight: str
    consent: int  # days before today
    anc: str = "2.10"
    platelets: str = "185"
    marrow: str = "30"
    eligible: bool = True
    enrol: int | None = None  # days before today
    day1: int | None = None  # cycle 1 day 1, days before today
    stop: tuple[int, str] | None = None  # (cycle that is not started, off-treatment reason): decided on its planned day 1
    course: tuple = ()  # myeloma assessments: baseline, then each cycle day 1 from cycle 2 (see _values)
    isotype: str = "IgG kappa"


# Serum M-protein g/dL and urine mg/24 h per assessment; dicts add immunofixation or marrow results.
NEG = {"serum_ife": False, "urine_ife": False, "upep": "0.0", "plasmacytoma": False}
PEOPLE = (
    # level 1 (cohort 1, opened when the protocol was loaded)
    Person(
        "L1a",
        "01",
        "JB",
        date(1954, 4, 11),
        "M",
        "176.0",
        "81.0",
        174,
        enrol=164,
        day1=160,
        course=(("3.20", "140"), ("1.45", "60"), ("1.10", "40"), ("0.28", "30"), ("0.22", "20"), ("0.20", "20")),
    ),
    Person(
        "L1b",
        "02",
        "MK",
        date(1961, 9, 2),
        "F",
        "164.0",
        "61.0",
        170,
        anc="1.90",
        platelets="162",
        enrol=161,
        day1=157,
        isotype="IgA lambda",
        course=(
            ("2.10", "80", {"marrow_pc": "40.0"}),
            ("0.95", "40"),
            ("0.40", "20"),
            ("0.12", "10"),
            ("0.00", "0", NEG | {"marrow_pc": "2.0", "marrow_clonal": True}),
            ("0.00", "0", NEG),
        ),
    ),
    Person("SF1", "01", "TW", date(1952, 1, 8), "M", "183.0", "90.1", 172, eligible=False),
    Person(
        "L1c",
        "01",
        "RB",
        date(1949, 12, 20),
        "M",
        "171.5",
        "77.0",
        167,
        anc="3.20",
        platelets="210",
        enrol=157,
        day1=153,
        stop=(6, "progression"),
        course=(("2.80", "120"), ("1.30", "50"), ("1.15", "40"), ("1.05", "40"), ("1.62", "60"), ("1.95", "80")),
    ),
    # level 2 (cohort 2, opened by the first signed decision)
    Person(
        "L2a",
        "02",
        "AS",
        date(1958, 6, 30),
        "F",
        "158.0",
        "55.4",
        130,
        anc="1.80",
        platelets="150",
        enrol=121,
        day1=118,
        course=(("2.40", "90"), ("2.15", "80"), ("2.05", "80"), ("1.98", "70"), ("2.02", "70")),
    ),
    Person(
        "L2b",
        "01",
        "DL",
        date(1957, 2, 17),
        "M",
        "180.0",
        "88.0",
        127,
        enrol=119,
        day1=114,
        isotype="IgG lambda",
        course=(("4.10", "150"), ("1.90", "60"), ("1.70", "50"), ("1.55", "40"), ("1.50", "40")),
    ),
    Person("SF2", "02", "BC", date(1948, 11, 3), "F", "160.0", "58.0", 125, eligible=False),
    Person(
        "L2c",
        "02",
        "EH",
        date(1963, 7, 25),
        "F",
        "168.0",
        "70.5",
        124,
        enrol=117,
        day1=111,
        isotype="IgA kappa",
        course=(("3.00", "110"), ("2.05", "90"), ("1.95", "80"), ("1.90", "80")),
    ),
    Person("SF3", "01", "FO", date(1950, 5, 14), "M", "174.0", "79.0", 100, eligible=False),
    # level 2 expansion (cohort 3, opened by the second signed decision)
    Person("L2d", "01", "GN", date(1955, 10, 9), "M", "178.0", "84.0", 88, enrol=80, day1=77, course=(("2.60", "100"), ("1.25", "50"), ("1.05", "40"))),
    Person("L2e", "02", "HP", date(1960, 3, 28), "F", "162.0", "64.0", 85, enrol=78, day1=74, course=(("1.80", "70"), ("1.70", "70"), ("1.75", "70"))),
    Person(
        "L2f",
        "01",
        "KL",
        date(1953, 8, 1),
        "M",
        "185.0",
        "92.0",
        83,
        enrol=76,
        day1=71,
        stop=(3, "progression"),
        course=(("2.20", "90"), ("2.80", "120"), ("3.05", "140")),
    ),
    Person("SF4", "02", "LR", date(1946, 12, 12), "M", "170.0", "68.0", 60, eligible=False),
    # level 3 (cohort 4, opened by the third signed decision): in the DLT window today
    Person("L3a", "01", "JD", date(1956, 3, 14), "M", "178.0", "82.5", 38, enrol=30, day1=26, course=(("3.40", "150"),)),
    Person("L3b", "02", "NF", date(1962, 1, 19), "F", "166.0", "66.0", 32, enrol=24, day1=19, course=(("2.50", "100"),)),
    Person("SF5", "01", "ST", date(1951, 6, 6), "F", "155.0", "52.0", 16, eligible=False),
    Person("L3c", "02", "PW", date(1959, 9, 9), "M", "173.0", "76.0", 20, enrol=13, day1=9, course=(("1.90", "80"),)),
    # screening: enrolment at level 3 is on hold while its cohort is in the DLT window
    Person("S1", "01", "VA", date(1964, 2, 2), "F", "161.0", "59.0", 8),
    Person("S2", "02", "RM", date(1957, 4, 4), "M", "179.0", "86.0", 5),
    Person("S3", "01", "CE", date(1955, 12, 1), "M", "169.0", "73.0", 3),
)
OPENED_DAYS_AGO = 181  # the trial opened (cohort 1 at level 1) a week before the first consent
# The signed decisions: (days before today, action and level the engine must propose).
DECISIONS = ((123, "escalate", 2), (81, "expand", 2), (41, "escalate", 3))
ATTRIBUTION = {"bendamustine": "unlikely", "pomalidomide": "unlikely", "dexamethasone": "unrelated"}
# Ordinary low-grade events of the regimen (never a DLT: grade <= 2): term, grade, cycle day, days, related drugs.
ORDINARY = (
    ("Fatigue", 1, 5, 12, ("bendamustine", "pomalidomide")),
    ("Constipation", 1, 8, 10, ("pomalidomide",)),
    ("Nausea", 1, 2, 3, ("bendamustine",)),
    ("Insomnia", 1, 1, 4, ("dexamethasone",)),
    ("Neutrophil count decreased", 2, 15, 7, ("bendamustine", "pomalidomide")),
    ("Rash maculo-papular", 1, 9, 8, ("pomalidomide",)),
)
# JD at level 3 (the H2 story): ANC, platelets, hemoglobin, WBC, temperature by cycle-1 day. Pomalidomide is held
# from day 9 (ANC 0.8); ANC is below 0.5 from day 11 to day 19 despite G-CSF: 9 days, more than 7 (protocol s.3 H2).
JD_LABS = {
    1: ("2.10", "180", "12.8", "4.60", "36.6"),
    8: ("1.20", "121", "12.1", "2.90", "36.8"),
    9: ("0.80", "112", "11.9", "2.40", "36.9"),
    11: ("0.42", "96", "11.6", "1.60", "37.1"),
    13: ("0.31", "88", "11.4", "1.30", "37.0"),
    15: ("0.28", "84", "11.2", "1.20", "36.9"),
    17: ("0.35", "90", "11.3", "1.40", "37.2"),
    19: ("0.46", "101", "11.5", "1.80", "36.8"),
    20: ("0.90", "108", "11.6", "2.30", "36.7"),
    22: ("1.40", "126", "11.8", "3.10", "36.6"),
}
JD_NEUTROPENIA = ((9, 3, False), (11, 4, True), (20, 3, True), (22, 2, False))  # day, grade, G-CSF (grade changes are episodes)
JD_RELATED = {"bendamustine": "possible", "pomalidomide": "probable", "dexamethasone": "unlikely"}
# AS at level 2: febrile neutropenia on day 10, admitted; pomalidomide held days 10-15 (protocol s.3 H1).
AS_FEVER_DAY, AS_RESOLVED_DAY = 10, 15
AS_LABS = {8: ("1.10", "132", "11.0", "2.60", "36.9"), 10: ("0.62", "120", "10.8", "1.90", "38.9"), 12: ("0.85", "118", "10.6", "2.10", "37.6")}


@dataclass
class Story:
    trial: Trial
    today: date
    investigator_password: str
    datamanager_password: str
    events: list[tuple[date, int, int, Callable[[date], None]]] = field(default_factory=list)
    patients: dict[str, Patient] = field(default_factory=dict)
    cycles: dict[tuple[str, int], Cycle] = field(default_factory=dict)
    signed: list[EscalationDecision] = field(default_factory=list)
    seq: int = 0

    def __post_init__(self):
        self.coordinators = {u.site.number: u for u in User.objects.filter(username__in=["coord01", "coord02"]).select_related("site")}
        self.investigator = User.objects.get(username="investigator")
        self.datamanager = User.objects.get(username="datamanager")
        self.sites = {s.number: s for s in Site.objects.filter(number__in=["01", "02"])}
        self.drugs = {d.code: d for d in self.trial.drugs.all()}
        self.levels = {lv.label: lv for lv in DoseLevel.objects.filter(trial=self.trial)}

    # ------------------------------------------------------------ the calendar

    def on(self, days_ago: int, order: int, action: Callable[[date], None]) -> None:
        self.seq += 1
        heapq.heappush(self.events, (self.today - timedelta(days=days_ago), order, self.seq, action))

    def at(self, day: date, order: int, action: Callable[[date], None]) -> None:
        self.on((self.today - day).days, order, action)

    def run(self) -> None:
        for person in PEOPLE:
            self.person(person)
        for days_ago, action, level in DECISIONS:
            self.on(days_ago, 90, lambda d, a=action, lv=level: self.decide(d, a, lv))
        self.queries_and_lock()
        while self.events:  # in date order; an action may add later events (a stop schedules the follow-up)
            day, _, _, action = heapq.heappop(self.events)
            action(day)
        self.review(self.today)  # what the site sees this morning: every derived result current

    def review(self, day: date) -> None:
        """Someone opens the pages on `day`: the outbox is drained and the nightly run has passed (pipeline.flow)."""
        drain(today=day)
        nightly(today=day)

    # ------------------------------------------------------------ one patient

    def coordinator(self, p: Person) -> User:
        return self.coordinators[p.site]

    def person(self, p: Person) -> None:
        self.on(p.consent, 0, lambda d: self.register(p, d))
        if not p.eligible:
            self.on(p.consent - 4, 1, lambda d: self.screen_failure(p, d))
            return
        if p.enrol is None or p.day1 is None:
            return
        self.on(p.enrol, 2, lambda d: patient_enroll(patient=self.patients[p.key], by=self.coordinator(p), enrolled_on=d, today=d))
        if p.course:
            self.on(p.day1 + 3, 8, lambda d: self.assess(p, d, p.course[0]))
        number, day1 = 1, p.day1
        while day1 >= 0:
            if p.stop is not None and number == p.stop[0]:
                self.on(day1, 8, lambda d, v=p.course[number - 1]: self.assess(p, d, v))  # the assessment that confirms progression
                self.on(day1, 9, lambda d: self.stop(p, d))
                break
            self.cycle(p, number, day1)
            number, day1 = number + 1, day1 - self.trial.cycle_length_days

    def register(self, p: Person, day: date) -> None:
        criteria = self.trial.criteria_codes
        eligibility = dict.fromkeys(criteria, True) | ({} if p.eligible else {criteria[-1]: False})
        self.patients[p.key] = patient_register(
            trial=self.trial,
            site=self.sites[p.site],
            by=self.coordinator(p),
            initials=p.initials,
            date_of_birth=p.born,
            sex=p.sex,
            height_cm=Decimal(p.height),
            weight_kg=Decimal(p.weight),
            consent_date=day,
            eligibility=eligibility,
            baseline_anc=Decimal(p.anc),
            baseline_platelets=Decimal(p.platelets),
            baseline_marrow_pc_pct=Decimal(p.marrow),
            today=day,
        )

    def screen_failure(self, p: Person, day: date) -> None:
        patient = self.patients[p.key]
        note = "Exclusion criterion met at screening"
        patient_change_status(
            patient=patient, by=self.coordinator(p), to_status=PatientStatus.OFF_STUDY, reason_code="screen_failure", on_date=day, note=note, today=day
        )

    def cycle(self, p: Person, number: int, days_ago: int) -> None:
        """Day 1, the labs, the events, every dose and visit up to its end (or today), the assessment on its day 1."""
        self.on(days_ago, 3, lambda d: self.start(p, number, d))
        if number >= 2 and number - 1 < len(p.course):
            self.on(days_ago, 8, lambda d, v=p.course[number - 1]: self.assess(p, d, v))
        labs = self.labs_for(p, number)
        for day, panel in labs.items():
            if days_ago - (day - 1) >= 0:
                self.on(days_ago - (day - 1), 5, lambda d, v=panel: self.lab(p, d, v))
        if number == 1:
            self.cycle1_events(p, days_ago)
        end = max(days_ago - (self.trial.cycle_length_days - 1), 0)
        self.on(end, 7, lambda d: self.doses(p, number, d))

    def start(self, p: Person, number: int, day: date) -> None:
        patient = self.patients[p.key]
        patient.refresh_from_db()
        self.cycles[p.key, number] = cycle_start(patient=patient, by=self.coordinator(p), day1=day, weight_kg=patient.weight_kg, today=day)
        if p.key == "L2a" and number == 2:  # after the DLT, the investigator reduces AS to level 1 (protocol s.1)
            event = AdverseEvent.objects.get(patient=patient, term=meddra("Febrile neutropenia"))
            dose_modify(
                patient=patient,
                by=self.coordinator(p),
                kind=DoseModification.Kind.REDUCE_LEVEL,
                effective_on=day,
                reason="Febrile neutropenia in cycle 1 (DLT): continue at level 1",
                decided_by=self.investigator,
                to_level=self.levels[1],
                adverse_event=event,
                today=day,
            )

    def labs_for(self, p: Person, number: int) -> dict[int, tuple]:
        if p.key == "L3a":
            return JD_LABS if number == 1 else {}
        days = (1, 8, 15, 22) if number == 1 else (1,)
        rng = random.Random(f"{p.key}-{number}")
        panels = {
            day: (
                f"{rng.uniform(1.3, 3.4):.2f}",
                f"{rng.randint(110, 240)}",
                f"{rng.uniform(10.2, 13.4):.1f}",
                f"{rng.uniform(3.2, 7.5):.2f}",
                f"{rng.uniform(36.3, 37.1):.1f}",
            )
            for day in days
        }
        if p.key == "L2a" and number == 1:
            panels |= AS_LABS
        if p.key == "L3b" and number == 1:
            panels[8] = (*panels[8][:4], None)  # the temperature was not written down: a query asks for it
        if p.key == "L2e" and number == 3:
            panels[1] = (panels[1][0], panels[1][1], "9.1", *panels[1][3:])
        return panels

    def lab(self, p: Person, day: date, panel: tuple) -> None:
        anc, plt, hb, wbc, temp = panel
        lab_record(patient=self.patients[p.key], by=self.coordinator(p), on=day, anc=anc, platelets=plt, hemoglobin=hb, wbc=wbc, temperature=temp, today=day)

    def attribution(self, related: tuple[str, ...], level: str = "possible") -> dict[str, str]:
        return {code: (level if code in related else ATTRIBUTION.get(code, "unrelated")) for code in self.drugs}

    def cycle1_events(self, p: Person, day1_ago: int) -> None:
        if p.key == "L3a":
            self.jd_neutropenia(p, day1_ago)
            return
        if p.key == "L2a":
            self.on(day1_ago - (AS_FEVER_DAY - 1), 6, lambda d: self.febrile_neutropenia(p, d))
            self.on(day1_ago - (AS_RESOLVED_DAY - 1), 6, lambda d: self.discharged(p, d))
            self.on(day1_ago - (AS_RESOLVED_DAY + 1), 90, lambda d: self.adjudicate(p, d, "H1"))
        rng = random.Random(p.key)
        for term, grade, start, length, related in rng.sample(ORDINARY, 2):
            onset_ago, resolved_ago = day1_ago - (start - 1), day1_ago - (start - 1) - length
            if onset_ago < 0:
                continue

            def record(d, term=term, grade=grade, related=related, onset_ago=onset_ago, resolved_ago=resolved_ago):
                resolved = self.today - timedelta(days=resolved_ago) if resolved_ago >= 0 else None
                ae_record(
                    patient=self.patients[p.key],
                    by=self.coordinator(p),
                    term=meddra(term),
                    grade=grade,
                    onset=self.today - timedelta(days=onset_ago),
                    attribution=self.attribution(related),
                    resolved=resolved,
                    outcome=AdverseEvent.Outcome.RECOVERED if resolved else AdverseEvent.Outcome.NOT_RECOVERED,
                    today=d,
                )

            self.on(resolved_ago if resolved_ago >= 0 else onset_ago, 6, record)  # entered when it resolved (or at onset)

    def febrile_neutropenia(self, p: Person, day: date) -> None:
        ae_record(
            patient=self.patients[p.key],
            by=self.coordinator(p),
            term=meddra("Febrile neutropenia"),
            grade=3,
            onset=day,
            serious=True,
            sae_criteria=["hospitalisation"],
            attribution=self.attribution(("bendamustine", "pomalidomide"), "probable"),
            action=AdverseEvent.Action.INTERRUPTED,
            notes="Admitted with fever 38.9 C and ANC 0.62; IV antibiotics; pomalidomide held days 10-15.",
            today=day,
        )

    def discharged(self, p: Person, day: date) -> None:
        event = AdverseEvent.objects.get(patient=self.patients[p.key], term=meddra("Febrile neutropenia"))
        outcome = AdverseEvent.Outcome.RECOVERED
        ae_update(ae=event, by=self.coordinator(p), reason="Resolved: discharged home", resolved=day, outcome=outcome, today=day)

    def jd_neutropenia(self, p: Person, day1_ago: int) -> None:
        previous: list[AdverseEvent] = []
        for day, grade, gcsf in JD_NEUTROPENIA:
            if day1_ago - (day - 1) < 0:
                break

            def record(d, grade=grade, gcsf=gcsf):
                previous.append(
                    ae_record(
                        patient=self.patients[p.key],
                        by=self.coordinator(p),
                        term=meddra("Neutrophil count decreased"),
                        grade=grade,
                        onset=d,
                        outcome=AdverseEvent.Outcome.NOT_RECOVERED,
                        attribution=JD_RELATED,
                        action=AdverseEvent.Action.INTERRUPTED if grade >= 3 else AdverseEvent.Action.NONE,
                        supportive=["gcsf"] if gcsf else [],
                        notes="Pomalidomide held from day 9; filgrastim from day 11." if grade == 4 else "",
                        continues=previous[-1] if previous else None,
                        today=d,
                    )
                )

            self.on(day1_ago - (day - 1), 6, record)

    def held(self, p: Person, number: int, drug: str, day: int) -> str:
        """The reason a dose was held, or '' when it was given as planned."""
        if drug != "pomalidomide" or number != 1:
            return ""
        if p.key == "L2a" and AS_FEVER_DAY <= day <= AS_RESOLVED_DAY:
            return "Febrile neutropenia, held per investigator"
        if p.key == "L3a" and day >= 9:
            return "ANC below 1.0, held per investigator"
        return ""

    def doses(self, p: Person, number: int, day: date) -> None:
        """The coordinator records the cycle's doses and visits up to `day` (its last day, or today)."""
        cycle, by = self.cycles[p.key, number], self.coordinator(p)
        entries = []
        for planned in PlannedDose.objects.filter(cycle=cycle, planned_on__lte=day).select_related("drug").order_by("day", "drug__order"):
            reason = self.held(p, number, planned.drug.code, planned.day)
            entries.append(DoseEntry(drug=planned.drug, day=planned.day, status="held" if reason else "given", reason=reason))
        administrations_record(cycle=cycle, by=by, entries=entries, today=day)  # the cycle's doses in one call
        for visit in Visit.objects.filter(cycle=cycle, expected_on__lte=day, done_on__isnull=True, cancelled=False):
            visit_record(visit=visit, by=by, done_on=visit.expected_on, today=day)

    def assess(self, p: Person, day: date, values: tuple) -> None:
        spep, upep, *extra = values
        burden = Decimal(spep) / Decimal(p.course[0][0])  # the involved light chain follows the serum M-protein
        involved = f"{max(Decimal('1.5'), Decimal('38.5') * burden):.3f}"
        light = {"kappa": involved, "lambda_flc": "0.950"} if "kappa" in p.isotype else {"kappa": "0.800", "lambda_flc": involved}
        row = {"spep": spep, "serum_ife": True, "serum_isotype": p.isotype, "upep": upep, "urine_ife": True, **light}
        if not self.patients[p.key].assessments.exists():
            row |= {"marrow_pc": "35.0", "marrow_clonal": True, "plasmacytoma": False, "new_lesions": False}
        row |= extra[0] if extra else {}
        assessment_record(patient=self.patients[p.key], by=self.coordinator(p), on=day, values=row, today=day)

    def stop(self, p: Person, day: date) -> None:
        """Progression confirmed on the planned day 1 of the next cycle: no further cycle; the next line follows."""
        patient, by = self.patients[p.key], self.coordinator(p)
        patient_off_treatment(patient=patient, by=by, reason_code=p.stop[1], decided_on=day, note="Progression confirmed (IMWG)", today=day)
        later = day + timedelta(days=7)
        if later < self.today:
            self.at(
                later,
                10,
                lambda d: followup_record(
                    patient=patient, by=by, next_therapy_on=d, next_therapy_regimen="carfilzomib-dexamethasone", last_contact_on=d, today=d
                ),
            )

    # ------------------------------------------------------------ the investigator

    def adjudicate(self, p: Person, day: date, rule: str) -> None:
        self.review(day)
        proposal = DltProposal.objects.filter(patient=self.patients[p.key], rule=rule, status=DltProposal.Status.PROPOSED).first()
        if proposal is None:
            raise DemoError(f"The DLT rules proposed no {rule} for {self.patients[p.key].study_id} on {day}.")
        dlt_confirm(
            proposal=proposal,
            by=self.investigator,
            password=self.investigator_password,
            reason="Febrile neutropenia requiring admission, probably related: DLT.",
        )

    def decide(self, day: date, action: str, level: int) -> None:
        self.review(day)
        decision = EscalationDecision.objects.filter(trial=self.trial, status=EscalationDecision.Status.PROPOSED).first()
        found = (decision.action, decision.level.label if decision.level else None) if decision else None
        if found != (action, level):
            raise DemoError(f"On {day} the engine proposes {found}, the demo expects {(action, level)}: {decision.reason if decision else ''}")
        self.signed.append(decision_sign(decision=decision, by=self.investigator, password=self.investigator_password, today=day))

    # ------------------------------------------------------------ the data manager

    def queries_and_lock(self) -> None:
        """The data manager's queries (QUERIES), the sites' answers, and patient 01-001's cycle 1 locked once clean."""
        for raised, key, what, name, text, answered, answer, closed, note in QUERIES:
            kept: list[DataQuery] = []
            self.on(raised, 20, lambda d, key=key, what=what, name=name, text=text, kept=kept: kept.append(self.ask(key, what, name, text)))
            if answered is not None:
                self.on(answered, 20, lambda d, key=key, answer=answer, kept=kept: query_answer(query=kept[0], by=self.coordinator_of(key), answer=answer))
            if closed is not None:
                self.on(closed, 20, lambda d, note=note, kept=kept: query_close(query=kept[0], by=self.datamanager, note=note))
        self.on(
            LOCKED[0],
            21,
            lambda d: cycle_lock(cycle=self.cycles[LOCKED[1], 1], by=self.datamanager, password=self.datamanager_password, reason="Cycle 1 source-verified"),
        )

    def coordinator_of(self, key: str) -> User:
        return self.coordinators[self.patients[key].site.number]

    def ask(self, key: str, what: tuple, name: str, text: str) -> DataQuery:
        """Raise a query on a lab panel (("lab", cycle, day)) or on the patient's first adverse event (("adverse_event", term))."""
        patient = self.patients[key]
        if what[0] == "lab":
            cycle = self.cycles[key, what[1]]
            record = LabResult.objects.get(patient=patient, on=cycle.day1 + timedelta(days=what[2] - 1))
        else:
            events = AdverseEvent.objects.filter(patient=patient).order_by("onset", "pk")
            record = (events.filter(term=meddra(what[1])) if what[1] else events).first()
        return query_raise(patient=patient, by=self.datamanager, record_type=what[0], object_id=record.pk, field=name, text=text)


# The data manager's queries: raised (days before today), patient, record, field, text; answered by the site
# (days before today, answer) and closed by the data manager (days before today, note), or left for later.
QUERIES = (
    (
        150,
        "L1a",
        ("lab", 1, 8),
        "platelets",
        "Platelets fell from 185 at screening: please confirm against the lab report.",
        148,
        "Checked against the laboratory report: the value is correct.",
        147,
        "Confirmed at source.",
    ),
    (
        100,
        "L2a",
        ("adverse_event", "Febrile neutropenia"),
        "sae_criteria",
        "Serious event: please confirm the SAE report reached the sponsor within 24 hours.",
        98,
        "SAE report faxed to the sponsor on the day of admission.",
        None,
        "",
    ),
    (15, "L2e", ("lab", 3, 1), "hemoglobin", "Hemoglobin 9.1 g/dL: should an anemia adverse event be recorded?", None, "", None, ""),
    (12, "L2d", ("adverse_event", ""), "grade", "Please confirm the grade against the source notes.", None, "", None, ""),
    (2, "L3b", ("lab", 1, 8), "temperature", "The temperature is missing from the day 8 panel.", None, "", None, ""),
)
LOCKED = (128, "L1a")  # (days before today, patient): cycle 1 locked by the data manager after its query was closed


def write_demo_trial(trial: Trial, *, today: date, investigator_password: str, datamanager_password: str) -> Story:
    """Replay the demo story (module docstring) up to `today`, inside the caller's transaction."""
    story = Story(trial=trial, today=today, investigator_password=investigator_password, datamanager_password=datamanager_password)
    story.run()
    return story
