"""``twistd dynomite`` options: --config, --test-conf, --version, verbosity."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout

from twisted.python.usage import UsageError
from twisted.trial import unittest

from dynotwist import __version__, runtime
from dynotwist.logs import verbosity
from dynotwist.tap import ConfigurationRefused, Options, makeService
from tests.support.configs import config_text

GOOD = config_text()


class OptionsTests(unittest.TestCase):
    def write(self, text: str) -> str:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(text)
        return path

    def parse(self, *argv: str):
        """The options, the exit code (1 for a UsageError, as twistd exits), what was
        printed, and the error text (a UsageError's, or what went to stderr)."""
        out, err = io.StringIO(), io.StringIO()
        options = Options()
        code = None
        with redirect_stdout(out), redirect_stderr(err):
            try:
                options.parseOptions(list(argv))
            except SystemExit as exit:
                code = exit.code
            except UsageError as error:
                code = 1
                err.write(str(error))
        return options, code, out.getvalue(), err.getvalue()

    def test_test_conf_valid(self) -> None:
        path = self.write(GOOD)
        _, code, out, _ = self.parse("-t", "-c", path)
        self.assertEqual(code, 0)
        self.assertEqual(out, "dynomite: configuration file '%s' syntax is valid\n" % path)

    def test_test_conf_invalid_names_the_key(self) -> None:
        path = self.write(GOOD + "  bogus: 1\n")
        _, code, _, err = self.parse("--test-conf", "--config", path)
        self.assertEqual(code, 1)
        self.assertIn('conf: directive "bogus" is unknown', err)
        self.assertIn("dynomite: configuration file '%s' syntax is invalid" % path, err)
        self.assertNotIn("Traceback", err)

    def test_test_conf_says_where_and_what_is_allowed(self) -> None:
        path = self.write(GOOD + "  read_consistancy: dc_one\n")
        _, code, _, err = self.parse("-t", "-c", path)
        self.assertEqual(code, 1)
        self.assertIn("at '%s', line 7, key \"read_consistancy\"" % path, err)
        self.assertIn("did you mean read_consistency?", err)

    def test_test_conf_refuses_what_would_fail_at_startup(self) -> None:
        path = self.write(GOOD + "  stats_listen: 127.0.0.1:8102\n")  # = listen
        _, code, _, err = self.parse("-t", "-c", path)
        self.assertEqual(code, 1)
        self.assertIn('directives "listen" and "stats_listen" name the same address', err)
        self.assertIn("dynomite: configuration file '%s' cannot work" % path, err)

    def test_unloadable_data_store_is_a_config_error(self) -> None:
        path = self.write(GOOD + "  data_store: nosuch.module:Kind\n")
        _, code, _, err = self.parse("-t", "-c", path)
        self.assertEqual(code, 1)
        self.assertIn('conf: directive "data_store"', err)
        self.assertNotIn("Traceback", err)

    def test_missing_file(self) -> None:
        _, code, _, err = self.parse("-c", "/nonexistent/dynomite.yml")
        self.assertEqual(code, 1)
        self.assertIn("/nonexistent/dynomite.yml", err)

    def test_version(self) -> None:
        _, code, out, _ = self.parse("--version")
        self.assertEqual((code, out), (0, "dynotwist-%s\n" % __version__))

    def test_verbosity_sets_the_filter(self) -> None:
        self.addCleanup(verbosity.set, verbosity.verbosity)
        options, code, _, _ = self.parse("-c", self.write(GOOD), "-v", "7")
        self.assertIsNone(code)
        tuned = []
        self.patch(runtime, "tune_installed_reactor", lambda: tuned.append(1))
        service = makeService(options)
        self.assertEqual(tuned, [1])  # the process's reactor (patched: not this test's)
        self.assertEqual(verbosity.verbosity, 7)
        self.assertEqual(service.config.listen.port, 8102)

    def test_verbosity_out_of_range(self) -> None:
        with self.assertRaises(UsageError):
            Options().parseOptions(["-c", self.write(GOOD), "-v", "12"])


class TwistdTests(unittest.TestCase):
    """The plugin as an operator meets it: through twistd."""

    def twistd(self, *argv: str) -> subprocess.CompletedProcess:
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        return subprocess.run(
            [sys.executable, "-c", "from twisted.scripts.twistd import run; run()", *argv],
            capture_output=True,
            text=True,
            cwd=root,
            timeout=60,
        )

    def test_help_lists_the_plugin_options(self) -> None:
        result = self.twistd("dynomite", "--help")
        self.assertEqual(result.returncode, 0)
        for option in ("--config", "--test-conf", "--verbosity", "--version"):
            self.assertIn(option, result.stdout)

    def test_bad_config_exits_1_without_traceback(self) -> None:
        path = os.path.abspath(self.mktemp())
        with open(path, "w") as f:
            f.write(GOOD.replace("tokens: '0'", "tokens: 'x'"))
        result = self.twistd("-n", "dynomite", "-c", path)
        self.assertEqual(result.returncode, 1)
        self.assertIn('conf: directive "tokens"', result.stderr)
        self.assertIn("syntax is invalid", result.stderr)
        self.assertNotIn("Traceback", result.stderr + result.stdout)


class WorkersOptionTests(unittest.TestCase):
    """``workers`` from the file, ``--workers`` over it."""

    def workers(self, extra: str = "", *args: str) -> int:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(GOOD + extra)
        options = Options()
        options.parseOptions(["-c", path, *args])
        assert options.loaded is not None
        return options.loaded.workers

    def test_file_and_option(self) -> None:
        self.assertEqual(self.workers(), 1)
        self.assertEqual(self.workers("  workers: 2\n"), 2)
        self.assertEqual(self.workers("  workers: 2\n", "--workers", "3"), 3)

    def test_option_below_one_is_refused(self) -> None:
        with self.assertRaises(UsageError):
            self.workers("", "--workers", "0")

    def test_workers_need_tcp_ports(self) -> None:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(re.sub(r"listen: 127\.0\.0\.1:\d+", "listen: /tmp/x.sock", GOOD, count=1)
                    + "  workers: 2\n")
        options = Options()
        options["config"] = path
        with self.assertRaises(ConfigurationRefused) as refused:
            options.postOptions()
        self.assertIn('conf: directive "workers" needs TCP addresses', str(refused.exception))
