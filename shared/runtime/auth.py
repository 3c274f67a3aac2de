"""Who is calling: signed tokens (JWT, HS256) carrying a role and a place in the hierarchy.

Every route takes the caller from `Depends(caller)`; the person in a recorded event is the
token's subject, never a name typed into a request body. A caller sees their own place
and everything below it (`Caller.can_see`).

Systems (the 12345 hotline, the police, the petition office, Open311 clients, other
services) carry a service credential: a token of role `service` for the audience
`gov-services`, signed with a key of its own (`GOV_SERVICE_SECRET`). A token signed with
the users' key can never claim role `service`, so the routes reserved to systems refuse
every user token, whatever it says.

Secrets: `GOV_AUTH_SECRET` (users) and `GOV_SERVICE_SECRET` (systems). In production
(`GOV_ENV=production`) a missing or short secret, or one key used for both, stops the
service at start (`check_config`). In development the users' secret is generated once per
data directory (`<GOV_DATA_DIR>/auth.secret`, mode 600) so the local services agree on it,
and the service key is derived from it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shared.events import Actor
from shared.places.codes import code_area_path, join_path, path_within

Role = Literal["grid_worker", "unit_leader", "hotline_operator", "dispatcher",
               "department_staff", "supervisor", "leader", "administrator", "service"]
ROLES: tuple[str, ...] = Role.__args__  # type: ignore[attr-defined]
ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
SERVICE_AUDIENCE = "gov-services"
REQUIRED = ["sub", "role", "place", "exp"]


class AuthConfigError(RuntimeError):
    pass


@dataclass(frozen=True)
class Caller:
    id: str
    role: str
    name: str
    place: str  # area code of the caller's place (city ... unit)
    department: str | None = None  # for department staff

    @property
    def area_path(self) -> tuple[str, ...]:
        return code_area_path(self.place)

    @property
    def area(self) -> str:
        return join_path(self.area_path)

    def can_see(self, area_path: str | tuple[str, ...] | list[str]) -> bool:
        path = area_path if isinstance(area_path, str) else join_path(tuple(area_path))
        return path_within(path, self.area)

    def as_actor(self) -> Actor:
        return Actor(id=self.id, role=self.role, name=self.name)


def secret(data_dir: Path | None = None) -> str:
    value = os.environ.get("GOV_AUTH_SECRET", "")
    production = os.environ.get("GOV_ENV", "development") == "production"
    if value:
        if len(value.encode()) < MIN_SECRET_BYTES:
            raise AuthConfigError(f"GOV_AUTH_SECRET must be at least {MIN_SECRET_BYTES} bytes")
        return value
    if production:
        raise AuthConfigError("GOV_AUTH_SECRET is required when GOV_ENV=production")
    return _development_secret(data_dir or Path(os.environ.get("GOV_DATA_DIR", "var")))


def service_secret(data_dir: Path | None = None) -> str:
    """The key of service credentials: never the users' key."""
    value = os.environ.get("GOV_SERVICE_SECRET", "")
    if value:
        if len(value.encode()) < MIN_SECRET_BYTES:
            raise AuthConfigError(f"GOV_SERVICE_SECRET must be at least {MIN_SECRET_BYTES} "
                                  "bytes")
        if value == os.environ.get("GOV_AUTH_SECRET"):
            raise AuthConfigError("GOV_SERVICE_SECRET must differ from GOV_AUTH_SECRET")
        return value
    if os.environ.get("GOV_ENV", "development") == "production":
        raise AuthConfigError("GOV_SERVICE_SECRET is required when GOV_ENV=production")
    return derived_service_key(secret(data_dir))


@lru_cache(maxsize=8)
def derived_service_key(user_key: str) -> str:
    """Development only: the service key derived from the users' key, so local tools
    that hold the one can issue service credentials. Kept: every request checks its token
    against it, and an HMAC each was 3% of intake's time."""
    return hmac.new(user_key.encode(), b"gov service credentials", hashlib.sha256).hexdigest()


def check_config() -> None:
    """At start: both keys must be usable (in production: given, long, distinct)."""
    secret()
    service_secret()


