"""Intake over HTTP: one route per channel (same models as the channel topics), the
report read API (personal data masked), the manual placement queue, and attachments."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, Response, UploadFile
from fastapi import Path as Path_
from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.intake.application import IntakeApplication, Receipt
from services.intake.channels import (
    CategoryUnknown,
    Draft,
    GridReport,
    HotlineTransfer,
    InspectionFinding,
    PersonIn,
    PetitionTransfer,
    PoliceIncident,
    normalise,
)
from services.intake.limits import LimitedRoute
from services.intake.placement import UnknownPlace
from shared.catalogue import categories
from shared.events import Location
from shared.events.intake import ErasureBasis
from shared.pii import Person
from shared.runtime.auth import Caller, CurrentCaller, require_role
from shared.runtime.service import application
from shared.runtime.store import DomainError, NotFoundError

router = APIRouter(prefix="/api", tags=["intake"], route_class=LimitedRoute)
App = Annotated[IntakeApplication, Depends(application)]
REPORTERS = ("grid_worker", "unit_leader")
PLACERS = ("dispatcher", "administrator")
QUEUE_READERS = ("dispatcher", "administrator", "leader", "supervisor")
# Who may read a reporter's plain contact: the hotline operator calls the reporter back
# (回访) and the supervisor checks call-backs; everyone else sees only the masked forms.
UNMASKERS = ("hotline_operator", "supervisor")
ERASERS = ("administrator",)  # erasing a person is irreversible: administrators only


class ReportAccepted(BaseModel):
    report_id: uuid.UUID
    case_id: uuid.UUID
    area_path: list[str]
    placed: bool
    duplicate_submission: bool


def _field_error(field: str, msg: str) -> HTTPException:
    return HTTPException(422, detail=[{"loc": ["body", field], "msg": msg,
                                       "type": "value_error"}])


async def accept(app: IntakeApplication, body: Any, who: Caller,
                 response: Response) -> ReportAccepted:
    """Normalise, place, record once: shared by every channel's route."""
    try:
        draft: Draft = normalise(body, who.as_actor(), now=datetime.now(UTC), city=who.place)
        receipt: Receipt = await app.receive(draft)
    except CategoryUnknown as exc:
        raise _field_error("category", str(exc)) from None
    except UnknownPlace as exc:
        raise _field_error("unit_code", str(exc)) from None
    if not receipt.created:
        response.status_code = 200
    return ReportAccepted(report_id=receipt.report_id, case_id=receipt.case_id,
                          area_path=list(receipt.area_path), placed=receipt.placed,
                          duplicate_submission=not receipt.created)


@router.post("/reports", status_code=202, response_model=ReportAccepted)
async def submit_report(
        body: GridReport, app: App, response: Response,
        who: Annotated[Caller, Depends(require_role(*REPORTERS))]) -> ReportAccepted:
    """网格员/单元长上报 (grid app)."""
    return await accept(app, body, who, response)


@router.post("/channels/inspection", status_code=202, response_model=ReportAccepted)
async def inspection_finding(
        body: InspectionFinding, app: App, response: Response,
        who: Annotated[Caller, Depends(require_role("department_staff", "service"))]
) -> ReportAccepted:
    """部门巡查发现: staff report for their own department only."""
    if who.role == "department_staff" and who.department != body.department:
        raise HTTPException(403, detail=f"you inspect for {who.department}, "
                                        f"not {body.department}")
    return await accept(app, body, who, response)


@router.post("/channels/hotline_12345", status_code=202, response_model=ReportAccepted)
async def hotline_transfer(
        body: HotlineTransfer, app: App, response: Response,
        who: Annotated[Caller, Depends(require_role("hotline_operator", "service"))]
) -> ReportAccepted:
    """12345热线转办."""
    return await accept(app, body, who, response)


@router.post("/channels/police", status_code=202, response_model=ReportAccepted)
async def police_incident(
        body: PoliceIncident, app: App, response: Response,
        who: Annotated[Caller, Depends(require_role("service", "dispatcher"))]
) -> ReportAccepted:
    """公安非警务警情."""
    return await accept(app, body, who, response)


@router.post("/channels/petition", status_code=202, response_model=ReportAccepted)
async def petition_transfer(
        body: PetitionTransfer, app: App, response: Response,
        who: Annotated[Caller, Depends(require_role("service", "dispatcher"))]
) -> ReportAccepted:
    """信访转办件."""
    return await accept(app, body, who, response)


@router.get("/channels/pii-key")
def personal_data_key(app: App) -> dict[str, str]:
    """Intake's public key: channels seal personal fields with it before using Kafka
    (shared.pii.seal_for_transport)."""
    return {"kid": app.vault.transport_kid(), "alg": "RSA-OAEP-256+A256GCM",
            "public_key_pem": app.vault.transport_public_pem()}


