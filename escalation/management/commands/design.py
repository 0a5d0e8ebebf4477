"""Any protocol's design on the command line, for statisticians (issue 18). No database.

    python manage.py design table --protocol protocols/bpd-boin.toml [--json]
    python manage.py design simulate --protocol protocols/bpd-boin.toml --true-tox 0.05,0.1,0.2,0.3,0.5 [--exact | --trials N --seed S] [--json]

TITE-BOIN is simulated by Monte Carlo only (arrivals and DLT times: --arrivals, patients per assessment window).
"""

import json
import time

from django.core.management.base import BaseCommand, CommandError

from cohorts.protocol import ProtocolError, read_protocol
from escalation.designs import Boin, DesignError, TiteBoin, engine_of
from escalation.designs.oc import TiteAssumptions, simulate_exact, simulate_tite, simulate_trials
from escalation.designs.tables import decision_table, tite_decision_table


class Command(BaseCommand):
    help = "A protocol's dose-finding design: its decision table (table) and operating characteristics (simulate)."
    requires_system_checks = []

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="mode", required=True)
        for name in ("table", "simulate"):
            p = sub.add_parser(name)
            p.add_argument("--protocol", required=True, help="the protocol file (TOML)")
            p.add_argument("--json", action="store_true", help="print one JSON object")
            if name == "simulate":
                p.add_argument("--true-tox", required=True, help="true DLT probability per level, lowest first, comma-separated")
                p.add_argument("--exact", action="store_true", help="exact enumeration (the default except for tite-boin)")
                p.add_argument("--trials", type=int, default=None, help="Monte Carlo: number of simulated trials")
                p.add_argument("--seed", type=int, default=1, help="Monte Carlo seed")
                p.add_argument("--arrivals", type=float, default=2.0, help="tite-boin: patients arriving per assessment window (Poisson)")

    def handle(self, *args, mode, **o):
        try:
            spec = read_protocol(o["protocol"])
            engine, start = engine_of(spec)
            if mode == "table":
                self._table(engine, o["json"])
                return
            try:
                tox = [float(x) for x in o["true_tox"].split(",")]
            except ValueError as exc:
                raise CommandError(f"--true-tox: numbers between 0 and 1, comma-separated ({exc}).") from exc
            tite = spec.design.name == "tite-boin"
            if o["exact"] and (o["trials"] is not None or tite):
                raise CommandError("--exact enumerates; it takes no --trials, and tite-boin is simulated by Monte Carlo only (--trials N).")
            t0 = time.perf_counter()
            if tite or o["trials"] is not None:
                trials = o["trials"] or 10000
                if tite:
                    oc = simulate_tite(engine, tox, trials=trials, seed=o["seed"], assumptions=TiteAssumptions(o["arrivals"]), start=start)
                else:
                    oc = simulate_trials(engine, tox, trials=trials, seed=o["seed"], start=start)
            else:
                oc = simulate_exact(engine, tox, start=start)
            seconds = time.perf_counter() - t0
        except (ProtocolError, DesignError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        out = {"design": spec.design.name, **oc.as_json(), "seconds": round(seconds, 4)}
        if o["json"]:
            self.stdout.write(json.dumps(out))
            return
        how = f"Monte Carlo, {oc.trials} trials, seed {o['seed']}" if oc.trials else f"exact, {oc.states} states"
        self.stdout.write(f"{spec.trial.code}: {spec.design.name} ({how}, {seconds:.3f} s)")
        self.stdout.write(f"{'level':>6} {'true':>6} {'P(select)':>10} {'E[n]':>7} {'E[DLT]':>7}")
        for i, label in enumerate(oc.labels):
            self.stdout.write(f"{label:>6} {tox[i]:>6.2f} {oc.p_select[i]:>10.4f} {oc.expected_n[i]:>7.2f} {oc.expected_dlt[i]:>7.2f}")
        self.stdout.write(f"P(no MTD selected) {oc.p_none:.4f}; E[patients] {sum(oc.expected_n):.2f}; E[DLTs] {sum(oc.expected_dlt):.2f}")
        self.stdout.write(f"Risk of overdosing (more than 60% / 80% of patients above the true MTD): {oc.p_overdose60:.4f} / {oc.p_overdose80:.4f}")

    def _table(self, engine, as_json):
        rows = decision_table(engine)
        head = {}
        if isinstance(engine, Boin):
            head = {"lambda_e": round(engine.lambdas[0], 4), "lambda_d": round(engine.lambdas[1], 4)}
        tite = tite_decision_table(engine) if isinstance(engine, TiteBoin) else None
        if as_json:
            extra = {"tite_rows": [r.as_json() for r in tite]} if tite is not None else {}
            self.stdout.write(json.dumps({"design": engine.spec.name, **head, "rows": [r.as_json() for r in rows], **extra}))
            return
        if head:
            self.stdout.write(
                f"{engine.spec.name}: lambda_e {head['lambda_e']}, lambda_d {head['lambda_d']} (escalate if DLT rate <= lambda_e, de-escalate if > lambda_d)"
            )
        if tite is not None:
            self.stdout.write("With every outcome known:")
        self.stdout.write(f"{'n':>4} {'escalate':>9} {'stay':>14} {'de-escalate':>12} {'eliminate':>10}   (numbers of DLTs among n at the level)")
        for r in rows:
            self.stdout.write(f"{r.n:>4} {r.escalate:>9} {r.stay:>14} {r.deescalate:>12} {r.eliminate:>10}")
        if tite is not None:
            self._tite_table(engine, tite)

    def _tite_table(self, engine, rows):
        spec = engine.spec
        self.stdout.write("")
        self.stdout.write(
            f"With patients pending (laid out as Table 1 of Yuan et al. 2018): STFT = the pending patients' standardized total follow-up time "
            f"(the sum of their follow-up fractions of the {spec.window_days or 'trial'}-day window); suspend when more than "
            f"{spec.max_pending_fraction:.0%} of the patients at the level are pending; Elim = the level and all above are eliminated."
        )
        self.stdout.write(f"{'treated':>7} {'DLTs':>6} {'pending':>8} {'escalate':>10} {'stay':>10} {'de-escalate':>11}")
        for r in rows:
            self.stdout.write(f"{r.n:>7} {r.dlts:>6} {r.pending:>8} {r.escalate:>10} {r.stay:>10} {r.deescalate:>11}")
