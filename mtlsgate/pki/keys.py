"""A pool of private keys, generated once and reused across certificate specs.

RSA key generation dominates the cost of minting a catalogue (a 4096-bit key takes
seconds); a signature takes microseconds. Certificates therefore draw keys from this
pool by ``(key type, slot)``: two specs that need *different* keys use different slots,
and every later run finds the key in the on-disk cache. The cache holds throwaway test
keys only, written 0600 in a 0700 directory.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey

KEY_TYPES = ("rsa1024", "rsa2048", "rsa3072", "rsa4096", "p256", "p384", "p521", "ed25519")

_CURVES = {"p256": ec.SECP256R1, "p384": ec.SECP384R1, "p521": ec.SECP521R1}


def generate_key(key_type: str) -> PrivateKey:
    """A fresh key of ``key_type`` (one of ``KEY_TYPES``)."""
    if key_type.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    if key_type in _CURVES:
        return ec.generate_private_key(_CURVES[key_type]())
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")


def default_cache_dir() -> Path:
    """``$MTLSGATE_CACHE_DIR``, else the user cache dir (``$XDG_CACHE_HOME/mtlsgate``)."""
    explicit = os.environ.get("MTLSGATE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "mtlsgate" / "keys"


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` as 0600, atomically, creating a 0700 parent if needed.

    Atomic replace matters because pytest-xdist workers share the cache.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class KeyPool:
    """Keys by ``(key_type, slot)``, memoised in memory and (optionally) on disk."""

    def __init__(self, cache_dir: Path | None = None, *, persistent: bool = True) -> None:
        self.cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        self.persistent = persistent
        self._keys: dict[tuple[str, int], PrivateKey] = {}
        self._lock = threading.Lock()

    def get(self, key_type: str, slot: int = 0) -> PrivateKey:
        """The pooled key for ``(key_type, slot)``; generated on first use."""
        wanted = (key_type, slot)
        with self._lock:
            key = self._keys.get(wanted)
            if key is None:
                key = self._load_or_generate(key_type, slot)
                self._keys[wanted] = key
            return key

    def fresh(self, key_type: str) -> PrivateKey:
        """A key no other caller will ever get (for keys that must stay unique)."""
        return generate_key(key_type)

    def _load_or_generate(self, key_type: str, slot: int) -> PrivateKey:
        path = self.cache_dir / f"{key_type}-{slot}.pem"
        if self.persistent and path.is_file():
            try:
                key = serialization.load_pem_private_key(path.read_bytes(), password=None)
                if isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
                    return key
            except (ValueError, TypeError):
                pass  # a corrupt cache entry is simply regenerated
        key = generate_key(key_type)
        if self.persistent:
            try:
                write_private(path, key_pem(key))
            except OSError:
                self.persistent = False  # a read-only home must not break a run
        return key


def key_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM: the form every LB and ``openssl`` reads."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


__all__ = ["PrivateKey", "KEY_TYPES", "generate_key", "default_cache_dir", "write_private", "KeyPool", "key_pem"]
