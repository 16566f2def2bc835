"""The README's Web SDK snippet, pasted as a user would, works over plain http: in headless Chromium the
page logs no errors, makes no request that fails, and its event is stored by Fermion."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from support.fermion_proc import FermionProcess

NODE_DIR = Path(__file__).parent
README = NODE_DIR.parent.parent / "README.md"
CHROMIUM = os.environ.get("FERMION_CHROMIUM", "/usr/bin/chromium")


def readme_snippet() -> str:
    section = README.read_text().split("## Web SDK", 1)[1]
    found = re.search(r"```js\n(.*?)```", section, re.S)
    assert found is not None, "the README's Web SDK section has no js block"
    return found.group(1)


def test_the_readme_web_sdk_snippet_works_over_plain_http(fermion: FermionProcess, tmp_path: Path) -> None:
    missing = [p for p in (Path(CHROMIUM), NODE_DIR / "node_modules" / "playwright-core") if not p.exists()]
    if missing:
        message = f"missing {', '.join(map(str, missing))}: run scripts/test (apt chromium, npm ci)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    web_key = next(i["key"] for i in fermion.info["inputs"] if i["platform"] == "web")
    snippet = readme_snippet()
    assert "'127.0.0.1:8080'" in snippet and "'<web input key>'" in snippet
    host = fermion.base_url.removeprefix("http://")
    filled = snippet.replace("'127.0.0.1:8080'", repr(host)).replace("'<web input key>'", repr(web_key))
    script = tmp_path / "snippet.js"
    script.write_text(filled)
    out = subprocess.run(
        ["node", str(NODE_DIR / "readme_snippet.js"), fermion.base_url, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=NODE_DIR,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["ready"] is True
    assert result["pageErrors"] == []
    assert result["failed"] == []
    assert [m for m in result["console"] if m.startswith("error")] == [], result["console"]
    uploads = [r for r in result["requests"] if r["url"].endswith("/events")]
    assert uploads and all(r["status"] == 202 for r in uploads), result["requests"]
    deadline = time.monotonic() + 60
    while "README Click" not in json.dumps(fermion.events()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "README Click" in json.dumps(fermion.events())
