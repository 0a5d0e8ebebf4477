"""The compiled response rules (make native: mypyc) are the ones that run, and they give exactly what their
Python source gives: the source is loaded beside them under another name and both run on random courses."""

import importlib
import shutil
import sys
import types
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import response
from response import endpoints, imwg, stored

HERE = Path(response.__file__).parent
C1 = date(2026, 3, 2)


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """The response package's Python files run by the interpreter, as the package response_source: a copy of
    its .py files alone, so that no module of it (the NATIVE ones and what they import) is a compiled one."""
    name = "response_source"
    folder = tmp_path_factory.mktemp("response_source")
    for path in HERE.glob("*.py"):
        shutil.copy(path, folder / path.name)
    package = types.ModuleType(name)
    package.__path__ = [str(folder)]
    sys.modules[name] = package
    try:
        modules = {module: importlib.import_module(f"{name}.{module}") for module in response.NATIVE}
        assert all(m.__file__.endswith(".py") for m in modules.values())
        yield types.SimpleNamespace(**modules)
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]


def test_the_rules_run_compiled():
    assert response.native_state() == "compiled", "run `make native`"
    for module in (imwg, stored, endpoints):
        assert Path(module.__file__).name.endswith(".so"), module.__file__
    assert set(response.NATIVE) == {"imwg", "stored", "endpoints"}


def test_a_compiled_module_older_than_its_source_is_refused(tmp_path, monkeypatch):
    stamp = HERE / "native.sha256"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: "0" * 64 if self == stamp else Path.read_bytes(self).decode())
    assert "changed since they were compiled: run `make native`" in response.native_state()


def value(low: str, high: str, places: int):
    step = Decimal(1).scaleb(-places)
    return st.one_of(st.none(), st.integers(int(Decimal(low) / step), int(Decimal(high) / step)).map(lambda n: n * step))


flag = st.sampled_from([None, True, False])
assessment = st.fixed_dictionaries(
    {
        "spep": value("0", "6", 2),
        "serum_ife": flag,
        "upep": value("0", "1500", 1),
        "urine_ife": flag,
        "kappa": value("0", "80", 3),
        "lambda_": value("0", "40", 3),
        "marrow_pc": value("0", "100", 1),
        "marrow_clonal": flag,
        "plasmacytoma": flag,
        "plasmacytoma_size": value("0", "20", 2),
        "new_lesions": st.sampled_from([None, False, False, True]),
        "spurious": st.frozensets(st.sampled_from(["spep", "upep", "kappa", "lambda", "marrow_pc", "plasmacytoma_size"]), max_size=1),
    }
)
course = st.tuples(
    st.lists(st.tuples(st.integers(-40, 400), assessment), min_size=1, max_size=12, unique_by=lambda t: t[0]),
    st.one_of(st.none(), st.integers(0, 420)),
)


def outcome(module, stored_module, days, next_therapy):
    items = [module.Assessment(C1 + timedelta(days=d), d, **values) for d, values in sorted(days, key=lambda t: t[0])]
    try:
        r = module.evaluate(items, cycle1_day1=C1, next_therapy_on=None if next_therapy is None else C1 + timedelta(days=next_therapy))
    except module.ImwgError as exc:
        return "error", str(exc)
    results = [
        (x.on, x.id, str(x.category), x.reason, x.change_pct, x.nadir, x.confirmed and str(x.confirmed), x.confirmed_from, x.after_next_therapy)
        for x in r.results
    ]
    return stored_module.row(r), results, r.baseline.plasmacytoma, stored_module.course_text(stored_module.course_inputs(r))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(course)
def test_the_compiled_rules_give_what_their_source_gives(source, example):
    days, next_therapy = example
    assert source.imwg.__file__.endswith("imwg.py")
    assert source.stored.__file__.endswith("stored.py")
    assert outcome(imwg, stored, days, next_therapy) == outcome(source.imwg, source.stored, days, next_therapy)


day = st.integers(0, 900).map(lambda n: C1 + timedelta(days=n))
category = st.sampled_from(["sCR", "CR", "VGPR", "PR", "MR", "SD", "PD", "NE"])
patient = st.fixed_dictionaries(
    {
        "level": st.sampled_from(["-1", "1", "2", "3"]),
        "start": st.one_of(st.none(), st.just(C1)),
        "assessments": st.lists(st.tuples(day, category), max_size=6).map(lambda a: tuple(sorted(a))),
        "confirmed": st.lists(st.tuples(category, day), max_size=3).map(tuple),
        "best": category,
        "progression_on": st.one_of(st.none(), day),
        "first_response_on": st.one_of(st.none(), day),
        "death_on": st.one_of(st.none(), day),
        "next_therapy_on": st.one_of(st.none(), day),
        "last_contact_on": st.one_of(st.none(), day),
    }
)


def endpoints_of(module, cohort):
    courses = [module.Course(patient=f"P{i}", end_of_cycle2=module.end_of_cycle2(values["start"], None), **values) for i, values in enumerate(cohort)]
    return module.compute(courses, levels=["-1", "1", "2", "3"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.lists(patient, max_size=25))
def test_the_compiled_endpoints_give_what_their_source_gives(source, cohort):
    assert source.endpoints.__file__.endswith("endpoints.py")
    assert endpoints_of(endpoints, cohort) == endpoints_of(source.endpoints, cohort)
