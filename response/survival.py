"""Kaplan-Meier survival curves for the efficacy tab and reports. Pure Python on scipy.

- The curve and its Greenwood variance come from scipy.stats.ecdf on right-censored
  data; the pointwise confidence interval is scipy's "exponential Greenwood"
  (log-log) interval, R survival's conf.type="log-log".
- The median and its confidence interval follow R survival's quantile.survfit
  (survival 3.5): the median is the first time the curve is at or below 0.5, and
  its interval runs from the first time the lower curve is at or below 0.5 to the
  first time the upper curve is. With the log-log curves this is the
  Brookmeyer-Crowley interval as R's survfit reports it (Brookmeyer & Crowley,
  Biometrics 1982;38:29-41).
- Numbers at risk at any time, for the table under a plot.

Checked against R survival's aml data and lifelines' Waltons data in
tests/unit/test_survival.py.
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where a curve is computed (see kaplan_meier)
    import numpy as np
    import numpy.typing as npt

# R survival compares survival probabilities with 0.5 to this tolerance, sqrt(.Machine$double.eps).
TOLERANCE = math.sqrt(sys.float_info.epsilon)


class SurvivalError(ValueError):
    """Input that no Kaplan-Meier curve can be drawn from."""


@dataclass(frozen=True)
class Curve:
    """One Kaplan-Meier curve, one entry per distinct observed time (event or censoring), as R's survfit.

    survival[i] is S(t) from times[i] until the next time. lower and upper are the pointwise
    log-log confidence limits (Greenwood variance): 1.0 while S(t) is 1 (no event yet, the
    variance is 0) and None once S(t) is 0 (undefined; R gives NA).
    at_risk[i] counts the patients still followed just before times[i]; events[i] and
    censored[i] the deaths (or progressions) and censorings at times[i].
    median, median_lower and median_upper are None where the curve or its limit never
    reaches 0.5 (R's NA), e.g. an upper limit when the upper curve stays above one half.
    """

    times: tuple[float, ...]
    survival: tuple[float, ...]
    lower: tuple[float | None, ...]
    upper: tuple[float | None, ...]
    at_risk: tuple[int, ...]
    events: tuple[int, ...]
    censored: tuple[int, ...]
    n: int
    n_events: int
    confidence: float
    median: float | None
    median_lower: float | None
    median_upper: float | None

    def survival_at(self, t: float) -> float:
        """S(t), right-continuous: 1 before the first time; after the last time, the last value (as R's summary)."""
        i = bisect_right(self.times, t)
        return 1.0 if i == 0 else self.survival[i - 1]

    def at_risk_at(self, t: float) -> int:
        """Patients still followed at time t (observed time >= t), as R's summary(fit, times=t)$n.risk."""
        i = bisect_left(self.times, t)
        return self.at_risk[i] if i < len(self.times) else 0


def kaplan_meier(durations: Sequence[float], events: Sequence[bool | int], *, confidence: float = 0.95) -> Curve:
    """The Kaplan-Meier curve of one group.

    durations: time from the origin (e.g. registration) to the event or to the last follow-up, >= 0.
    events: True (or 1) where the event was observed, False (or 0) where the time is censored.
    Raises SurvivalError (a ValueError) on empty, mismatched, negative or non-finite input.
    """
    import numpy as np  # imported here: the web process loads numpy and scipy only when a curve is computed
    from scipy import stats

    times_in, observed = _validated(durations, events, confidence)
    sf = stats.ecdf(stats.CensoredData(uncensored=times_in[observed], right=times_in[~observed])).sf
    with warnings.catch_warnings():
        # scipy warns where S(t) is 0 or 1 and the log-log interval is undefined; handled below.
        warnings.filterwarnings("ignore", message="The confidence interval is undefined", category=RuntimeWarning)
        ci = sf.confidence_interval(confidence_level=confidence, method="log-log")

    times = sf.quantiles
    survival = tuple(float(s) for s in sf.probabilities)
    lower = tuple(_limit(s, v) for s, v in zip(survival, ci.low.probabilities, strict=True))
    upper = tuple(_limit(s, v) for s, v in zip(survival, ci.high.probabilities, strict=True))

    all_sorted = np.sort(times_in)
    event_sorted = np.sort(times_in[observed])
    at_risk = len(all_sorted) - np.searchsorted(all_sorted, times, side="left")
    n_at = np.searchsorted(all_sorted, times, side="right") - np.searchsorted(all_sorted, times, side="left")
    d_at = np.searchsorted(event_sorted, times, side="right") - np.searchsorted(event_sorted, times, side="left")

    time_list = tuple(float(t) for t in times)
    last = time_list[-1]
    return Curve(
        times=time_list,
        survival=survival,
        lower=lower,
        upper=upper,
        at_risk=tuple(int(r) for r in at_risk),
        events=tuple(int(d) for d in d_at),
        censored=tuple(int(c) for c in n_at - d_at),
        n=len(times_in),
        n_events=int(observed.sum()),
        confidence=confidence,
        median=_first_time_at_or_below(time_list, survival, last),
        median_lower=_first_time_at_or_below(time_list, lower, last),
        median_upper=_first_time_at_or_below(time_list, upper, last),
    )


def _validated(durations: Sequence[float], events: Sequence[bool | int], confidence: float) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    if len(durations) != len(events):
        raise SurvivalError(f"{len(durations)} durations but {len(events)} event flags: one of each per patient")
    if len(durations) == 0:
        raise SurvivalError("no patients: a Kaplan-Meier curve needs at least one duration")
    if not 0 < confidence < 1:
        raise SurvivalError(f"confidence must be between 0 and 1, not {confidence}")
    for i, (d, e) in enumerate(zip(durations, events, strict=True)):
        if isinstance(d, bool) or not isinstance(d, numbers.Real) or not math.isfinite(d):
            raise SurvivalError(f"duration {i} is {d!r}: it must be a finite number")
        if d < 0:
            raise SurvivalError(f"duration {i} is negative ({d}): time runs from the origin forwards")
        if e not in (0, 1):  # True == 1, False == 0
            raise SurvivalError(f"event flag {i} is {e!r}: True/1 for an observed event, False/0 for censored")
    import numpy as np

    return np.asarray(durations, dtype=float), np.asarray([bool(e) for e in events], dtype=bool)


def _limit(s: float, value: float) -> float | None:
    # R: the log-log limits are NA where S(t) is 0 or 1. At S(t) = 1 the Greenwood variance
    # is 0 and R's summary() and lifelines give the point itself; keep 1.0 so a plot's band starts at 1.
    if s == 1.0:
        return 1.0
    return None if math.isnan(value) else float(value)


def _first_time_at_or_below(times: tuple[float, ...], curve: tuple[float | None, ...], last: float, p: float = 0.5) -> float | None:
    """The time the curve first reaches p, as R survival's findq (quantile.survfit, survival 3.5).

    R works on F = 1 - S from the origin (time 0, F = 0): keep the first time of each distinct
    value, skip undefined (NA) points, and find the first value within the tolerance of p. If
    the curve sits exactly on p (within the tolerance), the answer is the midpoint between
    that time and the time the curve next drops below p, or the last observed time when it
    never does (survfit: times 1, 2, 3, 4 all events give median 2.5). None if never reached.
    """
    target = 1 - p
    xs: list[float] = [0.0]
    ys: list[float | None] = [0.0]
    for t, s in zip(times, curve, strict=True):
        f = None if s is None else 1.0 - s
        if f not in ys:  # R's duplicated(): an NA counts once too
            xs.append(t)
            ys.append(f)
    defined = [(f, i) for i, f in enumerate(ys) if f is not None]
    if max(f for f, _ in defined) < target:
        return None
    reached = min((f, i) for f, i in defined if f + TOLERANCE >= target)[1]
    below = [(f, i) for f, i in defined if f - TOLERANCE >= target]
    if ys[-1] is not None and abs(target - ys[-1]) < TOLERANCE:
        return (xs[reached] + last) / 2
    if not below:
        return None
    return (xs[reached] + xs[min(below)[1]]) / 2
