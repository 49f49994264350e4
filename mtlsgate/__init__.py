"""mtlsgate: prove that a TLS listener really enforces client-certificate authentication."""

__version__ = "0.1.0"
