"""IMWG 2016 uniform response criteria for multiple myeloma (protocol s.4). Pure Python, exact Decimal arithmetic.

Input: a patient's dated myeloma assessments, cycle 1 day 1 and the start of any
next therapy. Output: the baseline and its measurable parameters, the parameter
that drives the response, for each assessment the unconfirmed category with its
reason, the nadirs, confirmation, the confirmed categories with their dates, the
best overall response, the date of progression, and flags for a clinician.

Rules as protocol s.4 and its settled readings give them:
- Baseline: the last value of each parameter on or before cycle 1 day 1.
  Measurable: serum M-protein >= SERUM_MEASURABLE g/dL (1.0), urine M-protein
  >= 200 mg/24 h; if neither, the involved free light chain >= 10 mg/dL with an
  abnormal kappa/lambda ratio (normal 0.26-1.65 inclusive). The involved chain is
  fixed at baseline (kappa when the ratio is above 1.65, lambda when below 0.26);
  dFLC = involved - uninvolved. The driving parameter is serum if measurable, else
  urine, else the dFLC (FLC-only).
- Reductions are from baseline; progression is from the nadir: the lowest value
  so far (baseline and earlier assessments, never a value marked spurious).
- Responses are measured on the parameters measurable at baseline. A category
  needs all its criteria and those of the response categories below it (PR <
  VGPR < CR < sCR); a value a category needs that is missing gives the next lower
  category (a missing driving value gives NE).
  PR: serum reduction >= 50% (serum measurable), urine reduction >= 90% or urine
  < 200 mg/24 h (urine measurable), dFLC reduction >= 50% (FLC-only), and a
  plasmacytoma present at baseline >= 50% smaller (one recorded absent: a 100%
  reduction).
  VGPR: PR, urine < 100 mg/24 h at the assessment (every patient), and a serum
  reduction >= 90% when serum was measurable (0 by electrophoresis is a 100%
  reduction). FLC-only patients have no VGPR.
  CR: VGPR (FLC-only: PR), negative serum and urine immunofixation, a recorded
  plasmacytoma status that is "absent", < 5% marrow plasma cells.
  sCR: CR, a normal FLC ratio and no clonal marrow plasma cells.
  MR, where PR is not met: serum reduction >= 25% (serum measurable) and urine
  reduction >= 50% (urine measurable); the ranges are lower bounds. FLC-only
  patients have no MR.
  PD (any of), for every patient: serum +25% and +0.5 g/dL from the nadir (+1 g/dL
  suffices when the nadir was >= 5 g/dL); urine +25% and +200 mg/24 h; marrow
  plasma cells +25% and +10 percentage points; a new bone lesion; a plasmacytoma
  new or back after its disappearance, or >= 50% larger than its smallest size.
  FLC-only patients also: dFLC +25% and > 10 mg/dL. Thresholds are inclusive (>=)
  except the dFLC's "> 10 mg/dL", as the protocol writes it.
- Marrow and imaging need no confirmation: the latest marrow and plasmacytoma
  results after baseline are carried to later assessments, and PD that rests on
  marrow or imaging is confirmed and dated at its own assessment, whatever serum
  or urine did.
- Confirmation: otherwise a category (and PD) is confirmed by two consecutive
  assessments (different samples) before any new therapy; the confirmed category
  is the lower of the two and is dated at the first. The best overall response is
  the best confirmed category before the first confirmed PD and before new
  therapy; progression is the first confirmed PD.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

RULE_VERSION = "imwg-2016/bpd-2"

# Measurable disease at baseline (protocol s.4).
SERUM_MEASURABLE = Decimal("1.0")  # g/dL (protocol parameter)
URINE_MEASURABLE = Decimal(200)  # mg/24 h
FLC_MEASURABLE = Decimal(10)  # mg/dL, involved light chain
RATIO_LOW, RATIO_HIGH = Decimal("0.26"), Decimal("1.65")  # normal kappa/lambda ratio, inclusive

# Response thresholds (protocol s.4): % reductions from baseline unless a unit is named.
PR_REDUCTION = 50  # serum M-protein, dFLC, plasmacytoma size
PR_URINE_REDUCTION = 90
PR_URINE_BELOW = Decimal(200)  # mg/24 h
VGPR_SERUM_REDUCTION = 90
VGPR_URINE_BELOW = Decimal(100)  # mg/24 h
MR_SERUM_REDUCTION = 25
MR_URINE_REDUCTION = 50
CR_MARROW_BELOW = Decimal(5)  # % plasma cells

# Progression thresholds (protocol s.4), from the nadir.
PD_RISE_PCT = 25
PD_SERUM_RISE = Decimal("0.5")  # g/dL
PD_SERUM_HIGH_NADIR = Decimal(5)  # g/dL: from a nadir this high ...
PD_SERUM_RISE_HIGH_NADIR = Decimal(1)  # ... a rise of 1 g/dL suffices
PD_URINE_RISE = Decimal(200)  # mg/24 h
PD_DFLC_RISE = Decimal(10)  # mg/dL, to be exceeded ("> 10")
PD_MARROW_RISE = Decimal(10)  # percentage points
PD_PLASMACYTOMA_GROWTH = 50  # % above its smallest size

HUNDRED = Decimal(100)

PARAMETERS = ("spep", "upep", "dflc", "marrow_pc", "plasmacytoma_size")
CHANGES = ("spep", "upep", "dflc")  # the parameters of Result.change_pct (% change from baseline)
LABELS = {"spep": "serum M-protein", "upep": "urine M-protein", "dflc": "dFLC", "marrow_pc": "marrow plasma cells", "plasmacytoma_size": "plasmacytoma"}
UNITS = {"spep": "g/dL", "upep": "mg/24 h", "dflc": "mg/dL", "marrow_pc": "%", "plasmacytoma_size": "cm2"}


class ImwgError(Exception):
    """Inputs the rules cannot be applied to."""


class Category(StrEnum):
    SCR = "sCR"
    CR = "CR"
    VGPR = "VGPR"
    PR = "PR"
    MR = "MR"
    SD = "SD"
    PD = "PD"
    NE = "NE"

    @property
    def rank(self) -> int:
        """Higher is better; PD and NE lowest."""
        return RANKS[self]


RANKS = {Category.SCR: 7, Category.CR: 6, Category.VGPR: 5, Category.PR: 4, Category.MR: 3, Category.SD: 2, Category.PD: 1, Category.NE: 0}
RESPONSES = (Category.SCR, Category.CR, Category.VGPR, Category.PR)  # "PR or better"


class Assessment(NamedTuple):
    """One dated myeloma assessment; units: g/dL, mg/24 h, mg/dL, %, cm2. None = not done."""

    on: date
    id: int | str = ""
    spep: Decimal | None = None
    serum_ife: bool | None = None  # True positive, False negative
    upep: Decimal | None = None
    urine_ife: bool | None = None
    kappa: Decimal | None = None
    lambda_: Decimal | None = None
    marrow_pc: Decimal | None = None
    marrow_clonal: bool | None = None
    plasmacytoma: bool | None = None  # soft-tissue plasmacytoma present
    plasmacytoma_size: Decimal | None = None
    new_lesions: bool | None = None
    spurious: frozenset[str] = frozenset()  # parameters marked spurious: ignored (never a nadir)

    def value(self, name: str) -> Decimal | None:
        """A measured value (spep, upep, marrow_pc, plasmacytoma_size), None where missing or spurious."""
        if name in self.spurious:
            return None
        value: Decimal | None = getattr(self, name)
        return value

    @property
    def light_chains(self) -> tuple[Decimal, Decimal] | None:
        """(kappa, lambda), when both were measured and neither is spurious."""
        if self.kappa is None or self.lambda_ is None or {"kappa", "lambda"} & self.spurious:
            return None
        return self.kappa, self.lambda_

    @property
    def ratio(self) -> Decimal | None:
        return _ratio(self.light_chains)


def _ratio(chains: tuple[Decimal, Decimal] | None) -> Decimal | None:
    if chains is None or chains[1] == 0:
        return None
    return chains[0] / chains[1]


def ratio_normal(ratio: Decimal | None) -> bool | None:
    return None if ratio is None else RATIO_LOW <= ratio <= RATIO_HIGH


def dflc(chains: tuple[Decimal, Decimal] | None, involved: str | None) -> Decimal | None:
    """The involved light chain (fixed at baseline) minus the uninvolved one (negative when the involved one fell below)."""
    if chains is None or involved is None:
        return None
    kappa, lambda_ = chains
    return kappa - lambda_ if involved == "kappa" else lambda_ - kappa


class Plasmacytoma(NamedTuple):
    """A soft-tissue plasmacytoma as imaging recorded it: present or not, and its size (0 when absent)."""

    present: bool
    size: Decimal | None  # cm2; None when present and not measured (or its size is spurious)


def plasmacytoma(a: Assessment) -> Plasmacytoma | None:
    """The plasmacytoma an assessment records (None when it records none). Protocol s.4: a plasmacytoma recorded
    absent is a 100% reduction, so its size is 0."""
    size = a.value("plasmacytoma_size")
    present = a.plasmacytoma if a.plasmacytoma is not None else None if size is None else size > 0
    if present is None:
        return None
    return Plasmacytoma(present, size if present else Decimal(0))


@dataclass(frozen=True)
class Baseline:
    values: dict[str, Decimal | None]
    ratio: Decimal | None
    involved: str | None  # "kappa" or "lambda"
    plasmacytoma: bool | None
    measurable: tuple[str, ...]
    driver: str | None
    reason: str


class Result(NamedTuple):
    """One assessment: the unconfirmed category, why, the changes and the nadirs it was judged on."""

    on: date
    id: int | str
    category: Category
    reason: str
    change_pct: dict[str, Decimal]  # % change from baseline (negative = reduction)
    nadir: dict[str, Decimal]  # lowest value before this assessment, baseline included
    confirmed: Category | None = None  # confirmed by this assessment (with the previous one, or alone: PD by marrow or imaging)
    confirmed_from: date | None = None
    after_next_therapy: bool = False


@dataclass(frozen=True)
class Response:
    baseline: Baseline
    results: tuple[Result, ...]
    best: Category
    best_on: date | None
    best_reason: str
    progression_on: date | None
    first_response_on: date | None  # first confirmed PR or better
    best_change_pct: Decimal | None  # best (lowest) % change of the driving parameter
    flags: tuple[str, ...] = ()
    rule_version: str = RULE_VERSION
    confirmed: tuple[tuple[Category, date], ...] = field(default=())

    def category_on(self, day: date) -> Category:
        """The best confirmed category dated on or before `day` (NE when none)."""
        best = Category.NE
        for cat, on in self.confirmed:
            if on <= day and cat != Category.PD and cat.rank > best.rank:
                best = cat
        return best


def pct(new: Decimal, base: Decimal) -> Decimal:
    """Exact % change from base (negative = reduction)."""
    return (new - base) * HUNDRED / base


def _fmt(value: Decimal) -> str:
    return format(value, "f")


def _pct_text(value: Decimal) -> str:
    return f"{_fmt(round(value, 2))}%"


# ---------------------------------------------------------------- baseline


def baseline(assessments: Sequence[Assessment], cycle1_day1: date, *, serum_measurable: Decimal = SERUM_MEASURABLE) -> Baseline:
    before = sorted((a for a in assessments if a.on <= cycle1_day1), key=lambda a: a.on)
    values: dict[str, Decimal | None] = dict.fromkeys(PARAMETERS)
    chains = None
    imaging = None
    for a in before:
        for name in ("spep", "upep", "marrow_pc"):
            v = a.value(name)
            if v is not None:
                values[name] = v
        chains = a.light_chains or chains
        imaging = plasmacytoma(a) or imaging
    ratio = _ratio(chains)
    involved = None
    if ratio is not None:
        involved = "kappa" if ratio > RATIO_HIGH else "lambda" if ratio < RATIO_LOW else None
    values["dflc"] = dflc(chains, involved)
    values["plasmacytoma_size"] = None if imaging is None else imaging.size
    measurable = []
    if values["spep"] is not None and values["spep"] >= serum_measurable:
        measurable.append("spep")
    if values["upep"] is not None and values["upep"] >= URINE_MEASURABLE:
        measurable.append("upep")
    involved_value = None if chains is None or involved is None else chains[0] if involved == "kappa" else chains[1]
    if not measurable and involved_value is not None and involved_value >= FLC_MEASURABLE:
        measurable.append("dflc")
    driver = measurable[0] if measurable else None
    serum, urine = values["spep"], values["upep"]
    if driver == "spep" and serum is not None:
        reason = f"Serum M-protein {_fmt(serum)} g/dL >= {_fmt(serum_measurable)} at baseline: serum drives the response"
    elif driver == "upep" and urine is not None:
        reason = f"Urine M-protein {_fmt(urine)} mg/24 h >= 200 at baseline (serum below {_fmt(serum_measurable)} g/dL): urine drives the response"
    elif driver == "dflc" and involved_value is not None and ratio is not None:
        flc = f"involved {involved} FLC {_fmt(involved_value)} mg/dL >= 10 with ratio {_fmt(round(ratio, 4))}"
        reason = f"Serum and urine not measurable; {flc}: dFLC drives the response"
    else:
        reason = "No measurable disease at baseline (serum, urine or free light chains): response not evaluable"
    if "upep" in measurable and driver == "spep":
        reason += "; urine measurable too"
    present = None if imaging is None else imaging.present
    return Baseline(values, ratio, involved, present, tuple(measurable), driver, reason)


# ---------------------------------------------------------------- one assessment


@dataclass
class _Context:
    """What the assessments so far leave for the next: the nadirs, and the marrow and imaging carried forward."""

    base: Baseline
    nadir: dict[str, Decimal]
    marrow_pc: Decimal | None = None
    marrow_clonal: bool | None = None
    plasmacytoma: Plasmacytoma | None = None


class Criterion(NamedTuple):
    """One criterion of a category at one assessment."""

    holds: bool | None  # None: a value it needs is missing
    finding: str  # what was found, said when it holds
    needs: str  # what it reads, named when missing


class _Judgement(NamedTuple):
    category: Category
    reason: str
    confirmed_alone: bool = False  # PD by marrow or imaging: needs no confirmation


@dataclass(frozen=True)
class _Assessed:
    """What the criteria of one assessment read: the assessment, its values, its changes, what earlier ones left."""

    a: Assessment
    v: dict[str, Decimal | None]
    ch: dict[str, Decimal]
    ctx: _Context

    @property
    def base(self) -> Baseline:
        return self.ctx.base

    def measurable(self, name: str) -> bool:
        return name in self.ctx.base.measurable


def _values(a: Assessment, involved: str | None) -> dict[str, Decimal | None]:
    """The assessment's value of each parameter (None where missing or spurious; a plasmacytoma recorded absent: 0)."""
    imaging = plasmacytoma(a)
    return {
        "spep": a.value("spep"),
        "upep": a.value("upep"),
        "dflc": dflc(a.light_chains, involved),
        "marrow_pc": a.value("marrow_pc"),
        "plasmacytoma_size": None if imaging is None else imaging.size,
    }


