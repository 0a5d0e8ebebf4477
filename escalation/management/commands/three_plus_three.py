"""The 3+3 engine and its operating characteristics on the command line, for statisticians.

    python manage.py three_plus_three decide --outcomes "1NNN 2NTN 2NNN"
    python manage.py three_plus_three simulate --true-tox 0.05,0.1,0.2,0.3,0.5 --exact [--json]
    python manage.py three_plus_three simulate --true-tox 0.05,0.1,0.2,0.3,0.5 --trials 10000 --seed 1

Levels default to this trial's (-1, 1, 2, 3, 4, starting at 1); --levels and --start give another ladder.
"""

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cohorts.protocol import read_protocol
from escalation.rules import EscalationError, Ladder, decide, ladder_of, parse_outcomes, simulate_exact, simulate_trials


def default_ladder() -> Ladder:
    """The defaults: the ladder of the trial's protocol file (settings.TRIALSITE_DEFAULT_PROTOCOL)."""
    return ladder_of(read_protocol(settings.TRIALSITE_DEFAULT_PROTOCOL))


class Command(BaseCommand):
    help = "3+3 decisions (decide) and operating characteristics (simulate) without a database."
    requires_system_checks = []

    def add_arguments(self, parser):
        protocol = default_ladder()
        sub = parser.add_subparsers(dest="mode", required=True)
        for name in ("decide", "simulate"):
            p = sub.add_parser(name)
            p.add_argument("--levels", default=",".join(protocol.labels), help=f"dose level labels, lowest first (default {','.join(protocol.labels)})")
            p.add_argument("--start", default=None, help=f"starting level (default {protocol.start}, or the second label)")
            p.add_argument("--cap", type=int, default=protocol.escalation_cap, help=f"escalation cap (default {protocol.escalation_cap})")
            if name == "decide":
                p.add_argument("--outcomes", required=True, help='one token per cohort: level then N/T/P/X per patient, e.g. "1NNN 2NTN"')
            else:
                p.add_argument("--true-tox", required=True, help="true DLT probability per level, comma-separated")
                p.add_argument("--exact", action="store_true", help="exact enumeration (default when --trials is not given)")
                p.add_argument("--trials", type=int, default=None, help="Monte Carlo: number of simulated trials")
                p.add_argument("--seed", type=int, default=1, help="Monte Carlo seed")
                p.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, mode, **o):
        try:
            labels = tuple(x.strip() for x in o["levels"].split(",") if x.strip())
            p = default_ladder()
            start = o["start"] or (p.start if labels == p.labels else labels[min(1, len(labels) - 1)])
            ladder = Ladder(labels=labels, start=start, cohort_size=p.cohort_size, expanded_size=p.expanded_size, escalation_cap=o["cap"])
            if mode == "decide":
                patients, current = parse_outcomes(o["outcomes"], ladder)
                self.stdout.write(json.dumps(decide(ladder, patients, current=current).as_json()))
                return
            try:
                tox = [float(x) for x in o["true_tox"].split(",")]
            except ValueError as exc:
                raise CommandError(f"--true-tox: numbers between 0 and 1, comma-separated ({exc}).") from exc
            t0 = time.perf_counter()
            if o["trials"] is not None and not o["exact"]:
                result = simulate_trials(ladder, tox, trials=o["trials"], seed=o["seed"])
            else:
                result = simulate_exact(ladder, tox)
            elapsed = time.perf_counter() - t0
        except EscalationError as exc:
            raise CommandError(str(exc)) from exc
        if o["json"]:
            self.stdout.write(json.dumps(result.as_json()))
            return
        how = f"Monte Carlo, {result.trials} trials, seed {o['seed']}" if result.trials else "exact enumeration"
        self.stdout.write(f"3+3 operating characteristics ({how}, {elapsed * 1000:.1f} ms)")
        self.stdout.write(f"{'level':>6} {'true p':>7} {'P(MTD)':>8} {'E[n]':>7}")
        for label, p in zip(ladder.labels, tox, strict=True):
            self.stdout.write(f"{label:>6} {p:7.3f} {result.p_mtd[label]:8.4f} {result.expected_n_by_level[label]:7.3f}")
        self.stdout.write(f"P(stop, no MTD) {result.p_stop:.4f} (of which the escalation cap {result.p_cap:.4f})")
        self.stdout.write(f"E[patients] {result.expected_n:.3f}  E[DLTs] {result.expected_dlt:.3f}")
