"""Issue #17 points 3 and 8b: a catalogue of bad inputs over the forms and the API.

Each row: the URL, the method, the persona, the payload and the expected answer. Every one must be a clear
refusal (an API 4xx in the error format with a message, a page 4xx with its reason, or a form redisplayed
with the error on it) and write nothing: the row counts of every model of the clinical apps and their
historical (audit) models are the same before and after each row."""

import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.utils import timezone
from rest_framework.authtoken.models import Token

from toxicity.ctcae import meddra

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
CLINICAL_APPS = ("cohorts", "dosing", "toxicity", "escalation", "response", "datamanagement", "trialsite")
FORM = "form"  # the page again (200) with an error on the form
HUGE = "1" + "0" * 30  # 10**30
NUL = "\x00"


def row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for label in CLINICAL_APPS for model in apps.get_app_config(label).get_models()}


def patient_body(**overrides) -> dict:
    body = {
        "trial": "BPD",
        "site": "01",
        "initials": "KL",
        "date_of_birth": "1957-08-19",
        "sex": "F",
        "height_cm": "162.0",
        "weight_kg": "59.5",
        "consent_date": (TODAY - timedelta(days=2)).isoformat(),
        "eligibility": {},
        "baseline_anc": "1.8",
        "baseline_platelets": "140",
        "baseline_marrow_pc_pct": "25",
    }
    return body | overrides


def register_form(**overrides) -> dict:
    data = {
        "site": "{site_pk}",
        "initials": "JD",
        "date_of_birth": "1958-04-02",
        "sex": "M",
        "height_cm": "176",
        "weight_kg": "80",
        "consent_date": (TODAY - timedelta(days=3)).isoformat(),
        "baseline_anc": "2.1",
        "baseline_platelets": "190",
        "baseline_marrow_pc_pct": "20",
    }
    return data | overrides


def edit_form(**overrides) -> dict:
    return register_form(reason="source document") | overrides


def ae_body(**overrides) -> dict:
    body = {
        "patient": "{sid}",
        "term": meddra("Neutrophil count decreased"),
        "grade": 3,
        "onset": (TODAY - timedelta(days=380)).isoformat(),
        "outcome": "recovered",
    }
    return body | overrides


def ae_form(**overrides) -> dict:
    data = {
        "term": meddra("Neutrophil count decreased"),
        "grade": "3",
        "onset": (TODAY - timedelta(days=380)).isoformat(),
        "action": "none",
        "outcome": "recovered",
        "attr_bendamustine": "possible",
        "attr_pomalidomide": "unlikely",
        "attr_dexamethasone": "unrelated",
    }
    return data | overrides


def lab_form(**overrides) -> dict:
    data = {"action": "lab", "lab-on": (TODAY - timedelta(days=380)).isoformat(), "lab-anc": "1.2", "lab-anc_unit": "10^9/L"}
    return data | overrides


SID = "/api/v1/patients/{sid}/"
C1 = (TODAY - timedelta(days=390)).isoformat()

