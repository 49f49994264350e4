"""The conformance suites, installed as ``mtlsgate.suites``: ``pytest --pyargs mtlsgate.suites`` or ``mtlsgate test``.

In the checkout they stay at the top (``pytest`` runs them through ``testpaths``); the wheel
maps this directory to the package ``mtlsgate.suites`` (pyproject.toml), as ``fixtures/`` is.
"""
