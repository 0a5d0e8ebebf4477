"""Electronic signatures (21 CFR Part 11 style) on every decision that moves the trial.

One mechanism for all of them: the service that writes the decision checks the re-entered password
(`password_errors`, raising nothing itself), then, in the same transaction, calls `sign` which stores
the signer, their printed name, the date-time, the meaning and a digest of what was signed.
`check_password` is the only place a signature password is checked: throttling of failed signature
passwords belongs there.
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import json

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from . import throttle
from .models import Signature

REFUSED_SIGNATURE = "The password is not correct: the signature needs your own password."


def check_password(user, password: str | None, request=None) -> bool:
    """Whether `password` is the signer's own password. The one place signature passwords are checked: a wrong
    one counts as a failed password (trialsite.throttle, with the logins' five failures), and a locked account
    cannot sign even with the right one (`password_errors` says so)."""
    if not password:  # nothing typed: refused, but not a guess to count
        return False
    if throttle.is_locked(user, request):
        return False
    if user.check_password(password):
        return True
    throttle.signature_failed(user, request)
    return False


def password_errors(user, password: str | None, request=None) -> dict[str, list[str]]:
    """Field errors for a signature: {} when the password is right, else an error on "password".

    A service calls it before its transaction (`signed`), so that a failed password is counted although the
    decision is not written; inside the transaction it answers from that check, without counting twice."""
    checked = _checked.get()
    ok = checked[1] if checked is not None and checked[0] == (user.pk, password) else check_password(user, password, request=request)
    if ok:
        return {}
    if throttle.is_locked(user, request):
        return {"password": [throttle.locked_message(user, request)]}
    return {"password": [REFUSED_SIGNATURE]}


_checked: contextvars.ContextVar[tuple[tuple, bool] | None] = contextvars.ContextVar("signature_checked", default=None)


def signed(service):
    """A signed decision's service (keyword arguments `by` and `password`), in one transaction like
    `transaction.atomic`, with the password checked first, outside it: the failure is recorded even though the
    transaction that raises the refusal is rolled back."""
    atomic = transaction.atomic(service)

    @functools.wraps(service)
    def wrapper(*args, **kwargs):
        by, password = kwargs["by"], kwargs.get("password")
        token = _checked.set(((by.pk, password), check_password(by, password)))
        try:
            return atomic(*args, **kwargs)
        finally:
            _checked.reset(token)

    return wrapper


def signer_name(user) -> str:
    return user.get_full_name() or user.username


def _digest(*, ct: ContentType, object_id: int, meaning: str, signer_id: int, signed_at, content) -> str:
    payload = json.dumps(
        {"record": f"{ct.app_label}.{ct.model}:{object_id}", "meaning": meaning, "signer": signer_id, "at": signed_at.isoformat(), "content": content},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def sign(*, record, by, meaning: str, content=None, at=None) -> Signature:
    """Store the signature of `record` by `by` with its meaning (call it inside the decision's transaction,
    after password_errors returned nothing). `content`: what was signed, JSON-serialisable, kept as a digest."""
    ct = ContentType.objects.get_for_model(record, for_concrete_model=True)
    at = at or timezone.now()
    meaning = meaning.strip()
    row = Signature(
        signer=by,
        signer_name=signer_name(by)[:300],
        signed_at=at,
        meaning=meaning,
        content_type=ct,
        object_id=record.pk,
        digest=_digest(ct=ct, object_id=record.pk, meaning=meaning, signer_id=by.pk, signed_at=at, content=content),
    )
    row.full_clean(exclude=["signer", "content_type"])  # both just read: no existence queries
    row.save()
    return row


def signatures_of(record) -> list[Signature]:
    """The signatures of one record, oldest first."""
    ct = ContentType.objects.get_for_model(record, for_concrete_model=True)
    return list(Signature.objects.filter(content_type=ct, object_id=record.pk).select_related("signer"))


def signatures_of_many(model, ids) -> dict[int, list[Signature]]:
    """The signatures of many records of one model, by record id (one query)."""
    ct = ContentType.objects.get_for_model(model, for_concrete_model=True)
    out: dict[int, list[Signature]] = {}
    for s in Signature.objects.filter(content_type=ct, object_id__in=list(ids)):
        out.setdefault(s.object_id, []).append(s)
    return out
