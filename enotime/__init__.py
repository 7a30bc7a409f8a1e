"""ENoTime: supervised actors for large Python backends, in the Erlang/OTP style.

The daily API is re-exported here; the ports live in :mod:`enotime.abc`, the
errors in :mod:`enotime.errors`, runtime messages in :mod:`enotime.messages`
and test helpers in :mod:`enotime.testing`.
"""

from enotime._actor import (
    DEFAULT_CALL_TIMEOUT,
    Actor,
    ActorRef,
    ActorStatistics,
    Monitor,
    Overflow,
    Timer,
)
from enotime._context import RequestContext, current_context, request_context
from enotime._gateway import Gateway, RemoteRef
from enotime._handler import handler
from enotime._handler_timing import HandlerStatistics
from enotime._logging import configure_logging
from enotime._node import ActorClassStatistics, DeadLetter, Node, NodeStatistics
from enotime._reason import KILL, KILLED, NOCONNECTION, NOPROC, NORMAL, SHUTDOWN, ExitReason
from enotime._supervisor import (
    ChildInfo,
    ChildSpec,
    DynamicSupervisor,
    Restart,
    ShutdownPolicy,
    Strategy,
    Supervisor,
    SupervisorStatistics,
    child,
    count_children,
    delete_child,
    restart_child,
    start_child,
    supervisor,
    terminate_child,
    which_children,
)

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_CALL_TIMEOUT",
    "KILL",
    "KILLED",
    "NOCONNECTION",
    "NOPROC",
    "NORMAL",
    "SHUTDOWN",
    "Actor",
    "ActorClassStatistics",
    "ActorRef",
    "ActorStatistics",
    "ChildInfo",
    "ChildSpec",
    "DeadLetter",
    "DynamicSupervisor",
    "ExitReason",
    "Gateway",
    "HandlerStatistics",
    "Monitor",
    "Node",
    "NodeStatistics",
    "Overflow",
    "RemoteRef",
    "RequestContext",
    "Restart",
    "ShutdownPolicy",
    "Strategy",
    "Supervisor",
    "SupervisorStatistics",
    "Timer",
    "child",
    "configure_logging",
    "count_children",
    "current_context",
    "delete_child",
    "handler",
    "request_context",
    "restart_child",
    "start_child",
    "supervisor",
    "terminate_child",
    "which_children",
]
