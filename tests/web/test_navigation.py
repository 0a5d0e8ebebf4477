"""Navigation and feedback (issue #16): the same header on every page, the product's own 403 and 404
(DEBUG on and off), the header's patient search scoped by role and site, breadcrumbs, ISO dates, the favicon."""

import re
from datetime import date

import pytest
from django.contrib.staticfiles import finders
from django.test import override_settings
from django.urls import reverse

from accounts.models import Site
from cohorts.forms import PatientRegisterForm
from tests.factories import register_patient

pytestmark = pytest.mark.django_db

NAV = 'aria-label="Main"'


def _header(html: str) -> str:
    return html.split("<main", 1)[0]


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_url_is_the_products_404_with_its_navigation(client, alice, trial, debug):
    client.force_login(alice)
    with override_settings(DEBUG=debug):
        response = client.get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Not found" in html
    assert "URLconf" not in html
    assert "Django tried these URL patterns" not in html
    assert NAV in html
    assert f'href="{reverse("trial_home", args=[trial.code])}"' in html
    assert 'role="search"' in html


@pytest.mark.parametrize("debug", [False, True])
def test_patient_at_another_site_is_the_products_404(client, bob, patient_a, debug):
    client.force_login(bob)
    with override_settings(DEBUG=debug):
        response = client.get(reverse("patient_detail", args=[patient_a.study_id]))
    assert response.status_code == 404
    html = response.content.decode()
    assert "Not found" in html
    assert NAV in html
    assert "Traceback" not in html
    assert "Using the URLconf" not in html


@pytest.mark.parametrize("debug", [False, True])
def test_forbidden_page_is_the_products_403_with_its_navigation(client, ivan, trial, debug):
    client.force_login(ivan)
    with override_settings(DEBUG=debug):
        response = client.get(reverse("patient_register", args=[trial.code]))
    html = response.content.decode()
    assert response.status_code == 403
    assert "Not allowed" in html
    assert NAV in html
    assert f'href="{reverse("trial_home", args=[trial.code])}"' in html


@pytest.mark.parametrize("debug", [False, True])
def test_api_404_keeps_the_json_error_format(client, dana, trial, debug):
    client.force_login(dana)
    with override_settings(DEBUG=debug):
        response = client.get("/api/v1/patients/999999/")
    assert response.status_code == 404
    assert response.json()["status"] == 404


def test_404_for_a_visitor_not_logged_in_has_no_navigation(client, trial):
    with override_settings(DEBUG=True):
        response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert NAV not in response.content.decode()


def test_500_page_is_the_products_own():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong" in html
    assert "favicon.svg" in html


def test_queries_tab_has_the_same_navigation_as_the_trial_home(client, dana, trial, patient_a):
    client.force_login(dana)
    home = _header(client.get(reverse("trial_home", args=[trial.code])).content.decode())
    queries = _header(client.get(reverse("patient_queries", args=[patient_a.study_id])).content.decode())
    worklist = _header(client.get(reverse("worklist")).content.decode())

    def links(header):
        return re.findall(r'<a href="([^"]+)"', header)

    assert links(queries) == links(home) == links(worklist)
    assert f'href="{reverse("trial_queries", args=[trial.code])}"' in queries


def test_users_link_only_for_an_administrator(client, personas, trial):
    from accounts.roles import Role
    from tests.factories import UserFactory

    admin = UserFactory(username="ada", role=Role.ADMIN)
    for user, shown in [(admin, True), (personas["dana"], False), (personas["alice"], False)]:
        client.force_login(user)
        html = client.get(reverse("trial_home", args=[trial.code])).content.decode()
        assert (f'href="{reverse("user_list")}"' in html) is shown
        assert f'href="{reverse("password_change")}"' in html


def test_every_page_links_the_favicon_and_it_is_a_static_file(client, alice, trial):
    client.force_login(alice)
    html = client.get(reverse("trial_home", args=[trial.code])).content.decode()
    assert '<link rel="icon" href="/static/img/favicon.svg"' in html
    assert finders.find("img/favicon.svg")


# ---------------------------------------------------------------- breadcrumbs


def test_patient_pages_have_breadcrumbs_to_the_trial_and_the_patient(client, alice, trial, patient_a):
    client.force_login(alice)
    sid = patient_a.study_id
    overview = client.get(reverse("patient_detail", args=[sid])).content.decode()
    crumbs = overview.split('aria-label="Breadcrumb"', 1)[1].split("</nav>", 1)[0]
    assert reverse("trial_home", args=[trial.code]) in crumbs
    assert reverse("patient_list", args=[trial.code]) in crumbs
    assert f'<span aria-current="page">{sid}</span>' in crumbs
    sections = [("patient_safety", "Safety"), ("patient_queries", "Queries"), ("patient_response", "Response"), ("patient_edit", "Edit registration")]
    for name, section in sections:
        html = client.get(reverse(name, args=[sid])).content.decode()
        crumbs = html.split('aria-label="Breadcrumb"', 1)[1].split("</nav>", 1)[0]
        assert f'href="{reverse("patient_detail", args=[sid])}"' in crumbs, name
        assert f'<span aria-current="page">{section}</span>' in crumbs, name


