"""A user's own languages: `python -m training train --data` on labelled Russian and Czech rows (written for
the tests) gives a model that supports them, with per-language reports, and scores their passages."""

from __future__ import annotations

import json

import pytest

from classifier.predictor import Predictor
from tests.cli_runner import run_cli
from tests.data.multilingual_sentences import CZECH, RUSSIAN

pytestmark = pytest.mark.slow


def rows(sentences, lang: str | None, prefix: str) -> list[dict]:
    out = []
    for i, (text, labels) in enumerate(sentences):
        row = {"id": f"{prefix}{i}", "text": text, "labels": labels, "doc": f"{prefix}-doc{i // 2}"}
        if lang:
            row["lang"] = lang
        out.append(row)
    return out


def test_train_on_russian_and_czech_rows(tmp_path):
    data = tmp_path / "mine.jsonl"
    # Russian rows name their language; Czech rows leave it to the identifier
    records = rows(RUSSIAN, "ru", "ru") + rows(CZECH, None, "cs")
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    models = tmp_path / "models"
    out = run_cli(
        ["-m", "training", "train", "--data", str(data), "--out", str(models), "--cv", "2", "--processes", "1",
         "--min-label-count", "5", "--min-language-rows", "30"],
        models,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "languages supported: cs, ru" in out.stdout
    assert "grouped cross-validation, ru (" in out.stdout and "grouped cross-validation, cs (" in out.stdout
    (version,) = [p for p in models.iterdir() if not p.name.startswith(".") and p.is_dir()]
    manifest = json.loads((version / "manifest.json").read_text())
    assert manifest["supported_languages"] == ["cs", "ru"]
    languages = manifest["languages"]
    assert languages["ru"] == {"rows": 40, "label_counts": {"hybrid_threat_warning": 10, "sabotage_mention": 10,
                                                           "support_statement": 10}, "supported": True}  # fmt: skip
    # identified: nearly all Czech rows as Czech; a short one or two as a neighbour, unsupported with so few rows
    assert languages["cs"]["rows"] >= 36 and sum(entry["rows"] for entry in languages.values()) == 80
    assert all(not entry["supported"] for code, entry in languages.items() if code not in ("ru", "cs"))
    assert set(manifest["metrics"]["cross_validation_by_language"]) == {"ru", "cs"}
    card = (version / "MODEL_CARD.md").read_text()
    assert "| ru | 40 | 10 | 10 | 10 | yes |" in card and f"| cs | {languages['cs']['rows']} |" in card
    predictor = Predictor.load(version)
    (russian,) = predictor.predict_documents(["Хакеры атаковали энергосистему страны."], evidence_top_k=0)
    assert russian["language"] == "ru" and russian["unsupported_languages"] == []
    assert all(isinstance(score, float) for score in russian["scores"].values())  # read and scored
    (english,) = predictor.predict_documents(["Saboteurs blew up the railway bridge last night."], evidence_top_k=0)
    assert english["unsupported_languages"] == ["en"]  # now English is the language this model cannot read
    assert all(alert["alert"] is None for alert in english["alerts"].values())
