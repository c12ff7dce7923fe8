"""The command line: python -m cconv info and the main job."""
import os
import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", "cconv", *args], capture_output=True, text=True,
                          timeout=600, cwd=os.path.dirname(__file__))


def test_info():
    out = run("info")
    assert out.returncode == 0, out.stderr
    for word in ("cconv", "compiler:", "OpenMP:", "threads:", "SIMD:"):
        assert word in out.stdout


def test_main_job_checks_every_layer():
    out = run()
    assert out.returncode == 0, out.stdout + out.stderr
    assert "all results within their error bounds" in out.stdout
    assert out.stdout.count("direct") + out.stdout.count("winograd") + out.stdout.count("depthwise") >= 11


def test_unknown_command():
    out = run("frobnicate")
    assert out.returncode == 2 and "unknown command" in out.stderr
