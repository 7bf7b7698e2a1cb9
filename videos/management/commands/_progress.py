"""The progress bar commands print as they work through a list, one line per item so
that it reads the same in a terminal and in a log."""

BAR_WIDTH = 24


def progress_line(done: int, total: int, label: str) -> str:
    filled = BAR_WIDTH * done // total
    return f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done}/{total} {label}"
