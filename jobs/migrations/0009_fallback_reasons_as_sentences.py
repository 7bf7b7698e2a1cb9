"""The fallback reasons stored before they were sentences (the cut plan's terms, or
FFmpeg's stderr: "a step of the smart cut failed ([libvpx-vp9] Error setting option
colorspace ...)") become the sentences a smart cut that falls back says now, in the
jobs' outcome (and the params of older trims) and in their results' trim_info and
concat_info segments. Their technical words are not kept: they were in the log too."""

from django.db import migrations

UNMATCHED = "this video's encoder settings could not be matched"
TOO_FEW_KEYFRAMES = "the range holds too few keyframes to copy any of it unchanged"
# The old reason, by its start -> why, in the words videos/engine/cutplan.py and friends
# use now. The first that matches wins.
CLAUSES = [
    ("a step of the smart cut failed", UNMATCHED),
    ("no keyframe inside the range", TOO_FEW_KEYFRAMES),
    ("the range holds no whole group of pictures", TOO_FEW_KEYFRAMES),
    ("no frame is shown inside the range", "no frame of the video falls inside the range"),
    (
        "frames are reordered across the keyframes",
        "the video's frame order does not allow a clean copy at the cut points",
    ),
    (
        "the parameter sets change inside the range",
        "the video's encoding settings change inside the range",
    ),
    ("H.264 profile", UNMATCHED),
    ("HEVC profile", UNMATCHED),
    ("a reorder depth of", UNMATCHED),
    ("this server has no ", "this server cannot encode this video's format"),
    ("the video is interlaced", "the video is interlaced"),
    ("the video's frame rate is unknown", "the video's frame rate is unknown"),
    (
        "the video stream could not be probed",
        "the video could not be read closely enough to cut it smartly",
    ),
    ("the file has no video stream", "the file has no video stream"),
    ("the video has packets without timestamps", "parts of the video carry no timing"),
    (
        "the keyframe to copy from was not found again",
        "the video could not be copied from its keyframe",
    ),
    ("the joined parts", "the smart cut did not give exactly the frames asked for"),
]
OTHERWISE = "the smart cut could not be used on this video"


def sentence(reason: str, what: str) -> str:
    """The sentence for an old reason; a reason that is one already stays."""
    if reason.endswith("was re-encoded."):
        return reason
    clause = next((new for old, new in CLAUSES if reason.startswith(old)), None)
    if clause is None:
        if reason.endswith("is not cut smartly"):
            clause = "smart cuts do not handle this video's format"
        elif " result cannot hold " in reason:
            clause = "the result is written in another format than this video's"
        else:
            clause = OTHERWISE
    return f"{clause[:1].upper()}{clause[1:]}, so the whole {what} was re-encoded."


def _rewritten(info: dict | None, what: str) -> bool:
    """Rewrite the reason an info dict holds, in place; whether it held one."""
    if isinstance(info, dict) and isinstance(info.get("fallback_reason"), str):
        info["fallback_reason"] = sentence(info["fallback_reason"], what)
        return True
    return False


def reasons_as_sentences(apps, schema_editor):
    Job = apps.get_model("jobs", "Job")
    Video = apps.get_model("videos", "Video")
    for job in Job.objects.filter(kind="trim").iterator():
        changed = [_rewritten(job.outcome, "range"), _rewritten(job.params, "range")]
        if any(changed):
            job.save(update_fields=["outcome", "params"])
    for video in Video.objects.filter(trim_info__has_key="fallback_reason").iterator():
        _rewritten(video.trim_info, "range")
        video.save(update_fields=["trim_info"])
    for video in Video.objects.filter(concat_info__has_key="segments").iterator():
        segments = video.concat_info.get("segments") or []
        if any([_rewritten(segment, "segment") for segment in segments]):
            video.save(update_fields=["concat_info"])


class Migration(migrations.Migration):
    dependencies = [
        ("jobs", "0008_job_cost"),
        ("videos", "0004_timeline"),
    ]

    operations = [migrations.RunPython(reasons_as_sentences, migrations.RunPython.noop)]
