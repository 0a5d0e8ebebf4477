"""Without a database: one-time passwords, the project's date widget and ISO formats (issue #16)."""

import re
from datetime import UTC, date

import pytest
from django import forms
from django.template import Context, Template

from accounts.services import ONE_TIME_PASSWORD_LENGTH, one_time_password
from trialsite.forms import ISO_DATE_PATTERN, IsoDateInput


def test_one_time_passwords_are_long_distinct_and_without_look_alikes():
    values = {one_time_password() for _ in range(200)}
    assert len(values) == 200
    assert all(len(v) == ONE_TIME_PASSWORD_LENGTH for v in values)
    assert not any(set(v) & set("0OIl1") for v in values)


def test_date_widget_is_a_text_input_showing_iso():
    html = IsoDateInput().render("on", date(2026, 3, 4))
    assert 'type="text"' in html
    assert 'value="2026-03-04"' in html
    assert 'placeholder="YYYY-MM-DD"' in html
    assert 'inputmode="numeric"' in html


@pytest.mark.parametrize(("text", "ok"), [("2026-03-04", True), ("2026-3-4", False), ("04/03/2026", False), ("20260304", False)])
def test_the_widgets_pattern_is_iso(text, ok):
    assert bool(re.fullmatch(ISO_DATE_PATTERN, text)) is ok


@pytest.mark.parametrize(("text", "parsed"), [("2026-03-04", date(2026, 3, 4)), ("04/03/2026", None), ("03/04/2026", None)])
def test_forms_parse_iso_only(text, parsed):
    field = forms.DateField(widget=IsoDateInput())
    if parsed is None:
        with pytest.raises(forms.ValidationError):
            field.clean(text)
    else:
        assert field.clean(text) == parsed


def test_unfiltered_dates_and_datetimes_display_as_iso():
    from datetime import datetime

    out = Template("{{ d }} {{ d|date }} {{ t|date }}").render(Context({"d": date(2026, 3, 4), "t": datetime(2026, 3, 4, 9, 5, tzinfo=UTC)}))
    assert out == "2026-03-04 2026-03-04 2026-03-04"
