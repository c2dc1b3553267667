"""Routing rules: admins decide which agency hears of which categories, risk and kecamatan."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from services.ingest.audit import service as audit
from shared.models import AgencyRow, RoutingRule
from shared.schemas import Route, RouteIn, new_id


class UnknownAgency(Exception):
    pass


def create(s: Session, body: RouteIn, actor: str = "system") -> Route:
    if s.get(AgencyRow, body.agency_code) is None:
        raise UnknownAgency(body.agency_code)
    row = RoutingRule(id=new_id("rt"), **body.model_dump(mode="json"))
    s.add(row)
    s.flush()
    audit.record(s, actor, "route.create", "route", row.id, None, body.model_dump(mode="json"))
    return row.as_route()


def replace(sessions: sessionmaker[Session], route_id: str, body: RouteIn, actor: str) -> Route | None:
    with sessions.begin() as s:
        row = s.get(RoutingRule, route_id)
        if row is None:
            return None
        if s.get(AgencyRow, body.agency_code) is None:
            raise UnknownAgency(body.agency_code)
        before = row.as_route().model_dump(mode="json")
        for key, value in body.model_dump(mode="json").items():
            setattr(row, key, value)
        audit.record(s, actor, "route.update", "route", route_id, before, body.model_dump(mode="json"))
        return row.as_route()


def delete(sessions: sessionmaker[Session], route_id: str, actor: str) -> bool:
    with sessions.begin() as s:
        row = s.get(RoutingRule, route_id)
        if row is None:
            return False
        audit.record(s, actor, "route.delete", "route", route_id, row.as_route().model_dump(mode="json"), None)
        s.delete(row)
        return True


def list_all(sessions: sessionmaker[Session]) -> list[Route]:
    with sessions() as s:
        return [r.as_route() for r in s.scalars(select(RoutingRule).order_by(RoutingRule.agency_code, RoutingRule.id))]


def get(sessions: sessionmaker[Session], route_id: str) -> Route | None:
    with sessions() as s:
        row = s.get(RoutingRule, route_id)
        return row.as_route() if row else None
