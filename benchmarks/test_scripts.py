#!/usr/bin/python3
"""Checks of the scripts: compare.py, readme_table.py, ncu_summary.py and parity.py's recipe names on made-up files, the
allocator setting of the PyTorch side (common.keep_freed_memory), and
the PyTorch reference models (pytorch/models.py) against the layer order of normnet's Models.

    /usr/bin/python3 -m unittest benchmarks/test_scripts.py      (or run it directly)
"""

import contextlib
import io
import json
import os
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "parity"))
sys.path.insert(0, os.path.join(HERE, "pytorch"))
import common  # noqa: E402
import compare  # noqa: E402
import models  # noqa: E402
import ncu_summary  # noqa: E402
import parity  # noqa: E402
import readme_table  # noqa: E402
import targets  # noqa: E402


def bench_doc(impl, medians, date="2026-01-02T03:04:05Z"):
    return {"schema": "normnet-bench/1", "implementation": impl, "kind": "throughput", "date": date,
            "git_commit": "abc", "machine": {"hostname": "h", "os": "Linux", "cores": 2, "cpu_model": "Test CPU"},
            "gpu": None, "runtime": {"java": "17"} if impl == "normnet" else {"python": "3", "torch": "1.13"},
            "threads": 2, "settings": {"quick": True, "repeats": 3, "target_seconds": 0.3},
            "backends": {"cpu": "cpu: 2 threads"},
            "cases": [{"id": cid, "model": "m", "input": 28, "mode": "train", "batch": 1, "device": "cpu",
                       "graph": False, "steps_per_run": 1, "examples_per_sec": {"median": m, "min": m, "max": m}}
                      for cid, m in medians.items()]}