# -- reading -------------------------------------------------------------------------------

class Contact(BaseModel):
    role: str
    name: str
    phone: str
    id_number: str
    email: str
    erased: bool = False  # the person was erased: nothing of them can be read any more


class ReportState(BaseModel):
    report_id: uuid.UUID
    case_id: uuid.UUID
    channel: str
    external_ref: str
    category: str
    title: str
    description: str
    address: str
    area_path: list[str]
    place_code: str | None
    placed: bool
    status: str
    department: str | None
    reported_at: datetime
    attachments: list[str]
    contact: Contact | None = None  # masked: 138****5678


def report_state(row: dict[str, Any]) -> ReportState:
    c = row["contact"]
    contact = None if not c else Contact(
        role=c["role"], name=c["name_masked"], phone=c["phone_masked"],
        id_number=c["id_number_masked"], email=c["email_masked"],
        erased=bool(c.get("erased")))
    return ReportState(
        report_id=row["report_id"], case_id=row["case_id"], channel=row["channel"],
        external_ref=row["external_ref"], category=row["category"], title=row["title"] or "",
        description=row["description"] or "", address=row["address"] or "",
        area_path=row["area_path"].split("/"), place_code=row["place_code"],
        placed=row["placed"], status=row["status"], department=row["department"],
        reported_at=row["reported_at"], attachments=list(row["attachments"] or ()),
        contact=contact)


@router.get("/reports/unplaced")
def unplaced_reports(app: App,
                     who: Annotated[Caller, Depends(require_role(*QUEUE_READERS))]
                     ) -> list[ReportState]:
    """The manual placement queue: reports that arrived outside every grid (oldest first)."""
    app.index.catch_up()
    rows = app.index.find(placed=False, area=who.area)
    return [report_state(r) for r in reversed(rows)]


@router.get("/reports/stats")
def report_stats(app: App, who: CurrentCaller, channel: str | None = None) -> dict[str, int]:
    """Reports in the caller's area by what became of them (reported = not yet decided by
    dedup; in_review, registered, merged, dispatched ... closed), e.g. to follow a replay."""
    app.index.catch_up()
    return app.index.status_counts(who.area, channel)


def visible_report(app: IntakeApplication, report_id: uuid.UUID, who: Caller
                   ) -> dict[str, Any]:
    """The report's row, or 404 when it is absent or outside the caller's area (as if
    absent: an id must not tell another town that a report exists)."""
    app.index.catch_up()
    row = app.index.get(str(report_id))
    if row is None or not who.can_see(row["area_path"]):
        raise NotFoundError("report", report_id)
    return row


@router.get("/reports/{report_id}")
def get_report(report_id: uuid.UUID, app: App, who: CurrentCaller) -> ReportState:
    return report_state(visible_report(app, report_id, who))


# -- the contact person: unmasked on record, erased -----------------------------------------

