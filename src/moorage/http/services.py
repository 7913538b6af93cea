"""What the HTTP app's handlers use, in one typed object: ``Services``, and ``services(request)``.

``create_app`` makes a ``ServicesSlot`` with the app and hands it to its lifespan and to
``RequestGate``, which puts it in every request's scope (``SCOPE_KEY``); the lifespan fills it
once, before the first request (the database, the signing key and the background loops need
the event loop), and empties it after the last. Every handler reaches its collaborators
through ``services(request)``: the routes and the FastAPI sub-apps hold no state of their own
(one set of them per process serves every app made in it), nothing reads untyped attributes
of ``app.state``, and the authorizer is only the authorizer (the database, the policy, the
signer and the authenticator are fields of their own here).
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from moorage.auth.credentials import Authenticator
from moorage.auth.jwt_tokens import TokenSigner
from moorage.auth.ldap.login import LdapService
from moorage.config import Settings
from moorage.db.engine import Database
from moorage.events.store import PullBuffer
from moorage.http.authn import RbacAuthorizer
from moorage.jobs.runner import JobRunner
from moorage.registry.context import RegistryContext
from moorage.services.access import AccessPolicy


@dataclass(frozen=True, slots=True)
class Services:
    """One serving process's collaborators, built once by the app's lifespan."""

    settings: Settings
    registry: RegistryContext
    policy: AccessPolicy
    authenticator: Authenticator
    signer: TokenSigner
    authorizer: RbacAuthorizer
    ldap: LdapService
    pulls: PullBuffer
    job_runner: JobRunner | None = None  # None with job_workers = 0

    @property
    def db(self) -> Database:
        return self.registry.db

    def poke_jobs(self) -> None:
        """Wake this process's job runner (a job was just queued); no-op without one."""
        if self.job_runner is not None:
            self.job_runner.poke()


# The request scope's key for the slot (ASGI: an extension key names its owner).
SCOPE_KEY = "moorage.services"


class ServicesSlot:
    """Where an app's ``Services`` live: made with the app, filled by its lifespan."""

    __slots__ = ("_services",)

    def __init__(self) -> None:
        self._services: Services | None = None

    def fill(self, services: Services) -> None:
        if self._services is not None:
            raise RuntimeError("the app's services are already set: one lifespan per app")
        self._services = services

    def empty(self) -> None:
        self._services = None

    def get(self) -> Services:
        if self._services is None:
            raise RuntimeError("the app has not started: its lifespan sets the services")
        return self._services


def services(request: Request) -> Services:
    """The services of the app serving ``request`` (in its scope, from ``RequestGate``)."""
    slot = request.scope.get(SCOPE_KEY)
    if not isinstance(slot, ServicesSlot):
        raise RuntimeError("not a request to an app made by moorage.http.app.create_app")
    return slot.get()
