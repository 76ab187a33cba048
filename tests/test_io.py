"""JSON in and out of the command-line tools, and how many processes they use by default."""

from __future__ import annotations

import json

import pytest

from classifier.batch.pool import AUTO_PARALLEL_BYTES, resolve_processes, usable_cpus
from classifier.io import NotJsonError, dumps, loads
from classifier.records import RecordError, parse_jsonl_record


def test_loads_equals_the_standard_library_on_ordinary_json():
    raw = '{"id": 7, "text": "Caf\\u00e9 \u00fcber", "score": 0.25, "tags": ["a", null, true], "n": {"x": -1e-7}}'
    assert loads(raw) == json.loads(raw)
    assert loads(raw.encode()) == json.loads(raw)


def test_loads_keeps_integers_beyond_64_bits_exact():
    big = 123456789012345678901234567890
    record = loads(f'{{"id": {big}, "nested": [{{"n": -{big}}}], "text": "x"}}')
    assert record == {"id": big, "nested": [{"n": -big}], "text": "x"}
    assert type(record["id"]) is int
    assert loads('{"id": 18446744073709551615}')["id"] == 2**64 - 1


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_loads_refuses_nan_and_infinity(constant):
    with pytest.raises(NotJsonError, match=f"^{constant} is not a JSON value$"):
        loads(f'{{"text": "x", "v": {constant}}}')


def test_parse_errors_name_file_line_and_column():
    with pytest.raises(RecordError) as caught:
        parse_jsonl_record('{"text": "x",}', "in.jsonl", 4)
    message = "invalid JSON: Expecting property name enclosed in double quotes (column 14)"
    assert str(caught.value) == f"in.jsonl:4: {message}"
    with pytest.raises(RecordError) as caught:
        parse_jsonl_record('{"text": "x", "v": NaN}', "in.jsonl", 5)
    assert str(caught.value) == "in.jsonl:5: invalid JSON: NaN is not a JSON value"


def test_lone_surrogates_are_read_and_written_as_the_standard_library_does():
    record = loads('{"text": "x\\ud800y"}')
    assert record == {"text": "x\ud800y"}
    assert dumps(record) == '{"text":"x\\ud800y"}'  # escaped: the line stays valid UTF-8
    assert loads(dumps(record)) == record


def test_dumps_is_compact_utf8_and_falls_back_for_big_integers():
    assert dumps({"text": "Caf\u00e9 \u201cq\u201d", "labels": [], "s": {"a": 0.5}}) == (
        '{"text":"Caf\u00e9 \u201cq\u201d","labels":[],"s":{"a":0.5}}'
    )
    assert dumps({"id": 2**70}) == '{"id":1180591620717411303424}'


def test_default_processes_depend_on_input_size():
    cpus = resolve_processes(0, 10)
    assert cpus == usable_cpus() >= 1
    assert resolve_processes(None, 14) == 1
    assert resolve_processes(None, AUTO_PARALLEL_BYTES - 1) == 1
    assert resolve_processes(None, AUTO_PARALLEL_BYTES) == cpus
    assert resolve_processes(None, None) == 1  # stdin: size unknown
    assert resolve_processes(3, 14) == 3
