"""Fault injection on the batch CLI (`predict` / `score`): odd outputs, inputs changed mid-run, huge lines,
unwritable or full outputs, bad bytes. Every failure is `error: ...` with exit code 2 (or a skipped record,
exit 3) and nothing is written under a name the run was not asked to write.

Runs in-process on the bundled model (no training). FIFOs, symbolic links and files live in a temporary
folder; the full disk and the read-only folder are small tmpfs mounts (root only, skipped otherwise).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import tempfile
import threading
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import pytest

from classifier.batch import held_inputs, run
from classifier.batch.held_inputs import FileIdentity, read_range
from classifier.batch.readers import bounded_lines
from classifier.cli import main
from classifier.config import PROJECT_ROOT
from classifier.records import RecordError
from classifier.versions import resolve_version_dir

SENTENCES = [
    "Saboteurs cut the undersea cable.",
    "We stand with Ukraine.",
    "The meeting will take place on Tuesday in Geneva.",
]


@pytest.fixture(scope="module")
def model() -> str:
    return str(resolve_version_dir(PROJECT_ROOT / "models"))


def write_jsonl(path: Path, n: int, start: int = 0) -> Path:
    path.write_text(
        "".join(json.dumps({"id": i, "text": SENTENCES[i % 3]}) + "\n" for i in range(start, start + n)),
        encoding="utf-8",
    )
    return path


def score(model, *argv) -> int:
    return main(["score", "--quiet", "--model", model, *map(str, argv)])


def predict(model, *argv) -> int:
    return main(["predict", "--model", model, *map(str, argv)])


def ids(path: Path) -> list:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def is_root() -> bool:
    return os.geteuid() == 0


@contextmanager
def tmpfs(where: Path, options: str):
    """A tmpfs mounted at `where` (root only), unmounted afterwards."""
    where.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], check=True)
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=True)


# ------------------------------------------------------------------------------------- output targets


def test_fifo_output_is_written_directly_not_replaced(tmp_path, model):
    src = write_jsonl(tmp_path / "in.jsonl", 5)
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert score(model, src, "-o", fifo) == 0
    reader.join(timeout=30)
    assert fifo.is_fifo()  # still the FIFO, not a regular file renamed over it
    assert [json.loads(line)["id"] for line in received[0].decode().splitlines()] == [0, 1, 2, 3, 4]
    assert names(tmp_path) == ["in.jsonl", "out.fifo"]


def test_symlink_to_fifo_is_written_through(tmp_path, model):
    src = write_jsonl(tmp_path / "in.jsonl", 2)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    link = tmp_path / "link.jsonl"
    link.symlink_to(fifo)
    received = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    assert predict(model, "-i", src, "-o", link) == 0
    reader.join(timeout=30)
    assert link.is_symlink() and fifo.is_fifo()
    assert len(received[0].decode().splitlines()) == 2


def test_symlink_to_regular_file_is_resolved(tmp_path, model):
    src = write_jsonl(tmp_path / "in.jsonl", 3)
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "out.jsonl"
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    assert score(model, src, "-o", link) == 0
    assert link.is_symlink() and os.readlink(link) == str(target)  # the link stays
    assert ids(target) == [0, 1, 2]  # the file it points to was replaced
    assert names(tmp_path / "real") == ["out.jsonl"]


@pytest.fixture
def shm_dir():
    """A temporary folder under /dev/shm (an ordinary tmpfs folder that happens to sit under /dev/)."""
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        pytest.skip("no writable /dev/shm here")
    with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="hta-test-") as folder:
        yield Path(folder)


def test_files_under_dev_shm_are_files_not_streams(shm_dir, model, capsys):
    # Regression: every path under /dev/ was taken for a stream, so a file there was appended to (not
    # replaced) and an output equal to its input was not refused.
    src = write_jsonl(shm_dir / "in.jsonl", 3)
    target = shm_dir / "out.jsonl"
    target.write_text("old\n", encoding="utf-8")
    assert score(model, src, "-o", target) == 0
    assert ids(target) == [0, 1, 2]
    before = src.read_bytes()
    assert score(model, src, "-o", src) == 2
    assert capsys.readouterr().err == f"error: {src}: is also an input; refusing to overwrite an input\n"
    assert src.read_bytes() == before and names(shm_dir) == ["in.jsonl", "out.jsonl"]


def test_dev_fd_is_still_written_through(tmp_path, model):
    src = write_jsonl(tmp_path / "in.jsonl", 2)
    target = tmp_path / "out.jsonl"
    with open(target, "w", encoding="utf-8") as handle:
        # /dev/fd/N leads through /proc/self/fd/N to this open file: written through, never renamed over
        assert score(model, src, "-o", f"/dev/fd/{handle.fileno()}") == 0
    assert ids(target) == [0, 1] and names(tmp_path) == ["in.jsonl", "out.jsonl"]


def test_dangling_symlink_is_refused(tmp_path, model, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", 3)
    link = tmp_path / "out.jsonl"
    link.symlink_to(tmp_path / "missing.jsonl")
    assert score(model, src, "-o", link) == 2
    assert capsys.readouterr().err == (
        f"error: {link}: is a symbolic link to a missing file ({tmp_path / 'missing.jsonl'})\n"
    )
    assert names(tmp_path) == ["in.jsonl", "out.jsonl"] and link.is_symlink()


def test_output_equal_to_input_is_refused_before_writing(tmp_path, model, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", 3)
    before = src.read_bytes()
    assert score(model, src, "-o", src) == 2
    assert capsys.readouterr().err == f"error: {src}: is also an input; refusing to overwrite an input\n"
    assert predict(model, "-i", src, "-o", src) == 2
    assert src.read_bytes() == before and names(tmp_path) == ["in.jsonl"]


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_output_linked_to_input_is_refused(tmp_path, model, capsys, link):
    src = write_jsonl(tmp_path / "in.jsonl", 3)
    before = src.read_bytes()
    out = tmp_path / "out.jsonl"
    if link == "hard":
        os.link(src, out)
    else:
        out.symlink_to(src)
    assert score(model, src, "-o", out, "--processes", "2") == 2
    assert capsys.readouterr().err == (
        f"error: {out}: is the same file as input {src} (a link to it); refusing to overwrite an input\n"
    )
    assert src.read_bytes() == before and names(tmp_path) == ["in.jsonl", "out.jsonl"]


def test_errors_file_equal_to_input_is_refused(tmp_path, model, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", 3)
    before = src.read_bytes()
    assert score(model, src, "-o", tmp_path / "out.jsonl", "--on-error", "skip", "--errors", src) == 2
    assert capsys.readouterr().err == f"error: {src}: is also an input; refusing to overwrite an input\n"
    assert src.read_bytes() == before and names(tmp_path) == ["in.jsonl"]


def test_missing_output_folder(tmp_path, model, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", 3)
    out = tmp_path / "nope" / "out.jsonl"
    assert score(model, src, "-o", out) == 2
    assert capsys.readouterr().err == f"error: {out}: folder {tmp_path / 'nope'} does not exist\n"


def test_read_only_output_folder(tmp_path, model, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", 3)
    if is_root():  # root writes through permission bits: use a read-only mount
        with tmpfs(tmp_path / "ro", "ro,size=1m") as folder:
            assert score(model, src, "-o", folder / "out.jsonl") == 2
    else:
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o555)
        assert score(model, src, "-o", folder / "out.jsonl") == 2
    err = capsys.readouterr().err
    reason = "Read-only file system" if is_root() else "Permission denied"
    assert err == f"error: {folder / 'out.jsonl'}: cannot write in {folder}: {reason}\n"


@pytest.mark.skipif(not is_root(), reason="mounting a small tmpfs to fill needs root")
def test_full_disk_is_an_error_and_leaves_nothing(tmp_path, model, capsys):
    src = write_jsonl(tmp_path / "in.jsonl", 3000)
    with tmpfs(tmp_path / "small", "size=64k") as folder:
        out = folder / "out.jsonl"
        assert score(model, src, "-o", out) == 2
        assert capsys.readouterr().err == f"error: {out}: cannot write: No space left on device\n"
        assert names(folder) == []  # no output, no temporary file


# --------------------------------------------------------------------------------- inputs changing


def _replace_after_first_chunk(monkeypatch, action):
    """Make the run call `action()` once, right after it has received the first chunk's result."""
    real = run.score_local

    def score_local(*args, **kwargs):
        for i, result in enumerate(real(*args, **kwargs)):
            if i == 0:
                action()
            yield result

    monkeypatch.setattr(run, "score_local", score_local)


