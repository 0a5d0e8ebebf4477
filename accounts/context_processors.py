from .roles import Perm


def role(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    can = {perm.value: user.can(perm) for perm in Perm}
    # `nav_can` is what the header reads: a page may pass a `can` of its own (the queries tab does).
    return {"can": can, "nav_can": can}
