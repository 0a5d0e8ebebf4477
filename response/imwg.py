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
        if name in self.spurious:
            return None
        if name == "dflc":
            if "kappa" in self.spurious or "lambda" in self.spurious or self.kappa is None or self.lambda_ is None:
                return None
            return abs(self.kappa - self.lambda_)
        value: Decimal | None = getattr(self, name)
        return value

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
    return f"{_fmt(round(value, 2))}%"


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


@dataclass
class _Context:
    """What the assessments so far leave for the next: the nadirs, and the marrow and imaging carried forward."""

    base: Baseline
    nadir: dict[str, Decimal]
    marrow_pc: Decimal | None = None
    marrow_clonal: bool | None = None
    plasmacytoma: bool | None = None
    plasmacytoma_size: Decimal | None = None


def _values(a: Assessment) -> dict[str, Decimal | None]:
    """The assessment's value of each parameter (None where missing or spurious)."""
    return {name: a.value(name) for name in PARAMETERS}


def _carry_forward(ctx: _Context, a: Assessment, v: dict[str, Decimal | None]) -> None:
    """Marrow and imaging need no confirmation: their latest results are carried to later assessments."""
    if v["marrow_pc"] is not None:
        ctx.marrow_pc = v["marrow_pc"]
    if a.marrow_clonal is not None:
        ctx.marrow_clonal = a.marrow_clonal
    if a.plasmacytoma is not None:
        ctx.plasmacytoma = a.plasmacytoma
    if v["plasmacytoma_size"] is not None:
        ctx.plasmacytoma_size = v["plasmacytoma_size"]


def _lower_nadir(nadir: dict[str, Decimal], v: dict[str, Decimal | None]) -> None:
    """IMWG 2016: progression is measured from the nadir, the lowest value so far."""
    for name, value in v.items():
        if value is not None and (name not in nadir or value < nadir[name]):
            nadir[name] = value


def _risen(value: Decimal, nadir: Decimal, minimum: Decimal | int) -> bool:
    """At least 25% and at least `minimum` above the nadir (IMWG 2016: progression is measured from the nadir)."""
    rise = value - nadir
    return rise * HUNDRED >= nadir * 25 and rise >= minimum


def _serum_progression(s: Decimal, nadir: Decimal) -> bool:
    """Serum +25% and +0.5 g/dL from the nadir (from a nadir of 0: +0.5 g/dL), or +1 g/dL when the nadir was >= 5 g/dL."""
    if nadir >= 5 and s - nadir >= 1:
        return True
    if nadir == 0:
        return s - nadir >= HALF
    return _risen(s, nadir, HALF)


def _dflc_progression(d: Decimal, nadir: Decimal) -> bool:
    """dFLC +25% and more than 10 mg/dL from the nadir (the protocol's "> 10", not ">=")."""
    rise = d - nadir
    return rise * HUNDRED >= nadir * 25 and rise > 10


def _half_larger(size: Decimal, nadir: Decimal) -> bool:
    """A plasmacytoma at least 50% larger than at its nadir (a nadir of 0 cm2 has no size to compare)."""
    return nadir > 0 and (size - nadir) * 2 >= nadir


def _progression(a: Assessment, v: dict[str, Decimal | None], ctx: _Context) -> list[str]:
    """The protocol's progression criteria this assessment meets, each as a sentence."""
    found = []
    b, n = ctx.base, ctx.nadir
    s, u, d, m, size = (v[name] for name in PARAMETERS)
    if s is not None and "spep" in b.measurable and "spep" in n and _serum_progression(s, n["spep"]):
        found.append(f"serum M-protein {_fmt(s)} g/dL, +{_fmt(s - n['spep'])} from the nadir {_fmt(n['spep'])}")
    if u is not None and "upep" in b.measurable and "upep" in n and _risen(u, n["upep"], 200):
        found.append(f"urine M-protein {_fmt(u)} mg/24 h, +{_fmt(u - n['upep'])} from the nadir {_fmt(n['upep'])}")
    if d is not None and b.driver == "dflc" and "dflc" in n and _dflc_progression(d, n["dflc"]):
        found.append(f"dFLC {_fmt(d)} mg/dL, +{_fmt(d - n['dflc'])} from the nadir {_fmt(n['dflc'])}")
    if m is not None and "marrow_pc" in n and _risen(m, n["marrow_pc"], 10):
        found.append(f"marrow plasma cells {_fmt(m)}%, +{_fmt(m - n['marrow_pc'])} points from the nadir {_fmt(n['marrow_pc'])}%")
    if a.new_lesions:
        found.append("a new bone lesion")
    if size is not None and "plasmacytoma_size" in n and _half_larger(size, n["plasmacytoma_size"]):
        found.append(f"plasmacytoma {_fmt(size)} cm2, >= 50% larger than the nadir {_fmt(n['plasmacytoma_size'])}")
    if a.plasmacytoma and b.plasmacytoma is False:
        found.append("a new soft-tissue plasmacytoma")
    return found


