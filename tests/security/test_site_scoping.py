"""Site scoping on every URL (issue #17, point 4): a coordinator reads only their own site's patients by study id.

One seeded two-site demo trial (portal/demo/story.py, through the real services) for the module. Every page and
every API endpoint of the URL resolver is requested (GET) as each persona, detail URLs filled with real ids of
both sites' records; a coordinator's body (HTML, JSON, SVG, CSV) must never hold another site's study id. The
trial-wide roles (investigator, data manager, monitor) must see both sites' study ids where the page lists patients.
"""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

PASSWORD = "scope-Check-2026-x"
COORDINATORS = ("coord01", "coord02")
TRIAL_WIDE = ("investigator", "datamanager", "monitor")
# Not product pages: Django's admin (superusers only), the login/logout views, the schema and its viewer.
SKIP_PREFIXES = ("admin/", "accounts/login/", "accounts/logout/", "api/schema/", "api/docs/")


def _patterns(patterns, prefix=""):
    for p in patterns:
        if isinstance(p, URLResolver):
            yield from _patterns(p.url_patterns, prefix + str(p.pattern))
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), p


def routes() -> list[str]:
    """Every route of the resolver but the format-suffixed duplicates, as a path template with {name} holes."""
    found = []
    for raw, _ in _patterns(get_resolver().url_patterns):
        if raw.startswith(SKIP_PREFIXES) or "format" in raw:
            continue
        path = raw.replace("^", "").replace("$", "")
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", path)
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
        found.append("/" + path)
    return sorted(set(found))


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    """The demo trial written through the services, the persona passwords known; the database emptied afterwards."""
    with django_db_blocker.unblock():
        from tests.demo import seed_demo_for_tests

        try:
            yield seed_demo_for_tests(PASSWORD)
        finally:
            call_command("flush", interactive=False, verbosity=0)


SITE_PATHS = ("patient__site__number", "cycle__patient__site__number", "planned__cycle__patient__site__number", "planned_dose__cycle__patient__site__number")


def _site_ids(model, site: str) -> list[int]:
    """The first pk of `model` among `site`'s patients' records (none: a trial-wide record, any pk)."""
    from django.core.exceptions import FieldError

    for path in SITE_PATHS:
        try:
            return list(model.objects.filter(**{path: site}).order_by("pk").values_list("pk", flat=True)[:1])
        except FieldError:
            continue
    return list(model.objects.order_by("pk").values_list("pk", flat=True)[:2])


def _ids_by_site(trial) -> dict[str, dict[str, list]]:
    """Per site number: the ids that fill the URL holes (one record of each kind, from that site's patients)."""
    from datamanagement.models import ExportLog
    from dosing.models import Visit
    from portal.urls import router

    out: dict[str, dict[str, list]] = {}
    for site in ("01", "02"):
        patients = trial.patients.filter(site__number=site)
        ids: dict[str, list] = {"study_id": list(patients.order_by("pk").values_list("study_id", flat=True)[:3])}
        for prefix, viewset, _ in router.registry:
            ids[prefix] = _site_ids(viewset.serializer_class.Meta.model, site)
        ids["visits"] = _site_ids(Visit, site)
        ids["jobs"] = list(ExportLog.objects.values_list("pk", flat=True)[:1])
        out[site] = ids
    return out


def _fill(route: str, trial, ids: dict[str, list], users: list[int]) -> list[str]:
    """The concrete URLs for a route and one site's ids (several when a hole has several candidates)."""
    from datamanagement.views import CDISC, DOMAINS
    from response.views import PLOTS

    holes = re.findall(r"\{(\w+)\}", route)
    if not holes:
        return [route]
    url = route.replace("{code}", trial.code).replace("{number}", "1").replace("{day}", "1").replace("{drug}", "pomalidomide")
    if "{plot}" in url:
        return [url.replace("{plot}", p) for p in PLOTS]
    if "{domain}" in url:
        return [url.replace("{domain}", d) for d in DOMAINS]
    if "{dataset}" in url:
        return [url.replace("{dataset}", d.lower()) for d in CDISC]
    if "{pk}" in url:
        if url.startswith("/accounts/users/"):
            candidates = users
        elif url.startswith("/exports/jobs/"):
            candidates = ids["jobs"]
        elif url.startswith("/visits/"):
            candidates = ids["visits"]
        elif url.startswith("/dlt-review/"):
            candidates = ids["dlt-proposals"]
        elif "/adverse-events/" in url and url.startswith("/patients/"):
            candidates = ids["adverse-events"]
        elif "/conmeds/" in url and url.startswith("/patients/"):
            candidates = ids["conmeds"]
        else:
            candidates = ids.get(url.split("/")[3], [])
        url_list = [url.replace("{pk}", str(pk)) for pk in candidates]
    else:
        url_list = [url]
    if "{study_id}" in route:
        return [u.replace("{study_id}", s) for u in url_list for s in ids["study_id"]]
    return url_list


@pytest.fixture(scope="module")
def walk(seeded):
    """{persona: [(url, status, body)]} for every route filled with both sites' ids."""
    from accounts.models import User

    trial = seeded
    ids = _ids_by_site(trial)
    users = [User.objects.get(username="coord02").pk]
    urls = sorted({u for r in routes() for site in ids for u in _fill(r, trial, ids[site], users)})
    assert len(urls) > 100, urls
    out = {}
    for persona in (*COORDINATORS, *TRIAL_WIDE):
        client = Client()
        client.force_login(User.objects.get(username=persona))
        rows = []
        for url in urls:
            response = client.get(url)
            body = b"".join(response.streaming_content) if response.streaming else response.content
            rows.append((url, response.status_code, body.decode("utf-8", "replace")))
        out[persona] = rows
    return out


def _study_ids(trial, site: str) -> set[str]:
    return set(trial.patients.filter(site__number=site).values_list("study_id", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize("persona", COORDINATORS)
def test_coordinator_sees_no_other_sites_study_id_on_any_url(seeded, walk, persona):
    own = persona[-2:]
    foreign = _study_ids(seeded, "02" if own == "01" else "01")
    assert foreign
    leaks = []
    for url, status, body in walk[persona]:
        assert status < 500, f"{url}: {status}"
        requested = {s for s in foreign if s in url}  # the id the coordinator typed into the URL, answered by a 404
        found = sorted(s for s in foreign - requested if s in body)
        if found:
            leaks.append(f"{url} ({status}): {', '.join(found[:5])}")
        if requested and status not in (403, 404, 405):  # 405: a write-only endpoint, nothing read
            leaks.append(f"{url}: another site's record answered {status}")
    assert not leaks, "\n".join(leaks)


@pytest.mark.django_db
@pytest.mark.parametrize("persona", TRIAL_WIDE)
def test_trial_wide_roles_see_both_sites_on_the_escalation_page_and_api(seeded, walk, persona):
    bodies = {url: body for url, status, body in walk[persona] if status == 200}
    for url in (f"/trials/{seeded.code}/escalation/", f"/api/v1/trials/{seeded.code}/escalation/"):
        for site in ("01", "02"):
            assert any(s in bodies[url] for s in _study_ids(seeded, site)), f"{persona} misses site {site} on {url}"
    assert all(status < 500 for _, status, _ in walk[persona])


@pytest.mark.django_db
def test_coordinator_reads_other_sites_as_counts_and_outcomes(seeded, walk):
    page = {url: body for url, status, body in walk["coord01"] if status == 200}[f"/trials/{seeded.code}/escalation/"]
    assert re.search(r"site 02: \d+ patients?, \d+ DLTs?", page), "the other site's patients are not summarised"
