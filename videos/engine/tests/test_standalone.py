"""The engine stands apart from Django: in a fresh interpreter without Django settings,
every engine module imports (pulling in nothing of Django, DRF or the jobs app) and
probes and trims a real file."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[1]
PROJECT = ENGINE.parents[1]
MODULES = sorted(path.stem for path in ENGINE.glob("*.py") if path.stem != "__init__")

SCRIPT = """
import dataclasses, json, sys, types
from pathlib import Path
from videos.engine import media, pipelines
for name in sys.argv[3:]:
    __import__(f"videos.engine.{name}")
source, output = Path(sys.argv[1]), Path(sys.argv[2])
found = media.probe(source)
facts = types.SimpleNamespace(**dataclasses.asdict(found), extension="mp4", label="the clip")
plan = pipelines.trim_plan(facts)
media.run_ffmpeg(pipelines.trim_args(source=source, demuxer=found.demuxer, start=0.5,
                                     end=1.5, plan=plan, output=output), duration=1.0)
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"django", "rest_framework", "jobs"})
print(json.dumps({"loaded": loaded, "duration": media.probe(output).duration}))
"""


def test_the_engine_imports_and_works_without_django(clip, tmp_path):
    environment = {key: value for key, value in os.environ.items() if "DJANGO" not in key}
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(clip), str(tmp_path / "cut.mp4"), *MODULES],
        cwd=PROJECT,
        env=environment,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    result = json.loads(completed.stdout)
    assert result["loaded"] == []
    assert result["duration"] == pytest.approx(1.0, abs=0.05)
    assert "tools" in MODULES and "smartcut" in MODULES