# ---------------------------------------------------------------- header search


@pytest.fixture
def two_sites(trial, site_a, site_b, alice, bob):
    return register_patient(trial, site_a, alice, initials="QX"), register_patient(trial, site_b, bob, initials="QX")


def _found(response) -> set[str]:
    html = response.content.decode()
    table = html.split('id="search-results"', 1)[1].split("</table>", 1)[0]
    return set(re.findall(r">([A-Z]+-\d{2}-\d{3})</a>", table))


def test_search_by_initials_finds_only_the_coordinators_own_site(client, alice, bob, two_sites):
    a, b = two_sites
    client.force_login(alice)
    assert _found(client.get(reverse("patient_search"), {"q": "qx"})) == {a.study_id}
    client.force_login(bob)
    assert _found(client.get(reverse("patient_search"), {"q": "QX"})) == {b.study_id}


@pytest.mark.parametrize("persona", ["ivan", "dana", "mona"])
def test_search_by_initials_finds_every_site_for_trial_wide_roles(client, personas, two_sites, persona):
    client.force_login(personas[persona])
    assert _found(client.get(reverse("patient_search"), {"q": "QX"})) == {p.study_id for p in two_sites}


def test_exact_study_id_opens_the_patient(client, alice, two_sites):
    a, _ = two_sites
    client.force_login(alice)
    response = client.get(reverse("patient_search"), {"q": a.study_id.lower()})
    assert response.status_code == 302
    assert response["Location"] == reverse("patient_detail", args=[a.study_id])


def test_study_id_of_another_site_is_not_found_by_a_coordinator(client, alice, two_sites):
    _, b = two_sites
    client.force_login(alice)
    response = client.get(reverse("patient_search"), {"q": b.study_id})
    assert response.status_code == 200
    assert _found(response) == set()
    assert "No patient matches" in response.content.decode()


def test_part_of_a_study_id_lists_the_matches(client, dana, two_sites):
    a, _b = two_sites
    client.force_login(dana)
    assert _found(client.get(reverse("patient_search"), {"q": a.study_id[-3:]})) >= {a.study_id}


def test_search_is_forbidden_without_a_trial_role_and_needs_login(client, olga):
    assert client.get(reverse("patient_search"), {"q": "QX"}).status_code == 302
    client.force_login(olga)
    assert client.get(reverse("patient_search"), {"q": "QX"}).status_code == 403


def test_search_box_is_in_the_header_for_viewers(client, mona, olga, trial):
    client.force_login(mona)
    assert 'action="/search/"' in _header(client.get(reverse("trial_home", args=[trial.code])).content.decode())
    client.force_login(olga)
    assert 'action="/search/"' not in _header(client.get(reverse("trial_home", args=[trial.code])).content.decode())


def test_search_runs_a_fixed_number_of_queries(client, dana, trial, site_a, alice, django_assert_max_num_queries):
    for _ in range(12):
        register_patient(trial, site_a, alice, initials="ZZ")
    client.force_login(dana)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("patient_search"), {"q": "ZZ"})
    assert len(_found(response)) == 12


# ---------------------------------------------------------------- dates and required fields


def test_date_inputs_are_iso_text_inputs_with_pattern_and_placeholder(trial):
    form = PatientRegisterForm(trial=trial, sites=Site.objects.none(), initial={"date_of_birth": date(1958, 4, 2)})
    html = str(form["date_of_birth"])
    assert 'type="text"' in html
    assert 'type="date"' not in html
    assert 'placeholder="YYYY-MM-DD"' in html
    assert 'inputmode="numeric"' in html
    assert "pattern=" in html
    assert 'value="1958-04-02"' in html


def test_dates_are_parsed_only_as_iso(trial):
    field = PatientRegisterForm(trial=trial, sites=Site.objects.none()).fields["date_of_birth"]
    assert field.clean("1958-04-02") == date(1958, 4, 2)
    with pytest.raises(Exception, match="valid date"):
        field.clean("02/04/1958")


def test_required_fields_carry_the_required_attribute_the_label_marks(client, alice, trial):
    client.force_login(alice)
    html = client.get(reverse("patient_register", args=[trial.code])).content.decode()
    assert re.search(r'name="initials"[^>]*required', html)
    assert not re.search(r'name="consent_date"[^>]*required', html)
    from pathlib import Path

    css = Path(finders.find("css/site.css")).read_text()
    assert ":required) > label::after" in css
