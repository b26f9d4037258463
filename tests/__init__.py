"""dynotwist's trial suites."""

from hypothesis import HealthCheck, settings

# Property tests run on loaded 2-core machines beside real servers: no per-example
# deadline. The hiredis accelerator re-runs the pure parser's properties from
# subclasses of their test classes, on purpose.
settings.register_profile(
    "dynotwist",
    deadline=None,
    suppress_health_check=[HealthCheck.differing_executors, HealthCheck.too_slow],
)
settings.load_profile("dynotwist")