def _carry_forward(ctx: _Context, a: Assessment, v: dict[str, Decimal | None]) -> None:
    """Marrow and imaging need no confirmation: their latest results are carried to later assessments."""
    if v["marrow_pc"] is not None:
        ctx.marrow_pc = v["marrow_pc"]
    if a.marrow_clonal is not None:
        ctx.marrow_clonal = a.marrow_clonal
    ctx.plasmacytoma = plasmacytoma(a) or ctx.plasmacytoma


def _lower_nadir(nadir: dict[str, Decimal], v: dict[str, Decimal | None]) -> None:
    """IMWG 2016: progression is measured from the nadir, the lowest value so far."""
    for name, value in v.items():
        if value is not None and (name not in nadir or value < nadir[name]):
            nadir[name] = value


def _rise(value: Decimal, nadir: Decimal) -> Decimal:
    return value - nadir


def _risen_25_pct(value: Decimal, nadir: Decimal) -> bool:
    """At least 25% above the nadir (IMWG 2016: progression is measured from the nadir)."""
    return _rise(value, nadir) * HUNDRED >= nadir * PD_RISE_PCT


def _serum_progression(s: Decimal, nadir: Decimal) -> bool:
    """Serum +25% and +0.5 g/dL from the nadir, or +1 g/dL when the nadir was >= 5 g/dL."""
    if nadir >= PD_SERUM_HIGH_NADIR and _rise(s, nadir) >= PD_SERUM_RISE_HIGH_NADIR:
        return True
    return _risen_25_pct(s, nadir) and _rise(s, nadir) >= PD_SERUM_RISE


