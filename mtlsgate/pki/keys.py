"""A pool of private keys, generated once and reused across certificate specs.

RSA key generation dominates the cost of minting a catalogue (a 4096-bit key takes
seconds); a signature takes microseconds. Certificates therefore draw keys from this
pool by ``(key type, slot)``: two specs that need *different* keys use different slots,
and every later run finds the key in the on-disk cache. The cache holds throwaway test
keys only, written 0600 in a 0700 directory.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


def _rsa_key_signs(key: rsa.RSAPrivateKey) -> bool:
    """Whether ``key`` makes a signature its own public key verifies.

    Keys are loaded without OpenSSL's full RSA check (primality of p and q: ~36 ms per
    RSA-2048 key, and a fleet run loads several per target); one signature (~1 ms) catches
    the broken file that matters here, a private half that does not belong to its public half.
    """
    message = b"mtlsgate key check"
    try:
        signature = key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        key.public_key().verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _load_cached_key(path: Path) -> PrivateKey | None:
    """A key from the on-disk cache, or None if the entry is unreadable, of another kind, or broken."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None, unsafe_skip_rsa_key_validation=True)
    except (OSError, ValueError, TypeError):
        return None
    if isinstance(key, rsa.RSAPrivateKey):
        return key if _rsa_key_signs(key) else None
    return key if isinstance(key, (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)) else None


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

    def derived(self, root_key: PrivateKey, label: str, key_type: str) -> PrivateKey:
        """The key :func:`derive_key` makes from ``root_key`` and ``label``, memoised.

        RSA derivation searches primes (about 0.15 s for RSA-2048 with gmpy2, 1 s without), so a derived
        RSA key is also cached on disk, under a name that is a hash of the derivation seed.
        """
        seed = derivation_seed(root_key, label, key_type)
        wanted = (f"derived-{key_type}", int.from_bytes(seed[:8], "big"))
        with self._lock:
            key = self._keys.get(wanted)
            if key is not None:
                return key
            path = self.cache_dir / f"derived-{key_type}-{hashlib.sha256(seed).hexdigest()[:32]}.pem"
            if self.persistent and key_type.startswith("rsa") and path.is_file():
                loaded = _load_cached_key(path)
                if isinstance(loaded, rsa.RSAPrivateKey) and loaded.key_size == int(key_type[3:]):
                    key = loaded
            if key is None:
                key = key_from_seed(seed, key_type)
                if self.persistent and key_type.startswith("rsa"):
                    try:
                        write_private(path, key_pem(key))
                    except OSError:
                        self.persistent = False
            self._keys[wanted] = key
            return key

    def fresh(self, key_type: str) -> PrivateKey:
        """A key no other caller will ever get (for keys that must stay unique)."""
        return generate_key(key_type)

    def _load_or_generate(self, key_type: str, slot: int) -> PrivateKey:
        path = self.cache_dir / f"{key_type}-{slot}.pem"
        if self.persistent and path.is_file():
            key = _load_cached_key(path)
            if key is not None:
                return key
            # a corrupt or broken cache entry is simply made again
        key = generate_key(key_type)
        if self.persistent:
            try:
                write_private(path, key_pem(key))
            except OSError:
                self.persistent = False  # a read-only home must not break a run
        return key


def _root_bytes(root_key: PrivateKey) -> bytes:
    return root_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())


def derivation_seed(root_key: PrivateKey, label: str, key_type: str) -> bytes:
    """HKDF-SHA256 over the root's private key (PKCS#8 DER), salted by purpose, with the label as info.

    Whoever holds the client CA's key derives the same seed on any machine; nobody else can.
    """
    info = f"mtlsgate derived key v1|{key_type}|{label}".encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"mtlsgate-derive", info=info).derive(_root_bytes(root_key))


def derive_serial(root_key: PrivateKey, label: str) -> int:
    """A positive serial below 2**126, the same for the same root key and label."""
    seed = HKDF(algorithm=hashes.SHA256(), length=16, salt=b"mtlsgate-serial",
                info=f"mtlsgate derived serial v1|{label}".encode()).derive(_root_bytes(root_key))
    return (int.from_bytes(seed, "big") >> 2) + 1


