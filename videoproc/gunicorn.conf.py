"""gunicorn's settings for `make run` (and any deployment: `gunicorn -c
videoproc/gunicorn.conf.py videoproc.wsgi`): where to listen, from HOST (default
loopback) and PORT, and one refusal. With accounts off the API is open to whoever
reaches it, so a server bound beyond loopback will not start unless API_AUTH says
which mode is meant (required, or off on purpose)."""

import ipaddress
import os

host = os.environ.get("HOST", "127.0.0.1")
port = os.environ.get("PORT", "8000")
bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]


def _beyond_loopback(address: str) -> bool:
    """Whether a gunicorn bind address can be reached from other machines. Names other
    than localhost count as reachable: what they resolve to may change."""
    if address.startswith(("unix:", "fd://")):
        return False
    host = address[1 : address.find("]")] if address.startswith("[") else address.split(":")[0]
    if host == "localhost":
        return False
    try:
        return not ipaddress.ip_address(host).is_loopback
    except ValueError:
        return True


def on_starting(server):
    """Before any socket is bound: refuse an open API on the network."""
    reachable = [address for address in server.cfg.bind if _beyond_loopback(address)]
    if reachable and not os.environ.get("API_AUTH", "").strip():
        raise SystemExit(
            f"Refusing to start: bound to {', '.join(reachable)}, beyond loopback, while "
            "accounts are off by default, so anyone who reaches this address could use "
            "every video and job. Set API_AUTH=required (see docs/deployment.md, Users and "
            "access), or API_AUTH=off if an open server there is really meant, or bind "
            "HOST=127.0.0.1."
        )