def _urine_progression(u: Decimal, nadir: Decimal) -> bool:
    return _risen_25_pct(u, nadir) and _rise(u, nadir) >= PD_URINE_RISE


def _dflc_progression(d: Decimal, nadir: Decimal) -> bool:
    """dFLC +25% and more than 10 mg/dL from the nadir (the protocol's "> 10", not ">=")."""
    return _risen_25_pct(d, nadir) and _rise(d, nadir) > PD_DFLC_RISE


def _marrow_progression(m: Decimal, nadir: Decimal) -> bool:
    return _risen_25_pct(m, nadir) and _rise(m, nadir) >= PD_MARROW_RISE


def _plasmacytoma_progression(imaging: Plasmacytoma | None, smallest: Decimal | None) -> str | None:
    """Protocol s.4: a plasmacytoma new or back after it disappeared (its smallest size so far 0), or >= 50% larger
    than its smallest size."""
    if imaging is None or not imaging.present or smallest is None:
        return None
    if smallest == 0:
        return "a soft-tissue plasmacytoma, new or back after its disappearance"
    size = imaging.size
    if size is not None and _rise(size, smallest) * HUNDRED >= smallest * PD_PLASMACYTOMA_GROWTH:
        return f"plasmacytoma {_fmt(size)} cm2, >= 50% larger than its smallest size {_fmt(smallest)}"
    return None