def _changes(v: dict[str, Decimal | None], base: Baseline) -> dict[str, Decimal]:
    """% change from baseline of serum, urine and dFLC (where both values exist and the baseline is not 0)."""
    out = {}
    for name in CHANGES:
        new, before = v[name], base.values[name]
        if new is not None and before:
            out[name] = pct(new, before)
    return out


def _all(*parts: bool | None) -> bool | None:
    """True when every part holds, False when one fails, None when one is missing (and none fails)."""
    if False in parts:
        return False
    if None in parts:
        return None
    return True


def _category(a: Assessment, v: dict[str, Decimal | None], ch: dict[str, Decimal], ctx: _Context) -> tuple[Category, str]:
    """The unconfirmed category of one assessment (its values `v`, its changes `ch`) and the sentence that justifies it."""
    b = ctx.base
    if b.driver is None:
        return Category.NE, "no measurable disease at baseline"
    pd = _progression(a, v, ctx)
    if pd:
        return Category.PD, "progression: " + "; ".join(pd)
    if v[b.driver] is None:
        return Category.NE, f"{LABELS[b.driver]} not assessed"
    missing: list[str] = []  # criteria not assessed, named in the reason of the category given instead
    for step in (_cr, _vgpr, _pr, _mr):
        found = step(a, v, ctx, ch, missing)
        if found is not None:
            return found
    return Category.SD, _sd_reason(ch, b, missing)


def _serum(v: dict[str, Decimal | None], b: Baseline, ch: dict[str, Decimal], limit: int) -> bool | None:
    """Serum reduced by at least `limit` % (True where serum is not the measurable parameter)."""
    if "spep" not in b.measurable:
        return True
    return None if "spep" not in ch else -ch["spep"] >= limit


CR_PARTS = ("negative serum immunofixation", "negative urine immunofixation", "no soft-tissue plasmacytoma", "< 5% marrow plasma cells")


def _cr(a: Assessment, v: dict[str, Decimal | None], ctx: _Context, ch: dict[str, Decimal], missing: list[str]) -> tuple[Category, str] | None:
    """CR and sCR: both immunofixations negative, no plasmacytoma, < 5% marrow plasma cells (the latest marrow)."""
    no_plasmacytoma = (None if ctx.plasmacytoma is None else not ctx.plasmacytoma) if ctx.base.plasmacytoma else not ctx.plasmacytoma
    values = (
        None if a.serum_ife is None else not a.serum_ife,
        None if a.urine_ife is None else not a.urine_ife,
        no_plasmacytoma,
        None if ctx.marrow_pc is None else ctx.marrow_pc < 5,
    )
    parts = dict(zip(CR_PARTS, values, strict=True))
    cr = _all(*parts.values())
    if cr is None:
        missing += [f"{name} (CR)" for name, ok in parts.items() if ok is None]
    if not cr:
        return None
    ratio = a.ratio
    normal = ratio_normal(ratio)
    if normal and ratio is not None and ctx.marrow_clonal is False:
        return Category.SCR, f"CR with a normal FLC ratio {_fmt(round(ratio, 4))} and no clonal marrow plasma cells"
    why = "FLC ratio not normal" if normal is False else "FLC ratio not done" if normal is None else "clonal marrow plasma cells not excluded"
    return Category.CR, f"{', '.join(parts)} (not sCR: {why})"


