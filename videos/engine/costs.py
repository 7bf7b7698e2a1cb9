"""What FFmpeg work costs, predicted before it runs: CPU-seconds from the pixels it will
decode and encode and the encoder's relative speed. Estimates, measured on a 2-core
x86-64 machine with the engine's own settings (bench/); they decide what a server
accepts (jobs refuse work over their ceilings), not how long a job will take here."""

from fractions import Fraction

# CPU-nanoseconds to encode one pixel of output, with the engine's settings for each
# encoder (pipelines.py): x264 "fast" costs ~20-30 ns a pixel; the others by their
# usual speed against it.
ENCODE_NS_PER_PIXEL = {
    "libx264": 25,
    "libx264rgb": 25,
    "libx265": 125,
    "libvpx-vp9": 75,
    "libvpx": 40,
    "libaom-av1": 200,
    "libsvtav1": 50,
    "mpeg4": 5,
    "mpeg2video": 5,
    "mpeg1video": 5,
    "mjpeg": 5,
}
DEFAULT_ENCODE_NS_PER_PIXEL = 25
DECODE_NS_PER_PIXEL = 3  # decoding the source, whatever its codec, is cheap beside this
SOUND_SHARE = 0.01  # CPU-seconds a second of sound costs to decode and encode alone


def decode_seconds(*, width: int, height: int, frame_rate: float, duration: float) -> float:
    return width * height * frame_rate * duration * DECODE_NS_PER_PIXEL / 1e9


def sound_seconds(duration: float) -> float:
    return duration * SOUND_SHARE


def encode_seconds(
    *, encoder: str, width: int, height: int, frame_rate: float, duration: float
) -> float:
    per_pixel = ENCODE_NS_PER_PIXEL.get(encoder, DEFAULT_ENCODE_NS_PER_PIXEL)
    return width * height * frame_rate * duration * per_pixel / 1e9


def reencode_seconds(source, plan, duration: float) -> float:
    """Decoding `duration` seconds of `source` (a MediaFacts) and encoding them as `plan`
    (an OutputPlan) says."""
    from_source = decode_seconds(
        width=source.width, height=source.height, frame_rate=source.fps, duration=duration
    )
    rate = float(Fraction(plan.frame_rate))
    return from_source + encode_seconds(
        encoder=plan.video_encoder,
        width=plan.width,
        height=plan.height,
        frame_rate=rate,
        duration=duration,
    )


def pixel_rate(plan) -> float:
    """Pixels a second of output `plan` (an OutputPlan) encodes."""
    return plan.width * plan.height * float(Fraction(plan.frame_rate))