class _Progression(NamedTuple):
    """The progression criteria an assessment meets, each as a sentence."""

    by_m_protein: list[str]  # serum, urine, dFLC: confirmed by the next assessment
    by_marrow_or_imaging: list[str]  # need no confirmation


def _progression(x: _Assessed) -> _Progression:
    b, n = x.base, x.ctx.nadir
    s, u, d, m = x.v["spep"], x.v["upep"], x.v["dflc"], x.v["marrow_pc"]
    protein, site = [], []
    if s is not None and "spep" in n and _serum_progression(s, n["spep"]):
        protein.append(f"serum M-protein {_fmt(s)} g/dL, +{_fmt(s - n['spep'])} from the nadir {_fmt(n['spep'])}")
    if u is not None and "upep" in n and _urine_progression(u, n["upep"]):
        protein.append(f"urine M-protein {_fmt(u)} mg/24 h, +{_fmt(u - n['upep'])} from the nadir {_fmt(n['upep'])}")
    if d is not None and b.driver == "dflc" and "dflc" in n and _dflc_progression(d, n["dflc"]):
        protein.append(f"dFLC {_fmt(d)} mg/dL, +{_fmt(d - n['dflc'])} from the nadir {_fmt(n['dflc'])}")
    if m is not None and "marrow_pc" in n and _marrow_progression(m, n["marrow_pc"]):
        site.append(f"marrow plasma cells {_fmt(m)}%, +{_fmt(m - n['marrow_pc'])} points from the nadir {_fmt(n['marrow_pc'])}%")
    if x.a.new_lesions:
        site.append("a new bone lesion")
    if found := _plasmacytoma_progression(plasmacytoma(x.a), n.get("plasmacytoma_size")):
        site.append(found)
    return _Progression(protein, site)