def refused(test, main, argv):
    """Runs a script's main on bad input: asserts exit status 2 and one line on stderr, returns it."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        test.assertEqual(2, main(argv), argv)
    line = err.getvalue()
    test.assertEqual(1, line.count("\n"), line)
    return line


class CompareTest(unittest.TestCase):
    def test_each_side_is_taken_at_its_best_process_and_thread_count(self):
        with tempfile.TemporaryDirectory() as d:
            files = []
            # (implementation, threads, examples/s of case x) per process: PyTorch's third 2-thread process is
            # in the slow mode; its 1-thread processes are slower than its best 2-thread one
            runs = [("normnet", 2, 100), ("normnet", 2, 120), ("normnet", 2, 90), ("normnet", 1, 80),
                    ("pytorch", 2, 50), ("pytorch", 2, 60), ("pytorch", 2, 20), ("pytorch", 1, 40)]
            for i, (impl, threads, v) in enumerate(runs):
                doc = bench_doc(impl, {"x/train/b1/cpu": v, "only-" + impl: 1.0})
                doc["threads"] = threads
                doc["machine"]["load_average"] = [0.1 * i, 0, 0]
                path = os.path.join(d, f"{impl}-t{threads}-r{i}.json")
                with open(path, "w") as f:
                    json.dump(doc, f)
                files.append(path)
            e2e = bench_doc("normnet", {"lenet-bn-28/epoch+eval/b256/cpu": 30.0})
            e2e["kind"] = "end-to-end"
            e2e_p = bench_doc("pytorch", {"lenet-bn-28/epoch+eval/b256/cpu": 10.0})
            e2e_p["kind"] = "end-to-end"
            for name, doc in (("e2e-n.json", e2e), ("e2e-p.json", e2e_p)):
                with open(os.path.join(d, name), "w") as f:
                    json.dump(doc, f)
                files.append(os.path.join(d, name))
            out = os.path.join(d, "s.json")
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(0, compare.main(files + ["--json", out, "--command", "cmd", "--best-dir", d]))
            with open(out) as f:
                s = json.load(f)
            self.assertEqual("normnet-side-by-side/2", s["schema"])
            self.assertEqual(["x/train/b1/cpu", "lenet-bn-28/epoch+eval/b256/cpu"], [c["id"] for c in s["cases"]],
                             "cases of one implementation only are left out")
            c = s["cases"][0]
            self.assertEqual(120, c["normnet"])
            self.assertEqual(60, c["pytorch"])
            self.assertAlmostEqual(2.0, c["ratio"])
            self.assertEqual(2, c["normnet_side"]["threads"])
            self.assertEqual([50, 60, 20], c["pytorch_side"]["process_medians"])
            self.assertAlmostEqual(100 / 50, c["ratio_typical"])
            self.assertAlmostEqual(90 / 60, c["ratio_worst"])
            self.assertEqual({"1": 40, "2": 60}, c["pytorch_side"]["by_threads"])
            self.assertAlmostEqual(3.0, s["cases"][1]["ratio"])
            self.assertAlmostEqual(0.7, s["max_load_average"])
            self.assertEqual({"normnet": 5, "pytorch": 5}, s["processes"])
            self.assertEqual("cmd", s["command"])
            with open(os.path.join(d, "best-pytorch.json")) as f:
                best = json.load(f)
            self.assertTrue(best["best_of_processes"])
            self.assertEqual([("x/train/b1/cpu", 60, 2)],
                             [(x["id"], x["examples_per_sec"]["median"], x["threads"]) for x in best["cases"]])

    def test_the_best_thread_count_can_differ_per_side(self):
        with tempfile.TemporaryDirectory() as d:
            files = []
            for impl, threads, v in (("normnet", 1, 10), ("normnet", 2, 30), ("pytorch", 1, 25), ("pytorch", 2, 5)):
                doc = bench_doc(impl, {"x/train/b1/cpu": v})
                doc["threads"] = threads
                path = os.path.join(d, f"{impl}-t{threads}.json")
                with open(path, "w") as f:
                    json.dump(doc, f)
                files.append(path)
            out = os.path.join(d, "s.json")
            with contextlib.redirect_stdout(io.StringIO()):
                self.assertEqual(0, compare.main(files + ["--json", out]))
            with open(out) as f:
                c = json.load(f)["cases"][0]
            self.assertEqual((2, 1), (c["normnet_side"]["threads"], c["pytorch_side"]["threads"]))
            self.assertAlmostEqual(30 / 25, c["ratio"])

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

    def test_bad_files_and_impossible_comparisons_are_one_line_and_exit_2(self):
        case = {"id": "x", "examples_per_sec": {"median": 2.0}}
        kernel = {"op": "bn", "direction": "backward", "shape": "s", "ms": {"median": 1.0}}
        normnet = json.dumps({"implementation": "normnet", "cases": [case]})
        hostile = [
            ("{", "Expecting"),
            ("[1]", "not a bench result"),
            (json.dumps({"cases": [case]}), "no \"implementation\""),
            (json.dumps({"implementation": "pytorch"}), "no \"cases\" list"),
            (json.dumps({"implementation": "pytorch", "cases": [{"id": "x"}]}), "positive examples_per_sec"),
            (json.dumps({"implementation": "pytorch", "cases": [dict(case, examples_per_sec={"median": 0})]}),
             "positive examples_per_sec"),
            ('{"implementation": "pytorch", "cases": [{"id": "x", "examples_per_sec": {"median": NaN}}]}',
             "positive examples_per_sec"),
            (json.dumps({"implementation": "pytorch", "settings": "fast", "cases": [case]}), "\"settings\" is not"),
            (json.dumps({"implementation": "pytorch", "kind": "kernels", "devices": [{"device": "cuda",
                                                                                     "kernels": [dict(kernel, ms=3)]}]}),
             "positive ms.median"),
            (json.dumps({"implementation": "pytorch", "kind": "kernels", "devices": [{"kernels": []}]}),
             "a device without a name"),
            (json.dumps({"implementation": "normnet", "cases": [case]}), "both normnet and pytorch"),
            (json.dumps({"implementation": "pytorch", "cases": [dict(case, id="y")]}), "no case id in common"),
            (json.dumps({"implementation": "pytorch", "kind": "kernels", "devices": []}),
             "cannot compare throughput and kernel files together"),
        ]
        with tempfile.TemporaryDirectory() as d:
            first = os.path.join(d, "n.json")
            with open(first, "w") as f:
                f.write(normnet)
            path = os.path.join(d, "p.json")
            for text, expected in hostile:
                with open(path, "w") as f:
                    f.write(text)
                line = refused(self, compare.main, [first, path])
                self.assertTrue(line.startswith("error: ") and expected in line, (text, line))
                if "in common" not in expected and "both" not in expected and "together" not in expected:
                    self.assertIn(path, line, "a bad file is named")

    def test_a_tf32_case_of_pytorch_is_set_against_normnets_case_without_the_suffix(self):
        with tempfile.TemporaryDirectory() as d:
            base = "lenet-bn-224/train/b128/cuda/graph"
            normnet = bench_doc("normnet", {base: 900.0})
            pytorch = bench_doc("pytorch", {base: 600.0, base + "/tf32": 1800.0})
            pytorch["complete"] = False
            files = []
            for name, doc in (("n.json", normnet), ("p.json", pytorch)):
                files.append(os.path.join(d, name))
                with open(files[-1], "w") as f:
                    json.dump(doc, f)
            out = os.path.join(d, "s.json")
            err = io.StringIO()
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
                self.assertEqual(0, compare.main(files + ["--json", out]))
            with open(out) as f:
                s = json.load(f)
            self.assertEqual([(base, 1.5, None), (base + "/tf32", 0.5, True)],
                             [(c["id"], c["ratio"], c.get("pytorch_tf32")) for c in s["cases"]])
            self.assertEqual([os.path.relpath(files[1], compare.ROOT)], s["incomplete_files"])
            self.assertIn("p.json: written by a run stopped early", err.getvalue())
            table = []
            readme_table.side_by_side_table(out, s, table)
            self.assertIn("Ids ending in /tf32: PyTorch with its default TF32 convolutions", "\n".join(table))


class TargetsTest(unittest.TestCase):
    @staticmethod
    def kernels_doc(impl, forward_ms, backward_ms):
        return {"implementation": impl, "kind": "kernels", "devices": [
            {"device": "cpu", "kernels": [{"op": "bn2-224", "direction": "forward_train", "shape": "256x16x106x106",
                                           "ms": {"median": 0.001}}]},
            {"device": "cuda", "kernels": [
                {"op": "bn2-224", "direction": "forward_train", "shape": "256x16x106x106", "ms": {"median": forward_ms}},
                {"op": "bn2-224", "direction": "backward", "shape": "256x16x106x106", "ms": {"median": backward_ms}},
                {"op": "bn2", "direction": "backward", "shape": "256x16x10x10", "ms": {"median": 0.001}}]}]}

    def test_each_target_compares_the_modes_it_names(self):
        base, big = "lenet-bn-28/train/b256/cuda", "lenet-bn-224/train/b128/cuda"
        normnet = bench_doc("normnet", {base: 900_000.0, base + "/graph": 1_500_000.0, big: 9_000.0})
        pytorch = bench_doc("pytorch", {base: 100_000.0, base + "/graph": 1_200_000.0, big: 7_000.0,
                                        big + "/graph": 10_000.0, big + "/tf32": 40_000.0})
        rows = targets.evaluate(normnet, pytorch, self.kernels_doc("normnet", 0.2, 0.3), self.kernels_doc("pytorch", 0.3, 0.25))
        self.assertEqual(["met", "not met", "not met", "met"], [r["verdict"] for r in rows])
        self.assertAlmostEqual(15.0, rows[0]["ratio"], msg="normnet's graph against PyTorch eager")
        self.assertEqual(("graph", "eager"), (rows[0]["normnet_mode"], rows[0]["pytorch_mode"]))
        self.assertAlmostEqual(1.25, rows[1]["ratio"], msg="against PyTorch's graph: 1.25 < 1.5")
        self.assertAlmostEqual(0.9, rows[2]["ratio"], msg="normnet eager (its only mode) against PyTorch's faster, "
                                                          "fp32 (the TF32 row is not the reference)")
        self.assertEqual("graph", rows[2]["pytorch_mode"])
        self.assertAlmostEqual(0.55 / 0.5, rows[3]["ratio"], msg="forward + backward on the GPU, not the CPU row")
        text = targets.markdown(rows, "H200")
        self.assertIn("| LeNet-BN 28x28 training, batch 256: at least 10x PyTorch eager | 1,500,000 (graph) | "
                      "100,000 (eager) | 15.00x | met |", text)
        self.assertIn("| 0.500 ms | 0.550 ms | 1.10x | met |", text)

    def test_missing_cases_are_not_measured(self):
        rows = targets.evaluate(bench_doc("normnet", {"mlp-bn-28/infer/b1000/cpu": 1.0}), None, None,
                                self.kernels_doc("pytorch", 1, 1))
        self.assertEqual(["not measured"] * 4, [r["verdict"] for r in rows])
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "t.md")
            path = os.path.join(d, "n.json")
            with open(path, "w") as f:
                json.dump(bench_doc("normnet", {}), f)
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
                self.assertEqual(0, targets.main(["--normnet", path, "--out", out]))
            self.assertIn("0 of 4 targets met, 0 measured", err.getvalue())
            with open(out) as f:
                self.assertEqual(4, f.read().count("not measured"))

    def test_a_file_that_is_not_a_bench_file_of_its_kind_is_one_line_and_exit_2(self):
        good_case = {"id": "x", "examples_per_sec": {"median": 1.0}}
        good_kernel = {"op": "bn2-224", "direction": "backward", "shape": "s", "ms": {"median": 1.0}}
        hostile = [
            ("--normnet", "{"),                                                     # not JSON
            ("--normnet", "[]"),                                                    # not an object
            ("--normnet", json.dumps({"implementation": "other", "cases": []})),
            ("--normnet", json.dumps({"implementation": "pytorch", "cases": []})),          # the sides swapped
            ("--normnet", json.dumps({"implementation": "normnet", "machine": [1], "cases": []})),
            ("--normnet", json.dumps({"implementation": "normnet"})),               # no cases
            ("--pytorch", json.dumps({"implementation": "pytorch", "cases": {}})),
            ("--pytorch", json.dumps({"implementation": "pytorch", "cases": [1]})),
            ("--pytorch", json.dumps({"implementation": "pytorch", "cases": [{"id": "x"}]})),
            ("--pytorch", json.dumps({"implementation": "pytorch", "cases": [{"id": 3, "examples_per_sec": {"median": 1}}]})),
            ("--normnet", json.dumps({"implementation": "normnet", "cases": [dict(good_case, examples_per_sec={"median": "9"})]})),
            ("--normnet", json.dumps({"implementation": "normnet", "cases": [dict(good_case, examples_per_sec={"median": True})]})),
            ("--normnet", '{"implementation": "normnet", "cases": [{"id": "x", "examples_per_sec": {"median": NaN}}]}'),
            ("--normnet", json.dumps({"implementation": "normnet", "cases": [dict(good_case, examples_per_sec={"median": -1})]})),
            ("--normnet-kernels", json.dumps({"implementation": "normnet", "cases": [good_case]})),  # throughput as kernels
            ("--normnet-kernels", json.dumps({"implementation": "normnet", "devices": [{"device": "cuda"}]})),
            ("--pytorch-kernels", json.dumps({"implementation": "pytorch", "devices": [{"kernels": [dict(good_kernel, ms={})]}]})),
            ("--pytorch-kernels", json.dumps({"implementation": "pytorch", "devices": [{"kernels": [dict(good_kernel, op=None)]}]})),
            ("--pytorch-kernels", '{"implementation": "pytorch", "devices": [{"kernels": [{"op": "a", "direction": "b", '
                                  '"shape": "c", "ms": {"median": Infinity}}]}]}'),
        ]
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "f.json")
            for flag, text in hostile:
                with open(path, "w") as f:
                    f.write(text)
                self.assertTrue(refused(self, targets.main, [flag, path]).startswith(f"error: {flag} {path}: "), text)
            self.assertIn("absent.json", refused(self, targets.main, ["--pytorch", os.path.join(d, "absent.json")]))


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

    def side_by_side_text(self, d, docs):
        """README text of a side by side over the bench files {name: doc}, written and compared in d."""
        files = []
        for name, doc in docs.items():
            path = os.path.join(d, name + ".json")
            with open(path, "w") as f:
                json.dump(doc, f)
            files.append(path)
        with contextlib.redirect_stdout(io.StringIO()):
            self.assertEqual(0, compare.main(files + ["--json", os.path.join(d, "side_by_side.json"),
                                                      "--command", "benchmarks/side_by_side.sh --x", "--best-dir", d]))
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            self.assertEqual(0, readme_table.main([d]))
        return buf.getvalue()

    def test_side_by_side_table_shows_best_threads_spread_and_ratios(self):
        with tempfile.TemporaryDirectory() as d:
            docs = {}
            for impl, threads, v in (("normnet", 2, 3000.0), ("normnet", 2, 2500.0), ("pytorch", 2, 1000.0),
                                     ("pytorch", 1, 1200.0)):
                doc = bench_doc(impl, {"lenet-bn-28/train/b256/cpu": v})
                doc["threads"] = threads
                docs[f"{impl}-t{threads}-{v:.0f}"] = doc
            text = self.side_by_side_text(d, docs)
            self.assertIn("| `lenet-bn-28/train/b256/cpu` | 3,000 (2) | 2,500-3,000 | 1,200 (1) | 1,200-1,200 | 2.50x |",
                          text)
            self.assertIn("Reproduce: `benchmarks/side_by_side.sh --x`", text)
            self.assertNotIn("#### `normnet bench`", text, "the best-of file is not listed as a bench run of its own")
            self.assertNotIn("freed memory", text, "files without the setting say nothing of it")

    def test_side_by_side_table_says_how_pytorch_allocated(self):
        for kept, expect in (([True, True], "freed memory kept (glibc malloc)"), ([False, False], "glibc malloc's defaults"),
                             ([True, False], "glibc malloc mixed")):
            with tempfile.TemporaryDirectory() as d:
                docs = {}
                for i, (impl, keep) in enumerate((("normnet", None), ("pytorch", kept[0]), ("pytorch", kept[1]))):
                    doc = bench_doc(impl, {"lenet-bn-28/train/b256/cpu": 1000.0 + i})
                    if keep is not None:
                        doc["settings"]["keep_freed_memory"] = keep
                    docs[f"{impl}-{i}"] = doc
                self.assertIn("PyTorch flush-to-zero off, " + expect + ";", self.side_by_side_text(d, docs))

    def test_parity_recipes_show_under_their_current_names(self):
        with tempfile.TemporaryDirectory() as d:
            acc = {"mean": 0.9, "std": 0.01}
            doc = {"schema": "normnet-parity/1", "date": "2026-01-02T03:04:05Z",
                   "machine": {"hostname": "h", "cores": 2},
                   "seeds": [0], "recipes": {"momentum": {"epochs": 20, "normnet": acc, "pytorch": acc},
                                             "mlp-adam": {"epochs": 10, "normnet": acc, "pytorch": acc}}}
            with open(os.path.join(d, "parity.json"), "w") as f:
                json.dump(doc, f)
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                self.assertEqual(0, readme_table.main([d]))
            self.assertIn("| sgd-momentum-steplr | 20 |", buf.getvalue())
            self.assertIn("| mlp-adam | 10 |", buf.getvalue())

    def test_no_results_is_an_error(self):
        with tempfile.TemporaryDirectory() as d:
            with contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(1, readme_table.main([d]))


class AllocatorTest(unittest.TestCase):
    PROBE = """