def derive_key(root_key: PrivateKey, label: str, key_type: str) -> PrivateKey:
    """A key of ``key_type`` that depends only on ``root_key`` and ``label`` (no pool, no cache)."""
    return key_from_seed(derivation_seed(root_key, label, key_type), key_type)


def key_from_seed(seed: bytes, key_type: str) -> PrivateKey:
    """A deterministic key of ``key_type`` from a 32-byte seed.

    EC: the private scalar from a SHAKE-256 stream of the seed, below 2**(bits-1);
    Ed25519: the first 32 bytes of that stream; RSA: primes searched in that stream.
    """
    stream = _Stream(seed)
    if key_type in _CURVES:
        curve = _CURVES[key_type]()
        # Below 2**(bits-1), and every NIST curve's order is above that: always in [1, n-1].
        scalar = int.from_bytes(stream.read(curve.key_size // 8 + 1), "big") % (1 << (curve.key_size - 1)) or 1
        return ec.derive_private_key(scalar, curve)
    if key_type == "ed25519":
        return ed25519.Ed25519PrivateKey.from_private_bytes(stream.read(32))
    if key_type.startswith("rsa") and key_type in KEY_TYPES:
        return _seeded_rsa(int(key_type[3:]), stream)
    raise ValueError(f"unknown key type {key_type!r}; expected one of {', '.join(KEY_TYPES)}")


_SMALL_PRIMES = [p for p in range(3, 2000) if all(p % q for q in range(2, int(p ** 0.5) + 1))]
_PRIMORIAL = math.prod(_SMALL_PRIMES)


class _Stream:
    """An endless deterministic byte stream: SHAKE-256 of the seed and a block counter."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0

    def read(self, n: int) -> bytes:
        self._counter += 1
        return hashlib.shake_256(self._seed + self._counter.to_bytes(8, "big")).digest(n)


@functools.cache
def _powmod() -> Callable[[int, int, int], int]:
    """gmpy2's modular power where installed (a dependency: ~6x faster for RSA-2048 primes), else Python's.

    Exact arithmetic either way: the same candidates, bases and answers, so a derived key (and
    a CRL an operator published for it) is the same whichever is used.
    """
    try:
        from gmpy2 import powmod
    except ImportError:
        return pow
    return lambda base, exponent, modulus: int(powmod(base, exponent, modulus))



def _probable_prime(n: int, stream: _Stream, rounds: int) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    powmod = _powmod()
    for _ in range(rounds):
        a = 2 + int.from_bytes(stream.read(n.bit_length() // 8 + 8), "big") % (n - 3)
        x = powmod(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = powmod(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


def _seeded_prime(bits: int, stream: _Stream, e: int) -> int:
    for _ in range(1000):  # a fresh start every few thousand candidates; one start almost always suffices
        candidate = int.from_bytes(stream.read(bits // 8), "big") | (3 << (bits - 2)) | 1
        for _ in range(5000):
            if math.gcd(candidate, _PRIMORIAL) == 1 and math.gcd(candidate - 1, e) == 1 \
                    and _probable_prime(candidate, stream, 1) and _probable_prime(candidate, stream, 40):
                return candidate
            candidate += 2
    raise RuntimeError("no prime found")  # pragma: no cover - probability below 2**-1000


def _seeded_rsa(bits: int, stream: _Stream) -> rsa.RSAPrivateKey:
    e = 65537
    while True:
        p = _seeded_prime(bits // 2, stream, e)
        q = _seeded_prime(bits // 2, stream, e)
        if p == q:
            continue
        if p < q:
            p, q = q, p
        n = p * q
        if n.bit_length() != bits:
            continue
        d = pow(e, -1, math.lcm(p - 1, q - 1))
        public = rsa.RSAPublicNumbers(e, n)
        return rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p), public).private_key()


def key_pem(key: PrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM: the form every LB and ``openssl`` reads."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


__all__ = ["PrivateKey", "KEY_TYPES", "generate_key", "default_cache_dir", "write_private", "KeyPool", "key_pem", "derivation_seed", "derive_serial", "derive_key", "key_from_seed"]
