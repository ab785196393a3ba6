"""XML-DSig enveloped signatures on the feed's messages (optional): a reader
holding the site's certificate can tell a message came from this gateway and
was not changed on the way. signxml does the W3C XML Signature work (exclusive
canonicalisation, RSA or ECDSA with SHA-256); CAP 1.2's schema allows the
<Signature> as the alert's last child."""

from __future__ import annotations

from pathlib import Path

from lxml import etree
from signxml import DigestAlgorithm, XMLSigner, methods


class Signer:
    def __init__(self, key_pem: bytes, cert_pem: bytes) -> None:
        self.key_pem, self.cert_pem = key_pem, cert_pem
        self._signer = XMLSigner(method=methods.enveloped, digest_algorithm=DigestAlgorithm.SHA256)

    @classmethod
    def from_files(cls, key_file: Path, cert_file: Path) -> Signer:
        return cls(key_file.read_bytes(), cert_file.read_bytes())

    def sign(self, root: etree._Element) -> etree._Element:
        signed: etree._Element = self._signer.sign(root, key=self.key_pem, cert=self.cert_pem)
        return signed