class Unmasking(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purpose: str = Field(min_length=4, max_length=200)  # recorded, redacted: why it is read


class PlainContact(BaseModel):
    report_id: uuid.UUID
    role: str
    name: str
    phone: str
    id_number: str
    email: str


@router.post("/reports/{report_id}/contact/unmask")
def unmask_contact(report_id: uuid.UUID, body: Unmasking, app: App, response: Response,
                   who: Annotated[Caller, Depends(require_role(*UNMASKERS))]) -> PlainContact:
    """The reporter's plain contact, to call them back; each reading is recorded in the
    case file (case.contact_unmasked: who, when, why; never the data). 410 once erased."""
    row = visible_report(app, report_id, who)
    try:
        person = app.unmask_contact(report_id, body.purpose, who.as_actor())
    except DomainError as exc:
        if exc.rule == "personal_data_erased":
            raise HTTPException(410, detail=exc.message) from None
        raise
    response.headers["cache-control"] = "no-store"
    return PlainContact(report_id=report_id, role=(row["contact"] or {}).get("role", ""),
                        name=person.name, phone=person.phone, id_number=person.id_number,
                        email=person.email)


class ErasureRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    basis: ErasureBasis = "person_request"


class PersonToErase(PersonIn):
    """Who asks to be erased, by what identifies them (the name alone does not)."""

    basis: ErasureBasis = "person_request"

    @model_validator(mode="after")
    def _identified(self) -> PersonToErase:
        if not (self.phone or self.id_number or self.email):
            raise ValueError("give a phone, id_number or email")
        return self

    def identities(self) -> list[Person]:
        """Each identifier alone: a person reported by phone once and by ID number once
        has two references."""
        return [p for p in (Person(phone=self.phone), Person(id_number=self.id_number),
                            Person(email=self.email)) if p]


class Erasure(BaseModel):
    reports: list[uuid.UUID]  # every report whose contact was this person
    cases: list[uuid.UUID]


@router.post("/reports/{report_id}/contact/erase")
def erase_contact(report_id: uuid.UUID, body: ErasureRequest, app: App,
                  who: Annotated[Caller, Depends(require_role(*ERASERS))]) -> Erasure:
    """Erase the contact person of a report, everywhere (crypto-shredding)."""
    contact = visible_report(app, report_id, who)["contact"]
    if not contact:
        raise DomainError("no_contact", f"report {report_id} names no contact person")
    return erase(app, [contact["person_ref"]], body.basis, who)


@router.post("/persons/erase")
def erase_person(body: PersonToErase, app: App,
                 who: Annotated[Caller, Depends(require_role(*ERASERS))]) -> Erasure:
    """Erase a person who asks for it, found by their phone, ID number or e-mail."""
    refs = [app.vault.person_ref(p) for p in body.identities()]
    return erase(app, refs, body.basis, who)


def erase(app: IntakeApplication, refs: list[str], basis: str, who: Caller) -> Erasure:
    """Delete the person's key and record it on each of their reports. Every report must
    lie in the caller's area: a key erased is erased for every town."""
    app.index.catch_up()
    rows = app.index.of_person(refs)
    if not rows:
        raise NotFoundError("person", "with these identifiers")
    if not all(who.can_see(r["area_path"]) for r in rows):
        raise HTTPException(403, detail="this person has reports outside your area; "
                                        "an administrator above all of them must erase")
    reports = app.erase_persons(refs, basis, who.as_actor())
    app.index.catch_up()
    cases = {r["report_id"]: r["case_id"] for r in rows}
    return Erasure(reports=reports, cases=[uuid.UUID(cases.get(str(r), str(r))) for r in reports])


class PlacementBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    place_code: str | None = Field(default=None, pattern=r"^\d{6,18}$")
    location: Location | None = None

    @model_validator(mode="after")
    def _one(self) -> PlacementBody:
        if self.place_code is None and self.location is None:
            raise ValueError("give a place_code or a location")
        return self


@router.post("/reports/{report_id}/placement")
def place_report(report_id: uuid.UUID, body: PlacementBody, app: App,
                 who: Annotated[Caller, Depends(require_role(*PLACERS))]) -> ReportState:
    """人工定位: put an unplaced report where it belongs; records case.placed."""
    app.index.catch_up()
    row = app.index.get(str(report_id))
    if row is None or not who.can_see(row["area_path"]):
        raise NotFoundError("report", report_id)
    try:
        app.place_manually(report_id, body.place_code, body.location, who.as_actor())
    except UnknownPlace as exc:
        raise _field_error("place_code", str(exc)) from None
    app.index.catch_up()
    placed = app.index.get(str(report_id))
    assert placed is not None
    return report_state(placed)


@router.get("/categories")
def list_categories() -> list[dict[str, str]]:
    return [{"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en}
            for c in categories().values()]


# -- attachments ---------------------------------------------------------------------------

@router.post("/attachments", status_code=201)
async def upload_attachment(file: UploadFile, request: Request, who: CurrentCaller
                            ) -> dict[str, Any]:
    """Store a photo once (content-addressed); reports carry its att:// reference."""
    settings = request.app.state.runtime.settings
    data = await file.read()
    limit = int(getattr(settings, "max_attachment_bytes", 10 << 20))
    if len(data) > limit:
        raise HTTPException(413, detail=f"attachment larger than {limit} bytes")
    if not data:
        raise _field_error("file", "empty file")
    digest = hashlib.sha256(data).hexdigest()
    folder = Path(settings.data_dir) / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / digest
    if not target.exists():
        tmp = target.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(target)
    return {"ref": f"att://{digest}", "bytes": len(data),
            "content_type": file.content_type or "application/octet-stream"}


# Image kinds a browser shows as a thumbnail, by their first bytes (the upload's declared
# type is not kept: the file is stored by its content alone).
IMAGE_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
               (b"GIF8", "image/gif"))


def image_type(data: bytes) -> str:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((k for magic, k in IMAGE_MAGIC if data.startswith(magic)),
                "application/octet-stream")


@router.get("/reports/{report_id}/attachments/{digest}")
def get_attachment(report_id: uuid.UUID,
                   digest: Annotated[str, Path_(pattern=r"^[0-9a-f]{64}$")],
                   request: Request, app: App, who: CurrentCaller) -> Response:
    """A photo of a report, to whoever may read the report: only the report's own."""
    row = visible_report(app, report_id, who)
    if f"att://{digest}" not in (row["attachments"] or ()):
        raise NotFoundError("attachment", digest)
    target = Path(request.app.state.runtime.settings.data_dir) / "attachments" / digest
    if not target.exists():
        raise NotFoundError("attachment", digest)
    data = target.read_bytes()
    return Response(data, media_type=image_type(data), headers={
        "cache-control": "private, max-age=86400", "x-content-type-options": "nosniff"})
