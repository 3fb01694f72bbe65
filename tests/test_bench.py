from __future__ import annotations

from sambook.bench.training import bench


def test_bench_reports_throughput_and_memory():
    r = bench("cmaa", backbone="mini", batch=2, size=32, steps=1, adapter_blocks=1)
    assert r["images_per_s"] > 0 and r["peak_mib"] > 0
    assert r["device"].startswith("CPU") and r["memory_kind"] == "peak RSS of the process"
