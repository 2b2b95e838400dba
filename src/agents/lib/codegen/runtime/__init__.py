"""The runtime of generated ONEX services: node bases, a typed container, ports, errors and mixins.

It is copied, unchanged, into every generated service as the package ``onex_runtime``; it needs only Python and
pydantic.
"""

from .container import Container, ServiceKey
from .errors import ErrorCode, OnexError
from .node_base import NodeBase, NodeCompute, NodeEffect, NodeOrchestrator, NodeReducer

__all__ = [
    "Container",
    "ErrorCode",
    "NodeBase",
    "NodeCompute",
    "NodeEffect",
    "NodeOrchestrator",
    "NodeReducer",
    "OnexError",
    "ServiceKey",
]
