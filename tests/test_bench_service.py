"""bench/bench_service.py reads wrk's figures right (the benchmark itself runs in `make bench-service`)."""

from __future__ import annotations

import pytest

from bench import bench_service

OUTPUT = """Running 10s test @ http://127.0.0.1:40000/v1/predict
  2 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.79ms    7.53ms  90.21ms   91.07%
    Req/Sec     1.04k   221.93     1.57k    69.50%
  Latency Distribution
     50%    2.41ms
     75%    3.90ms
     90%    9.73ms
     99%    1.02s
  20741 requests in 10.01s, 17.53MB read
  Socket errors: connect 0, read 1, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:   2072.10
Transfer/sec:      1.75MB
"""


def test_parse_wrk_reads_rate_latencies_and_errors():
    figures = bench_service.parse_wrk(OUTPUT)
    found = (figures.rps, figures.p50, figures.p99, figures.requests, figures.errors)
    assert found == (2072.10, 2.41, 1020.0, 20741, 7)


def test_parse_wrk_microseconds_and_no_errors():
    text = OUTPUT.replace("2.41ms", "812.00us").replace("  Socket errors: connect 0, read 1, write 0, timeout 2\n", "")
    figures = bench_service.parse_wrk(text.replace("  Non-2xx or 3xx responses: 4\n", ""))
    assert (figures.p50, figures.errors) == (0.812, 0)


def test_parse_wrk_refuses_other_output():
    with pytest.raises(RuntimeError, match="no 50% latency in wrk's output"):
        bench_service.parse_wrk("Requests/sec: 5\n  5 requests in 1s\n")
