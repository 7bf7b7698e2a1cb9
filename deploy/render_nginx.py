"""Render the nginx configuration for videoproc from its Django settings.

    python deploy/render_nginx.py --listen 127.0.0.1:8080 --upstream 127.0.0.1:8000 \
        --out var/nginx [--tls-cert cert.pem --tls-key key.pem]

writes OUT/videoproc-site.conf (for Debian's nginx: sites-enabled/) and OUT/nginx.conf
(a whole nginx of its own: `nginx -p OUT -c nginx.conf`, as `make run-proxy` runs it).
The upload limit, the media folder and the X-Accel-Redirect prefix come from the same
environment gunicorn gets, so the two always agree.
"""

import argparse
import os
import re
import sys
from pathlib import Path

DEPLOY_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(DEPLOY_DIR.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "videoproc.settings")

from django.conf import settings  # noqa: E402  (after the path is set up)

OUTPUTS = {"site.conf.in": "videoproc-site.conf", "nginx.conf.in": "nginx.conf"}
TLS = """\
    listen {listen} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
"""


def render(template: str, values: dict[str, str]) -> str:
    """Fill the template's @NAME@ placeholders; every one must have a value."""
    return re.sub(r"@([A-Z_]+)@", lambda match: values[match.group(1)], template)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listen", required=True, help="address:port for plain HTTP")
    parser.add_argument("--upstream", required=True, help="gunicorn's address:port")
    parser.add_argument("--out", required=True, type=Path, help="folder to write into")
    parser.add_argument("--tls-listen", help="address:port for HTTPS (with --tls-cert/key)")
    parser.add_argument("--tls-cert", type=Path)
    parser.add_argument("--tls-key", type=Path)
    args = parser.parse_args()
    if not settings.STORAGE_ACCEL_REDIRECT:
        parser.error("set STORAGE_ACCEL_REDIRECT (e.g. /_protected/) here and for gunicorn")
    tls = ""
    if args.tls_listen:
        if not (args.tls_cert and args.tls_key):
            parser.error("--tls-listen needs --tls-cert and --tls-key")
        tls = TLS.format(
            listen=args.tls_listen, cert=args.tls_cert.resolve(), key=args.tls_key.resolve()
        )
    run_dir = args.out.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    values = {
        "LISTEN": args.listen,
        "UPSTREAM": args.upstream,
        "TLS": tls,
        "MAX_UPLOAD_SIZE": str(settings.MAX_UPLOAD_SIZE),
        # An execute answers once its jobs have run (in the request without a broker:
        # one job's limit, and the time to store its result) or its wait ran out. Several
        # long jobs in one embedded execute can outlast it: nginx answers 502, they go on.
        "READ_TIMEOUT": str(int(max(settings.JOB_TIME_LIMIT, settings.EXECUTE_WAIT_LIMIT)) + 900),
        "ACCEL_PREFIX": settings.STORAGE_ACCEL_REDIRECT,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "RUN_DIR": str(run_dir),
        # Started as root, nginx runs its workers as nobody, who may not read the media
        # files (pytest's folders are 0700): here they keep root's rights, as gunicorn
        # has. Debian's own nginx runs them as www-data, who must be able to read them.
        "USER": "user root;" if os.geteuid() == 0 else "",
    }
    for template, name in OUTPUTS.items():
        (run_dir / name).write_text(render((DEPLOY_DIR / template).read_text(), values))


if __name__ == "__main__":
    main()
