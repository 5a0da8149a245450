"""The README's five-minute tour works exactly as written: its shell steps run here against a
fresh server (with the address swapped for the test server's)."""
import os
import re
import subprocess

from conftest import ROOT


def tour_shell_steps():
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    tour = text.split("## A five-minute tour", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", tour, re.S)
    # Starting the server and the interactive WebSocket client are done by the harness.
    return [b for b in blocks if "make run" not in b and "python -m websockets" not in b]


def test_readme_tour(server):
    steps = tour_shell_steps()
    assert len(steps) >= 4
    script = "set -euo pipefail\n" + "\n".join(steps) + '\necho "GROUP=$GROUP"\n'
    script = script.replace("localhost:8080", server.base)
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert '"username":"alice"' in out and '"username":"bob"' in out
    assert '"body":"Hi Bob!"' in out
    assert '"body":"Welcome to the team"' in out
    assert '"unread":1' in out
    assert '"body":"Did you get this live?"' in out
    assert re.search(r"GROUP=[0-9a-f]{8}-[0-9a-f]{4}-7", out), out
