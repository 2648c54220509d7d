"""The suite's pytest plugin, tested with pytester on small throw-away projects that load it with a
registry of their own."""

from __future__ import annotations

import importlib
import textwrap
import xml.etree.ElementTree as ET

import pytest
import torch

from tests.pytest_helpers import spec_project

REGISTRY_SRC = textwrap.dedent(
    """
    from support.claims.schema import Claim, ClaimRegistry, Part, Verdict

    def _claim(claim_id):
        return Claim(id=claim_id, part=Part.BEYOND, quotes=(), statement=f"statement of {claim_id}",
                     verdict=Verdict.CONFIRMED, sources=("a source",))

    REGISTRY = ClaimRegistry([_claim("alpha.one"), _claim("beta.two")])
    """
)
COVERAGE_TEST = textwrap.dedent(
    """
    import pytest

    @pytest.mark.meta
    def test_every_registered_claim_has_a_test(claim_coverage):
        assert not claim_coverage.uncovered, f"uncovered: {claim_coverage.uncovered}"
    """
)

TWO_CLAIM_TESTS = """
    import pytest

    @pytest.mark.claim("alpha.one")
    def test_alpha():
        pass

    @pytest.mark.claim("beta.two")
    def test_beta():
        pass
"""


@pytest.fixture
def project(pytester: pytest.Pytester, request: pytest.FixtureRequest):
    """A project with the plugin, a two-claim registry and an empty spec/ directory."""
    with spec_project(pytester, request, REGISTRY_SRC) as project:
        yield project


def write(pytester: pytest.Pytester, path: str, src: str) -> None:
    target = pytester.path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(src), encoding="utf-8")


def test_unknown_claim_id_stops_collection_naming_it(project):
    write(
        project,
        "spec/test_a.py",
        """
        import pytest

        @pytest.mark.claim("alpha.onr")
        def test_x():
            pass
    """,
    )
    result = project.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        [
            "*ERROR collecting spec/test_a.py*",
            "*test_a.py::test_x: unknown claim id 'alpha.onr'; did you mean 'alpha.one'?*",
        ]
    )


def test_malformed_claim_marker_is_an_error(project):
    write(
        project,
        "spec/test_a.py",
        """
        import pytest

        @pytest.mark.claim
        def test_bare():
            pass

        @pytest.mark.claim("alpha.one", "beta.two")
        def test_two_ids():
            pass
    """,
    )
    result = project.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(
        ["*test_bare: write the marker as @pytest.mark.claim('<id>')*", "*test_two_ids: write the marker as*"]
    )


def test_spec_test_without_claim_or_meta_marker_is_an_error(project):
    write(project, "spec/test_a.py", "def test_orphan():\n    pass\n")
    write(project, "other/test_b.py", "def test_outside_spec_needs_no_marker():\n    pass\n")
    result = project.runpytest_inprocess()
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*spec/test_a.py::test_orphan: a test in spec/ needs @pytest.mark.claim*"])
    assert "test_outside_spec_needs_no_marker:" not in result.stdout.str()


def test_uncovered_claim_fails_the_coverage_meta_test_naming_it(project):
    write(project, "spec/test_meta.py", COVERAGE_TEST)
    write(
        project,
        "spec/test_alpha.py",
        """
        import pytest

        pytestmark = pytest.mark.claim("alpha.one")

        def test_alpha():
            assert 1 + 1 == 2
    """,
    )
    result = project.runpytest_inprocess()
    result.assert_outcomes(passed=1, failed=1)
    assert "uncovered: ['beta.two']" in result.stdout.str()


def test_coverage_counts_deselected_tests_and_passes_when_all_claims_are_tested(project):
    write(project, "spec/test_meta.py", COVERAGE_TEST)
    write(project, "spec/test_claims.py", TWO_CLAIM_TESTS)
    # -k deselects test_beta, but it still exists: coverage is about the suite, not this selection
    result = project.runpytest_inprocess("-k", "alpha or every_registered")
    result.assert_outcomes(passed=2, deselected=1)