def _changes(v: dict[str, Decimal | None], base: Baseline) -> dict[str, Decimal]:
    """% change from baseline of serum, urine and dFLC (where both values exist and the baseline is not 0)."""
    out = {}
    for name in CHANGES:
        new, before = v[name], base.values[name]
        if new is not None and before:
            out[name] = pct(new, before)
    return out


def _reduced(x: _Assessed, name: str, limit: int) -> Criterion:
    """`name` reduced by at least `limit` % from baseline."""
    change = x.ch.get(name)
    if change is None:
        return Criterion(None, "", LABELS[name])
    return Criterion(-change >= limit, f"{LABELS[name]} {_pct_text(change)} from baseline", LABELS[name])


def _below(value: Decimal | None, limit: Decimal, name: str) -> Criterion:
    """The value of `name` at (or carried to) the assessment below `limit`."""
    if value is None:
        return Criterion(None, "", LABELS[name])
    unit = UNITS[name] if UNITS[name] == "%" else f" {UNITS[name]}"
    return Criterion(value < limit, f"{LABELS[name]} {_fmt(value)}{unit} < {_fmt(limit)}", LABELS[name])


def _negative(result: bool | None, test: str) -> Criterion:
    return Criterion(None if result is None else not result, f"negative {test}", test)


def _pr_urine(x: _Assessed) -> Criterion:
    """Urine reduced by >= 90% or to < 200 mg/24 h."""
    u, change = x.v["upep"], x.ch.get("upep")
    if u is None or change is None:
        return Criterion(None, "", LABELS["upep"])
    return Criterion(-change >= PR_URINE_REDUCTION or u < PR_URINE_BELOW, f"urine M-protein {_fmt(u)} mg/24 h ({_pct_text(change)})", LABELS["upep"])