@pytest.mark.parametrize("processes", ["1", pytest.param("2", marks=pytest.mark.slow)])  # 2: a pool of processes
def test_input_replaced_mid_run_is_detected(tmp_path, model, capsys, monkeypatch, processes):
    src = write_jsonl(tmp_path / "in.jsonl", 600)
    other = write_jsonl(tmp_path / "other.jsonl", 600, start=10_000)
    _replace_after_first_chunk(monkeypatch, lambda: os.replace(other, src))
    out = tmp_path / "out.jsonl"
    assert score(model, src, "-o", out, "--processes", processes, "--chunk-size", "50") == 2
    assert capsys.readouterr().err == f"error: {src}: was replaced by another file while being read\n"
    assert names(tmp_path) == ["in.jsonl"]


@pytest.mark.parametrize("processes", ["1", pytest.param("2", marks=pytest.mark.slow)])  # 2: a pool of processes
def test_input_deleted_mid_run_is_detected(tmp_path, model, capsys, monkeypatch, processes):
    src = write_jsonl(tmp_path / "in.jsonl", 600)
    _replace_after_first_chunk(monkeypatch, src.unlink)
    out = tmp_path / "out.jsonl"
    assert score(model, src, "-o", out, "--processes", processes, "--chunk-size", "50") == 2
    assert capsys.readouterr().err == f"error: {src}: was deleted while being read\n"
    assert names(tmp_path) == []


