"""SHA-1 and MD5 signatures: test material, never a real identity.

``cryptography`` refuses to sign with these digests, and rightly. The suite still needs such
certificates — a listener must refuse them — so they are re-signed by the ``openssl``
command line, exactly as the seed guide signs its certificates. The name says what this
module holds, as ``cryptography.hazmat.decrepit`` does: whoever imports it knows.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .keys import PrivateKey, key_pem

#: Digests ``cryptography`` will not sign with; :func:`openssl_resign` does.
LEGACY_HASHES = ("sha1", "md5")


def openssl_resign(cert: x509.Certificate, signer_key: PrivateKey, issuer_cert: x509.Certificate | None,
                   digest: str) -> x509.Certificate:
    """Re-sign ``cert`` with a legacy ``digest`` via the ``openssl`` CLI, keeping its fields.

    ``openssl x509 -CA`` (or ``-signkey`` when self-signed) keeps dates (``-preserve_dates``),
    extensions and serial; only the signature changes. ``cert`` must be self-signed by its
    own key and name (openssl checks that before it signs); openssl sets the issuer name.
    """
    if digest == "md5" and not isinstance(signer_key, rsa.RSAPrivateKey):
        raise ValueError("MD5 signatures exist only for RSA issuers")
    exe = shutil.which("openssl")
    if exe is None:
        raise RuntimeError("the openssl command line is needed for SHA-1/MD5 signatures (apt-get install openssl)")
    # The key and CA certificate reach openssl through pipes (/dev/fd/N), never a file: nothing
    # to clean up if the run is interrupted, and no copy of the key on disk.
    key_fd = _pipe_holding(key_pem(signer_key))
    ca_fd = _pipe_holding(issuer_cert.public_bytes(serialization.Encoding.PEM)) if issuer_cert is not None else None
    try:
        cmd = [exe, "x509", f"-{digest}", "-preserve_dates", "-set_serial", str(cert.serial_number)]
        if ca_fd is None:
            cmd += ["-signkey", f"/dev/fd/{key_fd}"]
        else:
            cmd += ["-CA", f"/dev/fd/{ca_fd}", "-CAkey", f"/dev/fd/{key_fd}"]
        env = dict(os.environ, OPENSSL_CONF="/dev/null")
        fds = (key_fd,) if ca_fd is None else (key_fd, ca_fd)
        proc = subprocess.run(cmd, input=cert.public_bytes(serialization.Encoding.PEM), capture_output=True,
                              timeout=30, env=env, pass_fds=fds)
    finally:
        os.close(key_fd)
        if ca_fd is not None:
            os.close(ca_fd)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl could not re-sign with {digest}: {proc.stderr.decode(errors='replace').strip()}")
    return x509.load_pem_x509_certificate(proc.stdout)


def _pipe_holding(data: bytes) -> int:
    """The read end of a pipe that already holds ``data`` (PEM blocks fit the pipe buffer)."""
    if len(data) > 60_000:
        raise ValueError("too large for a pipe buffer")
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, data)
    finally:
        os.close(write_fd)
    return read_fd


__all__ = ["LEGACY_HASHES", "openssl_resign"]