def test_narrowed_run_judges_coverage_by_collecting_the_whole_spec(project):
    write(project, "spec/test_meta.py", COVERAGE_TEST)
    write(
        project,
        "spec/test_claims.py",
        """
        import pytest

        @pytest.mark.claim("alpha.one")
        def test_alpha():
            pass
    """,
    )
    # only the meta-test file is given: the plugin collects spec/ separately, finds beta.two untested
    result = project.runpytest_inprocess("spec/test_meta.py")
    result.assert_outcomes(failed=1)
    assert "uncovered: ['beta.two']" in result.stdout.str()


def test_header_names_torch_devices_threads_and_profile(project):
    write(project, "spec/test_a.py", "import pytest\n\n@pytest.mark.meta\ndef test_x():\n    pass\n")
    result = project.runpytest_inprocess("--hypothesis-profile=dev", "--torch-threads=1")
    # each part writes its own line, in the order pytest_plugins loads the parts: profiles, runtime, claims
    result.stdout.fnmatch_lines(
        [
            "hypothesis profile: dev",
            f"torch {torch.__version__}; devices: cpu*; torch threads: 1*",
            "claims registered: 2",
        ]
    )


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {"SPEC_HYPOTHESIS_PROFILE": "fast"}, "*SPEC_HYPOTHESIS_PROFILE='fast' is not a profile of this suite*"),
        (("--device=tpu",), {}, "*--device='tpu': expected 'auto' or a comma-separated list of cpu,cuda*"),
        (("--torch-threads=0",), {}, "*--torch-threads / SPEC_TORCH_THREADS must be a positive integer, got '0'*"),
        (("--device=cpu,cpu",), {}, "*--device='cpu,cpu' names a device twice*"),
        ((), {"SPEC_REPORT_LANG": "fr"}, "*SPEC_REPORT_LANG='fr': expected one of*"),
        (("-o", "claim_spec_dir=specs"), {}, "*claim_spec_dir = 'specs': * is not a directory*"),
    ],
    ids=["unknown-profile", "unknown-device", "zero-threads", "device-twice", "unknown-report-lang", "no-spec-dir"],
)
def test_bad_options_are_usage_errors_that_name_the_problem(project, monkeypatch, args, env, message):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    write(project, "spec/test_a.py", "import pytest\n\n@pytest.mark.meta\ndef test_x():\n    pass\n")
    result = project.runpytest_inprocess(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error for a machine without CUDA")
def test_asking_for_cuda_without_it_is_a_usage_error(project):
    write(project, "spec/test_a.py", "import pytest\n\n@pytest.mark.meta\ndef test_x():\n    pass\n")
    result = project.runpytest_inprocess("--device=cuda")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--device asks for cuda, but torch.cuda.is_available() is False*"])


def test_device_parameter_and_recorded_figures_reach_the_report(project):
    write(
        project,
        "spec/test_a.py",
        """
        import pytest
        import torch

        @pytest.mark.claim("alpha.one")
        def test_measures(device, figures):
            x = torch.ones(3, device=device)
            figures.record("norm of ones(3)", x.norm(), "1", zh="ones(3) 的范数", note="sqrt(3)", note_zh="根号 3")
    """,
    )
    result = project.runpytest_inprocess("--junitxml=report.xml", "-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*test_measures?cpu? PASSED*"])
    props = {p.get("name"): p.get("value") for p in ET.parse(project.path / "report.xml").iter("property")}
    assert "figure" in props and "norm of ones(3)" in props["figure"] and "1.732" in props["figure"]


