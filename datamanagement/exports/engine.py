"""The export machinery: columns, formatters, CSV streaming, the data dictionary, the zip.

Each column has a name, a label, a type (string, integer, decimal, date, datetime,
boolean), a unit, its allowed values {code: label} (taken from the models'
choices) and where its value comes from: a values() path, or a function of the
row's values. Rows are read with `values_list(...).iterator(chunk_size=2000)` and
written by the csv module into a generator, so memory stays constant whatever the
number of rows (Django docs, "Streaming large CSV files").

Formats: dates ISO 8601 (YYYY-MM-DD), date-times ISO 8601 in UTC with offset,
booleans true/false, decimals as plain text (no exponent, stored precision),
empty for a missing value. Lists of codes (SAE criteria, supportive care) are the
codes joined by "; "; structured values (evidence, tally, spurious) are JSON text.

Filters (all optional, combined with AND):
- site: the patient's site number; trial-wide domains (escalation decisions) are
  not per site and are exported whole; endpoints are trial-wide aggregates and are
  left empty when a site filter is given or the user is site-scoped;
- level: the dose level label the patient was enrolled at (the analysis group);
  for decisions the decision's level; for endpoints the group of that level;
- date range: inclusive, on the domain's main date (`Domain.main_date`).
Site scoping: every patient domain reads `cohorts.selectors.patients_for_user`,
so a coordinator would only ever get their own site.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, date
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import connection, models, transaction
from django.db.models import Case, F, Func, Model, QuerySet, Value, When
from django.db.models.functions import Cast

from accounts.models import User
from cohorts import selectors as cohort_selectors
from cohorts.models import Trial

CHUNK = 10000  # rows per fetch from the server-side cursor (memory stays a few MB)
STRING, INTEGER, DECIMAL, DATE, DATETIME, BOOLEAN = "string", "integer", "decimal", "date", "datetime", "boolean"
TYPES = (STRING, INTEGER, DECIMAL, DATE, DATETIME, BOOLEAN)

Allowed = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Filters:
    site: str | None = None  # site number, e.g. "01"
    level: int | None = None  # dose level label, e.g. -1, 1, 2
    date_from: date | None = None
    date_to: date | None = None

    def as_json(self) -> dict:
        return {
            "site": self.site,
            "level": self.level,
            "date_from": self.date_from.isoformat() if self.date_from else None,
            "date_to": self.date_to.isoformat() if self.date_to else None,
        }

    @classmethod
    def from_json(cls, data: dict) -> Filters:
        return cls(
            site=data.get("site") or None,
            level=data.get("level"),
            date_from=date.fromisoformat(data["date_from"]) if data.get("date_from") else None,
            date_to=date.fromisoformat(data["date_to"]) if data.get("date_to") else None,
        )

    def describe(self) -> str:
        parts = [f"site {self.site}" if self.site else "", f"dose level {self.level}" if self.level is not None else ""]
        if self.date_from or self.date_to:
            parts.append(f"dates {self.date_from.isoformat() if self.date_from else '...'} to {self.date_to.isoformat() if self.date_to else '...'}")
        return ", ".join(p for p in parts if p) or "none (everything the user may see)"


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    type: str = STRING
    path: str | None = None  # values() path; default: the name
    unit: str = ""
    allowed: Allowed = ()
    get: Callable[[dict], Any] | None = None  # computed from the row's values (listed in `needs`)
    needs: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return self.path or self.name

    def value(self, row: dict) -> Any:
        return self.get(row) if self.get else row[self.source]

    @property
    def allowed_text(self) -> str:
        return "; ".join(f"{code}={label}" for code, label in self.allowed)


@dataclass(frozen=True)
class Domain:
    name: str
    label: str
    description: str
    model: type[Model]
    columns: Callable[[Trial], list[Column]]
    order_by: tuple[str, ...]
    main_date: str  # in words, for the README and the page
    trial_path: str | None = None  # default: the patient's trial
    patient_path: str | None = "patient"  # "" when the model is Patient; None: trial-wide
    date_path: str | None = None
    level_path: str | None = None  # default: the level the patient was enrolled at
    aggregate: bool = False  # trial-wide figures: nothing for a site filter or a site-scoped user
    where: dict = field(default_factory=dict)
    annotate: Callable[[], dict] | None = None
    fields: tuple[str, ...] = ()  # explicit values() paths when `transform` makes the rows
    transform: Callable[[Iterator[dict], Filters], Iterator[dict]] | None = None
    file_prefix: str = ""

    def __post_init__(self):
        """A patient's record reaches its trial and its dose level through the patient."""
        if self.patient_path is not None:
            prefix = f"{self.patient_path}__" if self.patient_path else ""
            if self.trial_path is None:
                object.__setattr__(self, "trial_path", f"{prefix}trial")
            if self.level_path is None:
                object.__setattr__(self, "level_path", f"{prefix}enrolment__level__label")
        elif self.trial_path is None:
            raise ValueError(f"Domain {self.name}: a trial-wide domain names its trial_path.")

    @property
    def file_name(self) -> str:
        return f"{self.file_prefix}{self.name}.csv"

    def queryset(self, user: User, trial: Trial, filters: Filters) -> QuerySet:
        qs = self.model.objects.filter(**{self.trial_path: trial}, **self.where)
        if self.patient_path is not None:
            prefix = f"{self.patient_path}__" if self.patient_path else ""
            qs = qs.filter(**{f"{prefix}pk__in": cohort_selectors.patients_for_user(user, trial).values("pk")})
            if filters.site:
                qs = qs.filter(**{f"{prefix}site__number": filters.site})
        elif self.aggregate and (filters.site or user.site_scoped):
            return qs.none()
        if filters.level is not None and self.level_path:
            qs = qs.filter(**{self.level_path: filters.level})
        if self.date_path:
            if filters.date_from:
                qs = qs.filter(**{f"{self.date_path}__gte": filters.date_from})
            if filters.date_to:
                qs = qs.filter(**{f"{self.date_path}__lte": filters.date_to})
        if self.annotate:
            qs = qs.annotate(**self.annotate())
        return qs.order_by(*self.order_by)

    def fetch_fields(self, columns: list[Column]) -> tuple[str, ...]:
        if self.fields:
            return self.fields
        wanted: list[str] = []
        for c in columns:
            for path in c.needs if c.get else (c.source,):
                if path not in wanted:
                    wanted.append(path)
        return tuple(wanted)

    def rows(self, user: User, trial: Trial, filters: Filters, columns: list[Column] | None = None) -> Iterator[list[str]]:
        """The domain's rows as text cells, streamed (constant memory).

        Plain columns (no computed value, no transform) take a fast path: each
        column's position and formatter are worked out once, and every row is
        formatted straight from the database tuple. On PostgreSQL the rows are
        read inside a transaction so the server-side cursor streams (without it,
        Django declares it WITH HOLD and the whole result is built first).
        """
        columns = columns if columns is not None else self.columns(trial)  # the caller's, when it wrote the header from them
        fields = self.fetch_fields(columns)
        queryset = self.queryset(user, trial, filters)
        rows = queryset.values_list(*fields)
        postgres = connection.vendor == "postgresql"
        with transaction.atomic() if postgres else nullcontext():
            if self.transform is None and not any(c.get for c in columns):
                if postgres:
                    yield from self._rows_as_text(columns, queryset)
                    return
                plan = [(fields.index(c.source), FORMATTERS[c.type]) for c in columns]
                for values in rows.iterator(chunk_size=CHUNK):
                    yield [fmt(values[i]) for i, fmt in plan]
                return
            raw = (dict(zip(fields, values, strict=True)) for values in rows.iterator(chunk_size=CHUNK))
            records = self.transform(raw, filters) if self.transform else raw
            plan = [(c, FORMATTERS[c.type]) for c in columns]
            for record in records:
                yield [fmt(c.value(record)) for c, fmt in plan]

    def _rows_as_text(self, columns: list[Column], queryset: QuerySet) -> Iterator[list]:
        """PostgreSQL formats the plain numeric, date and boolean columns itself (numeric::text keeps the
        stored scale: 1.80 stays 1.80, as format(Decimal, "f") writes it); the rest is formatted here.
        None is written as an empty cell by the csv module."""
        exprs, plan = {}, []
        for i, c in enumerate(columns):
            expression = _db_text(self.model, c)
            if expression is None:
                plan.append((c.source, FORMATTERS[c.type]))
            else:
                exprs[f"_text{i}"] = expression
                plan.append((f"_text{i}", None))
        names = list(dict.fromkeys(name for name, _ in plan))
        position = {name: i for i, name in enumerate(names)}
        steps = [(position[name], fmt) for name, fmt in plan]
        rows = queryset.annotate(**exprs).values_list(*names).iterator(chunk_size=CHUNK)
        if all(fmt is None for _, fmt in steps) and [i for i, _ in steps] == list(range(len(names))):
            yield from rows  # every cell is the database's text: the tuples go to the csv module as they are
            return
        for values in rows:
            yield [values[i] if fmt is None else fmt(values[i]) for i, fmt in steps]

    def header(self, trial: Trial) -> list[str]:
        return [c.name for c in self.columns(trial)]


