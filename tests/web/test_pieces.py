"""The small parts: the score in words, chart escaping and accessibility, password hashing against
hashlib itself, the `users set-password` command, and no German credit field named in the pages."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from decision_review.users.service import hash_password, verify_password
from decision_review.web import charts, wording
from tests.test_domain_agnostic import field_pattern, german_credit_fields, hits

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "src" / "decision_review" / "web"


@given(st.floats(min_value=1e-6, max_value=0.4999, allow_nan=False))
def test_the_score_in_words_is_one_in_round_one_over_the_score(score):
    said = wording.meaning(score, wording.DEFAULT)
    assert said == f"about 1 in {round(1 / score):,} applicants like this go bad"


def test_high_scores_and_other_products_read_naturally():
    assert wording.meaning(0.7, wording.DEFAULT) == "about 7 in 10 applicants like this go bad"
    assert wording.meaning(0.999, wording.DEFAULT) == "nearly all applicants like this go bad"
    fraud = wording.wording("fraud_alerts")
    assert wording.meaning(0.076, fraud) == "about 1 in 13 alerts like this are fraud"
    assert not fraud.adverse_action_notices and wording.wording("any_new_line") is wording.DEFAULT


def test_charts_escape_their_text_and_describe_themselves():
    svg = charts.waterfall(
        -1.0, [charts.Step("<b>evil</b> & co", "<i>", 0.5), charts.Step("other", "2", -0.2)], title="T <x>"
    )
    assert "<b>" not in svg and "&lt;b&gt;evil&lt;/b&gt; &amp; co" in svg and "T &lt;x&gt;" in svg
    assert 'role="img"' in svg and "<desc id=" in svg and "ends at 33.2%" in svg  # sigmoid(-0.7)
    band = charts.score_band(0.3, 0.15, 0.6, {"approve": "approve", "review": "review", "decline": "decline"})
    assert "in the review band" in band
    rates = charts.group_rates(
        [charts.GroupRate("<g>", 0.5, 10, reference=True)], threshold=0.8, title="t", what="w"
    )
    assert "&lt;g&gt;" in rates and "<g>" not in rates


def test_password_hashes_are_scrypt_as_hashlib_computes_it():
    stored = hash_password("a long enough password", n=2**10, r=8, p=1)  # cheap parameters, same code
    scheme, params, salt, key = stored.split("$")
    assert (scheme, params) == ("scrypt", "n=1024,r=8,p=1")
    expected = hashlib.scrypt(
        b"a long enough password", salt=base64.b64decode(salt), n=1024, r=8, p=1, dklen=32
    )
    assert base64.b64decode(key) == expected
    assert verify_password("a long enough password", stored)
    assert not verify_password("a long enough passwore", stored)
    assert hash_password("a long enough password", n=2**10) != stored  # a fresh salt each time
    for broken in (
        None,
        "",
        "scrypt$n=1024$x$y",
        "md5$n=1024,r=8,p=1$AA==$AA==",
        "scrypt$n=3,r=8,p=1$AA==$AA==",
    ):
        assert not verify_password("a long enough password", broken)


def _cli(*args: str, stdin: str, database_url: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "decision_review.cli.main",
            "users",
            "set-password",
            *args,
            "--stdin",
            "--database-url",
            database_url,
        ],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_set_password_command(pages):
    short = _cli("ana", stdin="short\n", database_url=pages.url)
    assert short.returncode == 2 and "error: the password must be at least 12 characters long" in short.stderr
    unknown = _cli("nobody", stdin="a good long password\n", database_url=pages.url)
    assert unknown.returncode == 2 and "no user named 'nobody'" in unknown.stderr
    done = _cli("ana", stdin="a brand new password\n", database_url=pages.url)
    assert done.returncode == 0, done.stderr
    assert "password set for ana" in done.stdout and "a brand new password" not in done.stdout
    assert pages.client().sign_in("ana", "a brand new password").status_code == 303


def test_no_german_credit_field_is_named_in_the_pages_or_their_code():
    files = [p for p in sorted(WEB.rglob("*")) if p.suffix in {".py", ".html", ".js", ".css"}]
    assert any(p.name == "case.html" for p in files) and any(p.name == "app.js" for p in files)
    found = hits(files, field_pattern(german_credit_fields()), ROOT)
    assert not found, "\n".join(found)
