#!/usr/bin/python3
"""Checks of the result scripts (compare.py, readme_table.py, parity's cost model) on made-up files.

    /usr/bin/python3 -m unittest benchmarks/test_scripts.py      (or run it directly)
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
import readme_table  # noqa: E402


def bench_doc(impl, medians, date="2026-01-02T03:04:05Z"):
    return {"schema": "normnet-bench/1", "implementation": impl, "kind": "throughput", "date": date,
            "git_commit": "abc", "machine": {"hostname": "h", "os": "Linux", "cores": 2, "cpu_model": "Test CPU"},
            "gpu": None, "runtime": {"java": "17"} if impl == "normnet" else {"python": "3", "torch": "1.13"},
            "threads": 2, "settings": {"quick": True, "repeats": 3, "target_seconds": 0.3},
            "backends": {"cpu": "cpu: 2 threads"},
            "cases": [{"id": cid, "model": "m", "input": 28, "mode": "train", "batch": 1, "device": "cpu",
                       "graph": False, "steps_per_run": 1, "examples_per_sec": {"median": m, "min": m, "max": m}}
                      for cid, m in medians.items()]}


class CompareTest(unittest.TestCase):
    def test_ratio_is_median_over_rounds_and_per_round_range(self):
        with tempfile.TemporaryDirectory() as d:
            files = []
            for r, (a, b) in enumerate([(100, 50), (120, 50), (90, 60)]):
                for impl, v in (("normnet", a), ("pytorch", b)):
                    path = os.path.join(d, f"{impl}-r{r}.json")
                    with open(path, "w") as f:
                        json.dump(bench_doc(impl, {"x/train/b1/cpu": v, "only-" + impl: 1.0}), f)
                    files.append(path)
            out = os.path.join(d, "s.json")
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(0, compare.main(files + ["--json", out, "--command", "cmd"]))
            with open(out) as f:
                s = json.load(f)
            self.assertEqual(1, len(s["cases"]), "cases of one implementation only are left out")
            c = s["cases"][0]
            self.assertEqual(100, c["normnet"])
            self.assertEqual(50, c["pytorch"])
            self.assertAlmostEqual(2.0, c["ratio"])
            self.assertAlmostEqual(1.5, c["ratio_min"])
            self.assertAlmostEqual(2.4, c["ratio_max"])
            self.assertEqual(3, s["rounds"])
            self.assertEqual("cmd", s["command"])

    def test_kernel_ratio_is_pytorch_time_over_normnet_time(self):
        with tempfile.TemporaryDirectory() as d:
            files = []
            for impl, ms in (("normnet", 2.0), ("pytorch", 3.0)):
                doc = {"schema": "normnet-bench/1", "implementation": impl, "kind": "kernels", "date": "d",
                       "devices": [{"device": "cpu", "kernels": [{"op": "bn", "direction": "forward_train",
                                                                  "shape": "1x2", "ms": {"median": ms}}]}]}
                path = os.path.join(d, impl + ".json")
                with open(path, "w") as f:
                    json.dump(doc, f)
                files.append(path)
            out = os.path.join(d, "k.json")
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(0, compare.main(files + ["--json", out]))
            with open(out) as f:
                self.assertAlmostEqual(1.5, json.load(f)["kernels"][0]["ratio"])


class ReadmeTableTest(unittest.TestCase):
    def test_tables_name_machine_date_and_command(self):
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "bench-cpu.json"), "w") as f:
                json.dump(bench_doc("normnet", {"lenet-bn-28/train/b256/cpu": 4321.0}), f)
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                self.assertEqual(0, readme_table.main([d]))
            text = buf.getvalue()
            self.assertIn("| `lenet-bn-28/train/b256/cpu` | 4,321 |", text)
            self.assertIn("Test CPU (2 cores)", text)
            self.assertIn("2026-01-02 03:04:05 UTC", text)
            self.assertIn("Reproduce: `./normnet bench --device cpu --quick --threads 2 --json FILE`", text)

    def test_no_results_is_an_error(self):
        with tempfile.TemporaryDirectory() as d:
            with contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(1, readme_table.main([d]))


if __name__ == "__main__":
    unittest.main()
