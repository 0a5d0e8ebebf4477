"""Password validators of the product (AUTH_PASSWORD_VALIDATORS)."""

from django.core.exceptions import ValidationError


class UsernameNotInPasswordValidator:
    """A password must not contain the username, in any case (issue #17 point 2). Django's
    UserAttributeSimilarityValidator compares similarity ratios and lets "coord01-Spring-2026" through."""

    min_length = 3  # a one- or two-letter username would refuse half the passwords for nothing

    def validate(self, password, user=None):
        username = (getattr(user, "get_username", lambda: "")() or "").strip().casefold() if user is not None else ""
        if len(username) >= self.min_length and username in (password or "").casefold():
            raise ValidationError("The password must not contain the username.", code="password_contains_username")

    def get_help_text(self):
        return "Your password must not contain your username."
