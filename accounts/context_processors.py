from .roles import Perm


def role(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"can": {perm.value: user.can(perm) for perm in Perm}}
