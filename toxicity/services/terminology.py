"""The CTCAE terminology: load a version's files into the table, idempotently.

The files live in toxicity/data/ctcae/<version>/ (terms.tsv, grade-texts.tsv); a new CTCAE version is a new
folder there and `manage.py load_ctcae`, no code change. Reference data, not clinical data: no audit rows,
no outbox (no patient's data changes).
"""

from __future__ import annotations

from django.db import transaction

from .. import ctcae
from ..ctcae import DATA_DIR, meddra, read_version, shipped, versions

__all__ = ["DATA_DIR", "ctcae_ensure", "ctcae_load", "meddra", "read_version", "shipped", "upsert_terms", "versions"]


def upsert_terms(model, version: str, terms: list[ctcae.Term]) -> tuple[int, int]:
    """Insert the terms the table lacks and correct those that differ: (created, updated). Works on the
    migration's historical model too. Terms no longer in the files are kept (events may point at them)."""
    wanted = {
        t.code: {"term": t.name, "soc": t.soc, "grades": "".join(map(str, t.grades)), "grade_texts": {str(g): x for g, x in t.texts.items()}} for t in terms
    }
    existing = {row.meddra_code: row for row in model.objects.filter(version=version)}
    new = [model(version=version, meddra_code=code, **values) for code, values in wanted.items() if code not in existing]
    changed = []
    for code, values in wanted.items():
        row = existing.get(code)
        if row is not None and any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            changed.append(row)
    model.objects.bulk_create(new, batch_size=500)
    if changed:
        model.objects.bulk_update(changed, ["term", "soc", "grades", "grade_texts"], batch_size=500)
    return len(new), len(changed)


@transaction.atomic
def ctcae_load(*, version: str) -> tuple[int, int]:
    """Load one CTCAE version from its files: (created, updated); a second load changes nothing."""
    from ..models import CtcaeTerm
    from ..selectors import terminology_forget

    created, updated = upsert_terms(CtcaeTerm, version, read_version(version))
    if created or updated:
        transaction.on_commit(lambda: terminology_forget(version))
    return created, updated


def ctcae_ensure(*, version: str) -> None:
    """Load a version if its table is empty (the test fixtures after a flush; cheap when loaded: one query)."""
    from ..models import CtcaeTerm

    if not CtcaeTerm.objects.filter(version=version).exists():
        ctcae_load(version=version)