@cache
def _development_secret(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "auth.secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def issue_token(sub: str, role: str, place: str, name: str = "",
                department: str | None = None, ttl: timedelta = timedelta(hours=12),
                key: str | None = None) -> str:
    """A user's token, signed with the users' key `key`; role `service` gives a service
    credential instead (signed with the service key, or the one derived from `key`)."""
    if role == "service":
        return issue_service_token(sub, place, name, ttl,
                                   key=derived_service_key(key) if key else None)
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    claims = _claims(sub, role, place, name, ttl)
    if department:
        claims["dept"] = department
    return jwt.encode(claims, key or secret(), algorithm=ALGORITHM)


def issue_service_token(sub: str, place: str, name: str = "",
                        ttl: timedelta = timedelta(hours=12), key: str | None = None) -> str:
    """A system's credential: role `service`, audience `gov-services`, the service key."""
    claims = {**_claims(sub, "service", place, name or sub, ttl), "aud": SERVICE_AUDIENCE}
    return jwt.encode(claims, key or service_secret(), algorithm=ALGORITHM)


def _claims(sub: str, role: str, place: str, name: str, ttl: timedelta) -> dict[str, object]:
    code_area_path(place)  # raises on a malformed place code
    now = datetime.now(UTC)
    return {"sub": sub, "role": role, "place": place, "name": name, "iat": now,
            "exp": now + ttl}


def decode_token(token: str, key: str | None = None) -> Caller:
    """The caller a token names, or 401. `key` is the users' key (tests); a service
    credential is checked against the service key and audience, never the users' key."""
    try:
        claims = _verified(token, key)
        if claims["role"] not in ROLES:
            raise jwt.InvalidTokenError("unknown role")
        code_area_path(claims["place"])
    except (jwt.InvalidTokenError, ValueError) as exc:
        raise HTTPException(401, detail=f"invalid token: {exc}",
                            headers={"WWW-Authenticate": "Bearer"}) from None
    return Caller(id=claims["sub"], role=claims["role"], name=claims.get("name", ""),
                  place=claims["place"], department=claims.get("dept"))


def _verified(token: str, key: str | None) -> dict[str, Any]:
    """The token's claims: its signature checked once per token and pair of keys (a caller
    sends the same token with every request; checking it again cost intake a fourteenth
    of its time), its expiry at every use."""
    services_key = derived_service_key(key) if key else service_secret()
    claims = _signed_claims(token, key or secret(), services_key)
    if claims["exp"] <= time.time():
        raise jwt.ExpiredSignatureError("Signature has expired")
    return claims


@lru_cache(maxsize=4096)
def _signed_claims(token: str, users_key: str, services_key: str) -> dict[str, Any]:
    unverified = jwt.decode(token, options={"verify_signature": False})
    if unverified.get("role") == "service":
        return dict(jwt.decode(token, services_key, algorithms=[ALGORITHM],
                               audience=SERVICE_AUDIENCE,
                               options={"require": [*REQUIRED, "aud"]}))
    return dict(jwt.decode(token, users_key, algorithms=[ALGORITHM],
                           options={"require": REQUIRED}))


_bearer = HTTPBearer(auto_error=False)


async def caller(request: Request,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
                 ) -> Caller:
    """FastAPI dependency: the authenticated caller, or 401. Async, as every dependency
    here that neither blocks nor waits: FastAPI runs a sync one on a worker thread, and
    under load those hand-offs (a few per request) cost more than the request itself."""
    if credentials is None:
        raise HTTPException(401, detail="missing bearer token",
                            headers={"WWW-Authenticate": "Bearer"})
    return decode_token(credentials.credentials)


def require_role(*roles: str) -> Callable[..., Awaitable[Caller]]:
    """FastAPI dependency factory: the caller, if their role is one of `roles`, else 403."""

    async def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        if who.role not in roles:
            raise HTTPException(403, detail=f"role {who.role} may not do this; "
                                            f"needs one of {', '.join(roles)}")
        return who

    return check


CurrentCaller = Annotated[Caller, Depends(caller)]
