"""Run the real ``xpnn`` command in a subprocess, as a user would."""
import json
import subprocess
import sys


def xpnn(*args, cwd=None, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "xpnn", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=timeout)


def xpnn_json(*args, **kwargs):
    result = xpnn(*args, "--json", **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)
