from django.core.management.base import BaseCommand, CommandError

from cohorts import demo
from cohorts.models import Trial


class Command(BaseCommand):
    help = (
        "Demo and synthetic data. With --demo: the protocol, two sites, one user per role (passwords "
        "printed once) and a small demo cohort. With --patients N --seed S: N synthetic patients."
    )

    def add_arguments(self, parser):
        parser.add_argument("--demo", action="store_true", help="protocol, sites, users and the demo cohort (idempotent)")
        parser.add_argument("--patients", type=int, default=0, help="number of synthetic patients to add")
        parser.add_argument("--seed", type=int, default=1, help="random seed: the same seed gives the same data")
        parser.add_argument("--cycles", type=int, default=0, help="with --patients: up to this many cycles per treated patient, every dose given")
        parser.add_argument("--trial", default=None, help="trial code to add synthetic patients to (default: BPD within its caps)")
        parser.add_argument(
            "--synthetic",
            metavar="CODE",
            default=None,
            help="put the synthetic patients in a synthetic copy of the protocol named CODE, sized to hold them all enrolled",
        )

    def handle(self, *args, demo_mode=None, **options):
        if options["patients"] < 0:
            raise CommandError("--patients must be 0 or more")
        trial = demo.ensure_trial()
        demo.ensure_sites()
        if options["demo"]:
            created = demo.ensure_users()
            if created:
                self.stdout.write(self.style.WARNING("Demo users (passwords shown once; keep them):"))
                for username, role, password in created:
                    self.stdout.write(f"  {username:<14} {role:<28} {password}")
            added = demo.seed_demo_cohort(trial)
            if added:
                self.stdout.write(self.style.SUCCESS(f"Demo cohort: {added} patients registered, 2 enrolled at level {trial.starting_level.label}."))
        if options["patients"]:
            if options["synthetic"]:
                target = demo.synthetic_trial(options["synthetic"], options["patients"])
            else:
                code = options["trial"] or trial.code
                target = Trial.objects.filter(code=code).first()
                if target is None:
                    raise CommandError(f"No trial {code}; load its protocol first")
            result = demo.seed_synthetic(trial=target, patients=options["patients"], seed=options["seed"], cycles=options["cycles"])
            self.stdout.write(
                self.style.SUCCESS(f"Synthetic data: {result.patients} patients in {target.code}, {result.enrolled} enrolled (seed {options['seed']}).")
            )