def test_seed_block_tests_run_once_by_default_and_on_five_blocks_under_the_thorough_profile(project):
    write(
        project,
        "spec/test_a.py",
        """
        import pytest

        @pytest.mark.claim("alpha.one")
        def test_rate(seed_block, figures):
            figures.record("block", seed_block, "1", zh="组")
    """,
    )
    result = project.runpytest_inprocess("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*::test_rate PASSED*"])
    result = project.runpytest_inprocess(
        "--hypothesis-profile=thorough", "-v", "-p", "no:randomly", "--junitxml=report.xml"
    )
    result.assert_outcomes(passed=5)
    result.stdout.fnmatch_lines([f"*test_rate?block{b}? PASSED*" for b in range(5)])
    figures = [
        p.get("value") for p in ET.parse(project.path / "report.xml").iter("property") if p.get("name") == "figure"
    ]
    assert len(figures) == 5 and sum("(seed block" in f for f in figures) == 4  # block 0 keeps the plain name


def test_failure_report_has_a_reproducer_naming_the_claim(project):
    write(
        project,
        "spec/test_a.py",
        """
        import pytest

        @pytest.mark.claim("beta.two")
        def test_fails():
            assert 1 == 2
    """,
    )
    result = project.runpytest_inprocess()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*- reproduce -*",
            "pytest 'spec/test_a.py::test_fails' *",
            "claim beta.two (confirmed): statement of beta.two",
        ]
    )
    # a thread count other than the default is part of the command: it can change the figures
    result = project.runpytest_inprocess("--torch-threads=2")
    result.stdout.fnmatch_lines(["pytest 'spec/test_a.py::test_fails' * -n0 --torch-threads=2"])


def test_the_reproducer_names_the_devices_and_asks_for_no_workers_only_with_xdist(project):
    write(
        project,
        "spec/test_a.py",
        """
        import pytest

        @pytest.mark.claim("beta.two")
        def test_fails(device):
            assert 1 == 2
    """,
    )
    # --device=cpu decides which ids exist (no [cuda] variant): the command carries it; auto is the default
    result = project.runpytest_inprocess("--device=cpu")
    result.stdout.fnmatch_lines(["pytest 'spec/test_a.py::test_fails[[]cpu[]]' -p no:randomly * -n0 --device=cpu"])
    assert "--device=auto" not in project.runpytest_inprocess().stdout.str()
    # without the xdist plugin, -n0 is an unknown option: it is left out
    result = project.runpytest_inprocess("--device=cpu", "-p", "no:xdist")
    line = next(ln for ln in result.stdout.lines if ln.startswith("pytest 'spec/test_a.py::test_fails[cpu]'"))
    assert "-n0" not in line and line.endswith("--device=cpu")


def test_same_seed_in_every_process_for_the_same_test(project):
    write(
        project,
        "spec/test_a.py",
        """
        import pytest
        import torch
        from support.pytest_plugin import node_seed

        @pytest.mark.meta
        def test_seeded(request):
            assert torch.initial_seed() == node_seed(request.node.nodeid)
    """,
    )
    project.runpytest_inprocess().assert_outcomes(passed=1)


def test_figures_reject_non_numbers(project):
    write(
        project,
        "spec/test_a.py",
        """
        import pytest
        import torch

        @pytest.mark.meta
        def test_bad(figures):
            with pytest.raises(ValueError, match="value must be a scalar"):
                figures.record("vector", torch.ones(2), "1", zh="向量")
            with pytest.raises(ValueError, match="value must be a number"):
                figures.record("text", "3", "1", zh="文字")
            with pytest.raises(ValueError, match="unit must be a string"):
                figures.record("no unit", 1.0, None, zh="无单位")
            with pytest.raises(ValueError, match="got a string"):
                figures.plot("p", x_label="x", y_label="y", zh=("图", "横", "纵")).line(
                    "digits", "123", [1, 2, 3], zh="数字")
    """,
    )
    project.runpytest_inprocess().assert_outcomes(passed=1)