# (label, method, url, persona, payload: dict | str | None, expected status or FORM)
CATALOGUE = [
    # NUL characters, in the path, the query, a JSON value and key, a form value (trialsite.nulbytes)
    ("NUL in an API path", "get", "/api/v1/patients/BPD%00/", "alice", None, 400),
    ("NUL in an API query value", "get", "/api/v1/patients/?site=0%001", "dana", None, 400),
    ("NUL in an API query key", "get", "/api/v1/adverse-events/?pat%00ient=x", "dana", None, 400),
    ("NUL in a JSON value", "post", "/api/v1/patients/", "alice", patient_body(initials="K" + NUL), 400),
    ("NUL in a JSON key", "post", "/api/v1/patients/", "alice", patient_body(eligibility={"I" + NUL: True}), 400),
    ("NUL in a PATCH reason", "patch", SID, "alice", {"weight_kg": "70", "reason_for_change": "scale" + NUL}, 400),
    ("NUL in an AE verbatim", "post", "/api/v1/adverse-events/", "alice", ae_body(verbatim="low" + NUL), 400),
    ("NUL in a lab date", "post", "/api/v1/labs/", "alice", {"patient": "{sid}", "on": "2025" + NUL, "anc": "1.0"}, 400),
    ("NUL in a page path", "get", "/patients/BPD%00/", "alice", None, 400),
    ("NUL in a page query", "get", "/search/?q=BPD%00", "alice", None, 400),
    ("NUL in a form value", "post", "/trials/BPD/patients/new/", "alice", register_form(initials="J" + NUL), 400),
    ("NUL in an AE form", "post", "/patients/{sid}/adverse-events/new/", "alice", ae_form(notes="x" + NUL), 400),
    # numbers too large or not numbers, in decimal fields of the API and the forms
    ("1e400 weight (API)", "post", "/api/v1/patients/", "alice", patient_body(weight_kg="1e400"), 400),
    ("10**30 height (API)", "post", "/api/v1/patients/", "alice", patient_body(height_cm=HUGE), 400),
    ("10**30 as a JSON number", "post", "/api/v1/patients/", "alice", '{"trial": "BPD", "site": "01", "weight_kg": ' + HUGE + "}", 400),
    ("1e400 as a JSON number", "post", "/api/v1/patients/", "alice", '{"trial": "BPD", "site": "01", "weight_kg": 1e400}', 400),
    ("NaN ANC (API)", "post", "/api/v1/patients/", "alice", patient_body(baseline_anc="NaN"), 400),
    ("Infinity platelets (API)", "post", "/api/v1/patients/", "alice", patient_body(baseline_platelets="Infinity"), 400),
    ("1e400 cycle weight", "post", "/api/v1/cycles/", "alice", {"patient": "{sid}", "day1": C1, "weight_kg": "1e400"}, 400),
    (
        "10**30 dose",
        "post",
        "/api/v1/administrations/",
        "alice",
        {"patient": "{sid}", "cycle": 1, "drug": "bendamustine", "day": 1, "status": "given", "dose_mg": HUGE},
        400,
    ),
    ("1e400 lab ANC", "post", "/api/v1/labs/", "alice", {"patient": "{sid}", "on": C1, "anc": "1e400"}, 400),
    ("1e400 M-protein", "post", "/api/v1/assessments/", "alice", {"patient": "{sid}", "on": C1, "values": {"spep": "1e400"}}, 400),
    ("10**30 grade", "post", "/api/v1/adverse-events/", "alice", ae_body(grade=HUGE), 400),
    ("1e400 weight (form)", "post", "/trials/BPD/patients/new/", "alice", register_form(weight_kg="1e400"), FORM),
    ("10**30 height (form)", "post", "/trials/BPD/patients/new/", "alice", register_form(height_cm=HUGE), FORM),
    ("NaN ANC (form)", "post", "/trials/BPD/patients/new/", "alice", register_form(baseline_anc="NaN"), FORM),
    ("1e400 weight (edit form)", "post", "/patients/{sid}/edit/", "alice", edit_form(weight_kg="1e400"), FORM),
    ("1e400 lab ANC (form)", "post", "/patients/{sid}/safety/", "alice", lab_form(**{"lab-anc": "1e400"}), FORM),
    # ids that are not numbers, or too large, in URLs, forms and bodies
    ("non-numeric API id", "get", "/api/v1/administrations/abc/", "dana", None, 404),
    ("huge API id", "get", "/api/v1/adverse-events/" + HUGE + "/", "dana", None, 404),
    ("huge page id", "get", "/visits/" + HUGE + "/", "alice", None, 404),
    ("huge DLT review id", "post", "/dlt-review/" + HUGE + "/", "ivan", {"decision": "confirm"}, 404),
    ("non-numeric AE id in a page URL", "get", "/patients/{sid}/adverse-events/abc/", "alice", None, 404),
    ("huge cycle in a page URL", "get", "/patients/{sid}/cycles/" + HUGE + "/doses/bendamustine/1/", "alice", None, 404),
    ("non-numeric site in a form", "post", "/trials/BPD/patients/new/", "alice", register_form(site="abc"), FORM),
    ("huge site in a form", "post", "/trials/BPD/patients/new/", "alice", register_form(site=HUGE), FORM),
    ("non-numeric DLT to withdraw", "post", "/patients/{sid}/safety/", "ivan", {"action": "withdraw", "dlt": "abc", "reason": "x"}, 400),
    ("superscript cycle in a query", "get", "/patients/{sid}/treatment/?cycle=%C2%B2", "alice", None, 400),
    ("invalid ?cycle=", "get", "/patients/{sid}/treatment/?cycle=abc", "alice", None, 400),
    ("huge ?cycle=", "get", "/patients/{sid}/treatment/?cycle=" + HUGE, "alice", None, 400),
    ("superscript ?event= on a form", "get", "/patients/{sid}/conmeds/new/?event=%C2%B2", "alice", None, 400),
    (
        "unknown cycle in the API",
        "post",
        "/api/v1/administrations/",
        "alice",
        {"patient": "{sid}", "cycle": HUGE, "drug": "bendamustine", "day": 1, "status": "given"},
        400,
    ),
    # pagination: forged or garbage cursors (KeysetPagination)
    ("garbage cursor", "get", "/api/v1/patients/?cursor=zzz", "dana", None, 404),
    ("cursor position not a number", "get", "/api/v1/administrations/?cursor=cD1hYmM%3D", "dana", None, 404),
    ("cursor position with NUL", "get", "/api/v1/patients/?cursor=cD0lMDB4", "dana", None, 404),
    ("cursor position 10**30", "get", "/api/v1/labs/?cursor=cD05OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk%3D", "dana", None, 404),
    ("filter not a number", "get", "/api/v1/patients/?level=abc", "dana", None, 400),
    # bodies of the wrong shape, dates and choices that do not exist
    ("JSON array body", "post", "/api/v1/patients/", "alice", "[]", 400),
    ("JSON string body", "post", "/api/v1/patients/", "alice", '"patient"', 400),
    ("malformed JSON", "post", "/api/v1/patients/", "alice", "{not json", 400),
    ("eligibility not an object", "post", "/api/v1/patients/", "alice", patient_body(eligibility="yes"), 400),
    ("unknown eligibility criterion", "post", "/api/v1/patients/", "alice", patient_body(eligibility={"Z9": True}), 400),
    ("impossible date", "post", "/api/v1/patients/", "alice", patient_body(date_of_birth="1957-02-30"), 400),
    ("year 0", "post", "/api/v1/patients/", "alice", patient_body(date_of_birth="0000-01-01"), 400),
    ("grade not a number", "post", "/api/v1/adverse-events/", "alice", ae_body(grade="abc"), 400),
    ("unknown status", "post", SID + "status/", "alice", {"to_status": "cured", "on_date": TODAY.isoformat()}, 400),
    ("enrolment date not a date", "post", SID + "enrol/", "alice", {"enrolled_on": "yesterday"}, 400),
    ("PATCH without a reason", "patch", SID, "alice", {"weight_kg": "70"}, 400),
    ("another site's patient", "post", "/api/v1/labs/", "alice", {"patient": "{sid_b}", "on": C1, "anc": "1.0"}, 404),
    ("impossible date (form)", "post", "/trials/BPD/patients/new/", "alice", register_form(date_of_birth="1958-02-30"), FORM),
    ("grade not a choice (form)", "post", "/patients/{sid}/adverse-events/new/", "alice", ae_form(grade="abc"), FORM),
    ("edit without a reason (form)", "post", "/patients/{sid}/edit/", "alice", edit_form(reason=""), FORM),
]