def _pr_plasmacytoma(x: _Assessed) -> Criterion:
    """A plasmacytoma present at baseline >= 50% smaller (the latest imaging; recorded absent: a 100% reduction)."""
    now, before = x.ctx.plasmacytoma, x.base.values["plasmacytoma_size"]
    needs = "plasmacytoma size"
    if now is not None and not now.present:
        return Criterion(True, "plasmacytoma gone", needs)
    if now is None or now.size is None or before is None:
        return Criterion(None, "", needs)
    smaller = now.size * HUNDRED <= before * (100 - PR_REDUCTION)
    return Criterion(smaller, f"plasmacytoma {_fmt(now.size)} cm2 from {_fmt(before)}", needs)


def _pr(x: _Assessed) -> list[Criterion]:
    criteria = []
    if x.measurable("spep"):
        criteria.append(_reduced(x, "spep", PR_REDUCTION))
    if x.measurable("upep"):
        criteria.append(_pr_urine(x))
    if x.measurable("dflc"):
        criteria.append(_reduced(x, "dflc", PR_REDUCTION))
    if x.base.plasmacytoma:
        criteria.append(_pr_plasmacytoma(x))
    return criteria


def _vgpr(x: _Assessed) -> list[Criterion]:
    """Serum reduced >= 90% (serum 0 by electrophoresis included) where serum was measurable; urine < 100 mg/24 h
    for every patient."""
    urine = _below(x.v["upep"], VGPR_URINE_BELOW, "upep")
    return [_reduced(x, "spep", VGPR_SERUM_REDUCTION), urine] if x.measurable("spep") else [urine]


def _cr(x: _Assessed) -> list[Criterion]:
    """Both immunofixations negative, a plasmacytoma recorded absent, < 5% marrow plasma cells (the latest marrow)."""
    imaging, marrow = x.ctx.plasmacytoma, x.ctx.marrow_pc
    return [
        _negative(x.a.serum_ife, "serum immunofixation"),
        _negative(x.a.urine_ife, "urine immunofixation"),
        Criterion(None if imaging is None else not imaging.present, "no soft-tissue plasmacytoma", "plasmacytoma status"),
        _below(marrow, CR_MARROW_BELOW, "marrow_pc"),
    ]


def _scr(x: _Assessed) -> list[Criterion]:
    ratio, clonal = x.a.ratio, x.ctx.marrow_clonal
    return [
        Criterion(ratio_normal(ratio), "" if ratio is None else f"normal FLC ratio {_fmt(round(ratio, 4))}", "FLC ratio"),
        Criterion(None if clonal is None else not clonal, "no clonal marrow plasma cells", "marrow clonality"),
    ]


def _mr(x: _Assessed) -> list[Criterion]:
    """Lower bounds where PR is not met: serum reduced >= 25%, urine >= 50% (each where measurable)."""
    criteria = []
    if x.measurable("spep"):
        criteria.append(_reduced(x, "spep", MR_SERUM_REDUCTION))
    if x.measurable("upep"):
        criteria.append(_reduced(x, "upep", MR_URINE_REDUCTION))
    return criteria


CRITERIA: dict[Category, Callable[[_Assessed], list[Criterion]]] = {Category.PR: _pr, Category.VGPR: _vgpr, Category.CR: _cr, Category.SCR: _scr}


