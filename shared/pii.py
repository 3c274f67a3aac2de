"""Personal data (个人信息): masked for reading, encrypted for travelling and resting.

- `mask_*` and `redact` give the display forms every read API shows (138****5678).
- `PersonalDataVault` keeps one AES-256-GCM key per person in the owning service's
  database. Events carry only the ciphertext and the masked forms; deleting the person's
  key (`forget`) makes every copy of their data unreadable: crypto-shredding, which
  reaches Kafka's retained topics and backups that no DELETE could.
- Channels that publish to Kafka encrypt personal fields for intake first
  (`seal_for_transport`, RSA-OAEP-256 wrapping an AES-256-GCM key), so plain personal
  data never travels even on the intake topics; intake opens them with its private key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

ALG = "AES-256-GCM"
TRANSPORT_ALG = "RSA-OAEP-256+A256GCM"

# Mainland mobile numbers, optionally +86, with spaces or dashes between the groups.
_PHONE = r"(?:\+?86[- ]?)?(1[3-9]\d)[- ]?(\d{4})[- ]?(\d{4})"
PHONE_RE = re.compile(rf"(?<!\d){_PHONE}(?!\d)")
# Resident ID numbers (GB 11643): 6-digit region, a plausible birth date, 3 digits + check.
ID_RE = re.compile(
    r"(?<!\d)([1-9]\d{5})((?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))"
    r"(\d{3}[\dXx])(?![\dXx])"
)
EMAIL_RE = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")
MASKED_EMAIL_RE = re.compile(r"(?:[A-Za-z0-9._%+-]\*\*\*@[A-Za-z0-9.-]+\.[A-Za-z]{2,})|\*\*\*")


# -- display forms -----------------------------------------------------------------------

def mask_phone(phone: str) -> str:
    """'13812345678' -> '138****5678'; other numbers keep at most their last 4 digits.
    A masked digit ('*') counts as a digit, so a masked number stays as it is."""
    digits = re.sub(r"[^\d*]", "", phone)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    if not digits:
        return ""
    if len(digits) >= 11:
        return digits[:3] + "****" + digits[-4:]
    if len(digits) >= 7:
        return "*" * (len(digits) - 4) + digits[-4:]
    return "*" * len(digits)


def mask_id_number(id_number: str) -> str:
    """'110101199003071234' -> '1101**********1234'."""
    s = id_number.strip().upper()
    if len(s) <= 8:
        return "*" * len(s)
    return s[:4] + "*" * (len(s) - 8) + s[-4:]


def mask_name(name: str) -> str:
    """'张三' -> '张*', '欧阳娜娜' -> '欧***'."""
    s = name.strip()
    if not s:
        return ""
    return s[0] + "*" * max(1, len(s) - 1)


def mask_email(email: str) -> str:
    if MASKED_EMAIL_RE.fullmatch(email.strip()):
        return email.strip()  # already masked
    m = EMAIL_RE.fullmatch(email.strip())
    if m is None:
        return "***" if email.strip() else ""
    return f"{m.group(1)}***@{m.group(2)}"


def redact(text: str) -> str:
    """Free text (a caller's words) with phone, ID and e-mail patterns masked in place."""
    text = ID_RE.sub(lambda m: mask_id_number(m.group(0)), text)
    text = PHONE_RE.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)
    return EMAIL_RE.sub(lambda m: mask_email(m.group(0)), text)


# Finding (not masking, which errs the other way): a number inside a longer run of
# letters or digits is part of something else, like the hex tail of a UUID
# ("…-c18053111179" was taken for a phone number and failed CI once).
PHONE_FOUND_RE = re.compile(rf"(?<![\dA-Za-z]){_PHONE}(?![\dA-Za-z])")


def find_personal_patterns(text: str) -> list[str]:
    """Kinds of personal data patterns present in `text` (for checks and tests)."""
    kinds = [k for k, rx in (("phone", PHONE_FOUND_RE), ("id_number", ID_RE),
                             ("email", EMAIL_RE)) if rx.search(text)]
    return kinds


