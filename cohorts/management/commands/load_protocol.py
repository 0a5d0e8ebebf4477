from django.core.management.base import BaseCommand, CommandError

from cohorts.protocol import ProtocolError, read_protocol
from cohorts.services import protocol_load


class Command(BaseCommand):
    help = "Load a trial protocol from a TOML data file (idempotent; a changed file needs a new version)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="e.g. protocols/bpd.toml")

    def handle(self, *args, path, **options):
        try:
            spec = read_protocol(path)
            result = protocol_load(spec=spec)
        except FileNotFoundError as exc:
            raise CommandError(f"No such protocol file: {path}") from exc
        except ProtocolError as exc:
            raise CommandError("Protocol not loaded:\n  - " + "\n  - ".join(exc.problems)) from exc
        trial = result.trial
        if result.created:
            self.stdout.write(self.style.SUCCESS(f"Loaded trial {trial.code} protocol v{trial.protocol_version}."))
        elif result.changes:
            self.stdout.write(self.style.SUCCESS(f"Amended trial {trial.code} to protocol v{trial.protocol_version}: " + "; ".join(result.changes)))
        else:
            self.stdout.write(f"Trial {trial.code} protocol v{trial.protocol_version} already loaded; nothing changed.")