def _model_field(model: type[Model], path: str):
    """The concrete model field at a values() path (None for annotations, JSON keys and reverse relations)."""
    try:
        for part in path.split("__")[:-1]:
            model = model._meta.get_field(part).related_model
            if model is None:
                return None
        return model._meta.get_field(path.split("__")[-1])
    except (FieldDoesNotExist, AttributeError):
        return None


def _db_text(model: type[Model], column: Column):
    """A PostgreSQL expression giving the column's CSV text, or None to format it in Python."""
    f = _model_field(model, column.source)
    if f is None or getattr(f, "is_relation", False):
        return None
    src = F(column.source)
    if column.type == DECIMAL and isinstance(f, models.DecimalField):
        return Cast(src, output_field=models.TextField())
    if column.type == INTEGER and isinstance(f, models.IntegerField | models.AutoField | models.BigAutoField):
        return Cast(src, output_field=models.TextField())
    if column.type == DATE and type(f) is models.DateField:
        return Func(src, Value("YYYY-MM-DD"), function="to_char", output_field=models.TextField())
    if column.type == STRING and isinstance(f, models.CharField | models.TextField) and not f.choices:
        return src  # text already (None becomes an empty cell)
    if column.type == BOOLEAN and isinstance(f, models.BooleanField):
        return Case(When(**{column.source: True}, then=Value("true")), When(**{column.source: False}, then=Value("false")), output_field=models.TextField())
    return None