def test_xdist_workers_report_unknown_ids_and_keep_figures(project):
    write(
        project,
        "spec/test_a.py",
        """
        import pytest

        @pytest.mark.claim("alpha.one")
        def test_one(figures):
            figures.record("answer", 42, "1", zh="答案")
    """,
    )
    write(
        project,
        "spec/test_b.py",
        """
        import pytest

        @pytest.mark.claim("gamma.three")
        def test_unknown():
            pass
    """,
    )
    result = project.runpytest_subprocess("-n", "2", "--junitxml=report.xml")
    # xdist reports the collection error and runs the other tests; the run still fails
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*spec/test_b.py::test_unknown: unknown claim id 'gamma.three'*"])
    result.assert_outcomes(passed=1, errors=1)
    props = [
        p.get("value") for p in ET.parse(project.path / "report.xml").iter("property") if p.get("name") == "figure"
    ]
    assert len(props) == 1 and "answer" in props[0] and "42" in props[0]


def test_xdist_controller_runs_without_torch_and_reports_what_the_workers_ran_with(project):
    # the controller hands tests to workers and runs none: importing torch there would only delay them (~1 s)
    project.makeconftest("""
        import sys
        pytest_plugins = ["support.pytest_plugin"]

        def pytest_unconfigure(config):
            if not hasattr(config, "workerinput"):
                print(f"controller imported torch: {'torch' in sys.modules}")
    """)
    write(
        project,
        "spec/test_a.py",
        """
        import pytest

        @pytest.mark.claim("alpha.one")
        def test_one(device):
            assert device == "cpu"

        @pytest.mark.claim("beta.two")
        def test_two():
            pass
    """,
    )
    result = project.runpytest_subprocess("-n", "2", "--device=cpu", "-s")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "hypothesis profile: ci",
            "torch *; devices: cpu; torch threads: 1 per xdist worker*",
            "claims registered: 2",
            f"xdist workers ran with torch {torch.__version__}; devices: cpu; torch threads: 1 per worker",
            "controller imported torch: False",
        ]
    )
    # --device=auto: the controller cannot know about cuda without torch, and says so
    result = project.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["torch *; devices: cpu, plus cuda where the workers find it; *"])


def test_fixtures_listing_under_xdist_parametrizes_device_in_the_controller(project):
    # --fixtures makes the xdist controller collect, although it runs no test and skipped importing torch
    write(
        project,
        "spec/test_a.py",
        """
        import pytest

        @pytest.mark.claim("alpha.one")
        def test_one(device):
            pass
    """,
    )
    result = project.runpytest_subprocess("-n", "2", "--fixtures")
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines(["*figures*"])


def test_claim_option_runs_only_the_tests_of_that_claim(project):
    write(project, "spec/test_meta.py", COVERAGE_TEST)
    write(project, "spec/test_claims.py", TWO_CLAIM_TESTS)
    result = project.runpytest_inprocess("--claim", "beta.two", "-v")
    result.assert_outcomes(passed=1, deselected=2)
    result.stdout.fnmatch_lines(["*test_beta PASSED*"])
    result = project.runpytest_inprocess("--claim", "beta.two", "--claim", "alpha.one")
    result.assert_outcomes(passed=2, deselected=1)


def test_unknown_claim_option_is_a_usage_error_with_close_matches(project):
    write(project, "spec/test_a.py", "import pytest\n\n@pytest.mark.meta\ndef test_x():\n    pass\n")
    result = project.runpytest_inprocess("--claim", "beta.tow")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--claim beta.tow: unknown claim id 'beta.tow'; did you mean 'beta.two'?*"])


class _Node:
    def __init__(self):
        self.user_properties = []


