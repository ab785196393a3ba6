"""With a key configured, every message carries an XML-DSig enveloped
signature that signxml's verifier accepts with the site's certificate, and
that fails once a byte of the message is changed; the signed message is
still valid CAP 1.2 (the schema allows the signature as the last child)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from signxml import XMLVerifier
from signxml.exceptions import InvalidDigest, InvalidSignature

from homeward_gateway.public import CapSettings, feed_for
from homeward_gateway.public.cap import Texts
from homeward_gateway.public.feed import Feed
from homeward_gateway.public.schema import cap_errors
from homeward_gateway.public.sign import Signer
from tests.unit.cap.test_cap_messages import delivery, notice

T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)


def key_and_cert() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "feed.example.invalid")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


def test_signed_messages_verify_and_stay_valid_cap() -> None:
    key, cert = key_and_cert()
    feed = Feed(Texts(), UTC, signer=Signer(key, cert))
    alert = feed.offer(delivery(notice(), 1))
    update = feed.offer(delivery(notice(status="widened", radius_km=200, as_of=T0), 2))
    for published in (alert, update):
        assert published is not None
        assert b"http://www.w3.org/2000/09/xmldsig#" in published.xml
        assert cap_errors(published.xml) == []
        verified = XMLVerifier().verify(published.xml, x509_cert=cert.decode())
        assert verified.signed_xml is not None
    forged = alert.xml.replace("测试儿童甲".encode(), "测试儿童乙".encode())
    with pytest.raises((InvalidDigest, InvalidSignature)):
        XMLVerifier().verify(forged, x509_cert=cert.decode())


def test_signing_is_configured_by_key_and_certificate_files(tmp_path) -> None:
    key, cert = key_and_cert()
    (tmp_path / "k.pem").write_bytes(key)
    (tmp_path / "c.pem").write_bytes(cert)
    settings = CapSettings(
        signing_key_file=tmp_path / "k.pem", signing_cert_file=tmp_path / "c.pem"
    )
    published = feed_for(settings).offer(delivery(notice(), 1))
    XMLVerifier().verify(published.xml, x509_cert=cert.decode())
    assert b"xmldsig" not in feed_for(CapSettings()).offer(delivery(notice(), 1)).xml
    with pytest.raises(ValueError, match="go together"):
        CapSettings(signing_key_file=tmp_path / "k.pem")