def _flc_only(b: Baseline) -> bool:
    """Protocol s.4, settled readings: FLC-only patients have PR by dFLC and no MR or VGPR by FLC alone."""
    return b.driver == "dflc"


def _ladder(b: Baseline) -> tuple[Category, ...]:
    """The response categories open to the patient from PR up, each including the criteria of the ones before it."""
    if _flc_only(b):
        return (Category.PR, Category.CR, Category.SCR)
    return (Category.PR, Category.VGPR, Category.CR, Category.SCR)


def _missing(category: Category, criteria: list[Criterion]) -> list[str]:
    """The values whose absence kept the assessment from `category` (none when a criterion failed anyway)."""
    if any(c.holds is False for c in criteria):
        return []
    return [f"{c.needs} ({category})" for c in criteria if c.holds is None]


def _category(x: _Assessed) -> _Judgement:
    """The unconfirmed category of one assessment and the sentence that justifies it."""
    b = x.base
    if b.driver is None:
        return _Judgement(Category.NE, "no measurable disease at baseline")
    pd = _progression(x)
    if pd.by_m_protein or pd.by_marrow_or_imaging:
        reason = "progression: " + "; ".join(pd.by_m_protein + pd.by_marrow_or_imaging)
        return _Judgement(Category.PD, reason, confirmed_alone=bool(pd.by_marrow_or_imaging))
    if x.v[b.driver] is None:
        return _Judgement(Category.NE, f"{LABELS[b.driver]} not assessed")
    reached: Category | None = None
    findings: list[str] = []
    missing: list[str] = []
    for category in _ladder(b):
        criteria = CRITERIA[category](x)
        if not all(c.holds for c in criteria):
            missing = _missing(category, criteria)
            break
        reached = category
        findings += [c.finding for c in criteria]
    if reached is None and not _flc_only(b):  # MR: below PR
        criteria = _mr(x)
        if all(c.holds for c in criteria):
            reached, findings = Category.MR, [c.finding for c in criteria]
        else:
            missing += _missing(Category.MR, criteria)
    reason = "; ".join(dict.fromkeys(findings)) if reached else _sd_reason(x)
    if missing:
        reason += f"; {', '.join(missing)} missing: the next lower category"
    return _Judgement(reached or Category.SD, reason)


def _sd_reason(x: _Assessed) -> str:
    changes = ", ".join(f"{LABELS[k]} {_pct_text(v)}" for k, v in x.ch.items() if x.measurable(k))
    return f"neither a response nor progression ({changes})"


# ---------------------------------------------------------------- the course


def _check(assessments: Sequence[Assessment]) -> None:
    dates = [a.on for a in assessments]
    if len(set(dates)) != len(dates):
        raise ImwgError("Two assessments on the same date: one sample per date.")
    for a in assessments:
        for name in ("spep", "upep", "kappa", "lambda_", "marrow_pc", "plasmacytoma_size"):
            v = getattr(a, name)
            if v is not None and v < 0:
                raise ImwgError(f"Assessment of {a.on.isoformat()}: {name.rstrip('_')} cannot be negative.")
        if a.marrow_pc is not None and a.marrow_pc > 100:
            raise ImwgError(f"Assessment of {a.on.isoformat()}: marrow plasma cells above 100%.")


def _light_chain_escape(a: Assessment, v: dict[str, Decimal | None], ctx: _Context) -> str | None:
    """A flag for a clinician: in a patient followed by serum M-protein, a dFLC rise that would be progression."""
    d, nadir = v["dflc"], ctx.nadir.get("dflc")
    if ctx.base.driver != "spep" or d is None or nadir is None or not _dflc_progression(d, nadir):
        return None
    return (
        f"dFLC {_fmt(d)} mg/dL on {a.on.isoformat()}, +{_fmt(d - nadir)} from its nadir, in a patient followed by serum M-protein: look for light-chain escape."
    )