@pytest.mark.parametrize(("on", "suffix"), [(None, ""), ("cpu", ""), ("cuda", " (cuda)")])
def test_figures_name_the_device_when_it_is_not_the_cpu(on, suffix):
    from support.pytest_plugin.figures import Figures

    node = _Node()
    figures = Figures(node, device=on)
    figures.record("ratio", 2, "1", zh="比值")
    plot = figures.plot("growth", x_label="depth (layers)", y_label="norm", log_y=True, zh=("增长", "深度(层)", "范数"))
    plot.line("measured", [1, 2], [3, 4], zh="实测").bound("theory", [1, 2], [3.0, 4.5], zh="理论")
    plot.points("one", [1], [3], zh="一点")
    kinds = [(k, v["name"]) for k, v in node.user_properties]
    assert kinds == [
        ("figure", "ratio" + suffix),
        ("series", "measured" + suffix),
        ("series", "theory" + suffix),
        ("series", "one" + suffix),
    ]
    assert node.user_properties[0][1]["name_zh"] == "比值" + suffix
    assert [v["zh"]["name"] for k, v in node.user_properties[1:]] == [n + suffix for n in ("实测", "理论", "一点")]
    assert {(v["zh"]["plot"], v["zh"]["x_label"], v["zh"]["y_label"]) for k, v in node.user_properties[1:]} == {
        ("增长", "深度(层)", "范数")
    }
    series = [v for k, v in node.user_properties if k == "series"]
    assert [s["style"] for s in series] == ["line", "dashed", "points"]
    assert {(s["plot"], s["x_label"], s["y_label"], s["log_x"], s["log_y"]) for s in series} == {
        ("growth", "depth (layers)", "norm", False, True)
    }


def test_a_figure_says_what_it_was_measured_on_only_when_told():
    from support.pytest_plugin.figures import Figures

    node = _Node()
    figures = Figures(node)
    figures.record(
        "drift", 0.5, "1", zh="偏离", measured_on="MLP 4-8-3, batch 16", measured_on_zh="MLP 4-8-3,batch 大小 16"
    )
    figures.record("ratio", 2, "1", zh="比值")
    first, second = (v for _, v in node.user_properties)
    assert (first["measured_on"], first["measured_on_zh"]) == ("MLP 4-8-3, batch 16", "MLP 4-8-3,batch 大小 16")
    assert "measured_on" not in second


def test_figures_name_the_seed_block_when_it_is_not_the_first():
    from support.pytest_plugin.figures import Figures

    for block, suffix, suffix_zh in ((0, "", ""), (3, " (seed block 3)", "(第 3 组种子)")):
        node = _Node()
        Figures(node, device="cpu", seed_block=block).record("rate", 0.5, "1", zh="比例")
        assert node.user_properties[0][1]["name"] == "rate" + suffix
        assert node.user_properties[0][1]["name_zh"] == "比例" + suffix_zh


def test_a_plot_needs_a_title_and_labels():
    from support.pytest_plugin.figures import Figures

    figures = Figures(_Node())
    with pytest.raises(ValueError, match="x_label must be a non-empty string"):
        figures.plot("growth", x_label="", y_label="norm", zh=("增长", "深度", "范数"))
    with pytest.raises(ValueError, match="plot title must be a non-empty string"):
        figures.plot(" ", x_label="x", y_label="y", zh=("图", "横", "纵"))
    with pytest.raises(ValueError, match="equal length"):
        figures.plot("p", x_label="x", y_label="y", zh=("图", "横", "纵")).line("c", [1, 2], [1], zh="曲线")
    with pytest.raises(TypeError, match="zh"):
        figures.record("ratio", 2.0, "1")  # every name is given in Chinese too
    with pytest.raises(ValueError, match="must be written in Chinese"):
        figures.record("ratio", 2.0, "1", zh="ratio")
    with pytest.raises(ValueError, match="needs its Chinese note_zh"):
        figures.record("ratio", 2.0, "1", zh="比值", note="exact")
    with pytest.raises(ValueError, match="measured_on needs its Chinese measured_on_zh"):
        figures.record("ratio", 2.0, "1", zh="比值", measured_on="MLP 4-8-3, batch 16")
    with pytest.raises(ValueError, match="measured_on_zh needs its English measured_on"):
        figures.record("ratio", 2.0, "1", zh="比值", measured_on_zh="MLP 4-8-3,batch 大小 16")
    with pytest.raises(ValueError, match="measured_on_zh must be written in Chinese"):
        figures.record("ratio", 2.0, "1", zh="比值", measured_on="MLP", measured_on_zh="MLP")
    with pytest.raises(ValueError, match=r"zh must be a tuple \(title, x_label, y_label\)"):
        figures.plot("p", x_label="x", y_label="y", zh="图")


