"""A small Python client for the intake API, for police systems, agencies and tests.

    with IntakeClient("http://intake:8080") as intake:
        accepted = intake.issue_alert(alert)           # an AlertIssued model
        intake.report_sighting(alert.case_id, sighting_id="S-1", ...)
        intake.cancel_alert(alert.case_id, "FOUND", "returned home")
        intake.notify_rescue(rescue)                   # a RescueNotified model
        intake.answer_referral(case_id, referral_id, "AG-1", "rejected", reason="no_capacity")
        filed = intake.file_report(sector="education", ...)   # filed.report_id
        intake.acknowledge_report(filed.report_id, "Test Unit 1", "PS-1")
        intake.timeline(case_id).entries
        intake.record_delivery(delivery)               # a DeliveryRecorded (hospitals)

Each logical call gets one Idempotency-Key, reused on the client's own retries
(connection errors, 502/503/504), so a retry never publishes a second event.
Pass idempotency_key= to keep the key across process restarts too. Reads
(referral, timeline) are retried on the same failures.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from homeward.auth.tokens import TokenProvider
from homeward.events import (
    AlertIssued,
    CancelReason,
    MandatoryReportFiled,
    Outcome,
    RejectionReason,
    RescueNotified,
    TaskStatus,
)
from homeward_intake.idempotency import KEY_HEADER
from homeward_intake.models import (
    Accepted,
    AlertUpdateRequest,
    CancellationRequest,
    DnaComparisonRequest,
    ReferralAnswerRequest,
    ReferralState,
    ReportAccepted,
    ReportAckRequest,
    ReportRequest,
    SightingRequest,
)
from homeward_timeline.query import Entry, Timeline

__all__ = [
    "Accepted",
    "AlertUpdateRequest",
    "CancellationRequest",
    "DnaComparisonRequest",
    "Entry",
    "IntakeClient",
    "IntakeError",
    "ReferralAnswerRequest",
    "ReferralState",
    "ReportAccepted",
    "ReportAckRequest",
    "ReportRequest",
    "SightingRequest",
    "Timeline",
]

RETRY_STATUSES = frozenset({502, 503, 504})
HEALTH_KINDS = {
    "AdmissionRegistered": "admissions",
    "DeliveryRecorded": "deliveries",
    "BirthCertificateIssued": "birth-certificates",
    "DischargeRecorded": "discharges",
}


class IntakeError(Exception):
    """Intake refused the request (4xx, 5xx) or could not be reached.

    `status` is the HTTP status (None if no answer came at all); `errors` is the
    list of {field, reason} intake named; the message lists them.
    """

    def __init__(
        self,
        status: int | None,
        errors: list[dict[str, Any]] | None = None,
        *,
        code: str = "",
        message: str = "",
    ) -> None:
        self.status = status
        self.errors = list(errors or [])
        self.code = code
        self.retry_after: float | None = None  # seconds, from a Retry-After header
        named = "; ".join(
            f"{e.get('field')}: {e.get('reason')}" if e.get("field") else str(e.get("reason"))
            for e in self.errors
        )
        head = f"intake answered {status}" if status is not None else "intake unreachable"
        if code:
            head += f" ({code})"
        super().__init__(f"{head}: {named or message or 'no details'}")

    @property
    def fields(self) -> list[str]:
        return [str(e["field"]) for e in self.errors if e.get("field")]


def _body(model: BaseModel | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    if model is not None and fields:
        raise TypeError("pass either a model or keyword fields, not both")
    if model is not None:
        # exclude_unset: send what the caller set; the server fills the defaults.
        dumped: dict[str, Any] = model.model_dump(mode="json", exclude_unset=True)
        return dumped
    jsonable: dict[str, Any] = to_jsonable_python(dict(fields))
    return jsonable


def _case_body(case_id: str, model: BaseModel | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a per-case request; an event model (with its case_id) is welcome too."""
    body = _body(model, fields)
    given = body.pop("case_id", case_id) if model is not None else case_id
    if given != case_id:
        raise ValueError(f"case_id: the model says {given!r} but the call says {case_id!r}")
    return body


