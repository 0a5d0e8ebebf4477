"""The treatment plan: which drug, which day, what dose. Pure Python (house style 2).

Protocol s.1 (shared/protocol/README.md):
- Day 1 of cycle n+1 is planned at day 1 of cycle n + cycle length (28 days);
  the actual date may be later (a delay), never earlier.
- Bendamustine mg = mg/m2 x BSA, BSA by Mosteller sqrt(height cm x weight kg / 3600)
  from the weight of that cycle's day 1 (or the last recorded weight), rounded
  to the nearest mg (half up). The dose is computed from the unrounded BSA; the
  BSA is shown to 2 decimals (and recorded on the cycle to 4). Pomalidomide and
  dexamethasone are flat doses.
- From cycle 7 an investigator may reduce dexamethasone (40 -> 20 mg).
- A drug is given in the cycles its schedule names (bendamustine cycles 1-12;
  from cycle 13, maintenance, none).

Every number the plan gives carries what it came from (BSA, weight, mg/m2),
so a clinician can check it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext

BSA_SHOWN = Decimal("0.01")  # s.1: BSA is shown to 2 decimals
BSA_RECORDED = Decimal("0.0001")  # the cycle's record (Cycle.bsa_m2 has 4 decimals)


class ScheduleError(Exception):
    """Inputs the plan cannot be computed from."""


@dataclass(frozen=True)
class DrugDose:
    """A drug's dose at the patient's level, with the days and cycles it is given."""

    drug: str
    name: str
    route: str
    amount: Decimal
    unit: str  # "mg/m2" or "mg"
    days: tuple[int, ...]
    first_cycle: int
    last_cycle: int | None

    def given_in(self, cycle: int) -> bool:
        return cycle >= self.first_cycle and (self.last_cycle is None or cycle <= self.last_cycle)


@dataclass(frozen=True)
class DoseReduction:
    """An investigator's allowed flat-dose reduction (dexamethasone 20 mg from cycle 7)."""

    drug: str
    amount_mg: Decimal
    from_cycle: int


@dataclass(frozen=True)
class PlannedDose:
    cycle: int
    day: int
    on: date
    drug: str
    route: str
    dose_mg: Decimal
    basis: str  # how dose_mg was reached, in words
    bsa_m2: Decimal | None
    weight_kg: Decimal | None


def bsa_mosteller(height_cm: Decimal, weight_kg: Decimal) -> Decimal:
    """Body surface area in m2, sqrt(height cm x weight kg / 3600), unrounded (28 significant digits).

    The bendamustine dose is computed from this value (s.1); `bsa_shown` is what a page shows.
    """
    if height_cm <= 0 or weight_kg <= 0:
        raise ScheduleError("Height and weight must be positive to compute the body surface area.")
    with localcontext() as ctx:
        ctx.prec = 28
        return (Decimal(height_cm) * Decimal(weight_kg) / Decimal(3600)).sqrt()


def bsa_shown(bsa: Decimal) -> Decimal:
    """The BSA as pages show it: 2 decimals, halves up."""
    return bsa.quantize(BSA_SHOWN, rounding=ROUND_HALF_UP)


def bsa_recorded(height_cm: Decimal, weight_kg: Decimal) -> Decimal:
    """The BSA recorded on a cycle: 4 decimals, halves up (a record; doses never start from it)."""
    return bsa_mosteller(height_cm, weight_kg).quantize(BSA_RECORDED, rounding=ROUND_HALF_UP)


def round_mg(value: Decimal) -> Decimal:
    """Nearest whole mg, halves up (protocol s.1)."""
    return value.quantize(Decimal(1), rounding=ROUND_HALF_UP)


def planned_day1(previous_day1: date, cycle_length_days: int) -> date:
    return previous_day1 + timedelta(days=cycle_length_days)


def delay_days(planned: date, actual: date) -> int:
    """Days a cycle started late; a start before its planned date is an error."""
    if actual < planned:
        raise ScheduleError(f"Day 1 cannot be before its planned date {planned.isoformat()} (got {actual.isoformat()}).")
    return (actual - planned).days


