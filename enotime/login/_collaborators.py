"""The actors a login actor works with: the store, crypto, the mailer, the fronts and itself."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from enotime.crypto import CryptoClient
from enotime.login._config import LoginConfig
from enotime.mail import InvalidMail, Mail, SendMail
from enotime.store import StoreClient

if TYPE_CHECKING:
    from enotime._actor import Actor, ActorRef

__all__ = ["Collaborators"]

log = logging.getLogger("enotime.login")


class Collaborators:
    """The login actor's collaborators, looked up by name on each use: they may have restarted.

    Args:
        config: Their registered names.
        actor: The login actor (its node and ref are read once it runs).
    """

    def __init__(self, config: LoginConfig, actor: Actor) -> None:
        self._config = config
        self._actor = actor

    @property
    def store(self) -> StoreClient:
        return StoreClient(self._actor.node.lookup(self._config.store))

    @property
    def crypto(self) -> CryptoClient:
        return CryptoClient(self._actor.node.lookup(self._config.crypto))

    def whereis(self, name: str) -> ActorRef[Any] | None:
        """The actor registered as ``name`` on the login actor's node, or None."""
        return self._actor.node.whereis(name)

    def tell_self(self, message: object) -> None:
        """Cast ``message`` to the login actor: work it does after the reply it is giving."""
        self._actor.ref.send(message)

    def mail(self, build: Callable[..., Mail], *args: Any, **kwargs: Any) -> None:
        """Cast the mail ``build(*args, **kwargs)`` makes to the mailer actor."""
        try:
            mail = build(*args, **kwargs)
        except InvalidMail as error:  # an address we accepted but the mailer would not
            log.error("login: mail %s not sent: %s", build.__name__, error)
            return
        mailer = self.whereis(self._config.mailer)
        if mailer is None:
            log.error("login: no mailer %r: mail %r not sent", self._config.mailer, mail.subject)
            return
        mailer.send(SendMail(mail))