def _fmt_string(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, list | dict):
        return json.dumps(v, sort_keys=True)
    return str(v)


def _fmt_decimal(v: Any) -> str:
    if v is None or v == "":
        return ""
    return format(v, "f") if isinstance(v, Decimal) else format(Decimal(str(v)), "f")


# One value as CSV text, per column type: ISO 8601 dates, date-times in UTC, true/false, plain decimals in the
# stored precision, JSON for lists and objects, empty when missing.
FORMATTERS: dict[str, Callable[[Any], str]] = {
    STRING: _fmt_string,
    INTEGER: lambda v: "" if v is None or v == "" else str(int(v)),
    DECIMAL: _fmt_decimal,
    DATE: lambda v: "" if v is None or v == "" else v.isoformat(),
    DATETIME: lambda v: "" if v is None or v == "" else v.astimezone(UTC).isoformat(),
    BOOLEAN: lambda v: "" if v is None or v == "" else ("true" if v else "false"),
}


# CSV injection (OWASP "CSV Injection"): a spreadsheet runs a cell that starts with = + - @ (or a tab or carriage return,
# which some strip first) as a formula. Every such cell gets a leading single quote, in every export (all of them are
# written by SafeWriter), except a plain number as the app writes numbers (-1, -0.5: an optional minus, digits, an
# optional fraction, no exponent): a dose level -1 or a change of -12.5 % stays a number for R, SAS or a
# spreadsheet, and is no formula. Free text that happens to be "-1.5" is left as it is too: it is no formula either.
FORMULA_START = frozenset("=+-@\t\r")
PLAIN_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def csv_safe(cell: Any) -> Any:
    """The cell as a spreadsheet may open it safely: a leading ' before a formula character (see FORMULA_START)."""
    if isinstance(cell, str) and cell and cell[0] in FORMULA_START and not PLAIN_NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


