import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "videoproc.settings")
application = get_wsgi_application()

# Every web process recovers jobs whose process died (why here: jobs/recovery.py).
from jobs import recovery  # noqa: E402  (needs the apps loaded above)
from videoproc import webhooks  # noqa: E402

recovery.start()
# And sends the webhook deliveries that are due, those an earlier process left too.
webhooks.start()
