from django.apps import AppConfig
from django.core import checks


class JobsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "jobs"

    def ready(self):
        # Here, not at import: the check reads models, which exist once apps are ready.
        from .checks import ownerless_rows_check

        checks.register(ownerless_rows_check, checks.Tags.database)