class SafeWriter:
    """csv.writer whose every cell goes through csv_safe: the one CSV writer of the exports and the audit trail."""

    def __init__(self, fh: Any) -> None:
        self._writer = csv.writer(fh)

    def writerow(self, row: Iterable[Any]) -> None:
        self._writer.writerow([csv_safe(c) for c in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        self._writer.writerows([csv_safe(c) for c in row] for row in rows)


def csv_stream(header: list[str], rows: Iterable[list[str]], *, on_done: Callable[[int], None] | None = None, batch: int = 2000) -> Iterator[str]:
    """CSV text in batches of lines; `on_done(rows written)` once the last row is out."""
    out = io.StringIO()
    writer = SafeWriter(out)
    writer.writerow(header)
    count = 0
    rows = iter(rows)
    for chunk in iter(lambda: list(islice(rows, batch)), []):
        writer.writerows(chunk)
        count += len(chunk)
        yield out.getvalue()
        out.seek(0)
        out.truncate()
    yield out.getvalue()
    if on_done is not None:
        on_done(count)


def write_csv(fh: io.TextIOBase, header: list[str], rows: Iterable[list[str]], *, on_batch: Callable[[int], None] | None = None, batch: int = 2000) -> int:
    """The header and the rows into `fh` in batches of lines; `on_batch(rows in the batch)` after each batch. Returns the rows written."""
    writer = SafeWriter(fh)
    writer.writerow(header)
    count = 0
    rows = iter(rows)
    for chunk in iter(lambda: list(islice(rows, batch)), []):
        writer.writerows(chunk)
        count += len(chunk)
        if on_batch is not None:
            on_batch(len(chunk))
    return count


# ---------------------------------------------------------------- dictionary

DICTIONARY_HEADER = ["file", "domain", "name", "label", "type", "unit", "allowed_values"]


def dictionary_rows(domains: Iterable[Domain], trial: Trial, columns: dict[str, list[Column]] | None = None) -> Iterator[list[str]]:
    """One row per column per domain; allowed values as "code=label; ...". `columns`: by file name, those already built."""
    columns = columns or {}
    for d in domains:
        for c in columns.get(d.file_name) or d.columns(trial):
            yield [d.file_name, d.name, c.name, c.label, c.type, c.unit, c.allowed_text]


# ---------------------------------------------------------------- the zip


def write_zip(
    path: Path,
    domains: list[Domain],
    *,
    user: User,
    trial: Trial,
    filters: Filters,
    readme: Callable[[list[tuple[Domain, int]]], str],
    on_file: Callable[[int, dict[str, int]], None],
    on_rows: Callable[[int], None],
) -> dict[str, int]:
    """Every domain as a CSV file in a zip at `path`, then the data dictionary and `readme(files with their rows)`;
    one row at a time (constant memory). `on_file(files done, rows by file)` after each file, `on_rows(n)` after
    each batch of rows. Returns the rows by file name."""
    counts: dict[str, int] = {}
    columns = {d.file_name: d.columns(trial) for d in domains}  # once per file: the header, the rows and the dictionary
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for i, domain in enumerate(domains, start=1):
            cols = columns[domain.file_name]
            with io.TextIOWrapper(zf.open(domain.file_name, "w", force_zip64=True), encoding="utf-8", newline="") as fh:
                counts[domain.file_name] = write_csv(fh, [c.name for c in cols], domain.rows(user, trial, filters, cols), on_batch=on_rows)
            on_file(i, dict(counts))
        with io.TextIOWrapper(zf.open("data_dictionary.csv", "w"), encoding="utf-8", newline="") as fh:
            write_csv(fh, DICTIONARY_HEADER, dictionary_rows(domains, trial, columns))
        zf.writestr("README.txt", readme([(d, counts[d.file_name]) for d in domains]))
    return counts
