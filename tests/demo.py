"""The demo trial for the tests that walk a whole trial in progress (every page, a day at the site, site scoping).

Seeded as `make run`'s `seed_demo --demo` seeds it: through the real services, in one transaction (the command's
own), so the pipeline's on-commit kicks run once at the end instead of after each of its thousand writes. Every
persona's password is then `password`, with no forced change.
"""

from django.db import transaction


def seed_demo_for_tests(password: str):
    from accounts.models import User
    from portal.demo.seed import demo_opened_on, ensure_sites, ensure_trial, ensure_users, seed_demo_trial

    with transaction.atomic():
        trial = ensure_trial(today=demo_opened_on())
        ensure_sites()
        created = ensure_users()
        seed_demo_trial(trial, passwords={username: password for username, _, password in created})
    for user in User.objects.all():  # after the commit and its on-commit work
        user.set_password(password)
        user.must_change_password = False
        user.save()
    return trial