def evaluate(
    assessments: Sequence[Assessment],
    *,
    cycle1_day1: date,
    next_therapy_on: date | None = None,
    serum_measurable: Decimal = SERUM_MEASURABLE,
) -> Response:
    """Every assessment's category, confirmation, the best response and progression."""
    _check(assessments)
    base = baseline(assessments, cycle1_day1, serum_measurable=serum_measurable)
    ctx = _Context(base, nadir={k: v for k, v in base.values.items() if v is not None})
    results: list[Result] = []
    confirmed: list[tuple[Category, date]] = []
    escapes: list[str] = []
    for a in sorted((a for a in assessments if a.on > cycle1_day1), key=lambda a: a.on):
        v = _values(a, base.involved)
        _carry_forward(ctx, a, v)
        ch = _changes(v, base)
        judged = _category(_Assessed(a, v, ch, ctx))
        after = next_therapy_on is not None and a.on >= next_therapy_on
        if judged.category is not Category.PD and not after and (escape := _light_chain_escape(a, v, ctx)):
            escapes.append(escape)
        conf, confirmed_from = (None, None) if after else _confirmation(results[-1] if results else None, judged, a.on)
        if conf is not None and confirmed_from is not None:
            confirmed.append((conf, confirmed_from))
        results.append(Result(a.on, a.id, judged.category, judged.reason, ch, dict(ctx.nadir), conf, confirmed_from, after))
        _lower_nadir(ctx.nadir, v)
    return _course(base, results, confirmed, next_therapy_on, escapes)


def _confirmation(prev: Result | None, judged: _Judgement, on: date) -> tuple[Category | None, date | None]:
    """What this assessment confirms, and from when: with the previous one, the lower of the two dated at the first;
    alone, PD that rests on marrow or imaging, dated at this assessment (protocol s.4: they need no confirmation)."""
    if prev is not None and (pair := _confirm(prev.category, judged.category)) is not None:
        return pair, prev.on
    if judged.confirmed_alone:
        return Category.PD, on
    return None, None


def _confirm(first: Category, second: Category) -> Category | None:
    """The category two consecutive assessments confirm (the lower of the two; PD by two PD), or None."""
    if first is Category.NE or second is Category.NE:
        return None
    if first is Category.PD and second is Category.PD:
        return Category.PD
    if first is Category.PD or second is Category.PD:
        return None
    return first if first.rank <= second.rank else second


def _before_progression(confirmed: list[tuple[Category, date]], progression_on: date | None) -> list[tuple[Category, date]]:
    """The confirmed categories other than PD dated before progression."""
    return [(cat, on) for cat, on in confirmed if cat is not Category.PD and (progression_on is None or on < progression_on)]


def _best(confirmed: list[tuple[Category, date]], progression_on: date | None, assessed: bool) -> tuple[Category, date | None, str]:
    """The best confirmed category before progression, the date it was first confirmed from, and why."""
    responses = _before_progression(confirmed, progression_on)
    if responses:
        best = max((cat for cat, _ in responses), key=lambda cat: cat.rank)
        best_on = min(on for cat, on in responses if cat is best)
        return best, best_on, f"{best} confirmed from {best_on.isoformat()}"
    if progression_on is not None:
        return Category.PD, progression_on, f"PD confirmed from {progression_on.isoformat()} with no confirmed response before"
    return Category.NE, None, "no category confirmed by two consecutive assessments" if assessed else "no assessment after baseline"


def _course(base: Baseline, out: list[Result], confirmed: list[tuple[Category, date]], next_therapy_on: date | None, escapes: list[str]) -> Response:
    flags: list[str] = []
    before = [r for r in out if not r.after_next_therapy]
    if next_therapy_on is not None and before and before[-1].category is Category.PD and before[-1].confirmed is not Category.PD:
        flags.append(f"Progression on {before[-1].on.isoformat()} not confirmed before the next therapy started {next_therapy_on.isoformat()}.")
    flags += escapes[:1]  # the first light-chain escape
    progression_on = min((on for cat, on in confirmed if cat is Category.PD), default=None)
    best, best_on, best_reason = _best(confirmed, progression_on, bool(before))
    first_response = min((on for cat, on in _before_progression(confirmed, progression_on) if cat in RESPONSES), default=None)
    driver = base.driver
    changes = [r.change_pct[driver] for r in before if driver is not None and driver in r.change_pct]
    best_change = min(changes, default=None)
    return Response(base, tuple(out), best, best_on, best_reason, progression_on, first_response, best_change, tuple(flags), RULE_VERSION, tuple(confirmed))
