"""The same ISO formats for plain English (a request whose language resolves to "en")."""

from trialsite.formats.en_GB.formats import *  # noqa: F403