import ctypes, sys
sys.path.insert(0, sys.argv[1])
import common
if sys.argv[2] == "keep":
    assert common.keep_freed_memory() is None
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
                                               "uordblks", "fordblks", "keepcost")]
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
before = libc.mallinfo2().hblkhd
p = libc.malloc(64 << 20)
mapped = libc.mallinfo2().hblkhd - before
libc.free(p)
after = libc.mallinfo2().arena
print(mapped, after)
"""

    def probe(self, mode):
        import subprocess
        out = subprocess.run([sys.executable, "-c", self.PROBE, os.path.join(HERE, "pytorch"), mode], capture_output=True,
                             text=True, check=True).stdout.split()
        return int(out[0]), int(out[1])

    def test_keep_freed_memory_takes_large_blocks_from_the_heap_and_keeps_them(self):
        # glibc's default maps a 64 MiB block on its own (and unmaps it when freed); kept, it comes
        # from the heap, and the heap is not trimmed when it is freed.
        mapped, _ = self.probe("default")
        self.assertGreaterEqual(mapped, 64 << 20)
        mapped, heap_after_free = self.probe("keep")
        self.assertEqual(0, mapped)
        self.assertGreaterEqual(heap_after_free, 64 << 20)


class PrecisionTest(unittest.TestCase):
    """common.set_conv_tf32 on both of PyTorch's APIs, and bench.py's order of cases."""

    @staticmethod
    def per_operator_backends():
        """A stand-in for torch.backends of PyTorch 2.9 to 2.11, as aten/src/ATen/Context.cpp keeps
        the state: per-operator precisions (convolutions and RNNs "tf32" by default, matrix
        multiplications "none") beside the legacy flags; a legacy setter also sets the per-operator
        flags ("tf32" or "none" for cuDNN, "tf32" or "ieee" for matmul) and warns that it is
        deprecated; a legacy getter raises when the two disagree."""
        import warnings
        from types import SimpleNamespace as NS
        state = {"conv": "tf32", "rnn": "tf32", "matmul": "none", "cudnn": True, "matmul_highest": True}

        def legacy_cudnn():
            tf32 = state["conv"] == "tf32"
            if tf32 != (state["rnn"] == "tf32") or tf32 != state["cudnn"]:
                raise RuntimeError("PyTorch is checking whether allow_tf32 is enabled for cuDNN without a specific "
                                   "operator name, ... a mix of the legacy and new APIs")
            return state["cudnn"]

        def set_legacy_cudnn(value):
            warnings.warn("Please use the new API settings to control TF32 behavior", UserWarning)
            state["conv"] = state["rnn"] = "tf32" if value else "none"
            state["cudnn"] = bool(value)

        def legacy_matmul():
            if (not state["matmul_highest"]) != (state["matmul"] == "tf32"):
                raise RuntimeError("PyTorch is checking whether allow_tf32_new is enabled for cuBlas matmul, ... mix")
            return not state["matmul_highest"]

        def set_legacy_matmul(value):
            warnings.warn("Please use the new API settings to control TF32 behavior", UserWarning)
            state["matmul_highest"] = not value
            state["matmul"] = "tf32" if value else "ieee"

        def precision(key):
            return property(lambda self: state[key], lambda self, v: state.__setitem__(key, v))

        Cudnn = type("Cudnn", (), {"allow_tf32": property(lambda self: legacy_cudnn(),
                                                          lambda self, v: set_legacy_cudnn(v))})
        Matmul = type("Matmul", (), {"allow_tf32": property(lambda self: legacy_matmul(),
                                                            lambda self, v: set_legacy_matmul(v)),
                                     "fp32_precision": precision("matmul")})
        cudnn = Cudnn()
        cudnn.conv = type("Conv", (), {"fp32_precision": precision("conv")})()
        cudnn.rnn = type("Rnn", (), {"fp32_precision": precision("rnn")})()
        return NS(cudnn=cudnn, cuda=NS(matmul=Matmul()))

    def test_the_per_operator_flags_are_set_and_the_legacy_ones_kept_in_step(self):
        import warnings
        b = self.per_operator_backends()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a deprecation warning that got through would fail here
            self.assertEqual({"conv": "ieee", "matmul": "ieee"}, common.set_conv_tf32(False, b))
        self.assertEqual(("ieee", "ieee"), (b.cudnn.conv.fp32_precision, b.cudnn.rnn.fp32_precision))
        self.assertEqual((False, False), (b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32),
                         "the legacy getters answer (PyTorch raises when they disagree with the new flags)")
        self.assertEqual({"conv": "tf32", "matmul": "ieee"}, common.set_conv_tf32(True, b))
        self.assertEqual("tf32", b.cudnn.rnn.fp32_precision, "conv and RNN agree, as PyTorch requires")
        self.assertEqual((True, False), (b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32))

    def test_the_stand_in_refuses_a_mix_as_pytorch_does(self):
        b = self.per_operator_backends()
        b.cudnn.conv.fp32_precision = b.cudnn.rnn.fp32_precision = "ieee"  # the new API alone
        with self.assertRaises(RuntimeError):
            b.cudnn.allow_tf32
        b.cuda.matmul.fp32_precision = "tf32"
        with self.assertRaises(RuntimeError):
            b.cuda.matmul.allow_tf32

    def test_the_legacy_flags_are_set_where_there_is_no_per_operator_api(self):
        from types import SimpleNamespace as NS
        b = NS(cudnn=NS(allow_tf32=True), cuda=NS(matmul=NS(allow_tf32=True)))
        self.assertEqual({"conv": "ieee", "matmul": "ieee"}, common.set_conv_tf32(False, b))
        self.assertEqual((False, False), (b.cudnn.allow_tf32, b.cuda.matmul.allow_tf32))
        self.assertEqual({"conv": "tf32", "matmul": "ieee"}, common.set_conv_tf32(True, b))
        self.assertTrue(b.cudnn.allow_tf32)

    def test_this_torch_reads_back_what_was_set(self):
        import torch
        before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
        try:
            self.assertEqual("ieee", common.set_conv_tf32(False)["conv"])
            self.assertEqual("tf32", common.set_conv_tf32(True)["conv"])
        finally:
            torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before

    def test_tf32_cases_come_after_every_fp32_case_and_only_for_convolutional_models_on_the_gpu(self):
        import bench
        cases = bench.plan(["cpu", "cuda"], "also", None)
        ids = [bench.case_id(*c) for c in cases]
        tf32 = [i for i in ids if i.endswith("/tf32")]
        self.assertEqual(ids[len(ids) - len(tf32):], tf32, "the TF32 cases are last")
        self.assertEqual(sorted(i[:-len("/tf32")] for i in tf32),
                         sorted(i for i in ids if i.startswith("lenet-bn-") and "/train/" in i and "/cuda" in i
                                and not i.endswith("/tf32")))
        self.assertIn("lenet-bn-224/train/b128/cuda/graph/tf32", tf32)
        self.assertEqual([], [c for c in bench.plan(["cpu", "cuda"], "off", None) if c[6]])
        self.assertEqual([], [c for c in bench.plan(["cpu"], "also", None) if c[6]])
        import re
        only = bench.plan(["cuda"], "also", re.compile("^lenet-bn-28/train/b256/"))
        self.assertEqual(["lenet-bn-28/train/b256/cuda", "lenet-bn-28/train/b256/cuda/graph",
                          "lenet-bn-28/train/b256/cuda/tf32", "lenet-bn-28/train/b256/cuda/graph/tf32"],
                         [bench.case_id(*c) for c in only])

    def test_kernels_py_rewrites_its_file_after_every_kernel(self):
        import copy
        import kernels
        writes = []
        real = common.write_json
        common.write_json = lambda path, doc: writes.append(copy.deepcopy(doc))
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                self.assertEqual(0, kernels.main(["--device", "cpu", "--quick", "--no-large", "--repeats", "1",
                                                  "--seconds", "0.01", "--only", "^sigmoid", "--json", "k.json"]))
        finally:
            common.write_json = real
        counts = [len(w["devices"][0]["kernels"]) for w in writes]
        self.assertGreaterEqual(len(writes), 3, "the sigmoid kernels (forward and backward at each shape), then the end")
        self.assertEqual(list(range(1, len(writes))) + [len(writes) - 1], counts)
        self.assertEqual([False] * (len(writes) - 1) + [True], [w["complete"] for w in writes])

    def test_write_json_replaces_the_file_whole(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "r.json")
            common.write_json(path, {"complete": False, "cases": [1]})
            common.write_json(path, {"complete": True, "cases": [1, 2]})
            with open(path) as f:
                self.assertEqual({"complete": True, "cases": [1, 2]}, json.load(f))
            self.assertEqual(["r.json"], os.listdir(d), "no temporary file is left beside it")


class ParityTest(unittest.TestCase):
    def test_former_recipe_names_map_to_current_ones(self):
        self.assertEqual({"sgd", "sgd-momentum-steplr", "adam-steplr", "mlp-adam"}, set(parity.RECIPES))
        for new in parity.FORMER_NAMES.values():
            self.assertIn(new, parity.RECIPES)
        self.assertEqual(["sgd-momentum-steplr", "adam-steplr", "sgd"],
                         parity.recipe_names("momentum, adam-steplr,adam,sgd,"))
        with self.assertRaises(ValueError):
            parity.recipe_names("sgd,rmsprop")

    def test_reuse_finds_a_run_recorded_under_a_former_name(self):
        with tempfile.TemporaryDirectory() as d:
            for ext in (".json", ".seconds"):
                open(os.path.join(d, "adam-pytorch-s1" + ext), "w").close()
            self.assertEqual(os.path.join(d, "adam-pytorch-s1.json"),
                             parity.recorded_run(d, "adam-steplr", "pytorch", 1)[0])
            self.assertIsNone(parity.recorded_run(d, "adam-steplr", "normnet", 1))
            self.assertIsNone(parity.recorded_run(d, "sgd-momentum-steplr", "pytorch", 1))


class ModelsTest(unittest.TestCase):
    """State names and sizes as normnet's Models builds them (src/main/java/dev/normnet/nn/Models.java)."""

    def keys(self, model):
        return [k for k in model.state_dict() if not k.endswith("num_batches_tracked")]

    def test_lenet_bn_layer_order_and_size(self):
        m = models.make_model("lenet-bn")
        convs, norms, linears = (0, 4), (1, 5, 10, 13), (9, 12, 15)
        expect = [f"{i}.{p}" for i in sorted(convs + norms + linears)
                  for p in (("weight", "bias", "running_mean", "running_var") if i in norms else ("weight", "bias"))]
        self.assertEqual(expect, self.keys(m))
        self.assertEqual(44878, sum(p.numel() for p in m.parameters()))
        self.assertEqual(16 * 5 * 5, models.make_model("lenet-bn", 32)[9].in_features)
        self.assertEqual(16 * 53 * 53, models.make_model("lenet-bn", 224)[9].in_features)

    def test_models_without_batch_norm_drop_those_layers(self):
        self.assertEqual(["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias",
                          "11.weight", "11.bias"], self.keys(models.make_model("lenet")))
        self.assertEqual(["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"],
                         self.keys(models.make_model("mlp")))
        mlp_bn = models.make_model("mlp-bn")
        self.assertEqual(["1.weight", "1.bias", "2.weight", "2.bias", "2.running_mean", "2.running_var"],
                         self.keys(mlp_bn)[:6])
        self.assertEqual("ReLU", type(mlp_bn[3]).__name__)

    def test_folded_presets_are_what_fold_leaves(self):
        import torch
        torch.manual_seed(0)
        for name in ("lenet-bn", "mlp-bn"):
            m = models.make_model(name)
            with torch.no_grad():
                for layer in m:
                    if isinstance(layer, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                        layer.running_mean.uniform_(-0.5, 0.5)
                        layer.running_var.uniform_(0.2, 1.5)
                        layer.weight.uniform_(0.5, 2.0)
                        layer.bias.uniform_(-0.5, 0.5)
            m.eval()
            folded = models.fold(m)
            preset = models.make_model(name + "-folded")
            self.assertEqual(list(preset.state_dict()), list(folded.state_dict()))
            self.assertEqual([type(x).__name__ for x in preset], [type(x).__name__ for x in folded])
            preset.load_state_dict(folded.state_dict(), strict=True)
            x = torch.rand(8, 1, 28, 28)
            with torch.no_grad():
                self.assertLess(float((preset.eval()(x) - m(x)).abs().max()), 1e-5)
        self.assertNotIn("1.weight", models.make_model("lenet-bn-folded").state_dict())
        self.assertNotIn("lenet-bn-folded", models.NAMES)   # the training scripts' choices stay trainable models

    def test_options(self):
        m = models.make_model("lenet-bn", pool="max", activation="relu")
        self.assertEqual(["MaxPool2d", "ReLU"], [type(m[3]).__name__, type(m[2]).__name__])
        self.assertEqual("Sigmoid", type(models.make_model("lenet")[1]).__name__)
        x = models.make_model("lenet-bn", init="xavier")
        bound = (6.0 / (120 + 84)) ** 0.5
        self.assertLessEqual(float(x[12].weight.abs().max()), bound)
        self.assertGreater(float(x[12].weight.abs().max()), 1.0 / 120 ** 0.5)  # beyond the default's bound
        for bad in ({"name": "resnet"}, {"name": "lenet", "pool": "min"}, {"name": "mlp", "activation": "tanh"},
                    {"name": "mlp", "init": "he"}, {"name": "lenet-bn", "size": 12}):
            with self.assertRaises(ValueError):
                models.make_model(**bad)


class NcuSummaryTest(unittest.TestCase):
    HEADER = ('"ID","Process ID","Process Name","Host Name","Kernel Name","Context","Stream","Block Size","Grid Size",'
              '"Device","CC","Section Name","Metric Name","Metric Unit","Metric Value"')

    def row(self, i, kernel, unit, value, metric="gpu__time_duration.sum"):
        return ('"%d","7","java","h","%s","1","13","(256, 1, 1)","(49, 6, 1)","0","9.0","Command line profiler metrics",'
                '"%s","%s","%s"' % (i, kernel, metric, unit, value))

    def test_sums_each_kernel_over_its_launches_in_microseconds_heaviest_first(self):
        lines = ["==PROF== Connected to process 7", "epoch 1 ...", self.HEADER,
                 self.row(0, "batchnorm_stats", "usecond", "3.50"),
                 self.row(1, "sgemm_strided", "nsecond", "1,500"),
                 self.row(2, "batchnorm_stats", "usecond", "2.50"),
                 self.row(3, "sgemm_strided", "msecond", "0.0045"),
                 self.row(4, "batchnorm_stats", "Mbyte", "12", metric="dram__bytes.sum")]
        times = ncu_summary.kernel_times(lines)
        self.assertEqual(sorted(times), ["batchnorm_stats", "sgemm_strided"])
        self.assertEqual(times["batchnorm_stats"], [3.5, 2.5])
        self.assertAlmostEqual(sum(times["sgemm_strided"]), 6.0)
        text = ncu_summary.table(times, steps=2).splitlines()
        self.assertIn("per step", text[0])
        self.assertTrue(text[2].startswith("| batchnorm_stats | 1 | 3.0 | 3.00 | 50.0% |"), text[2])
        self.assertTrue(text[3].startswith("| sgemm_strided | 1 | 3.0 | 3.00 | 50.0% |"), text[3])
        self.assertEqual(text[-1], "| all | 2 | 6.0 | 3.00 | 100% |")

    def test_a_profile_without_durations_or_header_is_an_error_naming_the_file(self):
        with tempfile.TemporaryDirectory() as d:
            empty = os.path.join(d, "p.csv")
            with open(empty, "w") as f:
                f.write("==PROF== Disconnected\n")
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                self.assertEqual(2, ncu_summary.main([empty]))
            self.assertIn("p.csv: no CSV header", err.getvalue())
            with open(empty, "w") as f:
                f.write(self.HEADER + "\n" + self.row(0, "k", "Mbyte", "1", metric="dram__bytes.sum") + "\n")
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                self.assertEqual(2, ncu_summary.main([empty]))
            self.assertIn("no gpu__time_duration.sum values", err.getvalue())
        with self.assertRaisesRegex(ValueError, "unknown unit"):
            ncu_summary.kernel_times([self.HEADER, self.row(0, "k", "cycle", "9")])


if __name__ == "__main__":
    unittest.main()
