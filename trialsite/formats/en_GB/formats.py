"""Dates shown and entered one way, ISO 8601 (issue #16): the same YYYY-MM-DD in the tables, the
inputs and the exports, whatever the locale. A date such as 01/02/2026 means two different days
in two countries; a clinical record must not be read either way."""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
DATETIME_FORMAT = "Y-m-d H:i"
SHORT_DATETIME_FORMAT = "Y-m-d H:i"
MONTH_DAY_FORMAT = "m-d"
YEAR_MONTH_FORMAT = "Y-m"
TIME_FORMAT = "H:i"
# Only ISO is parsed: "%d/%m/%Y" is not accepted, so a US-style date cannot be read as another day.
DATE_INPUT_FORMATS = ["%Y-%m-%d"]
DATETIME_INPUT_FORMATS = ["%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
FIRST_DAY_OF_WEEK = 1  # Monday
