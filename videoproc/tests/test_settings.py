"""Settings as a fresh process loads them: the generated secret key and the checks Django
runs for a production deployment (`manage.py check --deploy`)."""

import os
import re
import shlex
import stat
import subprocess
import sys

from videoproc.settings import BASE_DIR

PRINT_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def run_python(code: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def fresh_env(**extra: str) -> dict[str, str]:
    """A process environment with nothing of this one's settings (nor what test plugins
    set, such as DJANGO_ALLOW_ASYNC_UNSAFE), but `extra`."""
    return {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "videoproc.settings", **extra}


def secret_keys(env: dict[str, str], count: int) -> list[str]:
    """SECRET_KEY as `count` processes starting at once see it."""
    processes = [run_python(PRINT_KEY, env) for _ in range(count)]
    keys = []
    for process in processes:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        keys.append(out.strip())
    return keys


def test_unset_secret_key_is_generated_once_and_kept_private(tmp_path):
    # given a data folder with no key yet and no SECRET_KEY in the environment
    data_dir = tmp_path / "data"
    env = fresh_env(DATA_DIR=str(data_dir))

    # when processes start at once, and another one later
    first_keys = secret_keys(env, 4)
    [later_key] = secret_keys(env, 1)

    # then all share one strong key, kept readable by its owner only
    assert len(set(first_keys)) == 1 and first_keys[0] == later_key
    assert len(later_key) >= 50 and len(set(later_key)) >= 5
    key_file = data_dir / "secret_key"
    assert key_file.read_text().strip() == later_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    assert os.listdir(data_dir) == ["secret_key"]  # no draft left behind
    # and it is not a constant of the code
    assert later_key not in (BASE_DIR / "videoproc" / "settings.py").read_text()


def test_other_data_folder_gets_another_key(tmp_path):
    [one] = secret_keys(fresh_env(DATA_DIR=str(tmp_path / "one")), 1)
    [two] = secret_keys(fresh_env(DATA_DIR=str(tmp_path / "two")), 1)
    assert one != two


def test_secret_key_from_the_environment_wins(tmp_path):
    data_dir = tmp_path / "data"
    [key] = secret_keys(fresh_env(DATA_DIR=str(data_dir), SECRET_KEY="k" * 10 + "x" * 50), 1)
    assert key == "k" * 10 + "x" * 50
    assert not data_dir.exists()


def test_unwritable_data_folder_says_what_to_set(tmp_path):
    # given a DATA_DIR below a file, where no folder can be made (whoever runs the tests)
    (tmp_path / "file").write_text("")
    process = run_python(PRINT_KEY, fresh_env(DATA_DIR=str(tmp_path / "file" / "data")))
    _, err = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is unset" in err and "DATA_DIR" in err


def production_env() -> dict[str, str]:
    """The variables the README's "Running it in production" section lists."""
    readme = (BASE_DIR / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, re.S)
    [block] = [block for block in blocks if "BEHIND_TLS_PROXY=" in block]
    return dict(word.split("=", 1) for word in shlex.split(block, comments=True) if "=" in word)


def test_check_deploy_passes_in_the_documented_production_environment(tmp_path):
    env = production_env()
    assert env["BEHIND_TLS_PROXY"] == "true"
    process = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=fresh_env(**env, DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode == 0, process.stderr
    assert "no issues" in process.stdout


def test_check_deploy_warns_with_the_defaults(tmp_path):
    # the defaults are for one machine on plain HTTP: Django must still say so
    process = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=fresh_env(DATA_DIR=str(tmp_path / "data")),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert process.returncode != 0
    assert "security.W008" in process.stderr and "security.W004" in process.stderr