def _vgpr(a: Assessment, v: dict[str, Decimal | None], ctx: _Context, ch: dict[str, Decimal], missing: list[str]) -> tuple[Category, str] | None:
    """VGPR: serum 0 by electrophoresis (detectable by immunofixation only) or reduced >= 90%, and urine < 100 mg/24 h."""
    b, s, u = ctx.base, v["spep"], v["upep"]
    serum = _serum(v, b, ch, 90) if "spep" in b.measurable else (None if s is None else s == 0)
    urine = None if u is None else u < 100
    vgpr = _all(serum, urine)
    if vgpr and u is not None:
        serum_text = "serum M-protein 0 by electrophoresis" if s == 0 else f"serum M-protein {_pct_text(ch['spep'])} from baseline"
        return Category.VGPR, f"{serum_text}; urine {_fmt(u)} mg/24 h < 100"
    if vgpr is None:
        missing.append("urine M-protein (VGPR)" if urine is None else "serum M-protein (VGPR)")
    return None


def _pr(a: Assessment, v: dict[str, Decimal | None], ctx: _Context, ch: dict[str, Decimal], missing: list[str]) -> tuple[Category, str] | None:
    """PR: serum reduced >= 50% and urine reduced >= 90% or to < 200 mg/24 h; FLC-only: dFLC reduced >= 50%;
    a plasmacytoma present at baseline >= 50% smaller."""
    b, u = ctx.base, v["upep"]
    half: bool | None = True
    if b.values["plasmacytoma_size"]:
        half = None if ctx.plasmacytoma_size is None else ctx.plasmacytoma_size * 2 <= b.values["plasmacytoma_size"]
    if b.driver == "dflc":
        pr = _all(-ch["dflc"] >= 50, half)
        if pr:
            return Category.PR, f"dFLC {_pct_text(ch['dflc'])} from baseline (>= 50% reduction)"
        if pr is None:
            missing.append("plasmacytoma size (PR)")
        return Category.SD, _sd_reason(ch, b, missing)
    urine = (None if u is None else (-ch["upep"] >= 90 or u < 200)) if "upep" in b.measurable else True
    serum = _serum(v, b, ch, 50)
    pr = _all(serum, urine, half)
    if pr:
        return Category.PR, _reduction_text(ch, u, b)
    if pr is None and serum is not False:
        missing.append("urine M-protein (PR)" if urine is None else "plasmacytoma size (PR)" if half is None else "serum M-protein (PR)")
    return None


def _mr(a: Assessment, v: dict[str, Decimal | None], ctx: _Context, ch: dict[str, Decimal], missing: list[str]) -> tuple[Category, str] | None:
    """MR (serum-measurable disease): serum reduced >= 25% and, where urine was measurable, urine reduced >= 50%."""
    b, u = ctx.base, v["upep"]
    if "spep" not in b.measurable:
        return None
    urine = (None if u is None else -ch["upep"] >= 50) if "upep" in b.measurable else True
    serum = _serum(v, b, ch, 25)
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
    parts = []
    if "spep" in b.measurable:
        parts.append(f"serum M-protein {_pct_text(ch['spep'])} from baseline")
    if "upep" in b.measurable and u is not None:
        parts.append(f"urine {_fmt(u)} mg/24 h ({_pct_text(ch['upep'])})")
    return "; ".join(parts)


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
        v = _values(a)
        _carry_forward(ctx, a, v)
        ch = _changes(v, base)
        category, reason = _category(a, v, ch, ctx)
        after = next_therapy_on is not None and a.on >= next_therapy_on
        if category is not Category.PD and not after and (escape := _light_chain_escape(a, v, ctx)):
            escapes.append(escape)
        # Confirmation by two consecutive assessments (the lower category, dated at the first).
        prev = results[-1] if results else None
        conf = None if prev is None or after else _confirm(prev.category, category)
        confirmed_from = prev.on if conf is not None and prev is not None else None
        if conf is not None and confirmed_from is not None:
            confirmed.append((conf, confirmed_from))
        results.append(Result(a.on, a.id, category, reason, ch, dict(ctx.nadir), conf, confirmed_from, after))
        _lower_nadir(ctx.nadir, v)
    return _course(base, results, confirmed, next_therapy_on, escapes)


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