def cycle_plan(
    *,
    cycle: int,
    day1: date,
    doses: list[DrugDose],
    height_cm: Decimal,
    weight_kg: Decimal,
    reductions: list[DoseReduction] = (),  # type: ignore[assignment]
    cycle_length_days: int = 28,
) -> list[PlannedDose]:
    """Every planned dose of one cycle, by day then by drug order.

    `reductions` are the reductions an investigator has decided for this patient;
    one that starts before the cycle the protocol allows is refused.
    """
    if cycle < 1:
        raise ScheduleError("Cycles are numbered from 1.")
    by_drug = {r.drug: r for r in reductions}
    bsa = None
    plan: list[PlannedDose] = []
    for dose in doses:
        if not dose.given_in(cycle):
            continue
        if any(d < 1 or d > cycle_length_days for d in dose.days):
            raise ScheduleError(f"{dose.name}: days must lie within 1-{cycle_length_days}.")
        reduction = by_drug.get(dose.drug)
        if reduction is not None and cycle >= reduction.from_cycle:
            dose_mg, used_bsa, used_weight = round_mg(reduction.amount_mg), None, None
            basis = f"reduced to {dose_mg} mg by the investigator (from cycle {reduction.from_cycle})"
        elif dose.unit == "mg/m2":
            bsa = bsa if bsa is not None else bsa_mosteller(height_cm, weight_kg)
            dose_mg = round_mg(dose.amount * bsa)
            basis = (
                f"{dose.amount.normalize():f} mg/m2 x BSA {bsa_shown(bsa)} m2 (height {height_cm} cm, weight {weight_kg} kg;"
                f" unrounded BSA {bsa.quantize(Decimal('0.000001'), rounding=ROUND_HALF_UP)}) = {dose_mg} mg"
            )
            used_bsa, used_weight = bsa, Decimal(weight_kg)
        elif dose.unit == "mg":
            dose_mg, used_bsa, used_weight = round_mg(dose.amount), None, None
            basis = f"flat {dose_mg} mg"
        else:
            raise ScheduleError(f"{dose.name}: unknown unit {dose.unit!r}")
        for day in dose.days:
            plan.append(
                PlannedDose(
                    cycle=cycle,
                    day=day,
                    on=day1 + timedelta(days=day - 1),
                    drug=dose.drug,
                    route=dose.route,
                    dose_mg=dose_mg,
                    basis=basis,
                    bsa_m2=used_bsa,
                    weight_kg=used_weight,
                )
            )
    order = {d.drug: i for i, d in enumerate(doses)}
    return sorted(plan, key=lambda p: (p.day, order[p.drug]))


def check_reduction(reduction: DoseReduction, *, allowed: DoseReduction | None, cycle: int) -> None:
    """A flat-dose reduction must be one the protocol allows, from the cycle it allows."""
    if allowed is None or allowed.drug != reduction.drug:
        raise ScheduleError(f"The protocol allows no reduction of {reduction.drug} of this kind.")
    if cycle < allowed.from_cycle:
        raise ScheduleError(f"{reduction.drug} may be reduced from cycle {allowed.from_cycle} (this is cycle {cycle}).")
    if reduction.amount_mg != allowed.amount_mg:
        raise ScheduleError(f"{reduction.drug} may be reduced to {allowed.amount_mg.normalize():f} mg only.")


def visit_dates(day1: date, visit_days: tuple[int, ...] | list[int]) -> list[tuple[int, date]]:
    """Expected visits of a cycle: (cycle day, date)."""
    return [(day, day1 + timedelta(days=day - 1)) for day in visit_days]


def follow_up_dates(last_dose: date, *, years: int, interval_days: int) -> list[date]:
    """Follow-up visits every `interval_days` after the last dose, up to `years` years after it.

    Protocol s.1: follow-up continues 2 years after the last dose. A year is 365 days
    here; the last visit falls on or before last_dose + years x 365 days.
    """
    end = last_dose + timedelta(days=365 * years)
    dates, current = [], last_dose + timedelta(days=interval_days)
    while current <= end:
        dates.append(current)
        current += timedelta(days=interval_days)
    return dates


@dataclass(frozen=True)
class Intensity:
    """Cumulative and relative dose intensity of one drug, with what it was computed from."""

    drug: str
    planned_mg: Decimal
    delivered_mg: Decimal
    planned_days: int
    actual_days: int

    @property
    def relative(self) -> Decimal | None:
        """RDI = (delivered mg / actual days) / (planned mg / planned days), to 0.001.

        Planned days are the cycles started x cycle length; actual days run from
        cycle 1 day 1 to the day before the planned end of the last cycle started,
        so delays lower the intensity as they do in the clinic.
        """
        if self.planned_mg == 0 or self.actual_days == 0:
            return None
        value = (self.delivered_mg / self.actual_days) / (self.planned_mg / self.planned_days)
        return value.quantize(Decimal("0.001"), rounding=ROUND_HALF_UP)


def dose_intensity(
    *, drug: str, planned_mg: Decimal, delivered_mg: Decimal, first_day1: date, last_day1: date, cycles: int, cycle_length_days: int
) -> Intensity:
    planned_days = cycles * cycle_length_days
    actual_days = (last_day1 - first_day1).days + cycle_length_days
    return Intensity(drug=drug, planned_mg=planned_mg, delivered_mg=delivered_mg, planned_days=planned_days, actual_days=actual_days)