def test_input_changed_in_place_mid_run_is_detected(tmp_path, model, capsys, monkeypatch):
    src = write_jsonl(tmp_path / "in.jsonl", 600)
    size = src.stat().st_size

    def append():
        with open(src, "a", encoding="utf-8") as handle:
            handle.write('{"id": -1, "text": "appended."}\n')

    _replace_after_first_chunk(monkeypatch, append)
    assert score(model, src, "-o", tmp_path / "out.jsonl", "--processes", "2", "--chunk-size", "50") == 2
    grown = src.stat().st_size
    assert capsys.readouterr().err == f"error: {src}: changed while being read (size {size:,} -> {grown:,} bytes)\n"


def test_worker_without_the_held_file_checks_identity(tmp_path):
    # A Dask worker opens the path itself: a file that is not the one the client read is refused.
    src = write_jsonl(tmp_path / "in.jsonl", 3)
    st = src.stat()
    assert str(src) not in held_inputs._HELD
    same = FileIdentity(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    assert read_range(str(src), 0, 10, same) == src.read_bytes()[:10]
    changed = FileIdentity(st.st_dev, st.st_ino, st.st_size + 1, st.st_mtime_ns)
    with pytest.raises(RecordError) as caught:
        read_range(str(src), 0, 10, changed)
    assert str(caught.value) == f"{src}: differs from the file the client read (changed, or another copy)"


# ------------------------------------------------------------------------------------- bounded lines


def test_bounded_lines_never_hold_a_long_line():
    data = b'{"text": "a"}\n' + b"x" * (20 << 20) + b"\n" + b'{"text": "b"}\n'
    handle = io.BufferedReader(io.BytesIO(data))
    tracemalloc.start()
    lines = [(no, raw, n) for no, raw, n in bounded_lines(handle, 1 << 20)]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert lines == [(1, b'{"text": "a"}\n', 14), (2, None, (20 << 20) + 1), (3, b'{"text": "b"}\n', 14)]
    assert peak < 6 << 20  # a few bound-sized (1 MB) pieces at most, never the 20 MB line
    # a line of exactly the bound (newline not counted) is kept
    assert list(bounded_lines(io.BufferedReader(io.BytesIO(b"abc\n")), 3)) == [(1, b"abc\n", 4)]
    assert list(bounded_lines(io.BufferedReader(io.BytesIO(b"abcd\n")), 3)) == [(1, None, 5)]


@pytest.mark.parametrize("processes", ["1", pytest.param("2", marks=pytest.mark.slow)])  # 2: a pool of processes
def test_line_over_the_bound_is_an_error_or_skipped(tmp_path, model, capsys, processes):
    src = tmp_path / "in.jsonl"
    long_text = "word " * 300_000  # 1.5 MB
    src.write_text(
        json.dumps({"id": 0, "text": "fine."}) + "\n" + json.dumps({"id": 1, "text": long_text}) + "\n"
        '{"id": 2, "text": "We stand with Ukraine."}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    common = ["--processes", processes, "--max-record-bytes", "1000000", "--chunk-size", "1"]
    assert score(model, src, "-o", out, *common) == 2
    message = "line longer than 1,000,000 bytes (the limit is set by --max-record-bytes)"
    assert capsys.readouterr().err == f"error: {src}:2: {message}\n"
    assert not out.exists()
    assert score(model, src, "-o", out, *common, "--on-error", "skip") == 3
    assert capsys.readouterr().err == f"{src}:2: {message}\n1 bad record(s) skipped\n"
    assert ids(out) == [0, 2]


def test_text_document_over_the_bound(tmp_path, model, capsys):
    doc = tmp_path / "big.txt"
    doc.write_text("Saboteurs cut the cable. " * 100, encoding="utf-8")
    assert predict(model, "--format", "text", "-i", doc, "--max-record-bytes", "1000") == 2
    assert capsys.readouterr().err == f"error: {doc}: document larger than 1,000 bytes\n"


# ------------------------------------------------------------------------------------- bad content


def test_invalid_utf8_text_document(tmp_path, model, capsys):
    doc = tmp_path / "bad.txt"
    doc.write_bytes(b"Saboteurs cut the cable.\n\xff\xfe broken")
    assert predict(model, "--format", "text", "-i", doc) == 2
    assert capsys.readouterr() == ("", f"error: {doc}: invalid UTF-8 at byte 25\n")


def test_lone_surrogate_in_an_echoed_csv_field(tmp_path, model, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text(
        '{"id": 1, "note": "ok", "text": "We stand with Ukraine."}\n'
        '{"id": 2, "note": "x\\ud800y", "text": "Saboteurs cut the cable."}\n',
        encoding="utf-8",
    )
    out = tmp_path / "out.csv"
    assert score(model, src, "-o", out) == 2
    message = "field 'note' holds a lone surrogate ('\\ud800'), which CSV output cannot hold"
    assert capsys.readouterr().err == f"error: {src}:2: {message}\n"
    assert names(tmp_path) == ["in.jsonl"]
    assert score(model, src, "-o", out, "--on-error", "skip") == 3
    assert capsys.readouterr().err == f"{src}:2: {message}\n1 bad record(s) skipped\n"
    assert out.read_text(encoding="utf-8").splitlines()[1].startswith("1,ok,support_statement,")
    jsonl = tmp_path / "out.jsonl"  # JSONL output escapes it: not an error there
    assert score(model, src, "-o", jsonl) == 0
    assert json.loads(jsonl.read_text(encoding="utf-8").splitlines()[1])["note"] == "x\ud800y"


@pytest.mark.parametrize("depth", [65, 5000])
@pytest.mark.parametrize("processes", ["1", pytest.param("2", marks=pytest.mark.slow)])  # 2: a pool of processes
def test_deeply_nested_json_line(tmp_path, model, capsys, depth, processes):
    src = tmp_path / "in.jsonl"
    deep = "[" * depth + "]" * depth
    src.write_text(f'{{"id": 1, "text": "fine."}}\n{{"id": 2, "text": "x", "meta": {deep}}}\n', encoding="utf-8")
    message = "invalid JSON: arrays or objects nested deeper than 64 levels"
    for command in (["score", "--quiet", str(src), "-o", str(tmp_path / "o.jsonl")], ["predict", "-i", str(src)]):
        assert main([*command, "--model", model, "--processes", processes]) == 2
        assert capsys.readouterr() == ("", f"error: {src}:2: {message}\n")
    assert score(model, src, "-o", tmp_path / "o.csv", "--on-error", "skip", "--processes", processes) == 3
    assert capsys.readouterr().err == f"{src}:2: {message}\n1 bad record(s) skipped\n"
    assert len((tmp_path / "o.csv").read_text(encoding="utf-8").splitlines()) == 2  # header + record 1


def test_fifo_input_is_read_as_it_comes(tmp_path, model):
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    lines = "".join(json.dumps({"id": i, "text": SENTENCES[i % 3]}) + "\n" for i in range(4))
    writer = threading.Thread(target=lambda: fifo.write_text(lines, encoding="utf-8"), daemon=True)
    writer.start()
    out = tmp_path / "out.jsonl"
    assert score(model, fifo, "-o", out) == 0
    writer.join(timeout=30)
    assert ids(out) == [0, 1, 2, 3] and fifo.is_fifo()
