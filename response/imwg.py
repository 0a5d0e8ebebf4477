"""IMWG 2016 uniform response criteria for multiple myeloma (protocol s.4). Pure Python, exact Decimal arithmetic.

Input: a patient's dated myeloma assessments, cycle 1 day 1 and the start of any
next therapy. Output: the baseline and its measurable parameters, the parameter
that drives the response, for each assessment the unconfirmed category with its
reason, the nadirs, confirmation, the confirmed categories with their dates, the
best overall response, the date of progression, and flags for a clinician.

Rules as the protocol settles them:
- Baseline: the last value of each parameter on or before cycle 1 day 1.
  Measurable: serum M-protein >= SERUM_MEASURABLE g/dL (1.0), urine M-protein
  >= 200 mg/24 h; if neither, the involved free light chain >= 10 mg/dL with an
  abnormal kappa/lambda ratio (normal 0.26-1.65 inclusive). The driving parameter
  is serum if measurable, else urine, else the dFLC (involved - uninvolved).
- Reductions are from baseline; progression is from the nadir: the lowest value
  so far (baseline and earlier assessments, never a value marked spurious).
- A category needs all its criteria; a value a category needs that is missing
  gives the next lower category (a missing driving value gives NE).
  CR: negative serum and urine immunofixation, no soft-tissue plasmacytoma, < 5%
  marrow plasma cells. sCR: CR + normal FLC ratio + no clonal marrow plasma cells.
  VGPR: (serum M-protein detectable by immunofixation but 0 by electrophoresis,
  or a serum reduction >= 90%) and urine < 100 mg/24 h. PR: serum reduction
  >= 50% and urine reduction >= 90% or to < 200 mg/24 h (FLC-only: dFLC reduction
  >= 50%); a baseline plasmacytoma >= 50% smaller. MR: serum reduction >= 25% and
  urine reduction >= 50%. The urine parts apply when urine was measurable at
  baseline (VGPR's "< 100 mg/24 h" whenever a baseline urine value exists).
  PD (any of): serum +25% and +0.5 g/dL from nadir (or +1 g/dL when the nadir was
  >= 5 g/dL); urine +25% and +200 mg/24 h; FLC-only dFLC +25% and > 10 mg/dL;
  marrow plasma cells +25% and +10 percentage points; a new bone lesion; a
  plasmacytoma new or >= 50% larger. Thresholds are inclusive (>=) except the
  dFLC's "> 10 mg/dL", as the protocol writes it.
- Marrow and imaging need no confirmation: the latest marrow and plasmacytoma
  results on or before an assessment (after baseline) are carried to it.
- Confirmation: a category (and PD) is confirmed by two consecutive assessments
  (different samples) before any new therapy; the confirmed category is the lower
  of the two and is dated at the first. The best overall response is the best
  confirmed category before new therapy; progression is the first confirmed PD.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

RULE_VERSION = "imwg-2016/bpd-1"

SERUM_MEASURABLE = Decimal("1.0")  # g/dL (protocol parameter)
URINE_MEASURABLE = Decimal(200)  # mg/24 h
FLC_MEASURABLE = Decimal(10)  # mg/dL, involved light chain
RATIO_LOW, RATIO_HIGH = Decimal("0.26"), Decimal("1.65")
HUNDRED = Decimal(100)
HALF = Decimal("0.5")
CENT = Decimal("0.01")

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
PD, NE, SD = Category.PD, Category.NE, Category.SD


class Assessment(NamedTuple):
    """One dated myeloma assessment; units: g/dL, mg/24 h, mg/dL, %, cm2. None = not done.

    A named tuple (immutable, and cheap to build from a database row in this field order)."""

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
        if name in self.spurious:
            return None
        if name == "dflc":
            if "kappa" in self.spurious or "lambda" in self.spurious or self.kappa is None or self.lambda_ is None:
                return None
            return abs(self.kappa - self.lambda_)
        return getattr(self, name)

    @property
    def ratio(self) -> Decimal | None:
        if self.kappa is None or self.lambda_ is None or self.lambda_ == 0 or {"kappa", "lambda"} & self.spurious:
            return None
        return self.kappa / self.lambda_


def ratio_normal(ratio: Decimal | None) -> bool | None:
    return None if ratio is None else RATIO_LOW <= ratio <= RATIO_HIGH


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
    confirmed: Category | None = None  # confirmed by this assessment (with the previous one)
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
    return f"{value.quantize(CENT):f}%"  # round(value, 2): the context's half-even rounding


# ---------------------------------------------------------------- baseline


def baseline(assessments: Sequence[Assessment], cycle1_day1: date, *, serum_measurable: Decimal = SERUM_MEASURABLE) -> Baseline:
    before = sorted((a for a in assessments if a.on <= cycle1_day1), key=lambda a: a.on)
    values: dict[str, Decimal | None] = dict.fromkeys(PARAMETERS)
    kappa = lam = None
    plasmacytoma = None
    for a in before:
        for name in PARAMETERS:
            v = a.value(name)
            if v is not None:
                values[name] = v
        if a.kappa is not None and "kappa" not in a.spurious and a.lambda_ is not None and "lambda" not in a.spurious:
            kappa, lam = a.kappa, a.lambda_
        if a.plasmacytoma is not None:
            plasmacytoma = a.plasmacytoma
    ratio = kappa / lam if kappa is not None and lam else None
    involved = None
    if ratio is not None:
        involved = "kappa" if ratio > RATIO_HIGH else "lambda" if ratio < RATIO_LOW else None
    measurable = []
    if values["spep"] is not None and values["spep"] >= serum_measurable:
        measurable.append("spep")
    if values["upep"] is not None and values["upep"] >= URINE_MEASURABLE:
        measurable.append("upep")
    involved_value = {"kappa": kappa, "lambda": lam}.get(involved or "")
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
    return Baseline(values, ratio, involved, plasmacytoma, tuple(measurable), driver, reason)


# ---------------------------------------------------------------- one assessment
#
# The functions below take an assessment's values as arguments (s: serum M-protein, u: urine
# M-protein, d: dFLC, spurious values already None) and its % changes from baseline `ch`; they
# run once per assessment, so they avoid building what they do not return.


@dataclass
class _Context:
    base: Baseline
    nadir: dict[str, Decimal]
    marrow_pc: Decimal | None = None
    marrow_clonal: bool | None = None
    plasmacytoma: bool | None = None
    plasmacytoma_size: Decimal | None = None


def _progression(a: Assessment, s, u, d, m, size, ctx: _Context) -> list[str]:
    found = []
    b, n = ctx.base, ctx.nadir
    measurable = b.measurable
    if s is not None and "spep" in measurable and "spep" in n:
        ns = n["spep"]
        rise = s - ns
        if (ns > 0 and rise * HUNDRED >= ns * 25 and rise >= HALF) or (ns == 0 and rise >= HALF) or (ns >= 5 and rise >= 1):
            found.append(f"serum M-protein {_fmt(s)} g/dL, +{_fmt(rise)} from the nadir {_fmt(ns)}")
    if u is not None and "upep" in measurable and "upep" in n:
        nu = n["upep"]
        rise = u - nu
        if rise * HUNDRED >= nu * 25 and rise >= 200:
            found.append(f"urine M-protein {_fmt(u)} mg/24 h, +{_fmt(rise)} from the nadir {_fmt(nu)}")
    if d is not None and b.driver == "dflc" and "dflc" in n:
        nd = n["dflc"]
        rise = d - nd
        if rise * HUNDRED >= nd * 25 and rise > 10:
            found.append(f"dFLC {_fmt(d)} mg/dL, +{_fmt(rise)} from the nadir {_fmt(nd)}")
    if m is not None and "marrow_pc" in n:
        nm = n["marrow_pc"]
        rise = m - nm
        if rise * HUNDRED >= nm * 25 and rise >= 10:
            found.append(f"marrow plasma cells {_fmt(m)}%, +{_fmt(rise)} points from the nadir {_fmt(nm)}%")
    if a.new_lesions:
        found.append("a new bone lesion")
    if size is not None and "plasmacytoma_size" in n:
        np_ = n["plasmacytoma_size"]
        if np_ > 0 and (size - np_) * 2 >= np_:
            found.append(f"plasmacytoma {_fmt(size)} cm2, >= 50% larger than the nadir {_fmt(np_)}")
    if a.plasmacytoma and b.plasmacytoma is False:
        found.append("a new soft-tissue plasmacytoma")
    return found


def _changes(s, u, d, values: dict[str, Decimal | None]) -> dict[str, Decimal]:
    """% change from baseline of serum, urine and dFLC (where both values exist and the baseline is not 0)."""
    out = {}
    b = values["spep"]
    if s is not None and b:
        out["spep"] = (s - b) * HUNDRED / b  # pct(new, b)
    b = values["upep"]
    if u is not None and b:
        out["upep"] = (u - b) * HUNDRED / b
    b = values["dflc"]
    if d is not None and b:
        out["dflc"] = (d - b) * HUNDRED / b
    return out


def _all(*parts: bool | None) -> bool | None:
    """True when every part holds, False when one fails, None when one is missing (and none fails)."""
    missing = False
    for p in parts:
        if p is False:
            return False
        if p is None:
            missing = True
    return None if missing else True


def _category(a: Assessment, s, u, d, m, size, ch: dict[str, Decimal], ctx: _Context) -> tuple[Category, str]:
    """The unconfirmed category of one assessment (its values s, u, d, m, size; its changes `ch`) and the sentence that justifies it."""
    b = ctx.base
    driver = b.driver
    if driver is None:
        return NE, "no measurable disease at baseline"
    pd = _progression(a, s, u, d, m, size, ctx)
    if pd:
        return PD, "progression: " + "; ".join(pd)
    if (s if driver == "spep" else u if driver == "upep" else d) is None:
        return NE, f"{LABELS[driver]} not assessed"
    missing: list[str] = []
    found = _cr(a, ctx, missing)
    if found is None:
        found = _vgpr(s, u, b, ch, missing)
        if found is None:
            found = _pr(u, b, ch, ctx, missing)
            if found is None:
                found = _mr(u, b, ch, missing)
                if found is None:
                    return SD, _sd_reason(ch, b, missing)
    return found


def _serum(s, b: Baseline, ch: dict[str, Decimal], limit: int) -> bool | None:
    """Serum reduced by at least `limit` % (True where serum is not the measurable parameter)."""
    if "spep" not in b.measurable:
        return True
    return None if s is None else -ch["spep"] >= limit


CR_PARTS = ("negative serum immunofixation", "negative urine immunofixation", "no soft-tissue plasmacytoma", "< 5% marrow plasma cells")
CR_TEXT = ", ".join(CR_PARTS)


def _cr(a: Assessment, ctx: _Context, missing: list[str]):
    """CR and sCR: both immunofixations negative, no plasmacytoma, < 5% marrow plasma cells (the latest marrow)."""
    serum_ife = a.serum_ife
    if serum_ife:
        return None
    urine_ife = a.urine_ife
    if urine_ife:
        return None
    plasmacytoma = ctx.plasmacytoma
    no_plasmacytoma = (None if plasmacytoma is None else not plasmacytoma) if ctx.base.plasmacytoma else not plasmacytoma
    if no_plasmacytoma is False:
        return None
    marrow = ctx.marrow_pc
    low_marrow = None if marrow is None else marrow < 5
    if low_marrow is False:
        return None
    parts = (None if serum_ife is None else True, None if urine_ife is None else True, no_plasmacytoma, low_marrow)
    if None in parts:
        missing += [f"{name} (CR)" for name, ok in zip(CR_PARTS, parts, strict=True) if ok is None]
        return None
    ratio = a.ratio
    normal = ratio_normal(ratio)
    if normal and ratio is not None and ctx.marrow_clonal is False:
        return Category.SCR, f"CR with a normal FLC ratio {_fmt(round(ratio, 4))} and no clonal marrow plasma cells"
    why = "FLC ratio not normal" if normal is False else "FLC ratio not done" if normal is None else "clonal marrow plasma cells not excluded"
    return Category.CR, f"{CR_TEXT} (not sCR: {why})"


def _vgpr(s, u, b: Baseline, ch: dict[str, Decimal], missing: list[str]):
    """VGPR: serum 0 by electrophoresis (detectable by immunofixation only) or reduced >= 90%, and urine < 100 mg/24 h."""
    serum = None if s is None else (-ch["spep"] >= 90 if "spep" in b.measurable else s == 0)
    if serum is False:
        return None
    urine = None if u is None else u < 100
    if urine is False:
        return None
    if serum and urine:
        serum_text = "serum M-protein 0 by electrophoresis" if s == 0 else f"serum M-protein {_pct_text(ch['spep'])} from baseline"
        return Category.VGPR, f"{serum_text}; urine {_fmt(u)} mg/24 h < 100"
    missing.append("urine M-protein (VGPR)" if urine is None else "serum M-protein (VGPR)")
    return None


def _pr(u, b: Baseline, ch: dict[str, Decimal], ctx: _Context, missing: list[str]):
    """PR: serum reduced >= 50% and urine reduced >= 90% or to < 200 mg/24 h; FLC-only: dFLC reduced >= 50%;
    a plasmacytoma present at baseline >= 50% smaller."""
    half: bool | None = True
    base_size = b.values["plasmacytoma_size"]
    if base_size:
        half = None if ctx.plasmacytoma_size is None else ctx.plasmacytoma_size * 2 <= base_size
    if b.driver == "dflc":
        pr = _all(-ch["dflc"] >= 50, half)
        if pr:
            return Category.PR, f"dFLC {_pct_text(ch['dflc'])} from baseline (>= 50% reduction)"
        if pr is None:
            missing.append("plasmacytoma size (PR)")
        return SD, _sd_reason(ch, b, missing)
    measurable = b.measurable
    urine = (None if u is None else (-ch["upep"] >= 90 or u < 200)) if "upep" in measurable else True
    serum = True if "spep" not in measurable else None if "spep" not in ch else -ch["spep"] >= 50
    pr = _all(serum, urine, half)
    if pr:
        return Category.PR, _reduction_text(ch, u, b)
    if pr is None and serum is not False:
        missing.append("urine M-protein (PR)" if urine is None else "plasmacytoma size (PR)" if half is None else "serum M-protein (PR)")
    return None


def _mr(u, b: Baseline, ch: dict[str, Decimal], missing: list[str]):
    """MR (serum-measurable disease): serum reduced >= 25% and, where urine was measurable, urine reduced >= 50%."""
    measurable = b.measurable
    if "spep" not in measurable:
        return None
    urine = (None if u is None else -ch["upep"] >= 50) if "upep" in measurable else True
    serum = None if "spep" not in ch else -ch["spep"] >= 25
    mr = _all(serum, urine)
    if mr:
        return Category.MR, _reduction_text(ch, u, b) + (f" (not PR: {', '.join(dict.fromkeys(missing))} missing)" if missing else "")
    if mr is None and serum:
        missing.append("urine M-protein (MR)")
    return None


def _sd_reason(ch: dict[str, Decimal], b: Baseline, missing: list[str]) -> str:
    changes = ", ".join(f"{LABELS[k]} {_pct_text(v)}" for k, v in ch.items() if k in b.measurable)
    if missing:
        return f"{changes}; {', '.join(dict.fromkeys(missing))} missing: the next lower category"
    return f"neither a partial response nor progression ({changes})"


def _reduction_text(ch: dict[str, Decimal], u: Decimal | None, b: Baseline) -> str:
    if "spep" in b.measurable:
        text = f"serum M-protein {_pct_text(ch['spep'])} from baseline"
        if "upep" in b.measurable and u is not None:
            text += f"; urine {_fmt(u)} mg/24 h ({_pct_text(ch['upep'])})"
        return text
    if "upep" in b.measurable and u is not None:
        return f"urine {_fmt(u)} mg/24 h ({_pct_text(ch['upep'])})"
    return ""


# ---------------------------------------------------------------- the course


def _check(assessments: Sequence[Assessment]) -> None:
    if len({a.on for a in assessments}) != len(assessments):
        raise ImwgError("Two assessments on the same date: one sample per date.")
    values = [v for a in assessments for v in (a.spep, a.upep, a.kappa, a.lambda_, a.marrow_pc, a.plasmacytoma_size) if v is not None]
    marrow = [a.marrow_pc for a in assessments if a.marrow_pc is not None]
    if (values and min(values) < 0) or (marrow and max(marrow) > 100):
        for a in assessments:
            for name in ("spep", "upep", "kappa", "lambda_", "marrow_pc", "plasmacytoma_size"):
                v = getattr(a, name)
                if v is not None and v < 0:
                    raise ImwgError(f"Assessment of {a.on.isoformat()}: {name.rstrip('_')} cannot be negative.")
            if a.marrow_pc is not None and a.marrow_pc > 100:
                raise ImwgError(f"Assessment of {a.on.isoformat()}: marrow plasma cells above 100%.")


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
    nadir = {k: v for k, v in base.values.items() if v is not None}
    ctx = _Context(base, nadir)
    driver = base.driver
    base_values = base.values
    results: list[Result] = []
    confirmed: list[tuple[Category, date]] = []
    flags: dict[date, list[str]] = {}
    post = sorted((a for a in assessments if a.on > cycle1_day1), key=lambda a: a.on)
    prev: Result | None = None
    for a in post:
        if a.spurious:
            s, u, d, m, size = (a.value(name) for name in PARAMETERS)
        else:
            s, u, m, size = a.spep, a.upep, a.marrow_pc, a.plasmacytoma_size
            kappa, lam = a.kappa, a.lambda_
            d = None if kappa is None or lam is None else abs(kappa - lam)
        if m is not None:  # a.marrow_pc, unless spurious
            ctx.marrow_pc = m
        if a.marrow_clonal is not None:
            ctx.marrow_clonal = a.marrow_clonal
        if a.plasmacytoma is not None:
            ctx.plasmacytoma = a.plasmacytoma
        if size is not None:
            ctx.plasmacytoma_size = size
        ch = _changes(s, u, d, base_values)
        category, reason = _category(a, s, u, d, m, size, ch, ctx)
        after = next_therapy_on is not None and a.on >= next_therapy_on
        if driver == "spep" and d is not None and "dflc" in nadir and category is not PD and not after:
            rise = d - nadir["dflc"]
            if rise * HUNDRED >= nadir["dflc"] * 25 and rise > 10:
                flags.setdefault(a.on, []).append(
                    f"dFLC {_fmt(d)} mg/dL on {a.on.isoformat()}, +{_fmt(rise)} from its nadir, in a patient followed by serum M-protein: "
                    "look for light-chain escape."
                )
        # Confirmation by two consecutive assessments (the lower category, dated at the first).
        conf = None if prev is None or after else _confirm(prev.category, category)
        if conf is not None and prev is not None:
            confirmed.append((conf, prev.on))
            r = Result(a.on, a.id, category, reason, ch, dict(nadir), conf, prev.on, after)
        else:
            r = Result(a.on, a.id, category, reason, ch, dict(nadir), None, None, after)
        results.append(r)
        prev = r
        for name, value in (("spep", s), ("upep", u), ("dflc", d), ("marrow_pc", m), ("plasmacytoma_size", size)):
            if value is not None:
                low = nadir.get(name)
                if low is None or value < low:
                    nadir[name] = value
    return _course(base, results, confirmed, next_therapy_on, flags)


def _confirm(first: Category, second: Category) -> Category | None:
    """The category two consecutive assessments confirm (the lower of the two; PD by two PD), or None."""
    if first is NE or second is NE:
        return None
    if first is PD and second is PD:
        return PD
    if first is PD or second is PD:
        return None
    return first if RANKS[first] <= RANKS[second] else second


def _course(
    base: Baseline, out: list[Result], confirmed: list[tuple[Category, date]], next_therapy_on: date | None, r_flags: dict[date, list[str]]
) -> Response:
    flags: list[str] = []
    before = [r for r in out if not r.after_next_therapy]
    if next_therapy_on is not None and before and before[-1].category is PD and before[-1].confirmed is not PD:
        flags.append(f"Progression on {before[-1].on.isoformat()} not confirmed before the next therapy started {next_therapy_on.isoformat()}.")
    if r_flags:
        flags += [f for r in out for f in r_flags.get(r.on, ())][:1]
    progression_on = min((on for cat, on in confirmed if cat is PD), default=None)
    responses = [(cat, on) for cat, on in confirmed if cat is not PD and (progression_on is None or on < progression_on)]
    if responses:
        best_rank = max(RANKS[c] for c, _ in responses)
        best_cat = next(c for c, _ in responses if RANKS[c] == best_rank)
        best_on = min(on for c, on in responses if c is best_cat)
        best_reason = f"{best_cat} confirmed from {best_on.isoformat()}"
    elif progression_on is not None:
        best_cat, best_on, best_reason = PD, progression_on, f"PD confirmed from {progression_on.isoformat()} with no confirmed response before"
    else:
        best_cat, best_on = NE, None
        best_reason = "no category confirmed by two consecutive assessments" if before else "no assessment after baseline"
    first_response = min((on for c, on in responses if c in RESPONSES), default=None)
    driver = base.driver
    best_change = min((r.change_pct[driver] for r in before if driver in r.change_pct), default=None) if driver else None
    return Response(base, tuple(out), best_cat, best_on, best_reason, progression_on, first_response, best_change, tuple(flags), RULE_VERSION, tuple(confirmed))
