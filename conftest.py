"""Makes a bare ``pytest`` at the repo root load the mtlsgate plugin and run ``suites/``.

When the package is installed, its ``pytest11`` entry point (named ``mtlsgate.plugin``)
has already registered the plugin and this import is a no-op.
"""

pytest_plugins = ["mtlsgate.plugin"]
