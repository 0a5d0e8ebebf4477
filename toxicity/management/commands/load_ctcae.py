from django.core.management.base import BaseCommand, CommandError

from toxicity.ctcae import CtcaeError
from toxicity.services import terminology


class Command(BaseCommand):
    help = "Load the CTCAE terminology (every version in toxicity/data/ctcae/, or the ones named) into the table; idempotent."

    def add_arguments(self, parser):
        parser.add_argument("versions", nargs="*", help="e.g. 5.0 (default: every version shipped)")

    def handle(self, *args, versions: list[str], **options):
        for version in versions or terminology.versions():
            try:
                created, updated = terminology.ctcae_load(version=version)
            except CtcaeError as exc:
                raise CommandError(str(exc)) from exc
            if created or updated:
                self.stdout.write(self.style.SUCCESS(f"CTCAE v{version}: {created} terms added, {updated} corrected."))
            else:
                self.stdout.write(f"CTCAE v{version} already loaded; nothing changed.")
