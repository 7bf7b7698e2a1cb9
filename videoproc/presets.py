"""The encode form's presets: ready-made params for POST /video/process/encoding, fitted
to one video (its picture as shown, never upscaled, its frame rate up to 60) and kept
only when this server's encode would take them.

What the encode does with a frame of another shape (videos/engine/pipelines.py
`fit_picture`): the picture, turned upright first, is scaled to fit inside the frame
keeping its shape, and the rest is padded with black bars; it is never cropped or
stretched. The encode has no quality setting: sizes come from the codec, the frame size
and the frame rate.
"""

from dataclasses import asdict, dataclass
from fractions import Fraction

from jobs.kinds import KINDS
from videoproc.errors import ServiceError
from videos.engine import capabilities
from videos.engine.pipelines import SOUND_ONLY
from videos.models import Video

MAX_FRAME_RATE = 60
WEB_HEIGHTS = [1080, 720, 480]  # the picture's shorter side
VERTICAL_WIDTH = 1080  # a 9:16 frame, 1080x1920 at most
SMALLER_FILE_MAX_RATE = 30

# Typical video bitrates (kbit/s at 30 fps) of the encode's settings for each codec
# (pipelines._video_quality: x264 CRF 23 "fast", x265 CRF 26, VP9 CRF 32, SVT-AV1 CRF 34),
# for ordinary footage; estimates only, to show a size before the encode runs.
#
# | frame (pixels)      | h264  | hevc  | vp9   | av1   |
# | ------------------- | ----- | ----- | ----- | ----- |
# | 854x480   (0.41 M)  |  1500 |   800 |   750 |   600 |
# | 1280x720  (0.92 M)  |  3000 |  1600 |  1500 |  1200 |
# | 1920x1080 (2.07 M)  |  5500 |  3000 |  2800 |  2200 |
# | 2560x1440 (3.69 M)  | 10000 |  5500 |  5000 |  4000 |
# | 3840x2160 (8.29 M)  | 20000 | 11000 | 10000 |  8000 |
#
# Between rows the rate follows the pixels linearly; below the first and above the last
# it is in proportion to them. Another frame rate: times (rate / 30) ** 0.6 (more frames
# are each cheaper). Sound: 128 kbit/s (the encode's -b:a for lossy audio).
BITRATE_PIXELS = [854 * 480, 1280 * 720, 1920 * 1080, 2560 * 1440, 3840 * 2160]
BITRATE_KBPS = {
    "h264": [1500, 3000, 5500, 10000, 20000],
    "hevc": [800, 1600, 3000, 5500, 11000],
    "vp9": [750, 1500, 2800, 5000, 10000],
    "av1": [600, 1200, 2200, 4000, 8000],
}
AUDIO_KBPS = 128
# The smaller file's codec: the leanest this FFmpeg has (AV1, then HEVC) in MP4; else
# H.264 (then only the frame rate makes it smaller).
SMALLER_ENCODERS = [("libsvtav1", "AV1"), ("libx265", "HEVC")]


@dataclass(frozen=True)
class Preset:
    id: str
    label: str
    params: dict  # video_codec, audio_codec, resolution, frame_rate, container
    estimated_bytes: int
    note: str | None


def video_kbps(codec: str, *, width: int, height: int, frame_rate: float) -> float:
    """The typical video bitrate of the table above for a frame and rate."""
    rates = BITRATE_KBPS.get(codec, BITRATE_KBPS["h264"])
    pixels = width * height
    if pixels <= BITRATE_PIXELS[0]:
        kbps = rates[0] * pixels / BITRATE_PIXELS[0]
    elif pixels >= BITRATE_PIXELS[-1]:
        kbps = rates[-1] * pixels / BITRATE_PIXELS[-1]
    else:
        upper = next(index for index, size in enumerate(BITRATE_PIXELS) if size >= pixels)
        low, high = BITRATE_PIXELS[upper - 1], BITRATE_PIXELS[upper]
        share = (pixels - low) / (high - low)
        kbps = rates[upper - 1] + share * (rates[upper] - rates[upper - 1])
    return kbps * (frame_rate / 30) ** 0.6


def estimated_bytes(video: Video, params: dict) -> int:
    if params["video_codec"] == SOUND_ONLY:
        return int(AUDIO_KBPS * 1000 / 8 * video.duration)
    width, height = map(int, params["resolution"].split(":"))
    codec = capabilities.encoders()[params["video_codec"]].codec
    kbps = video_kbps(codec, width=width, height=height, frame_rate=params["frame_rate"])
    if video.audio_codec:
        kbps += AUDIO_KBPS
    return int(kbps * 1000 / 8 * video.duration)


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def shown_size(video: Video) -> tuple[int, int]:
    """The picture's width and height as a player shows it: turned by its rotation."""
    if video.rotation % 180:
        return video.height, video.width
    return video.width, video.height


def _frame_rate(video: Video, most: int = MAX_FRAME_RATE) -> int | float:
    rate = min(Fraction(video.frame_rate), most)
    return int(rate) if rate.denominator == 1 else round(float(rate), 6)


