"""Every API path answers with and without a trailing slash, without redirecting."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import path, re_path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView

from jobs.kinds import KINDS
from jobs.views import JobViewSet, ProcessViewSet, QueueView
from videoproc import pages, tokens
from videoproc.health import HealthView
from videoproc.lockout import LoginForm
from videoproc.schema import DocsView
from videoproc.scrape import metrics_view
from videoproc.webhook_views import WebhookViewSet
from videos.resumable_views import ResumableUploadsView, ResumableUploadView
from videos.serving import serve_stored
from videos.timeline_views import StoryboardView, TimelineView
from videos.views import UploadAdmissionView, VideoViewSet


def api(pattern: str, view, name: str):
    return re_path(rf"^{pattern}/?$", view, name=name)


urlpatterns = [
    api("video/upload", VideoViewSet.as_view({"put": "upload", "post": "upload"}), "video-upload"),
    api("video/upload/admission", UploadAdmissionView.as_view(), "video-upload-admission"),
    api("video/uploads", ResumableUploadsView.as_view(), "video-uploads"),
    api(
        r"video/uploads/(?P<upload_id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})",
        ResumableUploadView.as_view(),
        "video-upload-resumable",
    ),
    api("video/download", VideoViewSet.as_view({"get": "download"}), "video-download"),
    api("video/view/all", VideoViewSet.as_view({"get": "list"}), "video-list"),
    api(
        "video/view/info",
        VideoViewSet.as_view({"get": "info", "delete": "remove", "patch": "rename"}),
        "video-info",
    ),
    api("video/view/timeline", TimelineView.as_view(), "video-timeline"),
    api("video/view/timeline/storyboard", StoryboardView.as_view(), "video-storyboard"),
    api("video/process/trim", QueueView.as_view(kind=KINDS["trim"]), "process-trim"),
    api("video/process/concat", QueueView.as_view(kind=KINDS["concat"]), "process-concat"),
    api("video/process/edit", QueueView.as_view(kind=KINDS["edit"]), "process-edit"),
    api("video/process/encoding", QueueView.as_view(kind=KINDS["encode"]), "process-encoding"),
    api("video/process/execute", ProcessViewSet.as_view({"post": "execute"}), "process-execute"),
    api("video/process/jobs", JobViewSet.as_view({"get": "list"}), "job-list"),
    api(
        r"video/process/jobs/(?P<pk>\d{1,18})",
        JobViewSet.as_view({"get": "retrieve"}),
        "job-detail",
    ),
    api(
        r"video/process/jobs/(?P<pk>\d{1,18})/cancel",
        JobViewSet.as_view({"post": "cancel"}),
        "job-cancel",
    ),
    api(
        r"video/process/jobs/(?P<pk>\d{1,18})/retry",
        JobViewSet.as_view({"post": "retry"}),
        "job-retry",
    ),
    api("webhooks", WebhookViewSet.as_view({"get": "list", "post": "create"}), "webhook-list"),
    api(
        r"webhooks/(?P<pk>\d{1,18})",
        WebhookViewSet.as_view({"get": "retrieve", "patch": "partial_update", "delete": "destroy"}),
        "webhook-detail",
    ),
    api(
        r"webhooks/(?P<pk>\d{1,18})/secret",
        WebhookViewSet.as_view({"post": "rotate"}),
        "webhook-secret",
    ),
    api(
        r"webhooks/(?P<pk>\d{1,18})/deliveries",
        WebhookViewSet.as_view({"get": "deliveries"}),
        "webhook-deliveries",
    ),
    api(
        r"webhooks/(?P<pk>\d{1,18})/deliveries/(?P<delivery_id>\d{1,18})/redeliver",
        WebhookViewSet.as_view({"post": "redeliver"}),
        "webhook-redeliver",
    ),
    api("api/schema", SpectacularAPIView.as_view(), "schema"),
    api("api/docs", DocsView.as_view(url_name="schema"), "docs"),
    path("", pages.index, name="page"),
    # Browsers ask for /favicon.ico on pages that name no icon (the admin, Swagger).
    path(
        "favicon.ico",
        RedirectView.as_view(url=static("img/favicon.svg"), permanent=True),
        name="favicon",
    ),
    api("page/library", pages.LibraryView.as_view(), "page-library"),
    api("page/concat-candidates", pages.ConcatCandidatesView.as_view(), "page-concat-candidates"),
    api("page/draft", pages.DraftView.as_view(), "page-draft"),
    api("page/jobs", pages.PageJobsView.as_view(), "page-jobs"),
    api("page/trim-plan", pages.TrimPlanView.as_view(), "page-trim-plan"),
    api("page/presets", pages.PresetsView.as_view(), "page-presets"),
    api("page/tokens", tokens.TokensView.as_view(), "page-tokens"),
    api(r"page/tokens/(?P<token_key>\w+)", tokens.TokenView.as_view(), "page-token"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(authentication_form=LoginForm),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    api("health", HealthView.as_view(), "health"),
    api("metrics", metrics_view, "metrics"),
    path("admin/", admin.site.urls),
    re_path(r"^storage/(?P<name>.+)$", serve_stored, name="storage"),
]

handler400 = "videoproc.errors.handler400"
handler404 = "videoproc.errors.handler404"
handler500 = "videoproc.errors.handler500"
