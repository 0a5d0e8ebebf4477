"""A form that creates a record, sent twice, makes one record (issue #17, point 5): the one-time form token."""

import re

import pytest
from django.urls import reverse

from toxicity.models import AdverseEvent

from .test_safety_pages import ae_post

pytestmark = pytest.mark.django_db


def _token(html: str) -> str:
    return re.search(r'name="form_token" value="([^"]+)"', html).group(1)


def test_the_same_token_twice_makes_one_event_and_redirects_to_it(client, alice, on_c1):
    client.force_login(alice)
    url = reverse("ae_new", args=[on_c1.study_id])
    token = _token(client.get(url).content.decode())
    first = client.post(url, ae_post(form_token=token))
    assert first.status_code == 302
    again = client.post(url, ae_post(form_token=token), follow=True)
    ae = AdverseEvent.objects.get(patient=on_c1)
    assert again.redirect_chain[0][0] == reverse("ae_edit", args=[on_c1.study_id, ae.pk])
    assert "already recorded" in again.content.decode()


def test_a_new_form_gets_a_new_token_and_records_a_second_event(client, alice, on_c1):
    client.force_login(alice)
    url = reverse("ae_new", args=[on_c1.study_id])
    one, two = (_token(client.get(url).content.decode()) for _ in range(2))
    assert one != two
    assert client.post(url, ae_post(form_token=one)).status_code == 302
    assert client.post(url, ae_post(form_token=two, onset=ae_post()["onset"], grade="2")).status_code == 302
    assert AdverseEvent.objects.filter(patient=on_c1).count() == 2


def test_a_refused_form_keeps_its_token_usable(client, alice, on_c1):
    client.force_login(alice)
    url = reverse("ae_new", args=[on_c1.study_id])
    token = _token(client.get(url).content.decode())
    refused = client.post(url, ae_post(form_token=token, grade="9"))
    assert refused.status_code == 200
    assert _token(refused.content.decode()) == token
    assert client.post(url, ae_post(form_token=token)).status_code == 302
    assert AdverseEvent.objects.filter(patient=on_c1).count() == 1


def test_a_token_is_per_user(client, alice, ivan, on_c1):
    """Another user's token is not theirs to replay: it is a fresh one for this user (the write is still refused by role)."""
    from trialsite.idempotency import form_once  # noqa: F401 - the mechanism under test

    client.force_login(alice)
    url = reverse("ae_new", args=[on_c1.study_id])
    token = _token(client.get(url).content.decode())
    assert client.post(url, ae_post(form_token=token)).status_code == 302
    from trialsite.models import IdempotencyKey

    assert IdempotencyKey.objects.get(key=token).user_id == alice.pk
