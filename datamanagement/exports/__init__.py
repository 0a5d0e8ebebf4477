"""Exports: the domains of the trial as CSV, one definition per domain, and CDISC-style datasets.

- engine.py: the machinery (filters, columns, formatters, CSV streaming, the data dictionary, the zip);
- domains.py: the domain definitions (DOMAINS) and the README of a zip;
- cdisc.py: the CDISC-style datasets (CDISC) with SDTM variable names, on the same machinery.
"""

from .cdisc import CDISC, CDISC_NOTES
from .domains import DOMAINS, readme_text
from .engine import DICTIONARY_HEADER, TYPES, Column, Domain, Filters, csv_stream, dictionary_rows, write_csv, write_zip

__all__ = [
    "CDISC",
    "CDISC_NOTES",
    "DICTIONARY_HEADER",
    "DOMAINS",
    "TYPES",
    "Column",
    "Domain",
    "Filters",
    "csv_stream",
    "dictionary_rows",
    "readme_text",
    "write_csv",
    "write_zip",
]
