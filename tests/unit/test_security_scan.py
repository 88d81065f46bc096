"""The roadmap's security gate: bandit over ccr/ finds nothing HIGH, and every MEDIUM it would
report is accepted inline with `# nosec BXXX: why` (a blanket or unexplained nosec fails)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOSEC = re.compile(r"#\s*nosec\b(.*)$")
JUSTIFIED = re.compile(r"^\s+(B\d{3})(,\s*B\d{3})*:\s*\S.{9,}")
"""`# nosec B608: why` — test ids, a colon and at least ten characters of reason."""


def scan() -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-m", "bandit", "-r", "ccr", "-f", "json", "-q"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert proc.stdout.strip(), f"bandit did not run (pip install -e '.[dev]'): {proc.stderr}"
    return dict(json.loads(proc.stdout))


def test_bandit_finds_no_high_and_no_unaccepted_medium_finding() -> None:
    report = scan()
    assert report["errors"] == [], report["errors"]
    findings = [f"{r['filename']}:{r['line_number']} {r['test_id']} {r['issue_severity']}: "
                f"{r['issue_text']}" for r in report["results"]  # type: ignore[attr-defined]
                if r["issue_severity"] in ("HIGH", "MEDIUM")]
    assert findings == [], ("fix these, or accept one with `# nosec BXXX: why` on its line:\n"
                            + "\n".join(findings))


def test_every_accepted_finding_names_its_test_and_says_why() -> None:
    unexplained = []
    for path in sorted((ROOT / "ccr").rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            m = NOSEC.search(line)
            if m and not JUSTIFIED.match(m.group(1)):
                unexplained.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert unexplained == [], "\n".join(unexplained)
