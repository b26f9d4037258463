"""``twistd dynomite``: command-line options and the service they build."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Any, List, Optional, Tuple

from twisted.python import usage

from dynotwist import __version__, datastores, tlsfiles
from dynotwist.config import Config, ConfigError, colliding_addresses, load_config
from dynotwist.logs import verbosity


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "Runs a dynotwist node: a Dynamo-style replication layer in front of Redis or "
        "Memcached that reads Dynomite's YAML configuration."
    )
    optFlags = [
        ["test-conf", "t", "test the configuration (syntax, values, addresses that collide,"
         " TLS files) and exit"],
    ]
    optParameters = [
        ["config", "c", "conf/dynomite.yml", "set the configuration file"],
        ["verbosity", "v", 5, "set the logging level (0 to 11; default 5)", int],
        ["workers", None, None, "worker processes sharing the node's ports (overrides the"
         " configuration's workers)", int],
    ]

    def __init__(self) -> None:
        super().__init__()
        self.loaded: Optional[Config] = None

    def opt_version(self) -> None:
        """print the version and exit"""
        print("dynotwist-%s" % __version__)
        sys.exit(0)

    opt_V = opt_version

    def opt_conf_file(self, path: str) -> None:
        """same as --config (Dynomite's name)"""
        self["config"] = path

    def opt_describe_stats(self) -> None:
        """print every metric with its description and exit"""
        from dynotwist.core.stats import describe

        print(describe(), end="")
        sys.exit(0)

    opt_D = opt_describe_stats

    def parseOptions(self, options: Optional[List[str]] = None) -> None:
        """Parse; a refused configuration is said on stderr, in Dynomite's words, and
        ends the process with status 1. (twistd prints a ``UsageError`` after its
        usage text and, before Twisted 26.10, exits 0: a broken configuration must
        not look like a success to a service manager.)"""
        try:
            super().parseOptions(options)
        except ConfigurationRefused as refused:
            sys.stderr.write("%s\n" % refused)
            raise SystemExit(1) from None

    def postOptions(self) -> None:
        """Load and check the configuration (``ConfigurationRefused`` if refused)."""
        if not 0 <= self["verbosity"] <= 11:
            raise usage.UsageError("verbosity must be between 0 and 11")
        path = self["config"]
        try:
            self.loaded = load_config(path)
        except ConfigError as error:
            raise _invalid(path, error.describe()) from None
        if self["workers"] is not None:
            if self["workers"] < 1:
                raise usage.UsageError("--workers must be 1 or more")
            self.loaded = replace(self.loaded, workers=self["workers"])
        try:
            datastores.resolve(self.loaded.data_store)
        except ValueError as error:
            raise _invalid(path, 'conf: directive "data_store" %s' % error) from None
        for key, reason in unsupported_settings(self.loaded):
            raise _invalid(path, 'conf: directive "%s" %s' % (key, reason))
        # what would only fail once the node starts
        for problem in colliding_addresses(self.loaded):
            raise ConfigurationRefused(
                "%s\ndynomite: configuration file '%s' cannot work" % (problem, path)
            )
        try:
            tls = tlsfiles.load(self.loaded)
        except tlsfiles.TLSFileError as error:
            raise ConfigurationRefused(
                "%s\ndynomite: configuration file '%s' names a TLS file that cannot be used"
                % (error, path)
            ) from None
        for warning in tls.warnings:  # certificates about to expire: shown by -t too
            sys.stderr.write(warning + "\n")
        if self["test-conf"]:
            print("dynomite: configuration file '%s' syntax is valid" % path)
            sys.exit(0)
        for warning in self.loaded.warnings:
            sys.stderr.write(warning + "\n")


class ConfigurationRefused(usage.UsageError):
    """The configuration cannot be run; ``str()`` is what the operator is told."""


def _invalid(path: str, reason: str) -> ConfigurationRefused:
    return ConfigurationRefused(
        "%s\ndynomite: configuration file '%s' syntax is invalid" % (reason, path)
    )


def unsupported_settings(config: Config) -> List[Tuple[str, str]]:
    """Settings this version parses but cannot honour: refused rather than ignored."""
    refused = []
    if config.workers > 1 and (config.listen.path or config.dyn_listen.path):
        refused.append(("workers", "needs TCP addresses for listen and dyn_listen"))
    return refused


def makeService(options: Options) -> Any:
    from dynotwist.runtime import tune_installed_reactor
    from dynotwist.service import DynomiteService

    assert options.loaded is not None
    tune_installed_reactor()
    # the file's verbosity, when it has one (SIGHUP can change it), else -v
    level = options.loaded.verbosity
    verbosity.set(options["verbosity"] if level is None else level)
    if options.loaded.workers > 1:
        from dynotwist.workers import WorkersService

        return WorkersService(
            options.loaded, options["config"], options.loaded.workers, verbosity.verbosity
        )
    return DynomiteService(options.loaded, config_path=options["config"])