def fill(value, names: dict):
    if isinstance(value, str):
        for key, replacement in names.items():
            value = value.replace("{" + key + "}", replacement)
        return value
    if isinstance(value, dict):
        return {fill(k, names): fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, names) for v in value]
    return value


def send(client, method, url, payload, api: bool, token: str | None):
    extra = {"HTTP_AUTHORIZATION": f"Token {token}"} if token else {}
    if payload is None:
        return getattr(client, method)(url, **extra)
    if api:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return getattr(client, method)(url, data=body, content_type="application/json", **extra)
    return getattr(client, method)(url, data=payload, **extra)


def form_errors(response) -> list[str]:
    forms = [v for ctx in (response.context or []) for v in ctx.flatten().values() if hasattr(v, "errors") and hasattr(v, "is_bound") and v.is_bound]
    return [str(m) for form in forms for messages in form.errors.values() for m in messages]


@pytest.fixture
def world(trial, personas, on_c1, patient_b, site_a):
    return {"sid": on_c1.study_id, "sid_b": patient_b.study_id, "site_pk": str(site_a.pk)}


def check(client, personas, world, row) -> tuple[bool, str]:
    """(clear and nothing written, what was seen) for one row of the catalogue."""
    _label, method, url, persona, payload, expected = row
    api = url.startswith("/api/")
    user = personas[persona]
    client.force_login(user)
    token = Token.objects.get_or_create(user=user)[0].key if api else None
    before = row_counts()
    response = send(client, method, fill(url, world), fill(payload, world), api, token)
    after = row_counts()
    written = {k: (v, after[k]) for k, v in before.items() if after[k] != v}
    seen = f"{response.status_code} {response.content[:300]!r}"
    if written:
        return False, f"partial write {written}; {seen}"
    if expected == FORM:
        errors = form_errors(response)
        return response.status_code == 200 and bool(errors) and all(e in response.content.decode() for e in errors), seen
    if response.status_code != expected:
        return False, seen
    if api:
        body = response.json()
        return set(body) == {"status", "code", "detail", "errors"} and body["status"] == expected and bool(body["detail"]), seen
    return response["Content-Type"].startswith("text/html") and b"<h1>" in response.content, seen