def _web(video: Video, short: int) -> tuple[int, dict, str | None] | None:
    """H.264 in MP4 with the shorter side `short`; None above the source's size, but the
    smallest, which then keeps the source's size."""
    width, height = shown_size(video)
    source_short = min(width, height)
    note = None
    if short > source_short:
        if short != WEB_HEIGHTS[-1]:
            return None
        short = _even(source_short)
        note = f"This video is {width}x{height}: kept at its size (a preset never upscales)."
    long = max(2, 2 * round(short * max(width, height) / source_short / 2))
    size = f"{short}:{long}" if height > width else f"{long}:{short}"
    params = {
        "video_codec": "libx264",
        "audio_codec": "aac",
        "resolution": size,
        "frame_rate": _frame_rate(video),
        "container": "mp4",
    }
    return short, params, note


def candidates(video: Video) -> list[Preset]:
    """Every preset for the video, before asking whether the encode would take it."""
    width, height = shown_size(video)
    rate = _frame_rate(video)
    found = []
    for target in WEB_HEIGHTS:
        if made := _web(video, target):
            short, params, note = made
            found.append((f"web-{target}p", f"Web {short}p (H.264, MP4)", params, note))
    source_size = f"{_even(width)}:{_even(height)}"
    found.append(
        (
            "webm",
            "WebM (VP9, Opus)",
            {
                "video_codec": "libvpx-vp9",
                "audio_codec": "libopus",
                "resolution": source_size,
                "frame_rate": rate,
                "container": "webm",
            },
            None,
        )
    )
    # The widest 9:16 frame that needs no upscaling of the picture fitted inside it.
    steps = min(VERTICAL_WIDTH, max(width, height * 9 / 16)) // 18
    vertical_width, vertical_height = int(steps) * 18, int(steps) * 32
    vertical_note = None
    if width * 16 != height * 9:
        bars = "above and below" if width * 16 > height * 9 else "left and right"
        vertical_note = (
            f"A 9:16 frame of {vertical_width}x{vertical_height}: the whole picture is scaled "
            f"to fit inside it, with black bars {bars}; it is not cropped."
        )
    found.append(
        (
            "vertical",
            "Vertical 9:16 (H.264, MP4)",
            {
                "video_codec": "libx264",
                "audio_codec": "aac",
                "resolution": f"{vertical_width}:{vertical_height}",
                "frame_rate": rate,
                "container": "mp4",
            },
            vertical_note,
        )
    )
    have = capabilities.encoders()
    encoder, codec_name = next(
        ((name, label) for name, label in SMALLER_ENCODERS if name in have), ("libx264", "H.264")
    )
    # Fewer frames: halved (every other frame kept) until at most SMALLER_FILE_MAX_RATE.
    lean = Fraction(video.frame_rate)
    while lean > SMALLER_FILE_MAX_RATE:
        lean /= 2
    leaner_rate = _frame_rate(video, lean)
    changes = []
    if encoder != "libx264":
        changes.append(f"in {codec_name}, about half the bytes of H.264 for the same look")
    if leaner_rate != rate:
        changes.append(f"at {leaner_rate:g} frames a second instead of {float(rate):g}")
    if changes:
        smaller_note = (
            f"Same picture size, {' and '.join(changes)}. The encode has no quality setting: "
            "the saving comes from these."
        )
    else:
        smaller_note = (
            "This server has no leaner codec (AV1, HEVC) and the frame rate is already low: "
            "about the size of H.264 at this picture size."
        )
    if encoder == "libsvtav1":
        smaller_note += " AV1 plays in current browsers, not in older Safari or devices."
    elif encoder == "libx265":
        smaller_note += " HEVC plays in Safari and on most devices, not in every browser."
    found.append(
        (
            "smaller-file",
            f"Smaller file ({codec_name}, MP4)",
            {
                "video_codec": encoder,
                "audio_codec": "aac",
                "resolution": source_size,
                "frame_rate": leaner_rate,
                "container": "mp4",
            },
            smaller_note,
        )
    )
    if video.audio_codec:
        found.append(
            (
                "audio-only",
                "Audio only (AAC, MP4)",
                {
                    "video_codec": SOUND_ONLY,
                    "audio_codec": "aac",
                    "resolution": source_size,
                    "frame_rate": rate,
                    "container": "mp4",
                },
                "The sound alone, with no picture: an MP4 of sound, as an .m4a file is.",
            )
        )
    return [
        Preset(id, label, params, estimated_bytes(video, params), note)
        for id, label, params, note in found
        if params["video_codec"] in {*have, SOUND_ONLY} and params["audio_codec"] in have
    ]


def encode_refusal(video: Video, params: dict) -> str | None:
    """Why POST /video/process/encoding would refuse these params for the video (the
    encode's own serializer and check), or None if it would queue them."""
    encode = KINDS["encode"]
    request = encode.serializer(data={"request_code": "preset", "video_id": video.id, **params})
    if not request.is_valid():
        return str(request.errors)
    data = dict(request.validated_data)
    data.pop("request_code")
    try:
        encode.check(encode.Params(**data), [video])
    except ServiceError as refusal:
        return refusal.detail
    return None


def video_presets(video: Video) -> list[dict]:
    """The presets the encode would take for this video, as the page lists them."""
    if not video.has_picture:
        return []  # a sound-only video is no encode's input
    return [
        asdict(preset) for preset in candidates(video) if not encode_refusal(video, preset.params)
    ]
