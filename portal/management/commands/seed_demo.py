import time

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cohorts.models import Enrolment, Trial
from portal.demo import seed as demo


class Command(BaseCommand):
    help = (
        "Demo and synthetic data. With --demo: the protocol, two sites, one user per role (passwords "
        "printed once) and a trial in progress written through the services (20 patients; nothing is written when the "
        "trial already has patients). With --patients N --seed S: N synthetic patients "
        "(--cycles K: with treatment; --toxicity: with cycle-1 labs and adverse events; --assessments M: with "
        "myeloma assessments and follow-up)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--demo", action="store_true", help="protocol, sites, users and the demo trial in progress (a no-op when the trial already has patients)"
        )
        parser.add_argument("--patients", type=int, default=0, help="number of synthetic patients to add")
        parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same data")
        parser.add_argument("--cycles", type=int, default=0, help="with --patients: up to this many cycles per treated patient, every dose given")
        parser.add_argument(
            "--toxicity",
            action="store_true",
            help="with --patients and --cycles: cycle-1 lab panels and adverse events, about 1 patient in 5 with a pattern the DLT rules propose",
        )
        parser.add_argument(
            "--assessments",
            type=int,
            default=0,
            metavar="M",
            help="with --patients and --cycles: up to M myeloma assessments per treated patient (a baseline, then one each cycle "
            "day 1 up to today) along a mix of IMWG courses, and some follow-up; e.g. --cycles 20 --span-days 700 --assessments 20",
        )
        parser.add_argument(
            "--span-days",
            type=int,
            default=3 * 365,
            help="with --patients: spread the consents over the last DAYS days (default 3 years; e.g. 10 puts cycle 1 within the last ~30 days)",
        )
        parser.add_argument(
            "--latest-days-ago",
            type=int,
            default=0,
            help="with --patients: the newest consent at least DAYS days ago (default 0); e.g. --span-days 140 --latest-days-ago 560 "
            "gives every treated patient 20 cycle days 1 by today",
        )
        parser.add_argument("--trial", default=None, help="trial code to add synthetic patients to (default: BPD within its caps)")
        parser.add_argument(
            "--synthetic",
            metavar="CODE",
            default=None,
            help="put the synthetic patients in a synthetic copy of the protocol named CODE, sized to hold them all enrolled",
        )

    def check_options(self, options) -> None:
        if options["patients"] < 0:
            raise CommandError("--patients must be 0 or more")
        if options["toxicity"] and not (options["patients"] and options["cycles"]):
            raise CommandError("--toxicity needs --patients and --cycles (1 or more): toxicity is recorded in cycle 1")
        if options["assessments"] < 0:
            raise CommandError("--assessments must be 0 or more")
        if options["assessments"] and not (options["patients"] and options["cycles"]):
            raise CommandError("--assessments needs --patients and --cycles (1 or more): assessments start before cycle 1 day 1")
        if options["latest_days_ago"] < 0:
            raise CommandError("--latest-days-ago must be 0 or more")
        if options["span_days"] < 1:
            raise CommandError("--span-days must be 1 or more")

    def handle(self, *args, demo_mode=None, **options):
        self.check_options(options)
        trial = demo.ensure_trial(today=demo.demo_opened_on() if options["demo"] else None)
        demo.ensure_sites()
        if options["demo"]:
            self.demo(trial)
        if options["patients"]:
            if options["synthetic"]:
                target = demo.synthetic_trial(options["synthetic"], options["patients"])
            else:
                code = options["trial"] or trial.code
                target = Trial.objects.filter(code=code).first()
                if target is None:
                    raise CommandError(f"No trial {code}; load its protocol first")
            result = demo.seed_synthetic(
                trial=target,
                patients=options["patients"],
                seed=options["seed"],
                cycles=options["cycles"],
                span_days=options["span_days"],
                latest_days_ago=options["latest_days_ago"],
                toxicity=options["toxicity"],
                assessments=options["assessments"],
            )
            self.stdout.write(
                self.style.SUCCESS(f"Synthetic data: {result.patients} patients in {target.code}, {result.enrolled} enrolled (seed {options['seed']}).")
            )
            self.report_synthetic(result)

    def demo(self, trial) -> None:
        started = time.perf_counter()
        try:
            with transaction.atomic():  # the users and the trial together: a failed run leaves nothing behind
                created = demo.ensure_users()
                story = demo.seed_demo_trial(trial, passwords={username: password for username, _, password in created})
        except demo.DemoError as exc:
            raise CommandError(str(exc)) from exc
        if created:
            self.stdout.write(self.style.WARNING("Demo users (passwords shown once; each is changed at its first login):"))
            for username, role, password in created:
                self.stdout.write(f"  {username:<14} {role:<28} {password}")
        if story is None:
            self.stdout.write(f"Demo trial: {trial.code} already holds {trial.patients.count()} patients; nothing written.")
            return
        enrolled = Enrolment.objects.filter(cohort__trial=trial).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo trial: {len(story.patients)} patients at 2 sites, {enrolled} enrolled at levels 1 -> 2 -> 3 with "
                f"{len(story.signed)} signed escalation decisions, written through the services in {time.perf_counter() - started:.1f} s."
            )
        )

    def report_synthetic(self, result) -> None:
        if result.toxicity is not None:
            t = result.toxicity
            drawn = ", ".join(f"{name} {n}" for name, n in sorted(t.patterns.items()) if name != "ordinary")
            self.stdout.write(
                self.style.SUCCESS(
                    f"Synthetic toxicity: {t.labs} lab panels and {t.events} adverse events for {t.patients} patients in cycle 1; "
                    f"DLT patterns drawn: {drawn or 'none'} (those not yet reached by today are not recorded)."
                )
            )
        if result.response is not None:
            r = result.response
            courses = ", ".join(f"{name} {n}" for name, n in sorted(r.trajectories.items()))
            self.stdout.write(
                self.style.SUCCESS(
                    f"Synthetic response: {r.assessments} myeloma assessments and {r.follow_ups} follow-up records for {r.patients} patients; "
                    f"courses drawn: {courses or 'none'}."
                )
            )