def test_a_failure_in_a_shuffled_run_names_the_order_seed(project):
    pytest.importorskip("pytest_randomly", reason="pytest-randomly (dev extra) is not installed")
    write(
        project,
        "spec/test_a.py",
        """
        import pytest

        @pytest.mark.claim("beta.two")
        def test_fails():
            assert 1 == 2
    """,
    )
    result = project.runpytest_inprocess("-p", "randomly", "--randomly-seed=1234")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*the same command with --randomly-seed=1234 (pytest-randomly)*"])


def test_hypothesis_imports_without_assertion_rewriting_and_test_modules_with_it():
    # the plugin takes hypothesis off pytest's rewrite list (start-up cost); test modules keep their rewriting
    def loader(module_name):
        return type(importlib.import_module(module_name).__loader__).__name__

    assert loader("hypothesis.core") != "AssertionRewritingHook"
    assert loader(__name__) == "AssertionRewritingHook"


def test_what_a_test_imports_and_what_is_left_at_the_end_are_frozen_for_the_garbage_collector(project):
    # the collector is off during the start-up only; after a test that imported a library (>= LAZY_IMPORT_MODULES
    # modules) and at the end of the session, the process's objects move out of its sight (gc.freeze): later full
    # collections and the one at interpreter exit do not walk them again
    project.makeconftest("""
        import atexit, gc
        pytest_plugins = ["support.pytest_plugin"]

        KEPT = []

        def pytest_sessionfinish(session):
            KEPT.extend([] for _ in range(10_000))  # objects that live until the process exits

        # gc.get_objects() lists the objects the collector still walks (not the frozen ones)
        atexit.register(lambda: print(f"walked at exit: {'fewer' if len(gc.get_objects()) < 10_000 else 'more'}"))
    """)
    write(
        project,
        "spec/test_a.py",
        """
        import gc, sys, types
        import pytest
        FROZEN = []

        @pytest.mark.claim("alpha.one")
        def test_1_imports_nothing():
            assert gc.isenabled()  # off during the start-up only
            FROZEN.append(gc.get_freeze_count())

        @pytest.mark.claim("alpha.one")
        def test_2_imports_a_library():
            FROZEN.append(gc.get_freeze_count())
            for i in range(120):
                sys.modules[f"a_library_{i}"] = types.ModuleType(f"a_library_{i}")

        @pytest.mark.claim("beta.two")
        def test_3_after_them():
            assert FROZEN[1] <= FROZEN[0]  # nothing imported, nothing frozen (frozen objects still die as usual)
            assert gc.get_freeze_count() >= FROZEN[1] + 120  # the library's modules, at least
    """,
    )
    result = project.runpytest_subprocess("-p", "no:randomly", "-s")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["walked at exit: fewer"])


def test_an_unraisable_exception_of_the_last_test_is_still_reported_after_the_freeze_at_exit(project):
    # the end-of-session freeze runs after pytest's last garbage collection for unraisable exceptions (pytest 9 runs
    # it in its unconfigure, pytest 8 in a cleanup of its own): a cycle the last test leaves is collected, not frozen
    write(
        project,
        "spec/test_a.py",
        """
        import pytest

        class Cycle:
            def __del__(self):
                raise RuntimeError("raised in __del__")

        @pytest.mark.claim("alpha.one")
        def test_leaves_a_cycle():
            c = Cycle()
            c.me = c
    """,
    )
    result = project.runpytest_subprocess("-p", "no:randomly", "-W", "error::pytest.PytestUnraisableExceptionWarning")
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED and "raised in __del__" in output, output[-2000:]
