"""The ServiceAccount component: its inputs (``args``), how they are checked (``inputs``), the component itself."""

from .args import ProjectGrantRolesArgs, ProjectRolesArgs, ServiceAccountArgs
from .inputs import ServiceAccountInputError
from .service_account import RESOURCE_TYPE, ServiceAccount

__all__ = [
    "RESOURCE_TYPE",
    "ProjectGrantRolesArgs",
    "ProjectRolesArgs",
    "ServiceAccount",
    "ServiceAccountArgs",
    "ServiceAccountInputError",
]