# -- a person ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Person:
    """Whoever the report is about or from, outside the platform's own staff: a caller,
    a petitioner, an Open311 requester. Plain text: lives only in memory."""

    name: str = ""
    phone: str = ""
    id_number: str = ""
    email: str = ""

    def __bool__(self) -> bool:
        return any((self.name, self.phone, self.id_number, self.email))

    def identity(self) -> str | None:
        """What makes two reports the same person: ID number, else phone, else e-mail."""
        if self.id_number:
            return "id:" + self.id_number.strip().upper()
        if self.phone:
            digits = re.sub(r"\D", "", self.phone)
            return "phone:" + (digits[2:] if digits.startswith("86") and len(digits) == 13
                               else digits)
        if self.email:
            return "email:" + self.email.strip().lower()
        return None

    def masked(self) -> dict[str, str]:
        return {"name": mask_name(self.name), "phone": mask_phone(self.phone),
                "id_number": mask_id_number(self.id_number), "email": mask_email(self.email)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Person:
        return cls(**{k: str(data.get(k) or "") for k in ("name", "phone", "id_number", "email")})


@dataclass(frozen=True)
class Sealed:
    """A person's data encrypted under their own key; safe to store and publish."""

    person_ref: str
    nonce: str  # base64
    ciphertext: str  # base64, includes the GCM tag
    alg: str = ALG

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class PersonForgotten(LookupError):
    """The person's key was deleted (erasure): their data can no longer be read."""


class TransportError(ValueError):
    """A transport envelope that does not open (wrong key, tampered, malformed)."""


# -- the vault ---------------------------------------------------------------------------

metadata = MetaData()
person_keys = Table(
    "pii_person_keys", metadata,
    Column("person_ref", String(64), primary_key=True),
    Column("key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
vault_secrets = Table(
    "pii_secrets", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


class PersonalDataVault:
    """Per-person keys, a pepper for person references, and the transport key pair."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        self._lock = threading.Lock()
        self._pepper: bytes | None = None
        self._private: rsa.RSAPrivateKey | None = None

    # person references and keys
    def person_ref(self, person: Person) -> str:
        """A stable pseudonym (HMAC with a secret pepper: phone numbers are too few to
        hash bare); a person with nothing identifying gets a fresh one."""
        identity = person.identity()
        if identity is None:
            return uuid.uuid4().hex
        return hmac.new(self._secret("pepper", lambda: secrets.token_bytes(32)),
                        identity.encode(), hashlib.sha256).hexdigest()[:32]

    def seal(self, person: Person, aad: bytes) -> Sealed:
        ref = self.person_ref(person)
        key = self._person_key(ref, create=True)
        assert key is not None
        nonce = os.urandom(12)
        plain = json.dumps(asdict(person), ensure_ascii=False).encode()
        ct = AESGCM(key).encrypt(nonce, plain, aad)
        return Sealed(ref, _b64(nonce), _b64(ct))

    def unseal(self, sealed: Sealed | dict[str, str], aad: bytes) -> Person:
        s = sealed if isinstance(sealed, Sealed) else Sealed(**sealed)
        key = self._person_key(s.person_ref, create=False)
        if key is None:
            raise PersonForgotten(s.person_ref)
        plain = AESGCM(key).decrypt(_unb64(s.nonce), _unb64(s.ciphertext), aad)
        return Person.from_dict(json.loads(plain))

    def forget(self, person_ref: str) -> bool:
        """Erase a person: delete their key. Returns False if it was already gone."""
        with self.engine.begin() as c:
            gone = c.execute(delete(person_keys).where(person_keys.c.person_ref == person_ref))
        return bool(gone.rowcount)

    def _person_key(self, ref: str, create: bool) -> bytes | None:
        q = select(person_keys.c.key).where(person_keys.c.person_ref == ref)
        with self.engine.connect() as c:
            found = c.execute(q).scalar()
        if found is not None or not create:
            return found
        try:
            with self.engine.begin() as c:
                c.execute(insert(person_keys).values(person_ref=ref, key=AESGCM.generate_key(256),
                                                     created_at=datetime.now(UTC)))
        except IntegrityError:
            pass  # created concurrently by another request: use theirs
        with self.engine.connect() as c:
            return c.execute(q).scalar_one()

    def _secret(self, name: str, make: Any) -> bytes:
        if name == "pepper" and self._pepper is not None:
            return self._pepper
        with self._lock:
            q = select(vault_secrets.c.value).where(vault_secrets.c.name == name)
            with self.engine.connect() as c:
                value = c.execute(q).scalar()
            if value is None:
                try:
                    with self.engine.begin() as c:
                        c.execute(insert(vault_secrets).values(
                            name=name, value=make(), created_at=datetime.now(UTC)))
                except IntegrityError:
                    pass
                with self.engine.connect() as c:
                    value = c.execute(q).scalar_one()
        if name == "pepper":
            self._pepper = value
        return bytes(value)

    # transport: channels encrypt for intake before publishing
    def transport_key(self) -> rsa.RSAPrivateKey:
        if self._private is None:
            pem = self._secret("transport_rsa", lambda: rsa.generate_private_key(
                public_exponent=65537, key_size=2048).private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption()))
            key = serialization.load_pem_private_key(pem, password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            self._private = key
        return self._private

    def transport_public_pem(self) -> str:
        return self.transport_key().public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def transport_kid(self) -> str:
        return hashlib.sha256(self.transport_public_pem().encode()).hexdigest()[:16]

    def open_transport(self, envelope: dict[str, Any]) -> dict[str, Any]:
        try:
            if envelope.get("alg") != TRANSPORT_ALG:
                raise TransportError(f"alg must be {TRANSPORT_ALG}")
            if envelope.get("kid") != self.transport_kid():
                raise TransportError("kid names no current intake key")
            cek = self.transport_key().decrypt(_unb64(envelope["ek"]), _OAEP)
            plain = AESGCM(cek).decrypt(_unb64(envelope["nonce"]), _unb64(envelope["ct"]),
                                        envelope["kid"].encode())
            data = json.loads(plain)
        except (KeyError, TypeError, ValueError, InvalidTag) as exc:
            if isinstance(exc, TransportError):
                raise
            raise TransportError(f"envelope does not open: {type(exc).__name__}") from None
        if not isinstance(data, dict):
            raise TransportError("envelope content is not an object")
        return data


_OAEP = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)


def seal_for_transport(public_pem: str, data: dict[str, Any]) -> dict[str, str]:
    """What a channel does before publishing personal fields to Kafka: encrypt them for
    intake (GET /api/channels/pii-key gives the public key)."""
    public = serialization.load_pem_public_key(public_pem.encode())
    assert isinstance(public, rsa.RSAPublicKey)
    kid = hashlib.sha256(public_pem.encode()).hexdigest()[:16]
    cek = AESGCM.generate_key(256)
    nonce = os.urandom(12)
    ct = AESGCM(cek).encrypt(nonce, json.dumps(data, ensure_ascii=False).encode(), kid.encode())
    return {"alg": TRANSPORT_ALG, "kid": kid, "ek": _b64(public.encrypt(cek, _OAEP)),
            "nonce": _b64(nonce), "ct": _b64(ct)}


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _unb64(s: str) -> bytes:
    return base64.b64decode(s, validate=True)