class IntakeClient:
    """Talks to one intake base URL. Thread-safe as httpx.Client is."""

    def __init__(
        self,
        base_url: str,
        timeout: float = 10,
        *,
        attempts: int = 4,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 2.0,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        token_provider: TokenProvider | None = None,
    ) -> None:
        """`token_provider` gives the bearer token for every call (e.g.
        homeward.auth.oidc_client.ClientCredentials); intake refuses calls without."""
        self.token_provider = token_provider
        self.base_url = base_url.rstrip("/")
        self.attempts = max(1, attempts)
        self.backoff = backoff_seconds
        self.max_backoff = max_backoff_seconds
        self._sleep = sleep
        self._own_http = http is None
        self._http = http or httpx.Client(base_url=self.base_url, timeout=timeout)

    # -- the API ---------------------------------------------------------------
    def issue_alert(
        self,
        alert: AlertIssued | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Accepted:
        """POST /v1/alerts with an AlertIssued (or its fields, case_id included)."""
        return self._post("/v1/alerts", _body(alert, fields), idempotency_key)

    def update_alert(
        self,
        case_id: str,
        update: BaseModel | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Accepted:
        """POST /v1/alerts/{case_id}/updates: an AlertUpdateRequest, an AlertUpdated, or the
        fields new_information, photo_ref, public_summary."""
        body = _case_body(case_id, update, fields)
        return self._post(self._case(case_id, "updates"), body, idempotency_key)

    def report_sighting(
        self,
        case_id: str,
        sighting: BaseModel | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Accepted:
        """POST /v1/alerts/{case_id}/sightings: a SightingRequest, a SightingReported, or the
        fields sighting_id, location, seen_at, reporter_kind, description."""
        return self._post(
            self._case(case_id, "sightings"), _body(sighting, fields), idempotency_key
        )

    def cancel_alert(
        self,
        case_id: str,
        reason: CancelReason | str,
        note: str = "",
        *,
        idempotency_key: str | None = None,
    ) -> Accepted:
        """POST /v1/alerts/{case_id}/cancellation: cancel or resolve the alert."""
        body = {"reason": str(CancelReason(reason).value), "note": note}
        return self._post(self._case(case_id, "cancellation"), body, idempotency_key)

    def notify_rescue(
        self,
        rescue: RescueNotified | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Accepted:
        """POST /v1/rescues with a RescueNotified (or its fields, case_id included)."""
        return self._post("/v1/rescues", _body(rescue, fields), idempotency_key)

    def record_dna_comparison(
        self,
        case_id: str,
        comparison: BaseModel | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Accepted:
        """POST /v1/cases/{case_id}/dna-comparisons: a DnaComparisonRequest, a
        DnaComparisonRecorded, or the fields sample_id, database, result,
        matched_record, compared_at."""
        body = _case_body(case_id, comparison, fields)
        path = self._path("cases", case_id, "dna-comparisons")
        return self._post(path, body, idempotency_key)

    def record_case_outcome(
        self,
        case_id: str,
        outcome: BaseModel | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Accepted:
        """POST /v1/cases/{case_id}/outcomes: a procuratorate's or court's decision,
        the fields stage, decided_at, reference and (with a judgement) result. The
        deciding agency is the caller's own; a stage another authority decides is
        IntakeError 403 on `stage`."""
        body = _case_body(case_id, outcome, fields)
        return self._post(self._path("cases", case_id, "outcomes"), body, idempotency_key)

    def answer_referral(
        self,
        case_id: str,
        referral_id: str,
        agency_id: str,
        status: TaskStatus | str,
        *,
        reason: RejectionReason | str | None = None,
        outcome: Outcome | str | None = None,
        note: str = "",
        idempotency_key: str | None = None,
    ) -> Accepted:
        """POST /v1/referrals/{case_id}/{referral_id}/answers: the agency's answer.

        Refused with IntakeError: 409 `illegal_transition` (field status; `allowed`
        next statuses in the message), 409 `wrong_agency` (field agency_id), 404
        (unknown referral), 422 (a missing coded reason or outcome)."""
        body: dict[str, Any] = {"agency_id": agency_id, "status": TaskStatus(status).value}
        if reason is not None:
            body["reason"] = RejectionReason(reason).value
        if outcome is not None:
            body["outcome"] = Outcome(outcome).value
        if note:
            body["note"] = note
        path = self._path("referrals", case_id, referral_id, "answers")
        return self._post(path, body, idempotency_key)

    def referral(self, case_id: str, referral_id: str) -> ReferralState:
        """GET /v1/referrals/{case_id}/{referral_id}: the referral as the router recorded it."""
        doc = self._get(self._path("referrals", case_id, referral_id))
        return ReferralState.model_validate(doc)

    def file_report(
        self,
        report: BaseModel | None = None,
        /,
        *,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> ReportAccepted:
        """POST /v1/reports: a ReportRequest, a MandatoryReportFiled (its case_id is the
        report id), or the fields (report_id optional: intake makes one). The answer
        carries report_id."""
        body = _body(report, fields)
        if isinstance(report, MandatoryReportFiled):
            body["report_id"] = body.pop("case_id", report.case_id)
        answer = self._send("POST", "/v1/reports", body, idempotency_key or str(uuid.uuid4()))
        return ReportAccepted.model_validate(answer)

    def acknowledge_report(
        self,
        report_id: str,
        police_unit: str,
        agency_id: str,
        note: str = "",
        *,
        idempotency_key: str | None = None,
    ) -> Accepted:
        """POST /v1/reports/{report_id}/acknowledgement (police)."""
        body: dict[str, Any] = {"police_unit": police_unit, "agency_id": agency_id}
        if note:
            body["note"] = note
        path = self._path("reports", report_id, "acknowledgement")
        return self._post(path, body, idempotency_key)

    def record_health(
        self,
        record: BaseModel | None = None,
        /,
        *,
        kind: str | None = None,
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Accepted:
        """POST a hospital record to /v1/health/{kind}: an AdmissionRegistered,
        DeliveryRecorded, BirthCertificateIssued or DischargeRecorded (its kind
        follows), or `kind` ("admissions", "deliveries", "birth-certificates",
        "discharges") and the fields, case_id included. Keyed by the person's id."""
        route = kind or HEALTH_KINDS.get(type(record).__name__, "")
        if route not in HEALTH_KINDS.values():
            raise ValueError(f"kind: one of {sorted(HEALTH_KINDS.values())}, not {route!r}")
        return self._post(self._path("health", route), _body(record, fields), idempotency_key)

    def record_admission(self, admission: BaseModel, /, **kw: Any) -> Accepted:
        return self.record_health(admission, kind="admissions", **kw)

    def record_delivery(self, delivery: BaseModel, /, **kw: Any) -> Accepted:
        return self.record_health(delivery, kind="deliveries", **kw)

    def issue_birth_certificate(self, certificate: BaseModel, /, **kw: Any) -> Accepted:
        return self.record_health(certificate, kind="birth-certificates", **kw)

    def record_discharge(self, discharge: BaseModel, /, **kw: Any) -> Accepted:
        return self.record_health(discharge, kind="discharges", **kw)

    def timeline(self, case_id: str) -> Timeline:
        """GET /v1/cases/{case_id}/timeline; police-only entries in full only when the
        token's principal may read them."""
        params = None
        doc = self._get(self._path("cases", case_id, "timeline"), params)
        return Timeline.model_validate(doc)

    def close(self) -> None:
        if self._own_http:
            self._http.close()

    def __enter__(self) -> IntakeClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------
    @staticmethod
    def _path(*parts: str) -> str:
        # Quoted, so an id can never change the path it is sent to.
        return "/v1/" + "/".join(quote(p, safe="") for p in parts)

    @classmethod
    def _case(cls, case_id: str, what: str) -> str:
        return cls._path("alerts", case_id, what)

    def _post(self, path: str, body: dict[str, Any], key: str | None) -> Accepted:
        return Accepted.model_validate(self._send("POST", path, body, key or str(uuid.uuid4())))

    def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        return self._send("GET", path, None, None, params)

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        key: str | None,
        params: dict[str, str] | None = None,
    ) -> Any:
        """The answer's JSON on a 2xx; retries transient failures with the same key."""
        headers = {KEY_HEADER: key} if key else {}
        url = self.base_url + path
        last: IntakeError | None = None
        refreshed = False
        for attempt in range(self.attempts):
            if attempt:
                self._sleep(self._delay(attempt, last))
            if self.token_provider is not None:
                headers["Authorization"] = f"Bearer {self.token_provider.token()}"
            try:
                resp = self._http.request(method, url, json=body, headers=headers, params=params)
            except httpx.TransportError as exc:
                # Timeouts included: the request may have been published, and the
                # retry with the same key will say so without publishing again.
                last = IntakeError(None, code="unreachable", message=f"{type(exc).__name__}: {exc}")
                continue
            if resp.is_success:
                return resp.json()
            error = self._error(resp)
            if resp.status_code == 401 and not refreshed and self.token_provider is not None:
                # The token may have expired in flight or the key rotated: once, afresh.
                invalidate = getattr(self.token_provider, "invalidate", None)
                if invalidate is not None:
                    invalidate()
                    refreshed = True
                    last = error
                    continue
            if resp.status_code not in RETRY_STATUSES:
                raise error
            last = error
        assert last is not None
        raise last

    def _delay(self, attempt: int, last: IntakeError | None) -> float:
        delay: float = min(self.backoff * 2.0 ** (attempt - 1), self.max_backoff)
        if last is not None and last.retry_after is not None:
            # The server's hint, but never beyond our own bound.
            delay = min(max(delay, last.retry_after), self.max_backoff)
        return delay

    @staticmethod
    def _error(resp: httpx.Response) -> IntakeError:
        try:
            doc = resp.json()
        except ValueError:
            doc = None
        if not isinstance(doc, dict):
            err = IntakeError(resp.status_code, message=resp.text[:200])
        else:
            errors = [e for e in doc.get("errors") or [] if isinstance(e, dict)]
            err = IntakeError(
                resp.status_code,
                errors,
                code=str(doc.get("error") or ""),
                message=str(doc.get("message") or ""),
            )
        # Absent, or an HTTP date: our own backoff applies.
        with contextlib.suppress(ValueError):
            err.retry_after = float(resp.headers.get("Retry-After", ""))
        return err
