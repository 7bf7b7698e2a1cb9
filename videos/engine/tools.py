"""What the engine knows of the machine it runs on: which ffmpeg and ffprobe, how long
and how much memory one run may take, where scratch files go. Plain values with working
defaults, so the engine runs without Django; the videos app sets them from Django's
settings at start-up and again whenever a setting changes (videos/apps.py)."""

from dataclasses import dataclass


@dataclass
class Tools:
    ffmpeg: str = "ffmpeg"
    ffprobe: str = "ffprobe"
    probe_timeout: float = 60  # seconds for one ffprobe run
    time_limit: float = 6 * 3600  # seconds for one FFmpeg run unless it names its own
    memory_limit_mb: int | None = None  # address space of one FFmpeg run
    threads: int | None = None  # threads of one FFmpeg run (None: FFmpeg's own choice)
    scratch_dir: str | None = None  # where trial muxes are written (the system's temp dir)
    answers_dir: str | None = None  # where FFmpeg's answers are kept (None: in memory only)
    private_folders: tuple[str, ...] = ()  # never named in an error a user may read


tools = Tools()


def configure(**values) -> None:
    """Set some of the tools' values by name."""
    for name, value in values.items():
        if not hasattr(tools, name):
            raise TypeError(f"the engine has no setting {name!r}")
        setattr(tools, name, value)