def test_every_bad_input_is_refused_clearly_and_writes_nothing(client, personas, world):
    """One test over the whole catalogue (the fixtures load once); every failure is listed. Figures with `-s`."""
    failures = []
    for row in CATALOGUE:
        ok, seen = check(client, personas, world, row)
        if not ok:
            failures.append(f"{row[0]} ({row[1].upper()} {row[2]}): {seen}")
    api = sum(row[2].startswith("/api/") for row in CATALOGUE)
    errors_500 = sum("): 5" in f for f in failures)
    partial = sum("partial write" in f for f in failures)
    refused = len(CATALOGUE) - len(failures)
    print(f"\nbad-input catalogue: {len(CATALOGUE)} tried ({api} API, {len(CATALOGUE) - api} pages), {refused} clear refusals")
    print(f"500s {errors_500}, partial writes {partial}, failures {failures}")
    assert failures == []
    assert len(CATALOGUE) >= 40
    assert api >= 20
    assert len(CATALOGUE) - api >= 15


def test_a_nul_is_refused_through_the_one_400_helper_with_where_it_was(client, personas):
    """trialsite.nulbytes answers through trialsite.api.bad_request: the API's error shape saying where, the 400 page."""
    from trialsite.nulbytes import MESSAGE

    client.force_login(personas["dana"])
    api = client.get("/api/v1/patients/?site=0%001")
    assert api.status_code == 400
    assert api.json() == {"status": 400, "code": "invalid", "detail": MESSAGE, "errors": {"query": [MESSAGE]}}
    page = client.get("/search/?q=BPD%00")
    assert page.status_code == 400
    assert page["Content-Type"].startswith("text/html")
    assert MESSAGE in page.content.decode()
