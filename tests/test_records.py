"""One bad-record error and one reader: `score`, training data and selection pools report a bad line alike."""

from __future__ import annotations

import pickle

import pytest

from classifier.cli import main as classify
from classifier.records import RecordError
from training.data import load_dataset
from training.pool import read_pool

GOOD = '{"id": "a", "text": "Fine text.", "labels": []}\n'


@pytest.mark.parametrize(
    ("second_line", "message"),
    [
        (b'{"id": "b", "text": "oops", "labels": [}\n', "2: invalid JSON: Expecting value (column 40)"),
        (b"[1]\n", "2: expected a JSON object, got list"),
        (b'{"text": "caf\xc3"}\n', "2: invalid UTF-8 at byte 13"),
    ],
)
def test_score_training_and_select_report_a_bad_line_alike(tmp_path, trained_version_dir, capsys, second_line, message):
    path = tmp_path / "in.jsonl"
    path.write_bytes(GOOD.encode() + second_line)
    expected = f"{path}:{message}"
    with pytest.raises(RecordError) as training:
        load_dataset(path, min_label_count=0)
    with pytest.raises(RecordError) as pool:
        read_pool(path)
    assert str(training.value) == str(pool.value) == expected
    assert classify(["score", str(path), "-o", str(tmp_path / "o.jsonl"), "--model", str(trained_version_dir)]) == 2
    assert capsys.readouterr().err == f"error: {expected}\n"


def test_record_error_text_fields_and_pickling():
    with_line, without = RecordError("in.csv", 3, "expected 2 fields, got 1"), RecordError("in.csv", None, "gone")
    assert (str(with_line), str(without)) == ("in.csv:3: expected 2 fields, got 1", "in.csv: gone")
    assert with_line.to_dict() == {"source": "in.csv", "line": 3, "error": "expected 2 fields, got 1"}
    copy = pickle.loads(pickle.dumps(with_line))  # workers hand bad records to the parent
    assert (type(copy), copy.path, copy.line, copy.message) == (RecordError, "in.csv", 3, "expected 2 fields, got 1")
